"""Placing an order in short transactions around the charge; reconciliation.

Nothing holds the database's write lock while the payment gateway answers (SPEC §3.2): a
real provider takes hundreds of milliseconds, and every other writer of a SQLite database
would wait behind it. ``place_order`` runs three steps:

1. **reserve** (a write transaction): the cart is validated and priced again and must match
   the review's fingerprint; the idempotency key is recorded in an ``OrderReservation`` with
   the priced order (lines, totals, the day) and the payment method. What the order relies on
   is *held* meanwhile: each subscription's ``version`` is raised (the optimistic lock is
   taken now, so another tab, order or renewal sees it changed) and the credit balance it
   applies is deducted, with an ``order_hold`` ledger entry (ledger = balance throughout).
2. **charge**, outside any transaction, with the key as the gateway's idempotency key.
3. **complete** (a write transaction): subscriptions (only at the version the reservation
   holds), order, lines, invoice number, ledger (the hold becomes ``order_applied``) and
   balance, audit, the saved card, the emptied cart, and the reservation ``completed``.

A reservation's states:

``reserved``     holds versions and credit; the charge is under way (or its process died)
``completed``    the order exists (``order``)
``failed``       the card was declined; the hold was undone
``unconfirmed``  the gateway failed without a verdict (a timeout may come after the money
                 moved); the hold was undone; the review keeps the key, and a retry asks
                 the gateway for the earlier charge before charging
``released``     reconciliation found no charge after the timeout; the hold was undone
``refund_due``   money arrived for an order that can no longer be applied (a charge that
                 outlived the timeout, then the subscription changed); logged for support

Steps 2 and 3 run in the request, or (``ORDER_CHARGE_THREADS`` > 0, the default) on a
charging thread of the same process (``charge_reservation``, ``portal.checkout.charging``)
while the browser follows the order on its "being processed" page.

Idempotency: the same key again answers the order it made; a submit that finds its key
``reserved`` answers "your order is being processed" (charged in the request: it first
waits ``ORDER_WAIT_SECONDS`` for the first submit's outcome, then asks the gateway).
``failed``, ``unconfirmed`` and ``released`` keys may be submitted again: they are reserved
afresh. An account has one order being charged at a time: a review made meanwhile (another
tab, another billing contact) is refused with ``OrderInFlight`` until the first is done; a
review made before the first was reserved is stale already (the hold raised the versions).

``reconcile_pending_orders`` (``flask --app portal orders reconcile``, and the scheduler)
finishes what a crash or a timeout left behind: every ``reserved`` or ``unconfirmed``
reservation older than ``RESERVATION_TIMEOUT`` is completed when the gateway has its charge
and released otherwise. The timeout must exceed the gateway client's own timeout, so that a
charge still under way is never released; a charging thread claims its reservation (moves
``updated_at`` to now) just before charging, and reconciliation checks the age again under
the lock, so a job that waited in the pool's queue is never charged after a release. Never
charged twice (one key, and the gateway is idempotent per key); never a paid order lost;
never an unpaid one applied.
"""
import datetime as dt
import logging
import re
import time
from dataclasses import dataclass

from flask import current_app
from peewee import Case, IntegrityError, fn

from portal.catalog.store import products_by_id
from portal.checkout.charging import background_charges
from portal.core.clock import today_in
from portal.core.db import (Prepared, PreparedInsert, PreparedWrite, db, for_update,
                             send_later, write_transaction)
from portal.customers.details import details_problems
from portal.invoices.numbering import issue_invoice, order_lines
from portal.core.models import (
    Account,
    CartItem,
    Invoice,
    LedgerEntry,
    Order,
    OrderReservation,
    PaymentAttempt,
    PaymentMethod,
    Subscription,
    User,
    audit,
    new_ledger_entry,
    new_order,
    new_order_line,
    new_payment_attempt,
    utcnow,
)
from portal.lifecycle.contacts import needs_default
from portal.mail.messages import order_receipt
from portal.mail.outbox import recipient_locale
from portal.payments.gateway import (CardInvalid, GatewayError, PaymentDeclined, card_problems,
                                     get_gateway)
from portal.subscriptions.quotes import cart_entries, quote_for

log = logging.getLogger(__name__)

KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}", re.ASCII)
FINGERPRINT_PATTERN = re.compile(r"[0-9a-f]{64}", re.ASCII)

#: Card testing (issue 20): refused payments allowed per account and per client address in
#: the window before further orders are refused without reaching the gateway.
FAILED_PAYMENT_LIMIT = 5
FAILED_PAYMENT_WINDOW = dt.timedelta(minutes=10)


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


class TooManyFailedPayments(OrderError):
    """Too many refused payments from this account or client lately: try again later."""


class PaymentRequired(OrderError):
    """An amount is due and no usable payment method was chosen."""


class CardRejected(OrderError):
    """The new card's details are invalid (``code``, ``field``, and ``problems``: every
    field at fault with its code); nothing was charged."""

    def __init__(self, code, field, problems=None):
        """Keep the code, the form field at fault and all the problems."""
        super().__init__(code)
        self.code = code
        self.field = field
        self.problems = dict(problems or {field: code})


class PaymentFailed(OrderError):
    """The gateway declined (``declined``) or failed the charge; ``code`` says why."""

    def __init__(self, code, declined):
        """Keep the reason and whether the issuer declined (vs. a gateway failure)."""
        super().__init__(code)
        self.code = code
        self.declined = declined


class OrderInFlight(OrderError):
    """Another order of the account is being charged: this one may be placed once it is
    done (nothing was held or charged)."""


class OrderPending(OrderError):
    """The order is between its steps (``key``): being charged, or waiting for
    reconciliation; nothing is charged again."""

    def __init__(self, key):
        """Keep the key, for the page that follows the order."""
        super().__init__("order_pending")
        self.key = key


#: A reservation not finished after this long is reconciled: completed if the gateway has its
#: charge, released otherwise. Longer than any gateway call may take.
RESERVATION_TIMEOUT = dt.timedelta(minutes=10)
#: States that hold subscriptions' versions and credit, and those that may be tried again.
HOLDING = ("reserved",)
RETRYABLE = ("failed", "unconfirmed", "released")


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
    .where(Subscription.account == account_id), row=tuple)
_saved_method = Prepared(
    lambda method_id, account_id, gateway: PaymentMethod.select()
    .where((PaymentMethod.id == method_id) & (PaymentMethod.account == account_id)
           & (PaymentMethod.gateway == gateway)).limit(1))
_ledger_sum = Prepared(  # the same sum as models.ledger_sum
    lambda account_id: LedgerEntry.select(fn.COALESCE(fn.SUM(LedgerEntry.amount_cents), 0))
    .where(LedgerEntry.account == account_id), row=tuple)
_balance = Prepared(lambda account_id: Account.select(Account.balance_cents)
                    .where(Account.id == account_id), row=tuple)
_reservation_account_locked = Prepared(lambda reservation_id: for_update(
    Account.select().where(Account.id == OrderReservation.select(OrderReservation.account)
                           .where(OrderReservation.id == reservation_id)).limit(1)))
_user_by_id = Prepared(lambda user_id: User.select().where(User.id == user_id).limit(1))
# ... and its writes (portal.core.db.PreparedInsert, PreparedWrite), most of them under the
# write lock too.
_new_reservation = PreparedInsert(OrderReservation)
_hold_version = PreparedWrite(lambda arg: Subscription.update(
    version=arg("held", Subscription.version))
    .where((Subscription.id == arg("id", Subscription.id))
           & (Subscription.version == arg("before", Subscription.version))))
_change_subscription = PreparedWrite(lambda arg: Subscription.update(
    plan=arg("plan", Subscription.plan), licenses=arg("licenses", Subscription.licenses),
    frequency=arg("frequency", Subscription.frequency),
    period_start=arg("start", Subscription.period_start),
    period_end=arg("end", Subscription.period_end), status="active",
    price_cents=arg("price", Subscription.price_cents),
    currency=arg("currency", Subscription.currency), updated_at=arg("now", Subscription.updated_at))
    .where((Subscription.id == arg("id", Subscription.id))
           & (Subscription.version == arg("held", Subscription.version))))
_reservation_completed = PreparedWrite(lambda arg: OrderReservation.update(
    state="completed", order=arg("order", OrderReservation.order),
    updated_at=arg("now", OrderReservation.updated_at),
    charge_reference=arg("reference", OrderReservation.charge_reference))
    .where(OrderReservation.id == arg("id", OrderReservation.id)))


def replayed_order(account_id, key, fingerprint):
    """The order this key already placed, or None; a different review with it is refused."""
    order = _order_by_key.first(key)
    if order is None:
        return None
    if order.account_id != account_id or order.fingerprint != fingerprint:
        raise KeyConflict()
    return order


_reservation_by_key = Prepared(
    lambda key: OrderReservation.select().where(OrderReservation.idempotency_key == key)
    .limit(1))
# The key's reservation and the account's reservations being charged, in one statement
# (a row or two: an account has one order being charged at a time).
_key_or_in_flight = Prepared(
    lambda key, account_id: OrderReservation.select()
    .where((OrderReservation.idempotency_key == key)
           | ((OrderReservation.account == account_id)
              & (OrderReservation.state == "reserved"))))
_locked_reservation = Prepared(lambda reservation_id: for_update(
    OrderReservation.select().where(OrderReservation.id == reservation_id).limit(1)))
_reservation_of_account = Prepared(
    lambda key, account_id: OrderReservation.select()
    .where((OrderReservation.idempotency_key == key)
           & (OrderReservation.account == account_id)).limit(1))
# A charging thread's claim (one statement: the row lock, or SQLite's write lock, is all it
# needs), then the reservation with the token of the saved card it pays with, if any.
_claim = PreparedWrite(lambda arg: OrderReservation.update(
    updated_at=arg("now", OrderReservation.updated_at))
    .where((OrderReservation.id == arg("id", OrderReservation.id))
           & OrderReservation.state.in_(HOLDING)))
_reservation_to_charge = Prepared(
    lambda reservation_id: OrderReservation.select(
        OrderReservation, PaymentMethod.select(PaymentMethod.token)
        .where(PaymentMethod.id == OrderReservation.payment_method).alias("saved_token"))
    .where(OrderReservation.id == reservation_id).limit(1))
_method_token = Prepared(lambda method_id: PaymentMethod.select(PaymentMethod.token)
                         .where(PaymentMethod.id == method_id).limit(1), row=tuple)


def _refused_payments_query(account_id, client, since):
    """(the account's, the client address's) refused payments since ``since``, one query."""
    of_account, of_client = PaymentAttempt.account == account_id, PaymentAttempt.client == client
    return (PaymentAttempt.select(fn.COALESCE(fn.SUM(Case(None, [(of_account, 1)], 0)), 0),
                                  fn.COALESCE(fn.SUM(Case(None, [(of_client, 1)], 0)), 0))
            .where((PaymentAttempt.status != "succeeded")
                   & (PaymentAttempt.created_at > since) & (of_account | of_client)))


_refused_payments = Prepared(_refused_payments_query, row=tuple)


def payments_blocked(account_id, client):
    """True when the account, or the client address, had ``FAILED_PAYMENT_LIMIT`` refused
    payments within ``FAILED_PAYMENT_WINDOW``.

    Every order asks, so the query is prepared; the moment is passed as the text both
    engines compare a timestamp with (SQLite stores ``str(datetime)``)."""
    since = str(utcnow() - FAILED_PAYMENT_WINDOW)
    by_account, by_client = _refused_payments.first(int(account_id), client, since)
    return max(by_account, by_client) >= FAILED_PAYMENT_LIMIT


def place_order(user, key, fingerprint, payment=None, seen_versions=None, client=None):
    """Place the user's cart as reviewed (``fingerprint``) under ``key``; see the module doc.

    ``seen_versions`` ({subscription id: version} from the review) only sharpens the message
    of a stale review; ``client`` is the client's address, for the card-testing limit.
    Raises an ``OrderError``; returns ``Placed``.
    """
    check_review_fields(key, fingerprint)
    order = replayed_order(user.account_id, key, fingerprint)
    if order is not None:
        return Placed(order, replayed=True)
    payment = payment or PaymentInput()
    if payments_blocked(user.account_id, client):
        with write_transaction():
            audit(user.account_id, user.id, "payment.limited", client=client)
        log.warning("payments blocked for account %s / client %s", user.account_id, client)
        raise TooManyFailedPayments()
    gateway = get_gateway()
    token, card_error = _tokenize(gateway, payment)
    try:
        with write_transaction():
            reserved = _reserve(user, key, fingerprint, payment, token, card_error,
                                seen_versions or {}, gateway)
    except IntegrityError:
        # Another transaction reserved the key first (PostgreSQL: the unique key decides).
        return _await_outcome(user.account_id, key, fingerprint, gateway)
    if reserved is None:
        return _await_outcome(user.account_id, key, fingerprint, gateway)
    pool = background_charges(current_app)
    if pool is not None:
        pool.submit(charge_reservation, reserved.id, client)
        raise OrderPending(key)
    charge = _charge(reserved, _token_of(reserved), gateway, client)
    return Placed(_complete_or_pending(reserved.id, charge))


def charge_reservation(reservation_id, client=None):
    """Steps 2 and 3 of a reservation the request left to a charging thread
    (``portal.checkout.charging``); the "being processed" page follows its state.

    The job may have waited in the pool's queue: it first *claims* the reservation (still
    held, and its ``updated_at`` moved to now) in one UPDATE, which takes the reservation's
    row lock (PostgreSQL, whose READ COMMITTED checks the state again once a concurrent
    release commits) or the write lock (SQLite). Reconciliation releases only a reservation
    not touched for ``RESERVATION_TIMEOUT``, checked again under the lock, so either the
    claim comes first and reconciliation leaves it alone, or the release comes first and
    nothing is charged."""
    if not _claim.execute(now=utcnow(), id=int(reservation_id)):
        return
    reservation = _reservation_to_charge.first(int(reservation_id))
    try:
        charge = _charge(reservation, _token_of(reservation, reservation.saved_token),
                         get_gateway(), client)
        _complete_or_pending(reservation.id, charge)
    except (PaymentFailed, OrderPending):
        pass  # recorded: the reservation says failed or unconfirmed, or waits to be reconciled


def _tokenize(gateway, payment):
    """(token of a new card or None, its ``CardInvalid`` or None), before any transaction.

    A real provider answers over the network, so this happens before the write lock is
    taken; the error is raised only if the order turns out to need the card.
    """
    if payment.card is None:
        return None, None
    try:
        return gateway.tokenize(payment.card), None
    except CardInvalid as error:
        return None, error


def _reserve(user, key, fingerprint, payment, token, card_error, seen_versions, gateway):
    """Step 1 (the write lock is held): validate, price, hold; the reservation, or None
    when the key's reservation is held or completed (``_await_outcome`` answers it)."""
    account = _locked_account.first(int(user.account_id))
    if account is None:
        raise Account.DoesNotExist()
    # An order placed under the key since ``place_order`` looked has its reservation, found
    # here (``completed``): every order placed from a review goes through one. (Orders from
    # before reservations, and the demo's, have none: ``place_order``'s look found those.)
    found = _key_or_in_flight.rows(key, int(account.id))
    reservation = next((r for r in found if r.idempotency_key == key), None)
    in_flight = any(r.idempotency_key != key for r in found)  # only the account's held ones
    if reservation is not None:
        if reservation.account_id != account.id:
            raise KeyConflict()
        if reservation.state not in RETRYABLE:
            if reservation.fingerprint != fingerprint:
                raise KeyConflict()
            return None
    entries = cart_entries(user, account, for_update=True)
    if not entries or any(entry.problems for entry in entries):
        changed = changed_subscriptions(account, seen_versions)  # asked only to refuse
        if changed:
            raise StaleQuote(changed)
        raise CartProblems() if entries else EmptyCart()
    problems = details_problems(account)
    if problems:
        raise BillingDetailsIncomplete(problems)
    today = today_in(account.timezone)
    quote = quote_for(account, [entry.change for entry in entries], today=today)
    if quote.fingerprint != fingerprint:
        raise StaleQuote(changed_subscriptions(account, seen_versions))
    if in_flight:
        # Another order of the account is being charged (another tab, another billing
        # contact) and this review was made meanwhile: it would hold the next version and be
        # charged too, and the first order could then no longer be applied. One at a time.
        raise OrderInFlight()
    method, new_card = _payment_method(account, payment, token, card_error, quote, today,
                                       gateway.name)
    priced = _priced_order(quote, entries)
    _hold(account, priced)
    values = dict(
        account=account.id, user=user.id, fingerprint=fingerprint, state="reserved",
        quote=priced, due_cents=quote.due, applied_cents=quote.applied,
        currency=account.currency, payment_method=method.id if method else None,
        new_card=new_card, charge_reference=None, error_code=None, order=None,
        updated_at=utcnow())
    if reservation is None:
        return _new_reservation.create(idempotency_key=key, **values)
    (OrderReservation.update(**values)
     .where((OrderReservation.id == reservation.id)
            & (OrderReservation.state == reservation.state)).execute())
    return _locked_reservation.first(int(reservation.id))


def changed_subscriptions(account, seen_versions):
    """Names of the account's subscriptions whose version moved past the review's."""
    if not seen_versions:
        return []
    rows = _subscription_versions.rows(int(account.id))  # an account has a handful
    products = products_by_id()
    return [products[product_id].name for subscription_id, version, product_id in rows
            if subscription_id in seen_versions and version != seen_versions[subscription_id]]


def _payment_method(account, payment, token, card_error, quote, today, gateway_name):
    """(saved PaymentMethod or None, a new card as the reservation keeps it, or None)."""
    if quote.due <= 0:
        return None, None
    if payment.card is not None:
        # every field checked here, whatever the gateway reports: one round trip fixes all
        problems = card_problems(payment.card, today)
        if problems:
            field_name, code = next(iter(problems.items()))
            raise CardRejected(code, field_name, problems)
        if card_error is not None:
            raise CardRejected(card_error.code, card_error.field, card_error.problems)
        return None, {"gateway": gateway_name, "token": token.token,
                      "brand": token.brand, "last4": token.last4,
                      "exp_month": token.exp_month, "exp_year": token.exp_year,
                      "holder": token.holder}
    if payment.method_id is None:
        raise PaymentRequired()
    method = _saved_method.first(int(payment.method_id), int(account.id),
                                 str(gateway_name))
    if method is None:
        raise PaymentRequired()
    if (method.exp_year, method.exp_month) < (today.year, today.month):
        raise CardRejected("expired_card", "payment_method")
    return method, None


def _priced_order(quote, entries):
    """The priced order as the reservation keeps it (JSON): what completing it writes."""
    by_subscription = {entry.subscription.id: entry for entry in entries}
    lines = []
    for line in quote.lines:
        entry = by_subscription[line.subscription_id]
        subscription = entry.subscription
        lines.append({
            "subscription": subscription.id, "product_name": line.product_name,
            "held_version": entry.change.subscription.version + 1,
            "old_status": subscription.status, "is_new": line.is_new,
            "old_plan": None if line.is_new else subscription.plan_id,
            "old_plan_code": line.old_plan.code if line.old_plan else None,
            "old_licenses": line.old_licenses, "old_frequency": line.old_frequency,
            "new_plan": entry.item.plan_id, "new_plan_code": line.new_plan.code,
            "new_licenses": line.new_licenses, "new_frequency": line.new_frequency,
            "unit_price": line.unit_price, "credit": line.credit, "charge": line.charge,
            "unused_days": line.unused_days, "period_days": line.period_days,
            "period_start": line.period_start.isoformat(),
            "period_end": line.period_end.isoformat(),
        })
    return {
        "lines": lines, "today": quote.today.isoformat(), "subtotal": quote.subtotal,
        "vat_rate": str(quote.vat_rate), "vat_reason": quote.vat_reason, "vat": quote.vat,
        "total": quote.total, "applied": quote.applied, "due": quote.due,
        "credit_added": quote.credit_added,
        "cart_items": [entry.item.id for entry in entries],
    }


def _hold(account, priced):
    """Take the subscriptions' optimistic locks and set the applied credit aside."""
    for line in priced["lines"]:
        held = line["held_version"]
        updated = _hold_version.execute(held=held, id=line["subscription"], before=held - 1)
        if updated != 1:
            raise StaleQuote([line["product_name"]])
    if priced["applied"]:
        new_ledger_entry.add(account=account.id, amount_cents=-priced["applied"],
                             kind="order_hold")
        (Account.update(balance_cents=Account.balance_cents - priced["applied"])
         .where(Account.id == account.id).execute())
        _check_ledger(account.id)


def _release(reservation):
    """Undo ``_hold``: versions back, the held credit returned (its ledger entry removed)."""
    for line in reservation.quote["lines"]:
        held = line["held_version"]
        (Subscription.update(version=held - 1)
         .where((Subscription.id == line["subscription"])
                & (Subscription.version == held)).execute())
    if reservation.applied_cents:
        hold = (LedgerEntry.select().where(
            (LedgerEntry.account == reservation.account_id) & (LedgerEntry.kind == "order_hold")
            & (LedgerEntry.amount_cents == -reservation.applied_cents)
            & (LedgerEntry.order.is_null())).order_by(LedgerEntry.id).limit(1).first())
        if hold is not None:
            hold.delete_instance()
            (Account.update(balance_cents=Account.balance_cents + reservation.applied_cents)
             .where(Account.id == reservation.account_id).execute())
        _check_ledger(reservation.account_id)


def _hold_again(reservation):
    """Hold what a released reservation needs, if nothing changed since; True when held."""
    account = Account.get_by_id(reservation.account_id)
    if account.balance_cents < reservation.applied_cents:
        return False
    try:
        with db.atomic():  # a savepoint: a subscription changed meanwhile undoes the rest
            _hold(account, reservation.quote)
    except StaleQuote:
        return False
    return True


def _check_ledger(account_id):
    """The ledger is the truth: never commit a cached balance that disagrees with it."""
    balance = _balance.first(int(account_id))[0]
    if _ledger_sum.first(int(account_id))[0] != balance:
        raise RuntimeError(f"ledger and balance disagree for account {account_id}")


def _charge(reservation, token, gateway, client=None):
    """Step 2, outside any transaction: the charge (None when nothing is due) with the card
    ``token`` (``_token_of``; None: the saved card was removed meanwhile).

    A decline or a gateway failure undoes the hold, records the attempt (with the client's
    address, for the card-testing limit) and raises ``PaymentFailed``.
    """
    if reservation.due_cents <= 0:
        return None
    key = reservation.idempotency_key
    try:
        charge = _earlier_charge(reservation, gateway) if reservation.gateway_failed else None
        if charge is None and token is None:
            raise PaymentDeclined("payment_required")  # the saved card was removed meanwhile
        charge = charge or gateway.charge(token, reservation.due_cents, reservation.currency,
                                          key, description=f"Order {key}")
    except (PaymentDeclined, GatewayError) as error:
        declined = isinstance(error, PaymentDeclined)
        _undo(reservation.id, "failed" if declined else "unconfirmed", error, client)
        raise PaymentFailed(error.code, declined=declined) from None
    return charge


def _token_of(reservation, saved=None):
    """The gateway token the reservation pays with: a new card's, or a saved card's
    (``saved``: the token read with the reservation, if it was)."""
    if reservation.new_card:
        return reservation.new_card["token"]
    if not reservation.payment_method_id:
        return None
    if saved is not None:
        return saved
    row = _method_token.first(int(reservation.payment_method_id))
    return row[0] if row else None


def _earlier_charge(reservation, gateway):
    """A charge that went through under the key although the gateway reported a failure.

    Only asked after a gateway failure (not a decline) under this key: a timeout may come
    after the money moved, and the retry must complete the order with that charge instead
    of charging again or being refused for a different card.
    """
    charge = gateway.find_charge(reservation.idempotency_key)
    if charge is not None and (charge.amount_cents, charge.currency) == (
            reservation.due_cents, reservation.currency):
        return charge
    return None


def _undo(reservation_id, state, error=None, client=None, older_than=None):
    """Release a reservation still held (``failed``, ``unconfirmed``, ``released``) and
    record the payment attempt; False when another process had finished it already, or
    (``older_than``) touched it since then: a charging thread has just claimed it."""
    with write_transaction():
        _account, reservation = _lock_reservation(reservation_id)
        if reservation.state not in HOLDING:
            return False
        if older_than is not None and reservation.updated_at >= older_than:
            return False
        _release(reservation)
        (OrderReservation.update(
            state=state, updated_at=utcnow(),
            error_code=error.code[:50] if error is not None else reservation.error_code,
            gateway_failed=reservation.gateway_failed or state == "unconfirmed")
         .where(OrderReservation.id == reservation.id).execute())
        if error is not None:
            status = "declined" if isinstance(error, PaymentDeclined) else "failed"
            PaymentAttempt.create(account=reservation.account_id, user=reservation.user_id,
                                  idempotency_key=reservation.idempotency_key,
                                  amount_cents=reservation.due_cents, status=status,
                                  error_code=error.code[:50], client=client)
            audit(reservation.account_id, reservation.user_id, "payment.failed",
                  amount_cents=reservation.due_cents, code=error.code[:50])
            log.info("payment %s for account %s: %s", status, reservation.account_id,
                     error.code)
    return True


def _lock_reservation(reservation_id):
    """(account, reservation), the account's row locked first (the order's lock order)."""
    account = _reservation_account_locked.first(int(reservation_id))
    return account, _locked_reservation.first(int(reservation_id))


def _complete_or_pending(reservation_id, charge):
    """Step 3, or ``OrderPending`` when it fails: the charge went through (or nothing was
    due), so the order is left to a retry of the same key or to reconciliation."""
    try:
        order = complete_reservation(reservation_id, charge)
    except Exception:
        log.exception("order reservation %s not completed; reconciliation will", reservation_id)
        order = None
    if order is None:
        key = (OrderReservation.select(OrderReservation.idempotency_key)
               .where(OrderReservation.id == reservation_id).scalar())
        raise OrderPending(key)
    return order


def complete_reservation(reservation_id, charge):
    """Step 3: write the order the reservation holds, paid by ``charge`` (None: nothing due).

    Exactly once: a completed reservation answers its order. A reservation released meanwhile
    (its charge outlived the timeout) is held again if nothing changed since, and otherwise
    marked ``refund_due`` (returns None).
    """
    with write_transaction():
        account, reservation = _lock_reservation(reservation_id)
        if reservation.state == "completed":
            return Order.get_by_id(reservation.order_id)
        if reservation.state not in HOLDING:
            if charge is None or not _hold_again(reservation):
                _refund_due(reservation, charge)
                return None
        order = _write_order(reservation, charge, account)
        if order is None:
            _refund_due(reservation, charge)
            return None
    log.info("order %s placed for account %s (due %s cents)", order.id, order.account_id,
             order.due_cents)
    return order


def _refund_due(reservation, charge):
    """Money arrived for an order that cannot be applied any more: keep it for support."""
    (OrderReservation.update(state="refund_due", updated_at=utcnow(),
                             charge_reference=charge.id if charge else None)
     .where(OrderReservation.id == reservation.id).execute())
    audit(reservation.account_id, reservation.user_id, "order.refund_due",
          idempotency_key=reservation.idempotency_key, amount_cents=reservation.due_cents,
          charge=charge.id if charge else None)
    log.error("order reservation %s was charged (%s) but cannot be applied: refund due",
              reservation.id, charge.id if charge else None)


def _write_order(reservation, charge, account):
    """Subscriptions, order, lines, invoice, ledger, balance, audit, card and cart, and the
    reservation marked completed; None (and nothing written) when a subscription is no
    longer at the version held.

    ``account`` is the reservation's, as locked (its balance is not read: the ledger
    updates below are relative)."""
    priced = reservation.quote
    user = reservation.user_id
    try:
        # A savepoint: a subscription moved past the hold writes nothing, not even the order.
        with db.atomic():
            method, new_card = _new_card(reservation, account)
            order = new_order.create(
                account=account, user=user, idempotency_key=reservation.idempotency_key,
                fingerprint=reservation.fingerprint, subtotal_cents=priced["subtotal"],
                vat_rate=priced["vat_rate"], vat_reason=priced["vat_reason"],
                vat_cents=priced["vat"], total_cents=priced["total"],
                applied_cents=priced["applied"], due_cents=priced["due"],
                credit_added_cents=priced["credit_added"],
                payment_method=method if priced["due"] > 0 else None,
                payment_reference=charge.id if charge else None)
            for line in priced["lines"]:
                _apply_line(order, account, user, line)
    except StaleQuote:
        return None
    _book_credit(order, account, priced)
    if new_card:
        audit(account, user, "payment_method.added", payment_method_id=method,
              brand=reservation.new_card["brand"], last4=reservation.new_card["last4"])
    if charge is not None:
        new_payment_attempt.add(account=account, user=user,
                                idempotency_key=reservation.idempotency_key,
                                amount_cents=priced["due"], status="succeeded")
    send_later(*CartItem.delete().where(CartItem.id.in_(priced["cart_items"])).sql())
    recipient = _user_by_id.first(int(user))
    _reservation_completed.later(order=order.id, now=utcnow(),
                                 reference=charge.id if charge else None, id=reservation.id)
    audit(account, user, "order.placed", order_id=order.id,
          total_cents=priced["total"], due_cents=priced["due"],
          applied_cents=priced["applied"], credit_added_cents=priced["credit_added"])
    lines = order_lines(order.id)
    locale = recipient_locale(recipient)
    # Last: the invoice number serialises every issuer until the commit (issue_invoice), so
    # what follows it is only what needs the number (its audit names the order).
    invoice = issue_invoice(order, account, dt.date.fromisoformat(priced["today"]), lines)
    order_receipt(order, invoice, recipient, account=account, lines=lines, locale=locale)
    return order


def _new_card(reservation, account):
    """(the payment method's id, whether it is a card saved by this order): a new card
    the order was paid with is saved now, the account's default if it has none."""
    card = reservation.new_card
    if not card:
        return reservation.payment_method_id, False
    return PaymentMethod.create(
        account=account, gateway=card["gateway"], token=card["token"], brand=card["brand"],
        last4=card["last4"], exp_month=card["exp_month"], exp_year=card["exp_year"],
        holder=card["holder"], is_default=needs_default(account, card["gateway"])).id, True


def _apply_line(order, account, user, line):
    """Change one subscription (only at the version the reservation holds) and its line."""
    held = line["held_version"]
    period_start = dt.date.fromisoformat(line["period_start"])
    period_end = dt.date.fromisoformat(line["period_end"])
    updated = _change_subscription.execute(
        plan=line["new_plan"], licenses=line["new_licenses"], frequency=line["new_frequency"],
        start=period_start, end=period_end, price=line["unit_price"],
        currency=account.currency, now=utcnow(), id=line["subscription"], held=held)
    if updated != 1:
        raise StaleQuote([line["product_name"]])
    new_order_line.add(
        order=order, subscription=line["subscription"], product_name=line["product_name"],
        # A new subscription (expired trial) had nothing paid before: no old plan.
        old_plan=line["old_plan"], old_licenses=0 if line["is_new"] else line["old_licenses"],
        old_frequency=None if line["is_new"] else line["old_frequency"],
        new_plan=line["new_plan"], new_licenses=line["new_licenses"],
        new_frequency=line["new_frequency"], unit_price_cents=line["unit_price"],
        credit_cents=line["credit"], charge_cents=line["charge"],
        unused_days=line["unused_days"], period_days=line["period_days"],
        period_start=period_start, period_end=period_end)
    audit(account, user, "subscription.changed", subscription_id=line["subscription"],
          order_id=order.id, version=held,
          old={"plan": line["old_plan_code"], "licenses": line["old_licenses"],
               "frequency": line["old_frequency"], "status": line["old_status"]},
          new={"plan": line["new_plan_code"], "licenses": line["new_licenses"],
               "frequency": line["new_frequency"], "period_start": line["period_start"],
               "period_end": line["period_end"]})


def _book_credit(order, account, priced):
    """The held credit becomes the order's; credit added is booked; the balance follows."""
    if priced["applied"]:
        hold = (LedgerEntry.select(LedgerEntry.id).where(
            (LedgerEntry.account == account.id) & (LedgerEntry.kind == "order_hold")
            & (LedgerEntry.amount_cents == -priced["applied"])
            & (LedgerEntry.order.is_null())).order_by(LedgerEntry.id).limit(1).scalar())
        (LedgerEntry.update(kind="order_applied", order=order.id)
         .where(LedgerEntry.id == hold).execute())
    if priced["credit_added"]:
        new_ledger_entry.add(account=account, amount_cents=priced["credit_added"],
                             kind="order_credit", order=order)
        (Account.update(balance_cents=Account.balance_cents + priced["credit_added"])
         .where(Account.id == account.id).execute())
    if priced["credit_added"]:  # the applied credit moved when it was held (``_hold``)
        _check_ledger(account.id)


def _await_outcome(account_id, key, fingerprint, gateway):
    """A second submit while the first is between steps: the first one's outcome.

    Waits up to ``ORDER_WAIT_SECONDS`` for it; a reservation still held then is completed if
    the gateway has its charge (the first process may have died after charging), otherwise
    the answer is ``OrderPending``: never a second charge. When orders are charged in the
    background, the answer comes at once: the "being processed" page follows the first one.
    """
    background = background_charges(current_app) is not None
    wait = 0.0 if background else float(current_app.config["ORDER_WAIT_SECONDS"])
    deadline = time.monotonic() + wait
    while True:
        reservation = _reservation_by_key.first(key)
        if reservation is None or reservation.account_id != int(account_id):
            raise KeyConflict()
        if reservation.state == "completed":
            order = replayed_order(int(account_id), key, fingerprint)
            return Placed(order, replayed=True)
        if reservation.state in ("failed", "unconfirmed"):
            raise PaymentFailed(reservation.error_code or "card_declined",
                                declined=reservation.state == "failed")
        if reservation.state != "reserved" or time.monotonic() >= deadline:
            break
        db.close()  # give the connection back while waiting
        time.sleep(0.05)
    if reservation.state == "reserved" and not background:
        charge = _earlier_charge(reservation, gateway) if reservation.due_cents > 0 else None
        if charge is not None:
            return Placed(_complete_or_pending(reservation.id, charge), replayed=True)
    raise OrderPending(key)


def reservation_for(account_id, key):
    """The account's reservation under ``key`` (for the "being processed" page), or None."""
    return _reservation_of_account.first(str(key), int(account_id))


def reconcile_pending_orders(now=None, timeout=RESERVATION_TIMEOUT, gateway=None):
    """Finish or undo every order left between its steps for longer than ``timeout``.

    A reservation whose charge the gateway has is completed (or ``refund_due`` if it can no
    longer be applied); one without a charge is released. Safe to run at any time, in any
    number of processes: each step checks the state it changes in its own transaction.
    Returns {outcome: count}.
    """
    gateway = gateway or get_gateway()
    cutoff = (now or utcnow()) - timeout
    stale = list(OrderReservation.select(OrderReservation.id)
                 .where(OrderReservation.state.in_(("reserved", "unconfirmed"))
                        & (OrderReservation.updated_at < cutoff))
                 .order_by(OrderReservation.id).tuples())
    outcomes = {"completed": 0, "released": 0, "refund_due": 0, "skipped": 0}
    for (reservation_id,) in stale:
        reservation = OrderReservation.get_by_id(reservation_id)
        try:
            charge = (gateway.find_charge(reservation.idempotency_key)
                      if reservation.due_cents > 0 else None)
        except GatewayError as error:
            log.warning("reconciliation of %s postponed: %s", reservation_id, error.code)
            outcomes["skipped"] += 1
            continue
        if charge is not None:
            order = complete_reservation(reservation_id, charge)
            outcomes["completed" if order is not None else "refund_due"] += 1
        elif _settle_unpaid(reservation_id, cutoff):
            outcomes["released"] += 1
    return outcomes


def _settle_unpaid(reservation_id, cutoff):
    """No charge after the timeout: release a held reservation not touched since ``cutoff``,
    close an unconfirmed one."""
    if _undo(reservation_id, "released", older_than=cutoff):
        return True
    with write_transaction():
        return (OrderReservation.update(state="released", updated_at=utcnow())
                .where((OrderReservation.id == reservation_id)
                       & (OrderReservation.state == "unconfirmed")).execute()) == 1
