"""Renewals and dunning, exactly once per subscription and period (SPEC §3.2).

A renewal goes through short transactions around the charge, never holding the write lock
while the gateway answers:

1. **reserve** (write transaction): the ``Renewal`` row of (subscription, period) is created
   with its price, VAT and the credit balance it uses (taken from the balance at once, with
   a ledger entry), then marked ``charging`` under a charge key of its own attempt;
2. **charge** (no transaction): the default card, under that key, so the gateway charges it
   at most once;
3. **complete** (write transaction): order, line, invoice, the next period and the price paid.

A decline marks the row ``failed``: the subscription is ``past_due`` (its users keep access)
and dunning tries again after ``DUNNING_RETRY_DAYS`` (1, 3 and 5 days by default); after the
last failure it is ``suspended`` and the credit it held goes back to the balance. A crash
between two steps leaves the row ``charging``; the next run charges again under the same key,
which the gateway answers with the charge it already made, if any. The unique (subscription,
period_start) row and the deterministic order key make running it twice, or in two
processes at once, charge once and invoice once.
"""
import datetime as dt
import logging
import secrets
from dataclasses import dataclass, field

from flask import current_app

from portal.billing import quote_renewal, renewal_unit_price, retry_date
from portal.core.clock import today_in
from portal.core.db import Prepared, PreparedInsert, PreparedWrite, for_update, write_transaction
from portal.core.models import (Account, OrderReservation, PaymentMethod, Plan, Product,
                                Renewal, Subscription, audit, ledger_sum, new_ledger_entry,
                                new_order, new_order_line, new_payment_attempt, utcnow)
from portal.checkout.orders import reconcile_pending_orders
from portal.customers.details import recheck_unchecked
from portal.invoices.numbering import issue_invoice, order_lines
from portal.lifecycle.contacts import billing_contacts, default_method, recipients
from portal.lifecycle.notices import write_notices
from portal.lifecycle.parallel import renew_in_processes
from portal.mail.messages import renewal_failed, renewal_receipt, subscription_suspended
from portal.payments.gateway import GatewayError, PaymentDeclined, get_gateway
from portal.subscriptions.quotes import plan_price

log = logging.getLogger(__name__)


class PayNowError(Exception):
    """A "Paga ora" that cannot go ahead (``code`` says why); nothing was charged."""

    def __init__(self, code):
        """Keep the code for the message catalog."""
        super().__init__(code)
        self.code = code


@dataclass
class RunReport:
    """What one ``billing run`` did, for the operator and the tests."""

    renewed: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    suspended: list = field(default_factory=list)
    expired: list = field(default_factory=list)
    trials_ended: list = field(default_factory=list)
    pending: list = field(default_factory=list)  # gateway errors: tried again next run
    vat_rechecked: list = field(default_factory=list)  # VAT numbers asked of VIES again
    orders_reconciled: dict = field(default_factory=dict)  # {outcome: count}
    reminders: dict = field(default_factory=dict)  # {kind: emails written}

    def lines(self):
        """One line per kind of event, for ``flask billing run``."""
        return [f"{name.replace('_', ' ')}: {sum(ids.values()) if isinstance(ids, dict) else len(ids)}"
                for name, ids in vars(self).items()]


def retry_schedule():
    """The days after a period's start on which a declined renewal is tried again."""
    raw = current_app.config.get("DUNNING_RETRY_DAYS", (1, 3, 5))
    if isinstance(raw, str):
        raw = [part for part in raw.replace(" ", "").split(",") if part]
    return tuple(sorted(int(day) for day in raw))


def _today_for(account, today):
    """The date the account lives in (its timezone), unless the run was given one."""
    return today or today_in(account.timezone)


# The reads of every renewal, their SQL built once (portal.core.db.Prepared): a billing run
# renews thousands of subscriptions, and most of these run while the write lock is held.
_subscription = Prepared(
    lambda subscription_id: for_update(
        Subscription.select(Subscription, Plan, Product, Account)
        .join(Plan).switch(Subscription).join(Product).switch(Subscription).join(Account)
        .where(Subscription.id == subscription_id).limit(1), Subscription, Account),
    related=(Subscription.plan, Subscription.product, Subscription.account))
_renewal = Prepared(lambda row_id: for_update(Renewal.select().where(Renewal.id == row_id)
                                              .limit(1)))
_renewal_of_period = Prepared(
    lambda subscription_id, period_start: Renewal.select(Renewal.id)
    .where((Renewal.subscription == subscription_id) & (Renewal.period_start == period_start))
    .limit(1), row=tuple)
# ... and the rows it writes (portal.core.db.PreparedInsert).
_new_renewal = PreparedInsert(Renewal)
_charging = PreparedWrite(lambda arg: Renewal.update(
    attempts=arg("attempts", Renewal.attempts), charge_key=arg("charge_key", Renewal.charge_key),
    payment_method=arg("method", Renewal.payment_method), state="charging",
    updated_at=arg("now", Renewal.updated_at)).where(Renewal.id == arg("id", Renewal.id)))
_renewed = PreparedWrite(lambda arg: Subscription.update(
    period_start=arg("start", Subscription.period_start),
    period_end=arg("end", Subscription.period_end),
    price_cents=arg("price", Subscription.price_cents), status="active",
    version=Subscription.version + 1, updated_at=arg("now", Subscription.updated_at))
    .where(Subscription.id == arg("id", Subscription.id)))
_completed = PreparedWrite(lambda arg: Renewal.update(
    state="completed", order=arg("order", Renewal.order),
    payment_reference=arg("reference", Renewal.payment_reference), next_retry_on=None,
    error_code=None, updated_at=arg("now", Renewal.updated_at))
    .where(Renewal.id == arg("id", Renewal.id)))
_reservation_in_flight = Prepared(
    lambda account_id, state: OrderReservation.select(OrderReservation.id)
    .where((OrderReservation.account == account_id) & (OrderReservation.state == state))
    .limit(1), row=tuple)


def _locked_subscription(subscription_id):
    """The subscription with plan, product and account, row-locked on PostgreSQL."""
    subscription = _subscription.first(subscription_id)
    if subscription is None:
        raise Subscription.DoesNotExist(f"subscription {subscription_id}")
    return subscription


def _move_balance(account, cents, kind, order=None):
    """Add ``cents`` (negative: take) to the credit balance, with its ledger entry."""
    if not cents:
        return
    new_ledger_entry.add(account=account.id, amount_cents=cents, kind=kind, order=order)
    balance = account.balance_cents + cents
    Account.update(balance_cents=balance).where(Account.id == account.id).execute()
    account.balance_cents = balance
    if ledger_sum(account.id) != balance:
        raise RuntimeError(f"ledger and balance disagree for account {account.id}")


def order_in_flight(account_id):
    """An order of the account is between its steps (it holds its subscriptions' versions):
    the renewal waits for the next run rather than race it."""
    return bool(_reservation_in_flight.first(account_id, "reserved"))


def renews_here(subscription):
    """Corporate accounts are billed by the Corporate Billing Portal, and a plan without a
    price here ("Contattaci") by its contract: the portal renews neither."""
    plan = plan_price(subscription.plan)
    return (not subscription.account.is_corporate and renewal_unit_price(
        plan, subscription.frequency, subscription.price_cents) is not None)


def _reserve(subscription, period_start, today):
    """A new ``charging`` renewal of ``subscription`` from ``period_start`` (lock held)."""
    account = subscription.account
    plan = plan_price(subscription.plan)
    unit = renewal_unit_price(plan, subscription.frequency, subscription.price_cents)
    quote = quote_renewal(unit_price=unit, licenses=subscription.licenses,
                          frequency=subscription.frequency, period_start=period_start,
                          country=account.country, vat_number=account.taxable_vat_number,
                          balance=account.balance_cents)
    row = _new_renewal.create(
        subscription=subscription.id, period_start=quote.period_start,
        period_end=quote.period_end, state="charging", plan=subscription.plan_id,
        licenses=subscription.licenses, frequency=subscription.frequency,
        unit_price_cents=quote.unit_price, subtotal_cents=quote.subtotal,
        vat_rate=str(quote.vat_rate), vat_reason=quote.vat_reason, vat_cents=quote.vat,
        total_cents=quote.total, applied_cents=quote.applied, due_cents=quote.due)
    _move_balance(account, -quote.applied, "renewal_applied")
    audit(account.id, None, "renewal.started", subscription_id=subscription.id,
          period_start=period_start.isoformat(), total_cents=quote.total,
          due_cents=quote.due)
    return row


def _start_attempt(row, method):
    """Mark ``row`` as being charged to ``method`` under a key of its own attempt."""
    row.attempts += 1
    # Stored before the charge, so that a run after a crash charges under the same key; the
    # random part keeps keys unique across databases that share a gateway account.
    row.charge_key = f"renewal-{row.id}-{row.attempts}-{secrets.token_urlsafe(9)}"
    row.payment_method = method.id if method else None
    row.state = "charging"
    row.updated_at = utcnow()
    _charging.execute(attempts=row.attempts, charge_key=row.charge_key,
                      method=row.payment_method_id, now=row.updated_at, id=row.id)


def _charge(row_id, gateway, today, reserved=None):
    """Charge a ``charging`` renewal (no transaction held), then complete or fail it.

    ``reserved`` is (row, card, account) when the caller has just written the row and knows
    its card; otherwise they are read again (a retry, a run finishing a cut-off charge).
    """
    if reserved is not None:
        row, method, account = reserved
    else:
        row = Renewal.get_by_id(row_id)
        method = account = None
    if row.state != "charging":
        return None
    reference = None
    if row.due_cents > 0:
        if reserved is None:
            method = PaymentMethod.get_or_none(PaymentMethod.id == row.payment_method_id)
            account = Account.get_by_id(method.account_id) if method else None
        if method is None:
            return _fail(row_id, "no_payment_method", today)
        try:
            charge = gateway.charge(method.token, row.due_cents, account.currency,
                                    row.charge_key, description=f"Renewal {row.id}")
        except PaymentDeclined as error:
            return _fail(row_id, error.code, today)
        except GatewayError as error:
            log.warning("renewal %s: gateway error %s, tried again next run", row.id,
                        error.code)
            return "pending"
        reference = charge.id
    return _complete(row_id, reference, today)


def _locked_charging(row_id):
    """(renewal, subscription), both locked, while the renewal is still ``charging``;
    (None, None) once another run has finished it (the write lock is held)."""
    row = _renewal.first(row_id)
    if row.state != "charging":
        return None, None
    return row, _locked_subscription(row.subscription_id)


def _complete(row_id, reference, today):
    """Order, line, invoice, the next period and the price paid, as one transaction."""
    with write_transaction():
        row, subscription = _locked_charging(row_id)
        if row is None:
            return None  # another run finished it
        account = subscription.account
        if subscription.status == "active" and subscription.period_end != row.period_start:
            return _superseded(row, subscription, reference)
        contacts = billing_contacts(account.id)
        contact = contacts[0]
        order = new_order.create(
            account=account.id, user=contact.id,
            idempotency_key=f"renewal-{subscription.id}-{row.period_start.isoformat()}",
            fingerprint="renewal", subtotal_cents=row.subtotal_cents, vat_rate=row.vat_rate,
            vat_reason=row.vat_reason, vat_cents=row.vat_cents, total_cents=row.total_cents,
            applied_cents=row.applied_cents, due_cents=row.due_cents, credit_added_cents=0,
            payment_method=row.payment_method_id, payment_reference=reference)
        new_order_line.create(
            order=order, subscription=subscription.id, product_name=subscription.product.name,
            old_plan=subscription.plan_id, old_licenses=subscription.licenses,
            old_frequency=subscription.frequency, new_plan=row.plan_id,
            new_licenses=row.licenses, new_frequency=row.frequency,
            unit_price_cents=row.unit_price_cents, credit_cents=0,
            charge_cents=row.subtotal_cents, unused_days=0, period_days=0,
            period_start=row.period_start, period_end=row.period_end)
        _renewed.execute(start=row.period_start, end=row.period_end,
                         price=row.unit_price_cents, now=utcnow(), id=subscription.id)
        _record_attempt(row, account, contact, "succeeded")
        _completed.execute(order=order.id, reference=reference, now=utcnow(), id=row.id)
        # Last: the invoice number serialises every issuer until the commit (issue_invoice).
        lines = order_lines(order.id)
        invoice = issue_invoice(order, account, today, lines)
        audit(account.id, None, "subscription.renewed", subscription_id=subscription.id,
              order_id=order.id, invoice=invoice.number, total_cents=row.total_cents,
              due_cents=row.due_cents, period_start=row.period_start.isoformat(),
              period_end=row.period_end.isoformat(), was=subscription.status)
        renewal_receipt(order, invoice, row, subscription.product.name, recipients(contacts),
                        account, lines)
    return "completed"


def _superseded(row, subscription, reference):
    """An order moved the subscription to a new period while this renewal was being charged
    (lock held): what was charged for the replaced period goes to the credit balance."""
    account = subscription.account
    _move_balance(account, row.due_cents + row.applied_cents, "renewal_superseded")
    Renewal.update(state="abandoned", payment_reference=reference, error_code="superseded",
                   updated_at=utcnow()).where(Renewal.id == row.id).execute()
    audit(account.id, None, "renewal.superseded", subscription_id=subscription.id,
          amount_cents=row.due_cents + row.applied_cents)
    return None


def _record_attempt(row, account, contact, status, code=None):
    """The renewal's charge attempt, beside the order's (for the activity and the limits)."""
    if row.due_cents > 0 and row.charge_key:
        new_payment_attempt.add(account=account.id, user=contact.id,
                                idempotency_key=row.charge_key, amount_cents=row.due_cents,
                                status=status, error_code=code[:50] if code else None)


def _fail(row_id, code, today):
    """A declined renewal: past due with the next retry, or suspended after the last one."""
    with write_transaction():
        row, subscription = _locked_charging(row_id)
        if row is None:
            return None  # another run finished it
        account = subscription.account
        next_try = retry_date(row.period_start, row.attempts, retry_schedule())
        contacts = billing_contacts(account.id)
        _record_attempt(row, account, contacts[0], "declined", code)
        if next_try is not None and subscription.status in ("active", "past_due"):
            Renewal.update(state="failed", error_code=code[:50], next_retry_on=next_try,
                           updated_at=utcnow()).where(Renewal.id == row.id).execute()
            Subscription.update(status="past_due", updated_at=utcnow()).where(
                Subscription.id == subscription.id).execute()
            audit(account.id, None, "renewal.failed", subscription_id=subscription.id,
                  reason=code, amount_cents=row.due_cents, next_retry=next_try.isoformat())
            renewal_failed(row, subscription, recipients(contacts), code, next_try)
            return "failed"
        _abandon(row, subscription, code, contacts)
        return "suspended"


def _abandon(row, subscription, code, contacts):
    """The last retry failed: suspend, and give the held credit back (lock held); the
    account's billing contacts are told."""
    account = subscription.account
    Renewal.update(state="abandoned", error_code=code[:50], next_retry_on=None,
                   updated_at=utcnow()).where(Renewal.id == row.id).execute()
    _move_balance(account, row.applied_cents, "renewal_released")
    Subscription.update(status="suspended", updated_at=utcnow()).where(
        Subscription.id == subscription.id).execute()
    audit(account.id, None, "subscription.suspended", subscription_id=subscription.id,
          reason=code, amount_cents=row.total_cents)
    subscription_suspended(row, subscription, recipients(contacts), code)


def renew(subscription_id, gateway, today=None):
    """Renew one subscription whose period has ended, if it is due: "completed", "failed",
    "suspended", "pending" (gateway error) or None (nothing to do)."""
    return _renew(subscription_id, gateway, today)[0]


def _renew(subscription_id, gateway, today):
    """``renew``'s outcome, and True when the subscription is due again at once (its new
    period has ended too: a portal that was down catches up one period at a time)."""
    with write_transaction():
        subscription = _locked_subscription(subscription_id)
        day = _today_for(subscription.account, today)
        if (subscription.status != "active" or not subscription.auto_renew
                or subscription.period_end is None or subscription.period_end > day
                or not renews_here(subscription) or order_in_flight(subscription.account_id)):
            return None, False
        if _renewal_of_period.first(subscription.id, subscription.period_end.isoformat()):
            return None, False  # being charged (or left by a crash: see ``resume_charging``)
        row = _reserve(subscription, subscription.period_end, day)
        method = default_method(subscription.account_id, gateway.name)
        _start_attempt(row, method)
    state = _charge(row.id, gateway, day, reserved=(row, method, subscription.account))
    return state, state == "completed" and row.period_end <= day


def retry(row_id, gateway, today=None, method=None):
    """Try a declined renewal again (dunning, or the customer's "Paga ora" with ``method``)."""
    with write_transaction():
        row = for_update(Renewal.select().where(Renewal.id == row_id)).get()
        subscription = _locked_subscription(row.subscription_id)
        day = _today_for(subscription.account, today)
        if row.state != "failed" or subscription.status != "past_due":
            return None
        if method is None and (row.next_retry_on is None or row.next_retry_on > day):
            return None
        _start_attempt(row, method or default_method(subscription.account_id, gateway.name))
    return _charge(row.id, gateway, day)


def outstanding(subscription):
    """The renewal a past-due subscription owes, or None."""
    return (Renewal.select().where((Renewal.subscription == subscription.id)
                                   & (Renewal.state.in_(("failed", "charging"))))
            .order_by(Renewal.period_start.desc()).first())


def pay_now(subscription_id, method, gateway, today=None):
    """The billing contact pays a past-due or suspended subscription with ``method``.

    Past due: the outstanding renewal is charged now. Suspended: a new period starts today
    (the seed's rule), at the renewal price. Raises ``PayNowError`` when there is nothing to
    pay or a payment is already under way (a second tab, a double click).
    """
    with write_transaction():
        subscription = _locked_subscription(subscription_id)
        day = _today_for(subscription.account, today)
        if subscription.status == "past_due":
            row = outstanding(subscription)
            if row is None or row.state != "failed":
                raise PayNowError("payment_in_progress" if row else "nothing_due")
        elif subscription.status == "suspended":
            row = Renewal.get_or_none((Renewal.subscription == subscription.id)
                                      & (Renewal.period_start == day))
            if row is not None and row.state != "abandoned":
                raise PayNowError("payment_in_progress")
            if row is not None:
                row.delete_instance()
            row = _reserve(subscription, day, day)
            # A payment the customer makes by hand: no automatic retries if it is declined.
            row.attempts = len(retry_schedule())
        else:
            raise PayNowError("nothing_due")
        _start_attempt(row, method)
    return _charge(row.id, gateway, day)


def end_trials_and_expire(today=None):
    """Trials past their last day become expired trials; subscriptions with auto-renew off
    expire at the end of their period. Returns (trial ids, expired ids)."""
    trials, expired = [], []
    with write_transaction():
        rows = (Subscription.select(Subscription, Account).join(Account)
                .where(((Subscription.status == "trialing")
                        | ((Subscription.status == "active")
                           & (Subscription.auto_renew == False)))  # noqa: E712 (SQL)
                       & Subscription.period_end.is_null(False)))
        for subscription in rows:
            day = _today_for(subscription.account, today)
            if subscription.period_end > day:
                continue
            new = "trial_expired" if subscription.status == "trialing" else "expired"
            Subscription.update(status=new, version=Subscription.version + 1,
                                updated_at=utcnow()).where(
                Subscription.id == subscription.id).execute()
            audit(subscription.account_id, None, f"subscription.{new}",
                  subscription_id=subscription.id)
            (trials if new == "trial_expired" else expired).append(subscription.id)
    return trials, expired


#: A charge still "charging" after this long was cut off (a crash or a timeout): the next run
#: charges again under the same key, which the gateway answers with its first charge, if any.
STALE_CHARGE = dt.timedelta(minutes=2)


def resume_charging(gateway, today=None):
    """Finish renewals left ``charging``; returns [(subscription id, outcome)]."""
    cutoff = utcnow() - STALE_CHARGE
    done = []
    for row in Renewal.select().where((Renewal.state == "charging")
                                      & (Renewal.updated_at < cutoff)):
        account = Account.select().join(Subscription).where(
            Subscription.id == row.subscription_id).get()
        done.append((row.subscription_id, _charge(row.id, gateway, _today_for(account, today))))
    return done


#: The timezone whose date is the latest on Earth (UTC+14): no account's today is later.
LATEST_TIMEZONE = "Etc/GMT-14"


def due_subscriptions(today=None):
    """The ids of the subscriptions that may renew, in one query: self-service, active, auto
    renewing, and with a period ended by ``today`` (else by the latest date in any timezone;
    ``renew`` checks each against its account's own date, under the lock)."""
    latest = today or today_in(LATEST_TIMEZONE)
    return [subscription_id for (subscription_id,) in (
        Subscription.select(Subscription.id).join(Account)
        .where((Subscription.status == "active") & (Subscription.auto_renew == True)  # noqa
               & Subscription.period_end.is_null(False) & (Subscription.period_end <= latest)
               & (Account.kind == "self_service"))
        .order_by(Subscription.id).tuples())]


def run_billing(today=None, gateway=None, progress=None, jobs=None):
    """Everything that is due: unfinished charges, trial ends, expiries, renewals (repeated
    until each period reaches today, for a portal that was down) and dunning retries.
    Idempotent: running it again at once does nothing more. ``progress(done, total)``, if
    given, hears how many of the due subscriptions are done (``portal.cli.progress``).
    ``jobs`` (default ``BILLING_JOBS``, 1) processes renew the due subscriptions
    (``portal.lifecycle.parallel``)."""
    gateway = gateway or get_gateway()
    report = RunReport()
    # VAT numbers accepted while VIES was unavailable: checked again before anything is
    # priced, so a number found invalid stops getting the reverse charge in this very run.
    report.vat_rechecked = [account_id for account_id, _status in recheck_unchecked()]
    # Orders a crash or a timeout left between their steps: completed or undone first, so
    # that their subscriptions are settled before anything renews.
    report.orders_reconciled = {outcome: count for outcome, count in
                                reconcile_pending_orders(gateway=gateway).items() if count}
    outcomes = {"completed": report.renewed, "failed": report.failed,
                "suspended": report.suspended, "pending": report.pending}
    for row in resume_charging(gateway, today):
        outcomes.get(row[1], []).append(row[0])
    report.trials_ended, report.expired = end_trials_and_expire(today)
    due = due_subscriptions(today)
    if progress:
        progress(0, len(due))
    jobs = max(1, int(jobs or current_app.config.get("BILLING_JOBS") or 1))

    def renew_each(ids, finished):
        """{state: [subscription ids]} of renewing ``ids``; ``finished()`` after each."""
        states = {}
        for subscription_id in ids:
            for _period in range(1000):  # catch up, one period at a time; bounded
                state, again = _renew(subscription_id, gateway, today)
                if state is not None:
                    states.setdefault(state, []).append(subscription_id)
                if not again:
                    break
            finished()
        return states

    if jobs > 1 and len(due) > 1:
        states = renew_in_processes(due, jobs, renew_each, progress)
    else:
        counter = iter(range(1, len(due) + 1))
        states = renew_each(due, lambda: progress and progress(next(counter), len(due)))
    for state, ids in states.items():
        outcomes.get(state, []).extend(ids)
    for row in Renewal.select().where(Renewal.state == "failed").order_by(Renewal.id):
        state = retry(row.id, gateway, today)
        if state:
            outcomes.get(state, []).append(row.subscription_id)
    # Last, on the states this run left: trial ending, expiring, card expiring.
    report.reminders = write_notices(today)
    return report
