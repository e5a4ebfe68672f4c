"""Carrello and Completa transazione: what the billing contact sees before placing an order."""
import re

import pytest

from conftest import ANNA, GIULIA, MARCO, PASSWORD, Browser
from portal.core.db import db
from portal.core.models import AuditEvent, CartItem
from test_checkout_support import (account, add_to_cart, card_form, counts, figures, order_id_from,
                                   place, review, rows, set_account, subscription)

EDIT_LINK = re.compile(r'class="button button-small edit-order" href="([^"]+)"')


# ------------------------------------------------------------ cart


def test_cart_lists_each_pending_change_with_its_figures(giulia):
    add_to_cart(1, "webinar-pro", 8, "annual")
    add_to_cart(2, "meeting-business", 3, "monthly")
    response = giulia.get("/cart")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.count('class="card cart-item"') == 2
    assert 'data-subscription-id="1" data-credit="27767" data-charge="1910400"' in html
    assert 'data-subscription-id="2" data-credit="0" data-charge="5700"' in html
    assert figures(html)["summary-subtotal"] == 1882633 + 5700
    assert 'id="complete-transaction" href="/checkout"' in html


def test_adding_again_replaces_the_pending_change(giulia):
    add_to_cart(1, "webinar-pro", 8, "annual")
    add_to_cart(1, "webinar-pro", 9, "annual")
    html = giulia.get("/cart").get_data(as_text=True)
    assert html.count('class="card cart-item"') == 1
    assert 'data-licenses="9"' in html


def test_empty_cart(giulia):
    html = giulia.get("/cart").get_data(as_text=True)
    assert 'id="cart-empty"' in html and 'id="complete-transaction"' not in html
    response = giulia.get("/checkout")
    assert response.status_code == 303 and response.headers["Location"].endswith("/cart")


def test_remove_a_pending_change(giulia):
    item = add_to_cart(1, "webinar-pro", 8, "annual")
    add_to_cart(2, "meeting-business", 3, "monthly")
    response = giulia.post(f"/cart/{item}/remove")
    assert response.status_code == 303 and response.headers["Location"].endswith("/cart")
    assert [i.subscription_id for i in rows(CartItem)] == [2]
    assert rows(AuditEvent, AuditEvent.action == "cart.item_removed")[0].details == {
        "subscription_id": 1}


def test_remove_with_htmx_redirects(giulia):
    item = add_to_cart(1, "webinar-pro", 8, "annual")
    response = giulia.post(f"/cart/{item}/remove", htmx=True)
    assert response.headers["HX-Redirect"].endswith("/cart")
    assert counts()["CartItem"] == 0


def test_another_users_cart_item_cannot_be_removed(app, giulia):
    from portal.demo import make_user
    from portal.core.models import User
    with db.connection_context():
        rossi = User.get(User.email == GIULIA).account
        make_user(rossi, "elena.russo@example.it", "Elena Russo", "billing_contact")
    item = add_to_cart(1, "webinar-pro", 8, "annual", email="elena.russo@example.it")
    assert giulia.post(f"/cart/{item}/remove").status_code == 404
    assert counts()["CartItem"] == 1
    assert 'id="cart-empty"' in giulia.get("/cart").get_data(as_text=True)


def test_cart_survives_logout(giulia):
    add_to_cart(1, "webinar-pro", 8, "annual")
    assert giulia.post("/logout").status_code == 303
    giulia.login(GIULIA)
    html = giulia.get("/cart").get_data(as_text=True)
    assert 'data-plan="webinar-pro"' in html and 'data-licenses="8"' in html


def test_an_item_no_longer_valid_is_shown_and_blocks_the_order(giulia):
    # 4 users are assigned: 2 licenses are not enough any more.
    add_to_cart(1, "webinar-standard", 2, "monthly")
    cart = giulia.get("/cart").get_data(as_text=True)
    assert 'class="alert alert-error cart-problem"' in cart
    assert 'id="complete-transaction"' not in cart
    html, fields = review(giulia)
    assert 'id="order-form"' not in html and "fingerprint" not in fields


# ------------------------------------------------------------ review


def test_review_shows_period_licenses_costs_credit_and_total(giulia):
    add_to_cart(1, "webinar-pro", 8, "annual")
    html, fields = review(giulia, 200)
    assert 'data-period-start="2026-11-26" data-period-end="2027-11-26"' in html
    assert 'data-licenses="8"' in html
    assert 'data-reason="it_vat"' in html
    assert figures(html)["summary-due"] == 2291812
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", fields["idempotency_key"])
    assert re.fullmatch(r"[0-9a-f]{64}", fields["fingerprint"])
    assert 'id="payment-details"' in html and 'id="sandbox-cards"' in html
    assert 'id="billing-details"' in html and 'value="IT01234560124"' in html


def test_review_is_not_cached_and_gets_a_new_key_each_time(giulia):
    add_to_cart(1, "webinar-pro", 8, "annual")
    first = giulia.get("/checkout")
    second = giulia.get("/checkout")
    assert first.headers["Cache-Control"] == "no-store"
    assert (re.search(r'name="idempotency_key" value="([^"]+)"', first.get_data(as_text=True))
            .group(1) != re.search(r'name="idempotency_key" value="([^"]+)"',
                                   second.get_data(as_text=True)).group(1))


def test_review_has_no_payment_section_when_nothing_is_due(giulia):
    from conftest import TODAY  # noqa: F401 (the demo's today)
    from test_checkout_support import set_balance
    set_balance(10_000_000)
    add_to_cart(1, "webinar-pro", 8, "annual")
    html, _ = review(giulia)
    assert figures(html)["summary-due"] == 0
    assert figures(html)["summary-applied"] == 2296812
    assert 'id="payment-details"' not in html and 'id="vat-number"' not in html
    order_id_from(place(giulia, review(giulia)[1], payment={}))
    assert account().balance_cents == 10_000_000 - 2296812 == account().ledger


def test_edit_order_returns_to_the_change_page_with_the_choices(giulia, app):
    add_to_cart(1, "webinar-pro", 8, "annual")
    html, _ = review(giulia)
    link = EDIT_LINK.search(html).group(1).replace("&amp;", "&")
    assert link.startswith("/subscriptions/1/change?")
    for part in ("plan=webinar-pro", "licenses=8", "frequency=annual"):
        assert part in link
    page = giulia.get(link).get_data(as_text=True)
    assert re.search(r'id="plan-webinar-pro" value="webinar-pro" checked', page)
    assert re.search(r'id="licenses" name="licenses" value="8"', page)
    assert re.search(r'id="frequency-annual" value="annual" checked', page)


# ------------------------------------------------------------ VAT number


ROSSI_DETAILS = {"name": "Rossi Eventi S.r.l.", "street": "Via Roma 1", "postal_code": "20121",
                 "city": "Milano", "province": "MI", "country": "IT",
                 "vat_number": "IT01234560124", "codice_fiscale": "01234560124",
                 "sdi_code": "M5UXCR1", "pec": ""}


def details(**changes):
    """The order form's billing details: Rossi Eventi's, with ``changes``."""
    return dict(ROSSI_DETAILS, **changes)


@pytest.mark.parametrize("raw,code", [
    ("IT123", "vat_format"),
    ("12", "vat_format"),
    ("hello", "vat_country"),
    ("IT01234560125", "vat_checksum"),
    ("DE136695976", "vat_country"),
])
def test_invalid_vat_number_in_the_order_form_is_refused(giulia, raw, code):
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    response = place(giulia, fields, **details(vat_number=raw))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="billing-vat_number-error" data-code="{code}"' in html
    assert 'aria-invalid="true"' in html
    assert f'value="{raw}"' in html  # what was typed is shown again, not lost
    assert account().vat_number == "IT01234560124"
    assert counts()["Order"] == 0


def test_invalid_details_with_htmx_answer_the_review_fragment(giulia):
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    response = giulia.post("/checkout/order", dict(fields, **card_form(),
                                                   **details(vat_number="IT123")), htmx=True)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="checkout-review">')
    assert "<html" not in html


def test_details_typed_on_the_review_are_saved_with_the_order(giulia):
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    response = place(giulia, fields, **details(vat_number=" it 0074311 0157 ",
                                               street="Via Roma 2", sdi_code="",
                                               pec="Fatture@PEC.rossi.example.it"))
    order_id_from(response)
    row = account()
    assert (row.vat_number, row.street, row.sdi_code, row.pec) == (
        "IT00743110157", "Via Roma 2", None, "fatture@pec.rossi.example.it")
    [event] = rows(AuditEvent, AuditEvent.action == "account.billing_details_changed")
    assert event.details == {"fields": ["pec", "sdi_code", "street", "vat_number"]}
    invoice = giulia.get("/invoices/1").get_data(as_text=True)
    assert 'id="buyer-vat">IT00743110157<' in invoice and "Via Roma 2" in invoice


def test_an_order_is_refused_while_the_billing_details_are_incomplete(giulia):
    set_account(street=None, sdi_code=None)
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    response = place(giulia, fields)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="billing-street-error" data-code="required"' in html
    assert 'id="billing-sdi_code-error" data-code="sdi_or_pec_required"' in html
    assert counts()["Order"] == 0


def test_eu_vat_number_switches_to_reverse_charge_and_the_old_review_is_stale(giulia, vies):
    set_account(country="DE", vat_number=None, province=None, codice_fiscale=None,
                sdi_code=None, postal_code="10115", city="Berlin", street="Hauptstr. 1")
    add_to_cart(1, "webinar-pro", 8, "annual")
    html, before = review(giulia)
    assert 'data-reason="eu_vat"' in html
    assert figures(html)["summary-vat"] == 357700  # round(1,882,633 × 0.19) = 357,700.27

    german = details(country="DE", vat_number="DE 136 695 976", province="", postal_code="10115",
                     city="Berlin", street="Hauptstr. 1", codice_fiscale="", sdi_code="")
    response = place(giulia, before, **german)
    assert response.status_code == 409 and counts()["Order"] == 0
    assert 'id="details-saved"' in response.get_data(as_text=True)
    assert account().vat_number == "DE136695976" and account().vies_status == "valid"
    html, after = review(giulia)
    assert 'data-reason="reverse_charge"' in html
    assert figures(html)["summary-vat"] == 0
    assert figures(html)["summary-due"] == 1882633 - 5000

    order_id_from(place(giulia, after, **german))
    invoice = giulia.get("/invoices/1", headers={"Accept-Language": "en"}).get_data(
        as_text=True)
    assert 'id="legal-note" data-reason="reverse_charge"' in invoice
    assert "art. 196 Directive 2006/112/EC" in invoice
    assert 'id="buyer-vat">DE136695976<' in invoice


# ------------------------------------------------------------ who may use the checkout


@pytest.mark.parametrize("path", ["/cart", "/checkout"])
def test_members_are_refused(app, path):
    marco = Browser(app.test_client())
    marco.login(MARCO, PASSWORD)
    response = marco.get(path)
    assert response.status_code == 403
    assert "giulia.rossi@example.it" in response.get_data(as_text=True)


def test_members_cannot_place_orders(app):
    add_to_cart(1, "webinar-pro", 8, "annual")
    marco = Browser(app.test_client())
    marco.login(MARCO, PASSWORD)
    response = marco.post("/checkout/order", {"idempotency_key": "k" * 32,
                                              "fingerprint": "0" * 64})
    assert response.status_code == 403
    assert counts()["Order"] == 0


@pytest.mark.parametrize("method,path", [("get", "/cart"), ("get", "/checkout"),
                                         ("post", "/checkout/order")])
def test_corporate_accounts_are_refused(app, method, path):
    anna = Browser(app.test_client())
    anna.login(ANNA, PASSWORD)
    response = getattr(anna, method)(path)
    assert response.status_code == 403
    assert subscription(3).version == 1


def test_logged_out_users_go_to_login(client):
    response = client.get("/checkout")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
