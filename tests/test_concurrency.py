"""Concurrency and faults (issue 9), on SQLite and on PostgreSQL (TEST_DATABASE_URL).

Many submits of one order key, two tabs racing on one subscription, license toggles at once,
an exception in the middle of the order transaction, a gateway that times out after charging,
and a busy database: in every case the data stays whole and the user gets a clear answer.
"""
import datetime as dt
import os
import sqlite3
import threading

import pytest
import time_machine
from peewee import OperationalError
from playhouse.shortcuts import model_to_dict

import portal.checkout.orders
from conftest import GIULIA, PASSWORD, Browser
from portal.core.db import db, is_sqlite
from portal.checkout.orders import RESERVATION_TIMEOUT, reconcile_pending_orders
from portal.core.models import (Account, AuditEvent, CartItem, Invoice, LedgerEntry,
                                LicenseAssignment, Order, OrderLine, OrderReservation,
                                PaymentAttempt, PaymentMethod, Subscription, User, ledger_sum,
                                utcnow)
from portal.payments.gateway import GatewayError, SandboxGateway
from portal.demo import make_user
from portal.lifecycle.renewals import run_billing
from test_checkout_support import (add_to_cart, card_form, form_fields, order_id_from, place,
                                   review)

EN = {"Accept-Language": "en"}
ELENA = "elena.russo@example.it"


# ------------------------------------------------------------ helpers


def login(app, email=GIULIA):
    """A new browser (its own cookie jar) logged in as ``email``."""
    browser = Browser(app.test_client())
    browser.login(email, PASSWORD)
    return browser


def run_together(functions, timeout=120):
    """Start every function at the same instant (a barrier); their results, in order."""
    barrier = threading.Barrier(len(functions))
    results = [None] * len(functions)
    errors = []

    def worker(index):
        try:
            barrier.wait()
            results[index] = functions[index]()
        except Exception as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)
        finally:
            if not db.is_closed():
                db.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(functions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a request hung"
    assert not errors, errors
    return results


def state():
    """The rows an order touches, as comparable values."""
    with db.connection_context():
        return {
            "subscriptions": [tuple(s.__data__.items())
                              for s in Subscription.select().order_by(Subscription.id)],
            "balances": [(a.id, a.balance_cents) for a in Account.select().order_by(Account.id)],
            "cart": [tuple(c.__data__.items()) for c in CartItem.select().order_by(CartItem.id)],
            "counts": {m.__name__: m.select().count()
                       for m in (Order, OrderLine, Invoice, LedgerEntry, PaymentMethod,
                                 AuditEvent)},
        }


def assert_books_balance():
    """Every account's cached balance equals its ledger; every order has lines and an invoice."""
    with db.connection_context():
        for account in Account.select():
            assert account.balance_cents == ledger_sum(account.id), account.name
        for order in Order.select():
            assert order.lines.count() >= 1, order.id
            assert Invoice.select().where(Invoice.order == order.id).count() == 1, order.id


def add_elena():
    """A second billing contact of Rossi Eventi."""
    with db.connection_context():
        rossi = Account.get(Account.name == "Rossi Eventi S.r.l.")
        make_user(rossi, ELENA, "Elena Russo", "billing_contact", PASSWORD)


def submit(browser, fields, payment=None, headers=None):
    """POST the order form (``place`` without mixing headers into the form)."""
    data = dict(fields)
    data.update(payment if payment is not None else card_form())
    return browser.post("/checkout/order", data, headers=headers)


def saved_card():
    """A saved sandbox card of Rossi Eventi (an unknown sandbox token charges successfully)."""
    with db.connection_context():
        rossi = Account.get(Account.name == "Rossi Eventi S.r.l.")
        return PaymentMethod.create(account=rossi, gateway="sandbox",
                                    token="sandbox_tok_saved_" + str(id(rossi)), brand="visa",
                                    last4="4242", exp_month=12, exp_year=2030,
                                    holder="Giulia Rossi").id


# ------------------------------------------------------------ one key, twenty submits


def test_twenty_concurrent_submits_of_one_key_make_one_order(app, giulia):
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    browsers = [login(app) for _ in range(20)]

    def submit(browser):
        def go():
            response = place(browser, fields)
            return response.status_code, response.headers.get("Location")
        return go

    answers = run_together([submit(b) for b in browsers])

    assert len(set(answers)) == 1, answers  # identical answers
    status, location = answers[0]
    assert status == 303 and "/orders/" in location
    with db.connection_context():
        assert Order.select().count() == 1 and Invoice.select().count() == 1
        assert PaymentAttempt.select().count() == 1 and PaymentMethod.select().count() == 1
        assert Subscription.get_by_id(1).version == 2
        assert AuditEvent.select().where(AuditEvent.action == "order.placed").count() == 1
    charge = SandboxGateway.charges()[fields["idempotency_key"]]
    assert charge.amount_cents == 2291812
    assert_books_balance()


# ------------------------------------------------------------ two tabs, one subscription


def test_two_tabs_racing_on_one_subscription_exactly_one_wins(app, giulia):
    add_elena()
    elena = login(app, ELENA)
    add_to_cart(1, "webinar-pro", 8, "annual")
    # Same tier, so that either change is still valid after the other one won.
    add_to_cart(1, "webinar-pro", 10, "monthly", email=ELENA)
    _, giulia_tab = review(giulia)
    _, elena_tab = review(elena)
    wanted = {"giulia": ("webinar-pro", 8, "annual"), "elena": ("webinar-pro", 10, "monthly")}

    def racer(browser, fields, holder):
        def go():
            response = submit(browser, fields, card_form(holder=holder))
            return response.status_code, response.get_data(as_text=True)
        return go

    (g_status, g_html), (e_status, e_html) = run_together([
        racer(giulia, giulia_tab, "Giulia Rossi"), racer(elena, elena_tab, "Elena Russo")])

    assert sorted([g_status, e_status]) == [303, 409], (g_status, e_status)
    winner = "giulia" if g_status == 303 else "elena"
    loser_html = e_html if winner == "giulia" else g_html
    # The loser is shown the review again, priced on the winner's new subscription.
    assert 'id="stale-notice"' in loser_html
    assert form_fields(loser_html)["fingerprint"] not in (giulia_tab["fingerprint"],
                                                          elena_tab["fingerprint"])
    with db.connection_context():
        sub = Subscription.get_by_id(1)
        assert (sub.plan.code, sub.licenses, sub.frequency) == wanted[winner]
        assert sub.version == 2
        [order] = Order.select()
        assert order.user.email == (GIULIA if winner == "giulia" else ELENA)
        assert OrderLine.select().count() == 1
    assert_books_balance()


# ------------------------------------------------------------ license toggles


def test_concurrent_toggles_of_one_user_are_idempotent(app, giulia):
    with db.connection_context():
        luca = User.get(User.email == "luca.ferri@example.it").id
    browsers = [login(app) for _ in range(10)]

    def enable(browser):
        return lambda: browser.post(f"/subscriptions/1/licenses/{luca}", {"enabled": "1"},
                                    htmx=True).status_code

    statuses = run_together([enable(b) for b in browsers])

    assert statuses == [200] * 10, statuses
    with db.connection_context():
        assert LicenseAssignment.select().where(
            (LicenseAssignment.subscription == 1) & (LicenseAssignment.user == luca)).count() == 1
        assert LicenseAssignment.select().where(LicenseAssignment.subscription == 1).count() == 5
        assert AuditEvent.select().where(AuditEvent.action == "license.enabled").count() == 1


def test_concurrent_enables_and_disables_at_the_limit_never_exceed_it(app, giulia):
    with db.connection_context():
        rossi = Account.get(Account.name == "Rossi Eventi S.r.l.")
        for i in range(6):
            make_user(rossi, f"extra{i}@example.it", f"Extra {i}")
        assigned = [a.user_id for a in LicenseAssignment.select().where(
            LicenseAssignment.subscription == 1)]
        free = [u.id for u in User.select().where(
            (User.account == rossi.id) & User.id.not_in(assigned))]
    assert len(assigned) == 4 and len(free) >= 6
    # One license free; two users are disabled meanwhile: at most 3 enables can succeed.
    jobs = [(user, "1") for user in free[:6]] + [(user, "0") for user in assigned[:2]]
    browsers = [login(app) for _ in jobs]

    def toggle(browser, user, wanted):
        return lambda: browser.post(f"/subscriptions/1/licenses/{user}", {"enabled": wanted},
                                    htmx=True).status_code

    statuses = run_together([toggle(b, u, w) for b, (u, w) in zip(browsers, jobs)])

    assert set(statuses) <= {200, 422}, statuses
    assert statuses[6:] == [200, 200]  # disabling always works
    with db.connection_context():
        final = LicenseAssignment.select().where(LicenseAssignment.subscription == 1).count()
        enabled = AuditEvent.select().where(AuditEvent.action == "license.enabled").count()
    assert final <= 5
    assert statuses[:6].count(200) == enabled == final - 2
    assert enabled >= 1


# ------------------------------------------------------------ a fault at every step boundary
#
# Placing an order is reserve (a transaction), charge (no transaction), complete (a
# transaction). A fault anywhere leaves a state that a second submit of the same key or
# reconciliation finishes or undoes: one charge at most, one order exactly when paid.


def reconcile_after_timeout(app):
    """Reconciliation as the scheduler runs it, once the reservation timeout has passed."""
    with app.app_context():
        later = utcnow() + RESERVATION_TIMEOUT + dt.timedelta(seconds=1)
        return reconcile_pending_orders(now=later)


def reservation_state(key):
    """The state of the reservation made under ``key``."""
    with db.connection_context():
        return OrderReservation.get(OrderReservation.idempotency_key == key).state


def assert_one_paid_order(key, due=2291812):
    """One charge under the key, one order carrying it, the books balanced."""
    charge = SandboxGateway.charges()[key]
    with db.connection_context():
        [order] = Order.select()
        assert (order.idempotency_key, order.payment_reference) == (key, charge.id)
        assert order.due_cents == charge.amount_cents == due
        assert Subscription.get_by_id(1).version == 2
        assert CartItem.select().count() == 0
    assert reservation_state(key) == "completed"
    assert_books_balance()


def assert_nothing_happened(before, key):
    """No charge, no order, every held version and credit given back."""
    assert state() == before
    assert SandboxGateway.charges().get(key) is None


def test_a_fault_inside_the_reservation_rolls_it_back(app, giulia, monkeypatch):
    app.config["PROPAGATE_EXCEPTIONS"] = False  # see the 500 page a user would see
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    before = state()
    original = portal.checkout.orders._hold

    def hold_then_fail(*args):
        original(*args)  # the versions and the credit are held when this raises
        raise RuntimeError("injected fault")
    monkeypatch.setattr(portal.checkout.orders, "_hold", hold_then_fail)

    response = submit(giulia, fields, headers=EN)

    assert response.status_code == 500
    assert "Nothing was changed" in response.get_data(as_text=True)
    assert_nothing_happened(before, fields["idempotency_key"])
    with db.connection_context():
        assert OrderReservation.select().count() == 0
    monkeypatch.setattr(portal.checkout.orders, "_hold", original)
    order_id_from(place(giulia, fields))  # the key is not burnt
    assert_one_paid_order(fields["idempotency_key"])


def test_a_crash_between_reserve_and_charge_is_released_then_the_key_works(
        app, giulia, monkeypatch):
    app.config.update(PROPAGATE_EXCEPTIONS=False, ORDER_WAIT_SECONDS=0.2)
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    before = state()
    key = fields["idempotency_key"]
    original = portal.checkout.orders._charge

    def crash(*args):
        raise RuntimeError("the process died before charging")
    monkeypatch.setattr(portal.checkout.orders, "_charge", crash)

    assert submit(giulia, fields).status_code == 500
    assert reservation_state(key) == "reserved"
    with db.connection_context():
        assert Subscription.get_by_id(1).version == 2  # held: another tab's review is stale
        assert Account.get_by_id(1).balance_cents == 0 == ledger_sum(1)
    # A second submit while the first is "between steps": no charge, a clear page.
    again = submit(giulia, fields, headers=EN)
    assert again.status_code == 303
    assert again.headers["Location"].endswith(f"/orders/pending/{key}")
    page = giulia.get(f"/orders/pending/{key}", headers=EN)
    assert "Your order is being processed" in page.get_data(as_text=True)
    assert "La transazione" not in page.get_data(as_text=True)
    assert SandboxGateway.charges().get(key) is None
    # Reconciliation only acts after the timeout, then releases what is not paid.
    with app.app_context():
        assert reconcile_pending_orders()["released"] == 0
    assert reconcile_after_timeout(app) == {"completed": 0, "released": 1, "refund_due": 0,
                                            "skipped": 0}
    assert reservation_state(key) == "released"
    assert_nothing_happened(before, key)
    assert reconcile_after_timeout(app)["released"] == 0  # idempotent
    monkeypatch.setattr(portal.checkout.orders, "_charge", original)
    order_id_from(place(giulia, fields))  # the same review is still valid: placed once
    assert_one_paid_order(key)


@pytest.mark.parametrize("step", ["after_charge", "complete_reservation", "issue_invoice",
                                  "_book_credit", "audit"])
def test_a_fault_after_the_charge_is_completed_by_reconciliation(app, giulia, monkeypatch,
                                                                 step):
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    key = fields["idempotency_key"]
    orders = portal.checkout.orders
    name = "_charge" if step == "after_charge" else step
    original = getattr(orders, name)
    calls = []

    def explode(*args, **kwargs):
        if step == "after_charge":
            calls.append(original(*args, **kwargs))  # the money moved, then the crash
            raise RuntimeError("injected fault")
        if step != "audit" or args[2] == "order.placed":
            calls.append(step)
            raise RuntimeError("injected fault")
        return original(*args, **kwargs)
    monkeypatch.setattr(orders, name, explode)
    app.config["PROPAGATE_EXCEPTIONS"] = False

    response = submit(giulia, fields, headers=EN)

    assert calls, "the fault was not injected"
    if step == "after_charge":
        assert response.status_code == 500
    else:  # paid, not yet placed: the page says so instead of "nothing was changed"
        assert response.status_code == 303
        assert response.headers["Location"].endswith(f"/orders/pending/{key}")
        assert "being processed" in giulia.get(response.headers["Location"],
                                               headers=EN).get_data(as_text=True)
    assert reservation_state(key) == "reserved"
    with db.connection_context():
        assert Order.select().count() == 0
    assert SandboxGateway.charges()[key].amount_cents == 2291812
    monkeypatch.setattr(orders, name, original)

    assert reconcile_after_timeout(app)["completed"] == 1
    assert_one_paid_order(key)
    assert reconcile_after_timeout(app)["completed"] == 0
    # The customer's second click answers the order; the pending page leads to it.
    order_id = order_id_from(place(giulia, fields))
    with db.connection_context():
        assert Order.get_by_id(order_id).idempotency_key == key
    pending = giulia.get(f"/orders/pending/{key}")
    assert pending.status_code == 303 and pending.headers["Location"].endswith(
        f"/orders/{order_id}")
    assert len([k for k in SandboxGateway.charges() if k == key]) == 1


def test_a_second_submit_completes_an_order_whose_first_process_died_after_charging(
        app, giulia, monkeypatch):
    app.config.update(PROPAGATE_EXCEPTIONS=False, ORDER_WAIT_SECONDS=0.2)
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    orders = portal.checkout.orders
    original = orders._charge

    def charge_then_die(*args):
        original(*args)
        raise RuntimeError("the process died after charging")
    monkeypatch.setattr(orders, "_charge", charge_then_die)
    assert submit(giulia, fields).status_code == 500
    monkeypatch.setattr(orders, "_charge", original)

    order_id_from(submit(giulia, fields))  # asks the gateway: paid, so the order is placed

    assert_one_paid_order(fields["idempotency_key"])


def test_a_fault_while_undoing_a_decline_is_released_by_reconciliation(
        app, giulia, monkeypatch):
    app.config["PROPAGATE_EXCEPTIONS"] = False
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    before = state()
    orders = portal.checkout.orders
    original = orders._undo
    monkeypatch.setattr(orders, "_undo", lambda *a, **k: (_ for _ in ()).throw(
        RuntimeError("injected fault")))

    assert submit(giulia, fields, card_form(number="4000000000000002")).status_code == 500
    assert reservation_state(fields["idempotency_key"]) == "reserved"
    monkeypatch.setattr(orders, "_undo", original)

    assert reconcile_after_timeout(app)["released"] == 1
    assert_nothing_happened(before, fields["idempotency_key"])


def test_reconciliation_completes_a_paid_order_whose_gateway_answer_was_lost(
        app, giulia, monkeypatch):
    """A timeout after charging, and the customer never comes back."""
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    _timeout_after_charging(monkeypatch)
    assert submit(giulia, fields).status_code == 402
    key = fields["idempotency_key"]
    assert reservation_state(key) == "unconfirmed"
    with db.connection_context():
        assert Subscription.get_by_id(1).version == 1  # nothing held while unconfirmed

    assert reconcile_after_timeout(app)["completed"] == 1

    assert_one_paid_order(key)


def test_a_paid_reservation_that_can_no_longer_be_applied_is_kept_for_a_refund(
        app, giulia, monkeypatch):
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    _timeout_after_charging(monkeypatch)
    assert submit(giulia, fields).status_code == 402
    with db.connection_context():  # meanwhile someone else changed the subscription
        Subscription.update(licenses=9, version=Subscription.version + 1).where(
            Subscription.id == 1).execute()
    before = state()

    assert reconcile_after_timeout(app)["refund_due"] == 1

    key = fields["idempotency_key"]
    assert reservation_state(key) == "refund_due"
    after = state()
    assert after["subscriptions"] == before["subscriptions"]
    assert after["counts"]["Order"] == 0
    assert after["counts"]["AuditEvent"] == before["counts"]["AuditEvent"] + 1
    assert_books_balance()
    page = giulia.get(f"/orders/pending/{key}", headers=EN).get_data(as_text=True)
    assert "We received your payment" in page


# ------------------------------------------------------------ gateway timeout after charging


def _timeout_after_charging(monkeypatch):
    """The first charge succeeds at the gateway, but the answer is lost (a timeout)."""
    original = SandboxGateway.charge
    calls = []

    def charge(self, token, amount, currency, key, description=""):
        result = original(self, token, amount, currency, key, description)
        calls.append(result)
        if len(calls) == 1:
            raise GatewayError("timeout")
        return result
    monkeypatch.setattr(SandboxGateway, "charge", charge)
    return calls


def _charges_for_rossi(before):
    """The sandbox charges made since ``before`` (a dict of key -> Charge)."""
    return {k: c for k, c in SandboxGateway.charges().items() if k not in before}


def test_gateway_timeout_after_charging_then_retry_with_the_same_key_charges_once(
        giulia, monkeypatch):
    method_id = saved_card()
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    known = SandboxGateway.charges()
    calls = _timeout_after_charging(monkeypatch)
    payment = {"payment_method": str(method_id)}

    first = submit(giulia, fields, payment, headers=EN)
    assert first.status_code == 402
    assert 'id="payment-error"' in first.get_data(as_text=True)
    with db.connection_context():
        assert Order.select().count() == 0
        assert PaymentAttempt.get().status == "failed"

    second = place(giulia, fields, payment)  # the same key: the earlier charge is found

    order_id = order_id_from(second)
    assert len(calls) == 1  # the retry asked for the earlier charge, it did not charge again
    new_charges = _charges_for_rossi(known)
    assert list(new_charges) == [fields["idempotency_key"]]
    with db.connection_context():
        order = Order.get_by_id(order_id)
        assert order.payment_reference == calls[0].id
        assert order.due_cents == 2291812 == calls[0].amount_cents
    assert_books_balance()


def test_gateway_timeout_with_a_new_card_never_charges_twice_for_one_key(giulia, monkeypatch):
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    known = SandboxGateway.charges()
    _timeout_after_charging(monkeypatch)
    assert place(giulia, fields).status_code == 402
    place(giulia, fields)  # the same key, the card typed again
    assert len(_charges_for_rossi(known)) == 1


def test_gateway_timeout_then_the_pages_own_retry_does_not_charge_twice(giulia, monkeypatch):
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    known = SandboxGateway.charges()
    _timeout_after_charging(monkeypatch)
    first = place(giulia, fields)
    assert first.status_code == 402
    retry_fields = form_fields(first.get_data(as_text=True))
    place(giulia, retry_fields)  # what the user does: press "Place order" again
    assert len(_charges_for_rossi(known)) == 1


def test_gateway_timeout_then_the_pages_own_retry_places_the_paid_order(giulia, monkeypatch):
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    known = SandboxGateway.charges()
    _timeout_after_charging(monkeypatch)
    first = place(giulia, fields)
    retry = place(giulia, form_fields(first.get_data(as_text=True)))
    order_id = order_id_from(retry)  # charged once: the order must exist
    [charge] = _charges_for_rossi(known).values()
    with db.connection_context():
        assert Order.get_by_id(order_id).payment_reference == charge.id


# ------------------------------------------------------------ a busy database


def test_injected_lock_errors_answer_503_with_a_message(app, giulia, monkeypatch):
    import portal.licenses.views
    faults = iter(["database is locked", "deadlock detected",
                   "could not serialize access due to concurrent update"])

    def busy(*args, **kwargs):
        raise OperationalError(next(faults))
    monkeypatch.setattr(portal.licenses.views, "set_license", busy)
    with db.connection_context():
        luca = User.get(User.email == "luca.ferri@example.it").id
    before = state()
    for htmx in (False, True, False):
        response = giulia.post(f"/subscriptions/1/licenses/{luca}", {"enabled": "1"},
                               htmx=htmx, headers=EN)
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "2"
        body = response.get_data(as_text=True)
        assert "The portal is busy, please try again" in body
        assert "Nothing was changed" in body
        assert ("<html" in body) is not htmx
    assert state() == before


def test_other_operational_errors_are_not_hidden_as_busy(giulia, monkeypatch):
    import portal.licenses.views

    def broken(*args, **kwargs):
        raise OperationalError("no such table: license_assignment")
    monkeypatch.setattr(portal.licenses.views, "set_license", broken)
    with pytest.raises(OperationalError):  # TESTING propagates: a real fault stays visible
        giulia.post("/subscriptions/1/licenses/6", {"enabled": "1"})


def test_busy_page_is_localized(giulia, monkeypatch):
    import portal.licenses.views
    monkeypatch.setattr(portal.licenses.views, "set_license",
                        lambda *a, **k: (_ for _ in ()).throw(OperationalError(
                            "database is locked")))
    english = giulia.post("/subscriptions/1/licenses/6", {"enabled": "1"}, headers=EN)
    italian = giulia.post("/subscriptions/1/licenses/6", {"enabled": "1"},
                          headers={"Accept-Language": "it"})
    assert english.status_code == italian.status_code == 503
    assert '<html lang="it"' in italian.get_data(as_text=True)


@pytest.fixture
def impatient_sqlite(make_app, monkeypatch):
    """An app whose SQLite connections wait only 0.2 s for a lock."""
    import os
    import portal.core.db
    if os.environ.get("TEST_DATABASE_URL"):
        pytest.skip("a real 'database is locked' needs SQLite")
    monkeypatch.setitem(portal.core.db.SQLITE_PRAGMAS, "busy_timeout", 200)
    app = make_app()
    yield app
    if not db.is_closed():
        db.close()


def test_a_really_locked_sqlite_database_answers_503_then_works_again(impatient_sqlite):
    app = impatient_sqlite
    assert app.config["DATABASE_URL"].startswith("sqlite:///")
    giulia = login(app)
    path = app.config["DATABASE_URL"][len("sqlite:///"):]
    with db.connection_context():
        luca = User.get(User.email == "luca.ferri@example.it").id
    holder = sqlite3.connect(path, timeout=0, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        toggle = giulia.post(f"/subscriptions/1/licenses/{luca}", {"enabled": "1"}, headers=EN)
        change = giulia.post("/subscriptions/1/change", {"plan": "webinar-pro",
                                                         "licenses": "8", "frequency": "annual",
                                                         "intent": "add"}, htmx=True,
                             headers=EN)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    for response in (toggle, change):
        assert response.status_code == 503, response.status_code
        assert response.headers["Retry-After"] == "2"
        assert "The portal is busy, please try again" in response.get_data(as_text=True)
    with db.connection_context():
        assert CartItem.select().count() == 0
        assert LicenseAssignment.select().where(LicenseAssignment.user == luca).count() == 0
    # The lock is gone: the same clicks work.
    assert giulia.post(f"/subscriptions/1/licenses/{luca}", {"enabled": "1"}).status_code == 303
    with db.connection_context():
        assert LicenseAssignment.select().where(LicenseAssignment.user == luca).count() == 1
    assert is_sqlite()


def test_the_billing_run_finishes_an_order_cut_off_after_its_charge(app, giulia, monkeypatch):
    """The worker's periodic ``billing run`` reconciles orders as well: a crash right after
    the charge leaves the reservation; the next run past the timeout completes it, once."""
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    key = fields["idempotency_key"]
    orders = portal.checkout.orders
    original = orders._charge

    def crash_after_charging(*args, **kwargs):
        original(*args, **kwargs)
        raise RuntimeError("injected fault")
    monkeypatch.setattr(orders, "_charge", crash_after_charging)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    assert submit(giulia, fields, headers=EN).status_code == 500
    monkeypatch.setattr(orders, "_charge", original)
    later = dt.datetime.now() + RESERVATION_TIMEOUT + dt.timedelta(seconds=5)
    with time_machine.travel(later), app.app_context(), db.connection_context():
        first = run_billing()
        second = run_billing()
    assert first.orders_reconciled == {"completed": 1} and second.orders_reconciled == {}
    assert_one_paid_order(key)


# ------------------------------------------------------------ invoice numbers, year boundary


def test_concurrent_orders_across_a_year_boundary_number_invoices_without_gaps(app):
    """Eight accounts order at once, four on 31 December and four on 1 January: each year's
    invoices are numbered 1, 2, 3, 4, with no gap and no repeat."""
    with db.connection_context():
        rossi = Account.get_by_id(1)
        fields = model_to_dict(rossi, recurse=False)
        for name in ("id", "balance_cents", "created_at"):
            fields.pop(name, None)
        standard = Subscription.get_by_id(1).plan_id
        emails = []
        for n in range(8):
            account = Account.create(**dict(fields, name=f"Cliente {n} S.r.l."))
            email = f"contatto{n}@example.it"
            make_user(account, email, f"Contatto {n}", "billing_contact", PASSWORD)
            Subscription.create(account=account, product=1, plan=standard, licenses=5,
                                frequency="monthly", period_start=dt.date(2026, 12, 15),
                                period_end=dt.date(2027, 1, 15), status="active",
                                price_cents=11900)
            emails.append(email)
        subscriptions = {s.account.name: s.id for s in Subscription.select(
            Subscription, Account).join(Account).where(Account.name.startswith("Cliente"))}

    def wave(day, names):
        app.config["FIXED_TODAY"] = day
        browsers = []
        for n in names:
            add_to_cart(subscriptions[f"Cliente {n} S.r.l."], "webinar-pro", 8, "annual",
                        email=emails[n])
            browser = login(app, emails[n])
            _html, review_fields = review(browser)
            browsers.append((browser, review_fields))

        def submit(browser, review_fields):
            return lambda: place(browser, review_fields).status_code
        return run_together([submit(*pair) for pair in browsers])

    assert wave(dt.date(2026, 12, 31), range(4)) == [303] * 4
    assert wave(dt.date(2027, 1, 1), range(4, 8)) == [303] * 4
    with db.connection_context():
        numbers = sorted((i.year, i.sequence, i.number) for i in Invoice.select())
    assert [(year, sequence) for year, sequence, _ in numbers] == (
        [(2026, s) for s in range(1, 5)] + [(2027, s) for s in range(1, 5)])
    assert numbers[0][2] == "2026/000001" and numbers[-1][2] == "2027/000004"
    assert_books_balance()


# ------------------------------------------------------------ what a transaction locks


def _lockable(database_url, table, row_id):
    """Whether another connection can lock row ``row_id`` of ``table`` right now (NOWAIT)."""
    import psycopg2
    import psycopg2.errors
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cursor:
            cursor.execute(f'SELECT id FROM "{table}" WHERE id = %s FOR UPDATE NOWAIT',
                           (row_id,))
            return cursor.fetchone() is not None
    except psycopg2.errors.LockNotAvailable:
        return False
    finally:
        conn.rollback()
        conn.close()


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"),
                    reason="row locks: PostgreSQL (SQLite locks the whole file)")
def test_orders_and_renewals_lock_the_accounts_rows_not_the_shared_plan_and_product(
        app, database_url):
    """Every account's order (and renewal) would otherwise wait for every other's
    transaction: plans and products are shared by all accounts."""
    from portal.lifecycle.renewals import _locked_subscription as locked_subscription
    from portal.subscriptions.quotes import cart_entries
    add_to_cart(1, "webinar-pro", 8, "annual")
    with app.app_context(), db.connection_context():
        user = User.get(User.email == GIULIA)
        subscription = Subscription.get_by_id(1)
        with db.atomic():
            [entry] = cart_entries(user, user.account, for_update=True)
            assert entry.subscription.id == 1
            assert not _lockable(database_url, "subscription", 1)
            assert not _lockable(database_url, "cart_item", entry.item.id)
            assert _lockable(database_url, "plan", subscription.plan_id)
            assert _lockable(database_url, "product", subscription.product_id)
        with db.atomic():
            assert locked_subscription(1).id == 1
            assert not _lockable(database_url, "subscription", 1)
            assert not _lockable(database_url, "account", subscription.account_id)
            assert _lockable(database_url, "plan", subscription.plan_id)
            assert _lockable(database_url, "product", subscription.product_id)
        assert _lockable(database_url, "subscription", 1)
