"""Fatture: the invoice list and the printable invoice, numbered per calendar year."""
import datetime as dt

import pytest

from conftest import ANNA, MARCO, PASSWORD, TODAY, Browser
from portal.core.models import Invoice
from test_checkout_support import (add_to_cart, order_id_from, place, review, rows,
                                   set_account)


def order(browser, subscription_id=1, plan="webinar-pro", licenses=8, frequency="annual"):
    """Add one change and place it with the good test card."""
    add_to_cart(subscription_id, plan, licenses, frequency)
    _, fields = review(browser)
    return order_id_from(place(browser, fields))


def test_invoice_shows_seller_buyer_lines_vat_totals_and_card(giulia, app):
    order(giulia)
    response = giulia.get("/invoices/1")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert 'data-number="2026/000001"' in html
    assert app.config["SELLER_NAME"] in html and app.config["SELLER_VAT_NUMBER"] in html
    assert app.config["SELLER_ADDRESS"] in html
    assert "Rossi Eventi S.r.l." in html and 'id="buyer-vat">IT01234560124<' in html
    assert 'class="num" data-cents="1910400"' in html and 'data-cents="-27767"' in html
    for element, cents in (("invoice-subtotal", 1882633), ("invoice-vat", 414179),
                           ("invoice-total", 2296812), ("invoice-applied", 5000),
                           ("invoice-paid", 2291812)):
        assert f'id="{element}" data-cents="{cents}"' in html
    assert 'id="invoice-card">(Visa •••• 4242)' in html
    assert 'id="legal-note"' not in html  # Italian VAT: no note


def test_invoice_list(giulia):
    assert 'id="no-invoices"' in giulia.get("/invoices").get_data(as_text=True)
    order(giulia)
    response = giulia.get("/invoices")
    html = response.get_data(as_text=True)
    assert 'href="/invoices/1">2026/000001<' in html
    assert 'data-cents="2296812"' in html


def test_confirmation_links_the_invoice_and_reminds_to_assign_licenses(giulia):
    order_id = order(giulia)
    response = giulia.get(f"/orders/{order_id}", headers={"Accept-Language": "en"})
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert ("You have changed your subscription plan; your new billing period starts today."
            in html)
    assert 'id="invoice-link" href="/invoices/1">2026/000001<' in html
    assert 'id="order-number">%d<' % order_id in html
    assert 'id="assign-reminder"' in html


def test_no_license_reminder_when_licenses_did_not_grow(giulia):
    order_id = order(giulia, licenses=5)
    html = giulia.get(f"/orders/{order_id}").get_data(as_text=True)
    assert 'id="assign-reminder"' not in html


def test_numbers_are_progressive_and_restart_each_calendar_year(giulia, app):
    order(giulia)
    order(giulia, subscription_id=2, plan="meeting-business", licenses=2, frequency="monthly")
    app.config["FIXED_TODAY"] = dt.date(2027, 1, 4)
    order(giulia, licenses=9)
    numbers = [(i.number, i.year, i.sequence, i.issued_on)
               for i in rows(Invoice)]
    assert numbers == [("2026/000001", 2026, 1, TODAY), ("2026/000002", 2026, 2, TODAY),
                       ("2027/000001", 2027, 1, dt.date(2027, 1, 4))]


def test_outside_eu_invoice_has_the_outside_scope_note(giulia):
    # The reverse-charge note is tested with the VAT number flow in test_checkout.py.
    set_account(country="US", vat_number=None)
    order(giulia)
    html = giulia.get("/invoices/1", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'id="legal-note" data-reason="outside_eu"' in html
    assert "art. 7-ter DPR 633/72" in html
    assert 'id="invoice-vat" data-cents="0"' in html


@pytest.mark.parametrize("path", ["/invoices/1", "/orders/1"])
def test_other_accounts_get_404(giulia, app, path):
    order(giulia)
    anna = Browser(app.test_client())
    anna.login(ANNA, PASSWORD)
    assert anna.get(path).status_code == 404


def test_members_cannot_see_invoices(giulia, app):
    order(giulia)
    marco = Browser(app.test_client())
    marco.login(MARCO, PASSWORD)
    assert marco.get("/invoices").status_code == 403
    assert marco.get("/invoices/1").status_code == 403


def test_credit_note_of_example_c(giulia):
    """An order whose total is negative is a credit note: the credit given, VAT included,
    which is what the order added to the credit balance."""
    from test_checkout_support import set_subscription
    set_subscription(1, frequency="annual", price_cents=118800, period_start=dt.date(2026, 1, 10),
                     period_end=dt.date(2027, 1, 10))
    add_to_cart(1, "webinar-standard", 5, "monthly")
    _, fields = review(giulia)
    order_id_from(place(giulia, fields, payment={}))
    html = giulia.get("/invoices/1").get_data(as_text=True)
    assert 'data-kind="credit_note"' in html
    assert 'id="invoice-subtotal" data-cents="13733"' in html
    assert 'id="invoice-vat" data-cents="3021" data-reason="it_vat"' in html
    assert 'id="invoice-total" data-cents="16754"' in html
    assert 'id="invoice-credit-added" data-cents="16754"' in html
    assert 'id="invoice-paid"' not in html
