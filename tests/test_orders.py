"""Placing orders end to end: SPEC section 3's worked examples to the cent, idempotency,
concurrency, stale reviews, two tabs and the guarantees around payment."""
import logging
import re
import threading

import pytest

from conftest import GIULIA, PASSWORD, TODAY, Browser
from portal.core.db import db
from portal.core.models import (Invoice, LedgerEntry, Order, OrderLine, PaymentAttempt,
                           PaymentMethod, User)
from portal.payments.gateway import SandboxGateway
from portal.demo import make_user
from test_checkout_support import (CVC, GOOD_CARD, account, add_to_cart, audit_actions,
                                   card_form, counts, date, figures, form_fields, order_id_from, place,
                                   review, rows, set_balance, set_subscription, subscription)


def charged(key):
    """The sandbox charge made under ``key``, or None."""
    return SandboxGateway.charges().get(key)


# ------------------------------------------------------------ SPEC 3 worked examples


def test_example_a_upgrade_to_pro_annual_end_to_end(giulia):
    add_to_cart(1, "webinar-pro", 8, "annual")
    html, fields = review(giulia)
    shown = figures(html)
    assert shown["summary-subtotal"] == 1882633
    assert shown["summary-vat"] == 414179
    assert shown["summary-total"] == 2296812
    assert shown["summary-applied"] == 5000
    assert shown["summary-due"] == 2291812
    assert 'data-credit="27767"' in html and 'data-charge="1910400"' in html
    assert 'data-period-start="2026-11-26"' in html and 'data-period-end="2027-11-26"' in html

    order_id = order_id_from(place(giulia, fields))

    sub = subscription(1)
    assert (sub.plan.code, sub.licenses, sub.frequency, sub.status) == (
        "webinar-pro", 8, "annual", "active")
    assert (sub.period_start, sub.period_end, sub.version) == (TODAY, date("2027-11-26"), 2)
    [order] = rows(Order)
    assert order.id == order_id
    assert (order.subtotal_cents, order.vat_cents, order.total_cents, order.applied_cents,
            order.due_cents, order.credit_added_cents) == (1882633, 414179, 2296812, 5000,
                                                           2291812, 0)
    assert (order.vat_rate, order.vat_reason) == ("0.22", "it_vat")
    [line] = rows(OrderLine)
    assert (line.credit_cents, line.charge_cents, line.unit_price_cents, line.unused_days,
            line.period_days) == (27767, 1910400, 238800, 14, 30)
    assert (line.old_licenses, line.new_licenses, line.old_frequency) == (5, 8, "monthly")
    rossi = account()
    assert rossi.balance_cents == 0 == rossi.ledger
    assert [(e.kind, e.amount_cents) for e in rows(LedgerEntry, LedgerEntry.order == order_id)] \
        == [("order_applied", -5000)]
    [invoice] = rows(Invoice)
    assert (invoice.number, invoice.issued_on, invoice.buyer_vat_number) == (
        "2026/000001", TODAY, "IT01234560124")
    assert charged(fields["idempotency_key"]).amount_cents == 2291812
    [attempt] = rows(PaymentAttempt)
    assert (attempt.status, attempt.amount_cents) == ("succeeded", 2291812)
    [method] = rows(PaymentMethod)
    assert (method.brand, method.last4, method.exp_month, method.exp_year) == (
        "visa", "4242", 12, 2030)
    assert method.token.startswith("sandbox_tok_")
    assert counts()["CartItem"] == 0
    actions = audit_actions()
    for action in ("payment_method.added", "subscription.changed", "invoice.issued",
                   "order.placed"):
        assert action in actions


def unassign_one_user():
    """The demo assigns 4 of 5 licenses; going down to 3 needs one user unassigned first."""
    from portal.core.models import LicenseAssignment
    with db.connection_context():
        last = LicenseAssignment.select().order_by(LicenseAssignment.id.desc()).first()
        last.delete_instance()


def test_example_b_fewer_licenses_still_costs_money(giulia):
    unassign_one_user()
    add_to_cart(1, "webinar-standard", 3, "monthly")
    html, fields = review(giulia)
    shown = figures(html)
    assert (shown["summary-subtotal"], shown["summary-vat"], shown["summary-total"],
            shown["summary-applied"], shown["summary-due"]) == (7933, 1745, 9678, 5000, 4678)

    order_id_from(place(giulia, fields))

    sub = subscription(1)
    assert (sub.licenses, sub.frequency, sub.period_start, sub.period_end, sub.version) == (
        3, "monthly", TODAY, date("2026-12-26"), 2)
    [order] = rows(Order)
    assert (order.subtotal_cents, order.vat_cents, order.total_cents, order.due_cents) == (
        7933, 1745, 9678, 4678)
    [line] = rows(OrderLine)
    assert (line.credit_cents, line.charge_cents) == (27767, 35700)
    assert account().balance_cents == 0 == account().ledger
    assert charged(fields["idempotency_key"]).amount_cents == 4678
    assert rows(Invoice)[0].number == "2026/000001"


def test_example_c_negative_subtotal_goes_to_the_credit_balance(giulia):
    set_subscription(1, frequency="annual", price_cents=118800, period_start=date("2026-01-10"),
                     period_end=date("2027-01-10"))
    add_to_cart(1, "webinar-standard", 5, "monthly")
    html, fields = review(giulia)
    shown = figures(html)
    assert shown["summary-subtotal"] == -13733
    assert shown["summary-credit-added"] == 16754
    assert shown["summary-due"] == 0
    assert shown["summary-balance-after"] == 21754
    assert 'data-credit="73233"' in html and 'data-charge="59500"' in html
    assert 'id="payment-details"' not in html  # nothing due: no card asked for

    order_id = order_id_from(place(giulia, fields, payment={}))

    sub = subscription(1)
    assert (sub.frequency, sub.period_start, sub.period_end, sub.version) == (
        "monthly", TODAY, date("2026-12-26"), 2)
    [order] = rows(Order)
    assert (order.subtotal_cents, order.vat_cents, order.total_cents, order.applied_cents,
            order.due_cents, order.credit_added_cents) == (-13733, 0, -13733, 0, 0, 16754)
    assert order.payment_method is None and order.payment_reference is None
    [line] = rows(OrderLine)
    assert (line.credit_cents, line.charge_cents, line.unused_days, line.period_days) == (
        73233, 59500, 45, 365)
    rossi = account()
    assert rossi.balance_cents == 21754 == rossi.ledger
    assert [(e.kind, e.amount_cents) for e in rows(LedgerEntry, LedgerEntry.order == order_id)] \
        == [("order_credit", 16754)]
    assert charged(fields["idempotency_key"]) is None
    assert rows(PaymentAttempt) == []
    assert rows(Invoice)[0].number == "2026/000001"


def test_example_a_through_the_change_page(giulia, app):
    response = giulia.post("/subscriptions/1/change", {
        "plan": "webinar-pro", "licenses": "8", "frequency": "annual", "intent": "add"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/checkout")
    html, fields = review(giulia)
    assert figures(html)["summary-due"] == 2291812
    order_id_from(place(giulia, fields))
    assert subscription(1).licenses == 8
    assert rows(Order)[0].due_cents == 2291812


# ------------------------------------------------------------ two products


def test_two_products_in_one_order(giulia):
    add_to_cart(1, "webinar-pro", 8, "annual")
    add_to_cart(2, "meeting-business", 3, "monthly")
    html, fields = review(giulia)
    # Meeting's trial expired: a new subscription, no credit, 3 × 19.00.
    assert 'data-subscription-id="2" data-credit="0" data-charge="5700"' in html
    subtotal = 1882633 + 5700
    vat = 415433  # round(1,888,333 × 0.22) = 415,433.26
    assert figures(html)["summary-subtotal"] == subtotal
    assert figures(html)["summary-vat"] == vat
    assert figures(html)["summary-due"] == subtotal + vat - 5000
    assert fields["versions"] == "1:1,2:1"

    order_id = order_id_from(place(giulia, fields))

    meeting = subscription(2)
    assert (meeting.plan.code, meeting.licenses, meeting.status, meeting.period_end,
            meeting.version) == ("meeting-business", 3, "active", date("2026-12-26"), 2)
    assert subscription(1).plan.code == "webinar-pro"
    lines = rows(OrderLine, OrderLine.order == order_id)
    assert sorted(line.subscription_id for line in lines) == [1, 2]
    new_line = [line for line in lines if line.subscription_id == 2][0]
    assert new_line.old_plan is None and new_line.old_licenses == 0
    assert counts()["Invoice"] == 1
    assert charged(fields["idempotency_key"]).amount_cents == subtotal + vat - 5000

    page = giulia.get(f"/orders/{order_id}").get_data(as_text=True)
    assert 'id="assign-reminder"' in page
    assert page.count('class="assign-link"') == 2


def test_two_products_through_the_change_page(giulia, app):
    first = giulia.post("/subscriptions/1/change", {
        "plan": "webinar-pro", "licenses": "8", "frequency": "annual", "intent": "add"})
    assert first.headers["Location"].endswith("/checkout")
    second = giulia.post("/subscriptions/2/change", {
        "plan": "meeting-business", "licenses": "3", "frequency": "monthly", "intent": "add"})
    assert second.status_code == 303 and second.headers["Location"].endswith("/cart")
    cart = giulia.get("/cart").get_data(as_text=True)
    assert cart.count('class="card cart-item"') == 2
    html, fields = review(giulia)
    order_id_from(place(giulia, fields))
    assert len(rows(OrderLine)) == 2


# ------------------------------------------------------------ payment outcomes


@pytest.mark.parametrize("number,cvc,brand", [
    ("4242 4242 4242 4242", "731", "visa"),
    ("5555555555554444", "731", "mastercard"),
    ("3782 822463 10005", "7319", "amex"),
])
def test_cards_that_succeed(giulia, number, cvc, brand):
    add_to_cart(1, "webinar-standard", 6, "monthly")
    _, fields = review(giulia)
    order_id = order_id_from(place(giulia, fields, card_form(number=number, cvc=cvc)))
    method = rows(PaymentMethod)[0]
    assert (method.brand, method.last4) == (brand, number.replace(" ", "")[-4:])
    assert rows(Order)[0].payment_method_id == method.id
    page = giulia.get(f"/orders/{order_id}").get_data(as_text=True)
    assert method.last4 in page


@pytest.mark.parametrize("number,status,code", [
    ("4000 0000 0000 0002", "declined", "card_declined"),
    ("4000 0000 0000 9995", "declined", "insufficient_funds"),
    ("4000 0000 0000 0069", "declined", "expired_card"),
    ("4000 0000 0000 0127", "declined", "incorrect_cvc"),
    ("4000 0000 0000 0119", "failed", "processing_error"),
    ("4000 0566 5566 5556", "declined", "card_declined"),  # not a sandbox card
])
def test_failed_payment_changes_nothing_but_the_attempt_and_its_record(giulia, number, status,
                                                                       code):
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    before = counts()
    actions = audit_actions()

    response = place(giulia, fields, card_form(number=number))

    assert response.status_code == 402
    html = response.get_data(as_text=True)
    assert f'id="payment-error" data-code="{code}"' in html
    # The number and the CVC are never echoed back into the form.
    assert re.search(r'<input id="card_number"[^>]*value=', html) is None
    assert re.search(r'<input id="card_cvc"[^>]*value=', html) is None
    assert number.replace(" ", "") not in html
    [attempt] = rows(PaymentAttempt)
    assert (attempt.status, attempt.error_code, attempt.amount_cents,
            attempt.idempotency_key) == (status, code, 2291812, fields["idempotency_key"])
    after = counts()
    # The attempt, and its line in the activity log (card testing shows there).
    assert after == dict(before, PaymentAttempt=1, AuditEvent=before["AuditEvent"] + 1)
    assert audit_actions() == actions + ["payment.failed"]
    sub = subscription(1)
    assert (sub.plan.code, sub.licenses, sub.version) == ("webinar-standard", 5, 1)
    assert account().balance_cents == 5000 == account().ledger
    assert charged(fields["idempotency_key"]) is None

    # The refused page is the review again: a good card now places the order once. After a
    # gateway failure it keeps the key (the charge may have gone through before a timeout);
    # after a decline nothing was charged and the key is a fresh one.
    retry = form_fields(html)
    if status == "failed":
        assert retry["idempotency_key"] == fields["idempotency_key"]
    else:
        assert retry["idempotency_key"] != fields["idempotency_key"]
    order_id_from(place(giulia, retry))
    assert counts()["Order"] == 1


@pytest.mark.parametrize("form,field,code", [
    (card_form(number="4242 4242 4242 4241"), "card_number", "invalid_number"),
    (card_form(expiry="10/26"), "card_expiry", "expired_card"),
    (card_form(expiry="13/30"), "card_expiry", "invalid_expiry"),
    (card_form(cvc="12"), "card_cvc", "invalid_cvc"),
    (card_form(holder="  "), "card_holder", "invalid_holder"),
])
def test_unusable_card_details_are_refused_before_charging(giulia, form, field, code):
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    before = counts()
    response = place(giulia, fields, form)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="{field}-error" data-code="{code}"' in html
    assert counts() == before
    assert subscription(1).version == 1


def test_amount_due_without_payment_details_is_refused(giulia):
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    response = place(giulia, fields, payment={})
    assert response.status_code == 422
    assert 'data-code="payment_required"' in response.get_data(as_text=True)
    assert counts()["Order"] == 0


def test_saved_card_is_reused(giulia):
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    order_id_from(place(giulia, fields))
    [method] = rows(PaymentMethod)

    add_to_cart(2, "meeting-business", 2, "monthly")
    html, fields = review(giulia)
    assert f'id="payment-method-{method.id}"' in html and "4242" in html
    second = order_id_from(place(giulia, fields, {"payment_method": str(method.id)}))
    assert rows(Order, Order.id == second)[0].payment_method_id == method.id
    assert len(rows(PaymentMethod)) == 1
    assert charged(fields["idempotency_key"]).amount_cents == rows(
        Order, Order.id == second)[0].due_cents


def test_another_accounts_saved_card_cannot_be_used(giulia):
    with db.connection_context():
        globex_card = PaymentMethod.create(account=2, gateway="sandbox", token="sandbox_tok_x",
                                           brand="visa", last4="4242", exp_month=1,
                                           exp_year=2031, holder="Anna Bianchi")
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    response = place(giulia, fields, {"payment_method": str(globex_card.id)})
    assert response.status_code == 422
    assert counts()["Order"] == 0


# ------------------------------------------------------------ forged and skipped input


def test_forged_totals_are_ignored(giulia):
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    order_id_from(place(giulia, fields, total="1", due="1", due_cents="1", subtotal="1",
                        vat="0", amount="1", price="1", unit_price="1", credit="999999",
                        balance="99999999", vat_rate="0"))
    [order] = rows(Order)
    assert (order.total_cents, order.due_cents, order.vat_cents) == (2296812, 2291812, 414179)
    assert charged(fields["idempotency_key"]).amount_cents == 2291812


def test_submit_with_an_empty_cart_is_refused(giulia):
    response = giulia.post("/checkout/order", {"idempotency_key": "k" * 32,
                                               "fingerprint": "0" * 64})
    assert response.status_code == 303 and response.headers["Location"].endswith("/cart")
    assert counts()["Order"] == 0


@pytest.mark.parametrize("data", [
    {},
    {"fingerprint": "0" * 64},
    {"idempotency_key": "k" * 32},
    {"idempotency_key": "short", "fingerprint": "0" * 64},
    {"idempotency_key": "k" * 32, "fingerprint": "not-a-fingerprint"},
])
def test_submit_that_skipped_the_review_is_refused(giulia, data):
    add_to_cart(1, "webinar-pro", 8, "annual")
    response = giulia.post("/checkout/order", dict(data, **card_form()))
    assert response.status_code == 303 and response.headers["Location"].endswith("/checkout")
    assert counts()["Order"] == 0 and counts()["PaymentAttempt"] == 0
    assert subscription(1).version == 1


def test_a_made_up_fingerprint_is_a_stale_review(giulia):
    add_to_cart(1, "webinar-pro", 8, "annual")
    response = giulia.post("/checkout/order", dict(card_form(), idempotency_key="k" * 32,
                                                   fingerprint="a" * 64))
    assert response.status_code == 409
    assert 'id="stale-notice"' in response.get_data(as_text=True)
    assert counts()["Order"] == 0


def test_orders_need_csrf(giulia):
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    response = giulia.post("/checkout/order", dict(fields, **card_form()), csrf=False)
    assert response.status_code == 400
    assert counts()["Order"] == 0


# ------------------------------------------------------------ stale reviews


def _raise_price():
    from portal.catalog.store import invalidate
    from portal.core.models import Plan
    with db.connection_context():
        Plan.update(annual_cents=240000).where(Plan.code == "webinar-pro").execute()
    invalidate()


def _change_balance():
    set_balance(7000)


def _next_day(app):
    import datetime as dt
    app.config["FIXED_TODAY"] = TODAY + dt.timedelta(days=1)


@pytest.mark.parametrize("change", ["price", "balance", "date", "subscription"])
def test_stale_review_is_shown_again_instead_of_charging(giulia, app, change):
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    if change == "price":
        _raise_price()
    elif change == "balance":
        _change_balance()
    elif change == "date":
        _next_day(app)
    else:
        with db.connection_context():
            from portal.core.models import Subscription
            Subscription.update(version=Subscription.version + 1).where(
                Subscription.id == 1).execute()

    response = place(giulia, fields)

    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert 'id="stale-notice"' in html
    fresh = form_fields(html)
    assert fresh["fingerprint"] != fields["fingerprint"]
    assert counts()["Order"] == 0 and counts()["PaymentAttempt"] == 0
    assert charged(fields["idempotency_key"]) is None
    if change == "subscription":
        assert "Webinar" in html.split('id="stale-notice"')[1].split("</div>")[0]
    # The fresh review can be placed.
    order_id_from(place(giulia, fresh))
    assert counts()["Order"] == 1


# ------------------------------------------------------------ idempotency


def test_same_key_twice_returns_the_same_order(giulia):
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    first = order_id_from(place(giulia, fields))
    second = order_id_from(place(giulia, fields))
    assert first == second
    assert counts()["Order"] == 1 and counts()["Invoice"] == 1
    assert len(rows(PaymentAttempt)) == 1 and len(rows(PaymentMethod)) == 1
    assert len(rows(LedgerEntry, LedgerEntry.kind == "order_applied")) == 1
    assert subscription(1).version == 2
    assert account().balance_cents == 0 == account().ledger


def test_same_key_with_a_different_cart_is_refused(giulia):
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    order_id_from(place(giulia, fields))
    add_to_cart(2, "meeting-business", 2, "monthly")
    _, other = review(giulia)
    response = place(giulia, dict(other, idempotency_key=fields["idempotency_key"]))
    assert response.status_code == 409
    assert counts()["Order"] == 1
    assert subscription(2).version == 1
    assert counts()["CartItem"] == 1


def test_ten_concurrent_submits_with_one_key_make_one_order(app, giulia):
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    browsers = []
    for _ in range(10):
        browser = Browser(app.test_client())
        browser.login(GIULIA, PASSWORD)
        browsers.append(browser)
    barrier = threading.Barrier(len(browsers))
    answers = [None] * len(browsers)

    def submit(index):
        barrier.wait()
        response = place(browsers[index], fields)
        answers[index] = (response.status_code, response.headers.get("Location"))
        if not db.is_closed():
            db.close()

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(len(browsers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert len(set(answers)) == 1, answers
    status, location = answers[0]
    assert status == 303 and "/orders/" in location
    assert counts()["Order"] == 1 and counts()["Invoice"] == 1
    assert len(rows(PaymentAttempt)) == 1 and len(rows(PaymentMethod)) == 1
    assert charged(fields["idempotency_key"]).amount_cents == 2291812
    assert subscription(1).version == 2
    assert account().balance_cents == 0 == account().ledger


# ------------------------------------------------------------ two tabs


def test_two_tabs_the_second_submit_sees_the_subscription_changed(giulia):
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, tab_a = review(giulia)
    _, tab_b = review(giulia)
    assert tab_a["idempotency_key"] != tab_b["idempotency_key"]
    order_id_from(place(giulia, tab_a))

    response = place(giulia, tab_b)

    assert response.status_code == 409
    html = response.get_data(as_text=True)
    notice = html.split('id="stale-notice"')[1].split("</div>")[0]
    assert "Webinar" in notice
    assert counts()["Order"] == 1
    assert subscription(1).version == 2
    assert charged(tab_b["idempotency_key"]) is None


def test_two_billing_contacts_same_subscription_second_gets_a_fresh_review(app, giulia):
    with db.connection_context():
        rossi = User.get(User.email == GIULIA).account
        make_user(rossi, "elena.russo@example.it", "Elena Russo", "billing_contact", PASSWORD)
    elena = Browser(app.test_client())
    elena.login("elena.russo@example.it", PASSWORD)
    add_to_cart(1, "webinar-pro", 8, "annual")
    add_to_cart(1, "webinar-pro", 10, "annual", email="elena.russo@example.it")
    _, giulia_tab = review(giulia)
    _, elena_tab = review(elena)
    order_id_from(place(giulia, giulia_tab))

    response = place(elena, elena_tab, card_form(holder="Elena Russo"))

    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert 'id="stale-notice"' in html
    # The fresh review credits the Pro period Giulia just bought: all 365 days of it.
    assert 'data-credit="1910400"' in html and 'data-charge="2388000"' in html
    fresh = form_fields(html)
    order_id_from(place(elena, fresh, card_form(holder="Elena Russo")))
    sub = subscription(1)
    assert (sub.licenses, sub.version) == (10, 3)
    assert [i.number for i in rows(Invoice)] == ["2026/000001", "2026/000002"]
    assert account().balance_cents == account().ledger


# ------------------------------------------------------------ no card data kept or logged


def test_no_card_number_or_cvc_in_the_database_or_logs(app, giulia, caplog):
    caplog.set_level(logging.DEBUG)
    numbers = ["4000000000000002", "4000000000009995", "4000000000000119",
               "4242424242424241", "4242424242424242"]
    add_to_cart(1, "webinar-pro", 8, "annual")
    for number in numbers:
        _, fields = review(giulia)
        place(giulia, fields, card_form(number=number))
    assert counts()["Order"] == 1

    sql_log = "\n".join(record.getMessage() for record in caplog.records)
    assert "INSERT" in sql_log  # peewee's statement log was captured, parameters included
    for number in numbers:
        assert number not in sql_log and number[-8:] + "'" not in sql_log
    assert f"'{CVC}'" not in sql_log and f'"{CVC}"' not in sql_log
    path = app.config["DATABASE_URL"].split("sqlite:///", 1)[1] \
        if app.config["DATABASE_URL"].startswith("sqlite") else None
    if path:
        import os
        with db.connection_context():
            db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        for name in (path, path + "-wal"):
            if os.path.exists(name):
                data = open(name, "rb").read()
                for number in numbers + [GOOD_CARD]:
                    assert number.encode() not in data
    with db.connection_context():
        for table in db.get_tables():
            for row in db.execute_sql(f'SELECT * FROM "{table}"').fetchall():
                for value in row:
                    assert str(value) != CVC, table
                    assert not any(n in str(value) for n in numbers), table
