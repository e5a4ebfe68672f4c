"""An attacker's afternoon (issue 9): every trick is tried, nothing changes, a clear message shows.

Each test takes a snapshot of everything a billing contact could change (subscriptions, cart,
orders, ledger, licenses, users, account, audit trail), tries the trick, then asserts the
snapshot is identical and the answer says, in English, what went wrong.
"""
import re
import time

import pytest
import time_machine

from conftest import ANNA, GIULIA, MARCO, PASSWORD, Browser
from portal.core.db import db
from portal.core.models import (Account, AuditEvent, CartItem, Invoice, LedgerEntry,
                           LicenseAssignment, Order, PaymentAttempt, PaymentMethod,
                           Subscription, User)
from test_checkout_support import add_to_cart, card_form, order_id_from, place, review

EN = {"Accept-Language": "en"}
CHANGE = "/subscriptions/1/change"


# ------------------------------------------------------------ helpers


def snapshot():
    """Everything a request could have changed, as plain comparable values."""
    with db.connection_context():
        return {
            "subscriptions": [tuple(s.__data__.items()) for s in
                              Subscription.select().order_by(Subscription.id)],
            "accounts": [tuple(a.__data__.items()) for a in Account.select().order_by(Account.id)],
            "users": [(u.id, u.email, u.name, u.role, u.account_id, u.session_token)
                      for u in User.select().order_by(User.id)],
            "cart": [tuple(c.__data__.items()) for c in CartItem.select().order_by(CartItem.id)],
            "assignments": sorted((a.subscription_id, a.user_id)
                                  for a in LicenseAssignment.select()),
            "counts": {m.__name__: m.select().count()
                       for m in (Order, Invoice, LedgerEntry, PaymentAttempt, PaymentMethod,
                                 AuditEvent)},
        }


def text(response):
    """The body, with tags and whitespace runs collapsed (for message assertions)."""
    body = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return " ".join(body.split())


def user_id(email):
    """The id of the user with ``email``."""
    with db.connection_context():
        return User.get(User.email == email).id


def login(app, email):
    """A new browser logged in as ``email``."""
    browser = Browser(app.test_client())
    browser.login(email, PASSWORD)
    return browser


def add_form(**extra):
    """The change page's "add to cart" form for the worked example A, plus ``extra``."""
    form = {"plan": "webinar-pro", "licenses": "8", "frequency": "annual", "intent": "add"}
    form.update(extra)
    return form


# ------------------------------------------------------------ forged figures and fields

FORGED = {
    "price": "1", "unit_price": "1", "unit_price_cents": "1", "total": "1", "total_cents": "1",
    "due": "0", "due_cents": "0", "subtotal": "0", "vat": "0", "vat_rate": "0", "credit": "99999",
    "currency": "USD", "status": "active", "version": "99", "account": "2", "account_id": "2",
    "subscription_id": "3", "user_id": "7", "period_start": "2020-01-01",
    "period_end": "2099-01-01", "balance": "99999999", "kind": "corporate",
}


def test_forged_fields_on_the_change_page_are_ignored(giulia):
    before = snapshot()
    response = giulia.post(CHANGE, add_form(**FORGED))
    assert response.status_code == 303
    with db.connection_context():
        [item] = CartItem.select()
        assert (item.subscription_id, item.plan.code, item.licenses, item.frequency) == (
            1, "webinar-pro", 8, "annual")
        assert item.user_id == user_id(GIULIA)
    after = snapshot()
    # Only the cart and its audit event changed; subscriptions and accounts did not.
    assert after["subscriptions"] == before["subscriptions"]
    assert after["accounts"] == before["accounts"]
    assert after["counts"]["Order"] == 0
    # The review quotes the server's figures, not the forged ones.
    html, _ = review(giulia)
    assert 'id="summary-total"' in html and 'data-cents="2296812"' in html


def test_forged_fields_on_the_order_form_are_ignored(giulia):
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    forged = dict(FORGED, versions="1:99,3:1")
    order_id = order_id_from(place(giulia, fields, **forged))
    with db.connection_context():
        order = Order.get_by_id(order_id)
        assert order.account.name == "Rossi Eventi S.r.l."
        assert (order.total_cents, order.due_cents, order.applied_cents) == (2296812, 2291812,
                                                                              5000)
        globex = Subscription.get_by_id(3)
        assert (globex.version, globex.licenses, globex.plan.code) == (1, 200,
                                                                       "webinar-enterprise")
        rossi = Subscription.get_by_id(1)
        assert (rossi.version, rossi.status) == (2, "active")


@pytest.mark.parametrize("field, value, outcome", ids=lambda v: v[:20], argvalues=[
    ("idempotency_key", "x" * 10_000, "review"),
    ("idempotency_key", "../../etc/passwd", "review"),
    ("idempotency_key", "", "review"),
    ("fingerprint", "f" * 10_000, "review"),
    ("fingerprint", "' OR 1=1 --", "review"),
    ("payment_method", "9" * 5_000, "payment"),
    ("payment_method", "-1", "payment"),
    ("payment_method", "1 OR 1=1", "payment"),
    ("versions", "1:" + "9" * 50_000, "placed"),  # only shapes a notice: ignored
])
def test_oversized_or_malformed_order_fields(giulia, field, value, outcome):
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    data = dict(fields, payment_method="new", card_number="4242424242424242",
                card_expiry="12/30", card_cvc="123", card_holder="Giulia Rossi")
    if field == "payment_method":
        data = dict(fields)
    data[field] = value
    before = snapshot()
    response = giulia.post("/checkout/order", data, headers=EN)
    after = snapshot()
    if outcome == "placed":
        order_id = order_id_from(response)
        with db.connection_context():
            assert Order.get_by_id(order_id).due_cents == 2291812
        return
    assert after["subscriptions"] == before["subscriptions"]
    assert after["counts"] == before["counts"]
    if outcome == "review":
        assert response.status_code == 303
        assert response.headers["Location"].endswith("/checkout")
        assert "Please review your order" in text(giulia.get("/checkout", headers=EN))
    else:
        assert response.status_code == 422
        assert 'id="payment-details"' in response.get_data(as_text=True)


# ------------------------------------------------------------ license counts

LICENSES = [
    ("-1", "You need at least one license."),
    ("0", "You need at least one license."),
    ("12.5", "whole number"),
    ("1e3", "whole number"),
    ("1_000", "whole number"),
    ("1,000", "whole number"),
    (" 8 ", None),  # trimmed or refused, but never an error page
    ("１２", "whole number"),       # full-width digits
    ("١٢", "whole number"),         # Arabic-Indic digits
    ("۱۲", "whole number"),         # Extended Arabic-Indic (Persian) digits
    ("१२", "whole number"),         # Devanagari digits
    ("0x10", "whole number"),
    ("+8", "whole number"),
    ("8\x00", "whole number"),
    ("", "whole number"),
    ("NaN", "whole number"),
    ("Infinity", "whole number"),
    ("99999999999999999999999", "contact our sales team"),
    ("10001", "contact our sales team"),
    ("3", "users have this product enabled"),
    ("9" * 500_000, None),
]


@pytest.mark.parametrize("raw, message", LICENSES, ids=lambda v: repr(v)[:20])
def test_bad_license_counts_are_refused_with_a_message(giulia, raw, message):
    before = snapshot()
    response = giulia.post(CHANGE, add_form(licenses=raw), headers=EN)
    if raw == " 8 " and response.status_code == 303:
        # Accepted as 8: then it must be exactly the server's parse of it.
        with db.connection_context():
            assert CartItem.get().licenses == 8
        return
    assert response.status_code == 422, (raw[:20], response.status_code)
    body = text(response)
    if message:
        assert message in body, body[:3000]
    else:
        assert "licenses" in body.lower()
    assert snapshot() == before
    # The live summary (htmx) refuses it the same way.
    fragment = giulia.post(CHANGE, {"plan": "webinar-pro", "licenses": raw,
                                    "frequency": "annual"}, htmx=True, headers=EN)
    assert fragment.status_code == 422
    assert "<html" not in fragment.get_data(as_text=True)
    assert snapshot() == before


def test_a_ten_megabyte_field_is_refused_as_too_large(giulia):
    before = snapshot()
    response = giulia.post(CHANGE, add_form(licenses="1" * (10 * 1024 * 1024)), headers=EN)
    assert response.status_code == 413
    assert "Request too large" in text(response)
    company = giulia.post("/billing-details", {"vat_number": "<" * (10 * 1024 * 1024)},
                          headers=EN)
    assert company.status_code == 413
    search = giulia.get("/subscriptions/1/licenses?q=" + "a" * 200_000, headers=EN)
    # The search is cut to its first 100 characters: the page answers, with no match.
    assert search.status_code == 200
    html = search.get_data(as_text=True)
    assert "Assign licenses" in html and 'id="user-' not in html
    assert snapshot() == before


# ------------------------------------------------------------ plans and frequencies


@pytest.mark.parametrize("plan, frequency, message", [
    ("no-such-plan", "annual", "Choose one of the plans shown."),
    ("", "annual", "Choose one of the plans shown."),
    ("WEBINAR-PRO", "annual", "Choose one of the plans shown."),
    ("meeting-business", "annual", "Choose one of the plans shown."),  # another product
    ("webinar-enterprise", "annual", "cannot be bought online"),
    ("webinar-lite", "monthly", "To downgrade your plan, contact support."),
    ("webinar-pro", "weekly", "Choose monthly or annual billing."),
    ("webinar-pro", "", "Choose monthly or annual billing."),
    ("webinar-pro", "Annual", "Choose monthly or annual billing."),
    ("webinar-pro", "annual\x00", "Choose monthly or annual billing."),
    ("webinar-standard", "monthly", "This is your current subscription"),
])
def test_unknown_or_refused_plans_and_frequencies(giulia, plan, frequency, message):
    before = snapshot()
    licenses = "5" if plan == "webinar-standard" else "8"
    response = giulia.post(CHANGE, add_form(plan=plan, frequency=frequency, licenses=licenses),
                           headers=EN)
    assert response.status_code == 422
    assert message in text(response)
    assert snapshot() == before


def test_repeated_fields_cannot_smuggle_a_second_value(giulia):
    from werkzeug.datastructures import MultiDict
    before = snapshot()
    form = MultiDict([("plan", "webinar-enterprise"), ("plan", "webinar-pro"),
                      ("licenses", "8"), ("licenses", "-5"), ("frequency", "annual"),
                      ("intent", "add"), ("csrf_token", giulia.token)])
    response = giulia.client.post(CHANGE, data=form, headers=EN)
    # The first value counts: the Enterprise plan, which cannot be bought online.
    assert response.status_code == 422
    assert "cannot be bought online" in text(response)
    assert snapshot() == before


# ------------------------------------------------------------ other accounts' ids


@pytest.fixture
def rossi_order(giulia):
    """Giulia places the worked example A; (order id, invoice id, invoice number)."""
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    order_id = order_id_from(place(giulia, fields))
    with db.connection_context():
        invoice = Invoice.get(Invoice.order == order_id)
    return order_id, invoice.id, invoice.number


def assert_not_found_without_data(response, *secrets):
    """404, and none of ``secrets`` anywhere in the answer."""
    assert response.status_code == 404, response.status_code
    body = response.get_data(as_text=True)
    for secret in secrets:
        assert str(secret) not in body, secret


def test_another_accounts_ids_answer_404_without_data(app, giulia, rossi_order):
    order_id, invoice_id, number = rossi_order
    anna = login(app, ANNA)
    before = snapshot()
    secrets = ["Rossi", "giulia", number, "22.968", "22,968", "4242"]
    for path in (f"/orders/{order_id}", f"/invoices/{invoice_id}", "/subscriptions/1/change",
                 "/subscriptions/1/licenses", "/subscriptions/2/change",
                 "/subscriptions/2/licenses"):
        assert_not_found_without_data(anna.get(path, headers=EN), *secrets)
        assert_not_found_without_data(anna.get(path, htmx=True, headers=EN), *secrets)
    giulia_secret = ["Globex", "anna.bianchi", "piero", "Enterprise"]
    for path in ("/subscriptions/3/change", "/subscriptions/3/licenses",
                 "/subscriptions/3/change?plan=webinar-pro&licenses=300&frequency=annual"):
        assert_not_found_without_data(giulia.get(path, headers=EN), *giulia_secret)
    assert snapshot() == before


def test_another_accounts_ids_in_posts_answer_404_and_change_nothing(app, giulia):
    piero = user_id("piero.russo@example.com")
    anna_id = user_id(ANNA)
    with db.connection_context():
        anna = User.get_by_id(anna_id)
        anna_item = CartItem.create(user=anna, subscription=3,
                                    plan=Subscription.get_by_id(3).plan, licenses=201,
                                    frequency="annual")
    before = snapshot()
    attempts = [
        ("/subscriptions/3/change", add_form(plan="webinar-enterprise", licenses="300")),
        ("/subscriptions/3/licenses/%d" % piero, {"enabled": "1"}),
        ("/subscriptions/1/licenses/%d" % piero, {"enabled": "1"}),  # their user, our sub
        ("/subscriptions/1/licenses/%d" % anna_id, {"enabled": "0"}),
        ("/subscriptions/3/users", {"name": "Mallory", "email": "mallory@example.com"}),
        ("/cart/%d/remove" % anna_item.id, {}),
    ]
    for path, data in attempts:
        for htmx in (False, True):
            response = giulia.post(path, data, htmx=htmx, headers=EN)
            assert_not_found_without_data(response, "Globex", "anna.bianchi", "piero.russo",
                                          "Piero Russo")
    assert snapshot() == before


def test_ids_that_are_not_numbers_or_huge_are_not_found(giulia):
    for path in ("/subscriptions/abc/change", "/subscriptions/-1/change",
                 "/subscriptions/99999999999999999999999/change", "/orders/1%27%20OR%201=1",
                 "/invoices/0"):
        response = giulia.get(path, headers=EN)
        assert response.status_code == 404, (path, response.status_code)
        assert "Page not found" in text(response)
    # A user's license switch exists only as a POST, for any id: 405, naming it.
    switch = giulia.get("/subscriptions/1/licenses/999999999", headers=EN)
    assert switch.status_code == 405 and "POST" in switch.headers["Allow"]
    assert giulia.post("/subscriptions/1/licenses/999999999",
                       {"enabled": "1"}).status_code == 404


# ------------------------------------------------------------ skipped steps


def test_order_without_review_is_sent_back_to_the_review(giulia):
    add_to_cart(1, "webinar-pro", 8, "annual")
    before = snapshot()
    response = giulia.post("/checkout/order", card_form(), headers=EN)
    assert response.status_code == 303 and response.headers["Location"].endswith("/checkout")
    assert "Please review your order before placing it." in text(giulia.get("/checkout",
                                                                            headers=EN))
    assert snapshot() == before


def test_review_and_order_with_an_empty_cart(giulia):
    before = snapshot()
    response = giulia.get("/checkout", headers=EN)
    assert response.status_code == 303 and response.headers["Location"].endswith("/cart")
    assert "Your cart is empty" in text(giulia.get("/cart", headers=EN))
    response = giulia.post("/checkout/order", dict(card_form(), idempotency_key="k" * 32,
                                                   fingerprint="0" * 64), headers=EN)
    assert response.status_code == 303 and response.headers["Location"].endswith("/cart")
    assert "there is nothing to order" in text(giulia.get("/cart", headers=EN))
    assert snapshot() == before


def test_a_used_order_form_cannot_place_a_different_cart(giulia):
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    first = order_id_from(place(giulia, fields))
    add_to_cart(2, "meeting-business", 3, "monthly")
    before = snapshot()
    response = place(giulia, dict(fields))  # old key and old fingerprint
    # The key answers the order it already placed, whatever the cart holds now.
    assert response.status_code == 303
    assert response.headers["Location"] == f"/orders/{first}"
    assert snapshot()["counts"]["Order"] == before["counts"]["Order"] == 1
    assert snapshot()["subscriptions"] == before["subscriptions"]


# ------------------------------------------------------------ CSRF

CSRF_TARGETS = [
    (CHANGE, add_form()),
    ("/subscriptions/1/licenses/%(luca)s", {"enabled": "1"}),
    ("/subscriptions/1/users", {"name": "Eve", "email": "eve@example.com"}),
    ("/billing-details", {"vat_number": "IT01234560124"}),
    ("/logout", {}),
]


def _csrf_attempt(browser, token, htmx):
    """Send every state-changing form with ``token`` (None: none at all)."""
    luca = user_id("luca.ferri@example.it")
    answers = []
    for path, data in CSRF_TARGETS:
        data = dict(data)
        headers = dict(EN)
        if token is not None:
            if htmx:
                headers["X-CSRFToken"] = token
            else:
                data["csrf_token"] = token
        answers.append(browser.post(path % {"luca": luca}, data, htmx=htmx, csrf=False,
                                    headers=headers))
    return answers


def _assert_refused(answers, htmx):
    for response in answers:
        assert response.status_code == 400, response.status_code
        assert "This form has expired" in text(response)
        if htmx:
            assert "<html" not in response.get_data(as_text=True)


@pytest.mark.parametrize("htmx", [False, True])
def test_csrf_missing(giulia, htmx):
    before = snapshot()
    _assert_refused(_csrf_attempt(giulia, None, htmx), htmx)
    assert snapshot() == before
    assert giulia.get("/").status_code == 200  # still logged in: logout was refused too


@pytest.mark.parametrize("htmx", [False, True])
def test_csrf_wrong(giulia, htmx):
    before = snapshot()
    forged = giulia.token[:-4] + ("AAAA" if not giulia.token.endswith("AAAA") else "BBBB")
    for token in ("", "x", forged, "a" * 5000):
        _assert_refused(_csrf_attempt(giulia, token, htmx), htmx)
    assert snapshot() == before


@pytest.mark.parametrize("htmx", [False, True])
def test_csrf_token_from_another_session(app, giulia, htmx):
    other = login(app, GIULIA)  # the same user, another browser: another session
    assert other.token and other.token != giulia.token
    before = snapshot()
    _assert_refused(_csrf_attempt(giulia, other.token, htmx), htmx)
    assert snapshot() == before


def test_csrf_token_expired(make_app):
    app = make_app(WTF_CSRF_TIME_LIMIT=1)
    browser = login(app, GIULIA)
    before = snapshot()
    with time_machine.travel(time.time() + 2.5, tick=False):  # the token is now 2.5 s old
        _assert_refused(_csrf_attempt(browser, browser.token, htmx=False), htmx=False)
        assert snapshot() == before
        browser.refresh_token("/")  # a reload gives a fresh token that works again
        assert browser.post(CHANGE, add_form()).status_code == 303


# ------------------------------------------------------------ XSS

PAYLOADS = [
    '<script>alert("x")</script>',
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    "javascript:alert(1)",
    "{{ 7*7 }}{% raw %}",
    "%(num)s %s",
]


def assert_escaped(response, payload):
    """``payload`` is nowhere in the page as markup, and its dangerous parts are escaped."""
    body = response.get_data(as_text=True)
    for raw in ("<script>alert", "<img src=x", "<svg onload", "onerror=alert(1)>"):
        if raw in payload:
            assert raw not in body, raw


@pytest.mark.parametrize("payload", PAYLOADS)
def test_company_name_is_escaped_everywhere(giulia, payload):
    with db.connection_context():
        Account.update(name=payload, address=payload).where(
            Account.name == "Rossi Eventi S.r.l.").execute()
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    order_id = order_id_from(place(giulia, fields))
    with db.connection_context():
        invoice = Invoice.get(Invoice.order == order_id)
    for path in ("/", "/invoices", f"/invoices/{invoice.id}", f"/orders/{order_id}",
                 "/activity", "/checkout", "/cart"):
        response = giulia.get(path, headers=EN)
        # The order emptied the cart: the review sends back to it.
        assert response.status_code == (303 if path == "/checkout" else 200), path
        assert_escaped(response, payload)
    if "<" in payload:
        html = giulia.get(f"/invoices/{invoice.id}").get_data(as_text=True)
        assert "&lt;" in html  # shown, as text
    if "{{" in payload:  # a template expression in data is shown as text, never evaluated
        assert "{{ 7*7 }}" in giulia.get("/").get_data(as_text=True)


@pytest.mark.parametrize("payload", PAYLOADS[:3])
def test_user_names_are_escaped_in_pages_fragments_and_messages(giulia, payload):
    response = giulia.post("/subscriptions/1/users",
                           {"name": payload, "email": "mallory@example.com"})
    assert response.status_code == 303
    accepted = giulia.client.application.test_cli_runner().invoke(args=[
        "users", "accept-invitation", "mallory@example.com", "--account", "Rossi Eventi S.r.l.",
        "--password", "mallory-pass"])
    assert accepted.exit_code == 0, accepted.output
    mallory = user_id("mallory@example.com")
    # The list (page and fragment), the flash message, the toggle's row and message ...
    pages = [giulia.get(response.headers["Location"]),
             giulia.get("/subscriptions/1/licenses?q=mallory", htmx=True),
             giulia.post(f"/subscriptions/1/licenses/{mallory}", {"enabled": "1"}, htmx=True),
             giulia.post(f"/subscriptions/1/licenses/{mallory}", {"enabled": "0"}, htmx=True),
             giulia.get("/activity")]
    for page in pages:  # the enable takes the fifth of five licenses: nothing is refused
        assert page.status_code == 200
        assert_escaped(page, payload)
    # ... and the billing contact's name where members see it.
    with db.connection_context():
        User.update(name=payload).where(User.email == GIULIA).execute()
    marco = Browser(giulia.client.application.test_client())
    marco.login(MARCO)
    for page in (marco.get("/"), marco.get(CHANGE), marco.get(CHANGE, htmx=True)):
        assert_escaped(page, payload)


@pytest.mark.parametrize("payload", PAYLOADS[:3])
def test_vat_field_is_escaped_when_shown_again(giulia, payload):
    add_to_cart(1, "webinar-pro", 8, "annual")
    for htmx in (False, True):
        response = giulia.post("/billing-details", {"vat_number": payload}, htmx=htmx, headers=EN)
        assert response.status_code == 422
        assert_escaped(response, payload)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_search_box_is_escaped_in_page_and_fragment(giulia, payload):
    from urllib.parse import quote
    for htmx in (False, True):
        response = giulia.get("/subscriptions/1/licenses?q=" + quote(payload), htmx=htmx,
                              headers=EN)
        assert response.status_code == 200
        assert_escaped(response, payload)
        if "<" in payload:
            assert "No user matches" in text(response)
        if "{{" in payload:
            assert "{{ 7*7 }}" in response.get_data(as_text=True)


# ------------------------------------------------------------ spoofed HX-Request

PROTECTED = ["/subscriptions/1/change?licenses=7", "/subscriptions/1/licenses?q=a", "/cart",
             "/checkout", "/invoices", "/activity"]


@pytest.mark.parametrize("path", PROTECTED)
def test_spoofed_hx_request_when_logged_out_gets_no_fragment(client, path):
    response = client.get(path, headers={"HX-Request": "true"})
    assert response.status_code == 200 and response.headers["HX-Redirect"].startswith("/login")
    assert response.get_data(as_text=True) == ""


@pytest.mark.parametrize("path", PROTECTED)
def test_spoofed_hx_request_by_a_member_gets_the_explanation_only(app, path):
    marco = login(app, MARCO)
    response = marco.get(path, htmx=True, headers=EN)
    assert response.status_code == 403
    body = response.get_data(as_text=True)
    assert "Giulia Rossi" in body and "<html" not in body
    assert "data-cents" not in body and "€" not in body and "license-list" not in body


HISTORY_RESTORE = {"HX-Request": "true", "HX-History-Restore-Request": "true", **EN}


def test_spoofed_history_restore_when_logged_out_goes_to_login(client):
    response = client.get("/activity", headers=HISTORY_RESTORE)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert "Giulia" not in response.get_data(as_text=True)


def test_spoofed_history_restore_by_a_member_gets_the_refusal_page(app):
    marco = login(app, MARCO)
    response = marco.get("/activity", headers=HISTORY_RESTORE)
    body = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "<html" in body and "Giulia Rossi" in body  # the page naming the billing contact
    assert 'id="activity-list"' not in body and "Placed order" not in body


def test_spoofed_history_restore_by_another_account_shows_only_its_own(app, giulia):
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    order_id_from(place(giulia, fields))
    assert "Placed order" in text(giulia.get("/activity", headers=HISTORY_RESTORE))
    anna = login(app, ANNA)
    response = anna.get("/activity", headers=HISTORY_RESTORE)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" in body
    assert "Globex Italia" in body
    assert "Rossi Eventi" not in body and "Placed order" not in body and "4242" not in body


# ------------------------------------------------------------ open redirects

REDIRECTS = ["//evil.example", "https://evil.example/", "http:evil.example", "/\\evil.example",
             "\\\\evil.example", "javascript:alert(1)", "//evil.example/%2F..", "/%09/evil.example",
             "https:/evil.example", "\t//evil.example", "/\t/evil.example", "//@evil.example",
             "%2F%2Fevil.example", "//ｅｖｉｌ.example", "///evil.example"]


@pytest.mark.parametrize("target", REDIRECTS)
def test_login_next_never_leaves_the_site(browser, target):
    browser.refresh_token(f"/login?next={target}")
    response = browser.client.post(f"/login?next={target}",
                                   data={"email": GIULIA, "password": PASSWORD,
                                         "csrf_token": browser.token, "next": target})
    assert response.status_code == 303
    assert response.headers["Location"] == "/", response.headers["Location"]


@pytest.mark.parametrize("target", REDIRECTS)
def test_locale_next_never_leaves_the_site(giulia, target):
    response = giulia.post("/locale", {"locale": "en", "next": target})
    assert response.status_code == 303
    location = response.headers["Location"]
    # Either home, or a path on this site that no browser reads as another host.
    assert location == "/" or (location.startswith("/") and not location.startswith("//")
                               and "\\" not in location
                               and not any(ord(c) < 33 for c in location)), location


def test_logged_in_login_page_with_an_evil_next_goes_home(giulia):
    response = giulia.get("/login?next=//evil.example")
    assert response.headers["Location"] == "/"


# ------------------------------------------------------------ the activity page itself


def test_activity_page_is_for_billing_contacts_of_the_account_only(app, giulia):
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    order_id_from(place(giulia, fields))
    marco = login(app, MARCO)
    response = marco.get("/activity", headers=EN)
    assert response.status_code == 403 and "Giulia Rossi" in text(response)
    anna = login(app, ANNA)
    body = anna.get("/activity", headers=EN).get_data(as_text=True)
    assert "Rossi" not in body and "2026/000001" not in body and 'id="no-activity"' in body


def test_activity_page_tells_who_changed_what_newest_first(app, giulia):
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    order_id = order_id_from(place(giulia, fields))
    luca = user_id("luca.ferri@example.it")
    giulia.post(f"/subscriptions/1/licenses/{luca}", {"enabled": "1"})
    response = giulia.get("/activity", headers=EN)
    assert response.status_code == 200
    actions = re.findall(r'data-action="([a-z_.]+)"', response.get_data(as_text=True))
    assert actions[0] == "license.enabled"
    assert set(actions) >= {"order.placed", "invoice.issued", "subscription.changed",
                            "payment_method.added"}
    body = text(response)
    assert "Enabled Webinar for luca.ferri@example.it." in body
    assert f"Placed order {order_id}: total €22,968.12, paid by card €22,918.12." in body
    assert "Issued invoice 2026/000001." in body
    assert "Added the card Visa ending in 4242." in body
    assert ("Changed Webinar from Standard, 5 licenses, monthly to Pro, 8 licenses, annual; "
            "new billing period Nov 26, 2026 – Nov 26, 2027.") in body
    assert body.count("Giulia Rossi") >= 5
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ">',
                     response.get_data(as_text=True))
    italian = giulia.get("/activity", headers={"Accept-Language": "it"})
    assert "2026/000001" in text(italian)


def test_activity_page_is_paged(giulia):
    with db.connection_context():
        rossi = Account.get(Account.name == "Rossi Eventi S.r.l.")
        giulia_id = user_id(GIULIA)
        for i in range(30):
            AuditEvent.create(account=rossi, user=giulia_id, action="user.added",
                              details={"email": f"user{i:02d}@example.it"})
    first = giulia.get("/activity", headers=EN)
    body = text(first)
    assert "user29@example.it" in body and "user05@example.it" in body
    assert "user04@example.it" not in body
    assert "Page 1 of 2" in body
    second = giulia.get("/activity?page=2", htmx=True, headers=EN)
    assert "<html" not in second.get_data(as_text=True)
    assert "user04@example.it" in text(second) and "user29@example.it" not in text(second)
    assert giulia.get("/activity?page=999999999999999", headers=EN).status_code == 200
