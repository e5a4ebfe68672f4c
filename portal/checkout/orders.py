"""Placing an order: one transaction, idempotent per key, charged only for a fresh quote.

``place_order`` re-validates the cart and re-prices it; the customer's review is honoured only
when its fingerprint still matches. Then, in one write transaction: subscriptions, order and
lines, invoice (progressive number per calendar year, with its snapshot:
``portal.invoices.numbering``), ledger and cached balance, audit events,
the emptied cart and, last, the charge. A failed charge rolls all of that back; the failed
attempt is then recorded on its own.

Idempotency: the key comes from the review form (``Order.idempotency_key`` is unique). The same
key again answers the order it already made; concurrent submits are serialised by the write
lock (SQLite ``BEGIN IMMEDIATE``, PostgreSQL ``FOR UPDATE`` on the account row), and the key is
also the gateway's idempotency key, so a charge whose order failed to commit is never repeated.
"""
import logging
import re
from dataclasses import dataclass

from peewee import IntegrityError, fn

from portal.catalog.store import products_by_id
from portal.core.clock import today_in
from portal.core.db import Prepared, create, for_update, write_transaction
from portal.core.models import (
    Account,
    CartItem,
    LedgerEntry,
    Order,
    OrderLine,
    PaymentAttempt,
    PaymentMethod,
    Subscription,
    audit,
    utcnow,
)
from portal.customers.details import details_problems
from portal.invoices.numbering import issue_invoice
from portal.payments.gateway import CardInvalid, GatewayError, PaymentDeclined, get_gateway
from portal.subscriptions.quotes import cart_entries, quote_for

log = logging.getLogger(__name__)

KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}", re.ASCII)
FINGERPRINT_PATTERN = re.compile(r"[0-9a-f]{64}", re.ASCII)


class OrderError(Exception):
    """The order was not placed; nothing changed."""


class ReviewRequired(OrderError):
    """No (valid) idempotency key or fingerprint: the review page was skipped."""


class KeyConflict(OrderError):
    """The key already placed a different order (or belongs to another account)."""


class EmptyCart(OrderError):
    """There is nothing to order."""


class CartProblems(OrderError):
    """Some pending change is no longer valid; the review shows why."""


class StaleQuote(OrderError):
    """The review no longer matches prices, subscriptions, balance or date.

    ``changed`` lists the product names of subscriptions changed since the review.
    """

    def __init__(self, changed=()):
        """Keep the names of the subscriptions that changed meanwhile."""
        super().__init__("stale_quote")
        self.changed = tuple(changed)


class BillingDetailsIncomplete(OrderError):
    """The account's billing details would make the invoice invalid (``problems``)."""

    def __init__(self, problems):
        """Keep {field: error code}."""
        super().__init__("billing_details")
        self.problems = problems


class PaymentRequired(OrderError):
    """An amount is due and no usable payment method was chosen."""


class CardRejected(OrderError):
    """The new card's details are invalid (``code``, ``field``); nothing was charged."""

    def __init__(self, code, field):
        """Keep the code and the form field at fault."""
        super().__init__(code)
        self.code = code
        self.field = field


class PaymentFailed(OrderError):
    """The gateway declined (``declined``) or failed the charge; ``code`` says why."""

    def __init__(self, code, declined):
        """Keep the reason and whether the issuer declined (vs. a gateway failure)."""
        super().__init__(code)
        self.code = code
        self.declined = declined


@dataclass
class PaymentInput:
    """How the customer wants to pay: a saved method's id, or a new card (``CardDetails``)."""

    method_id: int | None = None
    card: object | None = None


@dataclass
class Placed:
    """The order, and whether an earlier submit with the same key had already placed it."""

    order: Order
    replayed: bool = False


def check_review_fields(key, fingerprint):
    """Refuse a submit that did not come from a review page."""
    if not (isinstance(key, str) and KEY_PATTERN.fullmatch(key)
            and isinstance(fingerprint, str) and FINGERPRINT_PATTERN.fullmatch(fingerprint)):
        raise ReviewRequired()


# The order's reads, their SQL built once (portal.db.Prepared): most of them run while the
# write lock is held, which every other writer of the database waits for.
_order_by_key = Prepared(lambda key: Order.select().where(Order.idempotency_key == key)
                         .limit(1))
_locked_account = Prepared(lambda account_id: for_update(
    Account.select().where(Account.id == account_id).limit(1)))
_subscription_versions = Prepared(
    lambda account_id: Subscription.select(Subscription.id, Subscription.version,
                                           Subscription.product)
    .where(Subscription.account == account_id))
_saved_method = Prepared(
    lambda method_id, account_id, gateway: PaymentMethod.select()
    .where((PaymentMethod.id == method_id) & (PaymentMethod.account == account_id)
           & (PaymentMethod.gateway == gateway)).limit(1))
_ledger_sum = Prepared(  # the same sum as models.ledger_sum
    lambda account_id: LedgerEntry.select(fn.COALESCE(fn.SUM(LedgerEntry.amount_cents), 0))
    .where(LedgerEntry.account == account_id).tuples())


def replayed_order(account_id, key, fingerprint):
    """The order this key already placed, or None; a different review with it is refused."""
    order = _order_by_key.first(key)
    if order is None:
        return None
    if order.account_id != account_id or order.fingerprint != fingerprint:
        raise KeyConflict()
    return order


def place_order(user, key, fingerprint, payment=None, seen_versions=None):
    """Place the user's cart as reviewed (``fingerprint``) under ``key``; see the module doc.

    ``seen_versions`` ({subscription id: version} from the review) only sharpens the message
    of a stale review. Raises an ``OrderError``; returns ``Placed``.
    """
    check_review_fields(key, fingerprint)
    order = replayed_order(user.account_id, key, fingerprint)
    if order is not None:
        return Placed(order, replayed=True)
    gateway = get_gateway()
    try:
        with write_transaction():
            return _place_locked(user, key, fingerprint, payment or PaymentInput(),
                                 seen_versions or {}, gateway)
    except IntegrityError:
        # Another transaction took the key first (PostgreSQL without a shared lock row).
        order = replayed_order(user.account_id, key, fingerprint)
        if order is None:
            raise
        return Placed(order, replayed=True)
    except _ChargeFailed as failed:
        _record_failed_attempt(user, key, failed.amount, failed.error)
        raise PaymentFailed(failed.error.code,
                            declined=isinstance(failed.error, PaymentDeclined)) from None


class _ChargeFailed(Exception):
    """Internal: carries a gateway failure out of the rolled-back transaction."""

    def __init__(self, amount, error):
        """Keep the amount that was refused and the gateway's error."""
        super().__init__(error.code)
        self.amount = amount
        self.error = error


def _place_locked(user, key, fingerprint, payment, seen_versions, gateway):
    """The body of the order transaction (the write lock is held)."""
    account = _locked_account.first(int(user.account_id))
    if account is None:
        raise Account.DoesNotExist()
    order = replayed_order(account.id, key, fingerprint)
    if order is not None:
        return Placed(order, replayed=True)
    entries = cart_entries(user, account, for_update=True)
    changed = changed_subscriptions(account, seen_versions)
    if not entries:
        if changed:
            raise StaleQuote(changed)
        raise EmptyCart()
    if any(entry.problems for entry in entries):
        if changed:
            raise StaleQuote(changed)
        raise CartProblems()
    problems = details_problems(account)
    if problems:
        raise BillingDetailsIncomplete(problems)
    today = today_in(account.timezone)
    quote = quote_for(account, [entry.change for entry in entries], today=today)
    if quote.fingerprint != fingerprint:
        raise StaleQuote(changed)
    method, new_card = _payment_method(account, payment, gateway, quote, today)
    order = _write_order(account, user, key, quote, entries, method, new_card)
    if quote.due > 0:
        charge = _earlier_charge(account, key, gateway, quote.due, account.currency)
        try:
            charge = charge or gateway.charge(method.token, quote.due, account.currency, key,
                                              description=f"Order {order.id}")
        except (PaymentDeclined, GatewayError) as error:
            raise _ChargeFailed(quote.due, error) from None
        Order.update(payment_reference=charge.id).where(Order.id == order.id).execute()
        order.payment_reference = charge.id
        create(PaymentAttempt, account=account, user=user, idempotency_key=key,
               amount_cents=quote.due, status="succeeded")
    log.info("order %s placed for account %s (due %s cents)", order.id, account.id, quote.due)
    return Placed(order)


def _earlier_charge(account, key, gateway, amount, currency):
    """A charge that went through under ``key`` although the gateway reported a failure.

    Only looked for after a recorded gateway failure (not a decline) under this key: a
    timeout may come after the money moved, and the retry must complete the order with that
    charge instead of charging again or being refused for a different card.
    """
    failed_before = (PaymentAttempt.select()
                     .where((PaymentAttempt.account == account.id)
                            & (PaymentAttempt.idempotency_key == key)
                            & (PaymentAttempt.status == "failed")).exists())
    if not failed_before:
        return None
    charge = gateway.find_charge(key)
    if charge is not None and (charge.amount_cents, charge.currency) == (amount, currency):
        return charge
    return None


def changed_subscriptions(account, seen_versions):
    """Names of the account's subscriptions whose version moved past the review's."""
    if not seen_versions:
        return []
    rows = _subscription_versions.rows(int(account.id))  # an account has a handful
    products = products_by_id()
    return [products[row.product_id].name for row in rows
            if row.id in seen_versions and row.version != seen_versions[row.id]]


def _payment_method(account, payment, gateway, quote, today):
    """(PaymentMethod to charge or None, whether it is new) for the amount due."""
    if quote.due <= 0:
        return None, False
    if payment.card is not None:
        try:
            token = gateway.tokenize(payment.card)
        except CardInvalid as error:
            raise CardRejected(error.code, error.field) from None
        method = create(
            PaymentMethod, account=account, gateway=gateway.name, token=token.token,
            brand=token.brand, last4=token.last4, exp_month=token.exp_month,
            exp_year=token.exp_year, holder=token.holder)
        return method, True
    if payment.method_id is None:
        raise PaymentRequired()
    method = _saved_method.first(int(payment.method_id), int(account.id), str(gateway.name))
    if method is None:
        raise PaymentRequired()
    if (method.exp_year, method.exp_month) < (today.year, today.month):
        raise CardRejected("expired_card", "payment_method")
    return method, False


def _write_order(account, user, key, quote, entries, method, new_card):
    """Subscriptions, order, lines, invoice, ledger, balance, audit and cart, as one unit."""
    order = create(
        Order, account=account, user=user, idempotency_key=key,
        fingerprint=quote.fingerprint, subtotal_cents=quote.subtotal,
        vat_rate=str(quote.vat_rate), vat_reason=quote.vat_reason,
        vat_cents=quote.vat, total_cents=quote.total, applied_cents=quote.applied,
        due_cents=quote.due, credit_added_cents=quote.credit_added, payment_method=method)
    by_subscription = {entry.subscription.id: entry for entry in entries}
    for line in quote.lines:
        _apply_line(order, account, user, line, by_subscription[line.subscription_id])
    invoice = issue_invoice(order, account, quote.today)
    _update_balance(order, account, quote)
    if new_card:
        audit(account, user, "payment_method.added", payment_method_id=method.id,
              brand=method.brand, last4=method.last4)
    audit(account, user, "order.placed", order_id=order.id, invoice=invoice.number,
          total_cents=quote.total, due_cents=quote.due, applied_cents=quote.applied,
          credit_added_cents=quote.credit_added)
    CartItem.delete().where(CartItem.id.in_([entry.item.id for entry in entries])).execute()
    return order


def _apply_line(order, account, user, line, entry):
    """Change one subscription (optimistically locked on its version) and write its line."""
    subscription = entry.subscription
    version = entry.change.subscription.version
    updated = (Subscription.update(
        plan=entry.item.plan_id, licenses=line.new_licenses, frequency=line.new_frequency,
        period_start=line.period_start, period_end=line.period_end, status="active",
        price_cents=line.unit_price, currency=account.currency,
        version=Subscription.version + 1, updated_at=utcnow())
        .where((Subscription.id == subscription.id) & (Subscription.version == version))
        .execute())
    if updated != 1:
        raise StaleQuote([line.product_name])
    create(
        OrderLine, order=order, subscription=subscription.id, product_name=line.product_name,
        # A new subscription (expired trial) had nothing paid before: no old plan.
        old_plan=None if line.is_new else subscription.plan_id,
        old_licenses=0 if line.is_new else line.old_licenses,
        old_frequency=None if line.is_new else line.old_frequency,
        new_plan=entry.item.plan_id, new_licenses=line.new_licenses,
        new_frequency=line.new_frequency, unit_price_cents=line.unit_price,
        credit_cents=line.credit, charge_cents=line.charge, unused_days=line.unused_days,
        period_days=line.period_days, period_start=line.period_start,
        period_end=line.period_end)
    audit(account, user, "subscription.changed", subscription_id=subscription.id,
          order_id=order.id, version=version + 1,
          old={"plan": line.old_plan.code if line.old_plan else None,
               "licenses": line.old_licenses, "frequency": line.old_frequency,
               "status": subscription.status},
          new={"plan": line.new_plan.code, "licenses": line.new_licenses,
               "frequency": line.new_frequency, "period_start": line.period_start.isoformat(),
               "period_end": line.period_end.isoformat()})


def _update_balance(order, account, quote):
    """Ledger entries for credit used and credit added; the cached balance follows."""
    if quote.applied:
        create(LedgerEntry, account=account, amount_cents=-quote.applied,
               kind="order_applied", order=order)
    if quote.credit_added:
        create(LedgerEntry, account=account, amount_cents=quote.credit_added,
               kind="order_credit", order=order)
    balance = quote.balance_after
    Account.update(balance_cents=balance).where(Account.id == account.id).execute()
    # The ledger is the truth: never commit a cached balance that disagrees with it.
    if _ledger_sum.first(int(account.id))[0] != balance:
        raise RuntimeError(f"ledger and balance disagree for account {account.id}")


def _record_failed_attempt(user, key, amount, error):
    """Record a declined or failed charge, after the order transaction was rolled back."""
    status = "declined" if isinstance(error, PaymentDeclined) else "failed"
    with write_transaction():
        create(PaymentAttempt, account=user.account_id, user=user.id, idempotency_key=key,
               amount_cents=amount, status=status, error_code=error.code[:50])
    log.info("payment %s for account %s: %s", status, user.account_id, error.code)
