"""Credit at the price paid, catalog versions, retired plans and 64-bit money (SPEC §3, §3.1).

The catalog is changed the way an operator does it, with ``flask catalog load`` on a new
file, while the app (the "running server") keeps its process-level caches.
"""
import re
from decimal import ROUND_HALF_UP, Decimal

import pytest

from conftest import GIULIA, TODAY
from portal.billing import MAX_LICENSES
from portal.catalog.store import MAX_PRICE_CENTS, current_version
from portal.core.db import db
from portal.core.models import CatalogVersion, LedgerEntry, Order, Plan, Subscription
from test_checkout_support import (account, add_to_cart, figures, order_id_from, place, review,
                                   rows, set_subscription, subscription)

CHANGE = "/subscriptions/1/change"


def catalog_with(tmp_path, app, **replacements):
    """A copy of the operator's catalog.toml with text replaced; returns its path."""
    with open(app.config["CATALOG_PATH"], encoding="utf-8") as handle:
        text = handle.read()
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "catalog.toml"
    path.write_text(text, encoding="utf-8")
    return path


STANDARD_AT_999 = {"monthly_cents = 11900": "monthly_cents = 99900"}


def load(app, path):
    """``flask catalog load PATH`` on the app's database."""
    return app.test_cli_runner().invoke(args=["catalog", "load", str(path)])


def test_a_price_rise_credits_at_the_price_paid(app, giulia, tmp_path):
    """The reproduction: Standard goes from 119 € to 999 € while the server runs, then 7 -> 9
    licenses. The credit is for what was paid (119 €), the new period costs 999 €."""
    set_subscription(1, licenses=7)
    giulia.get(CHANGE)  # the running process has the old catalog cached
    result = load(app, catalog_with(tmp_path, app, **STANDARD_AT_999))
    assert result.exit_code == 0, result.output
    assert "webinar-standard: monthly price 119.00 EUR -> 999.00 EUR" in result.output

    add_to_cart(1, "webinar-standard", 9, "monthly")
    html, fields = review(giulia)
    credit = round(11900 * 7 * 14 / 30)  # 14 of 30 days unused, at the price paid
    assert f'data-credit="{credit}"' in html
    assert 'data-charge="899100"' in html  # 9 x 999 €: today's price for the new period
    subtotal = 899100 - credit
    assert figures(html)["summary-subtotal"] == subtotal

    order_id_from(place(giulia, fields))
    sub = subscription(1)
    assert (sub.licenses, sub.price_cents, sub.version) == (9, 99900, 2)
    rossi = account()
    assert rossi.balance_cents == rossi.ledger == 0  # the 50 € balance paid part of it
    [order] = rows(Order)
    assert order.subtotal_cents == subtotal and order.credit_added_cents == 0


def test_a_price_cut_never_credits_more_than_was_paid(app, giulia, tmp_path):
    """The reverse: Standard falls to 1 €; a reduction credits at 119 €, not at 1 €, and not
    more than the unused share of what was charged."""
    set_subscription(1, licenses=7)
    load(app, catalog_with(tmp_path, app, **{"monthly_cents = 11900": "monthly_cents = 100"}))
    add_to_cart(1, "webinar-standard", 6, "monthly")
    html, _fields = review(giulia)
    credit = round(11900 * 7 * 14 / 30)
    assert f'data-credit="{credit}"' in html and 'data-charge="600"' in html
    assert credit <= 11900 * 7


def test_a_review_made_before_a_catalog_load_is_shown_again(app, giulia, tmp_path):
    """One quote, one price list: the version is in the fingerprint."""
    add_to_cart(1, "webinar-pro", 8, "annual")
    _html, fields = review(giulia)
    load(app, catalog_with(tmp_path, app, **{"annual_cents = 238800": "annual_cents = 250000"}))
    response = place(giulia, fields)
    assert response.status_code == 409
    assert rows(Order) == [] and subscription(1).version == 1
    html, fields = review(giulia)  # the new review is at the new prices, and can be placed
    assert 'data-charge="2000000"' in html
    order_id_from(place(giulia, fields))


def test_the_summary_shows_one_catalog_version(app, giulia, tmp_path):
    """Every figure of a page comes from the version in force when the request began."""
    before = giulia.get(CHANGE + "?plan=webinar-standard&licenses=6&frequency=monthly",
                        htmx=True).get_data(as_text=True)
    assert 'data-figure="charge">714,00' in before
    load(app, catalog_with(tmp_path, app, **STANDARD_AT_999))
    after = giulia.get(CHANGE + "?plan=webinar-standard&licenses=6&frequency=monthly",
                       htmx=True).get_data(as_text=True)
    assert 'data-figure="charge">5.994,00' in after
    page = giulia.get(CHANGE).get_data(as_text=True)
    assert "999,00" in page and "119,00" not in page  # the plan cards too


def test_the_summary_names_the_current_plan_and_product_as_the_catalog_does(app, giulia,
                                                                            tmp_path):
    # the change page takes the subscription's plan and product from the request's catalog
    load(app, catalog_with(tmp_path, app, **{
        'code = "webinar-standard"\n  name = "Standard"\n':
        'code = "webinar-standard"\n  name = "Standard Plus"\n'}))
    summary = giulia.get(CHANGE + "?plan=webinar-pro&licenses=6&frequency=monthly",
                         htmx=True).get_data(as_text=True)
    assert "<td>Standard Plus</td>" in summary
    page = giulia.get(CHANGE, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Current plan: Standard Plus, 5 licenses" in page and "Webinar" in page
    # renaming a product is a new catalog version too, which every page then shows
    result = load(app, catalog_with(tmp_path, app, **{'name = "Webinar"': 'name = "Webinar+"'}))
    assert "webinar: product name or position changed" in result.output
    page = giulia.get(CHANGE, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Change subscription: Webinar+" in page


def test_catalog_load_reports_and_versions(app, tmp_path):
    with db.connection_context():
        assert current_version() == 1
    same = load(app, app.config["CATALOG_PATH"])
    assert same.exit_code == 0 and "No changes: catalog version 1 stays in force." in same.output
    result = load(app, catalog_with(tmp_path, app, **STANDARD_AT_999))
    assert "Catalog version 2 is in force" in result.output
    with db.connection_context():
        assert current_version() == 2
        [change] = CatalogVersion.get_by_id(2).changes
        assert change == {"kind": "price", "plan": "webinar-standard", "frequency": "monthly",
                          "old": 11900, "new": 99900, "currency": "EUR"}


def test_catalog_load_refuses_to_drop_a_plan_or_the_currency(app, tmp_path):
    text = open(app.config["CATALOG_PATH"], encoding="utf-8").read()
    dropped = re.sub(r'\n  \[\[products.plans\]\]\n  code = "webinar-lite".*?\n\n', "\n\n",
                     text, flags=re.S)
    assert "webinar-lite" not in dropped
    (tmp_path / "dropped.toml").write_text(dropped)
    result = load(app, tmp_path / "dropped.toml")
    assert result.exit_code == 1 and "webinar-lite" in result.output
    assert "retired = true" in result.output
    (tmp_path / "usd.toml").write_text('currency = "USD"\n' + text)
    result = load(app, tmp_path / "usd.toml")
    assert result.exit_code == 1 and "a currency cannot be dropped" in result.output
    (tmp_path / "huge.toml").write_text(text.replace("monthly_cents = 11900",
                                                     f"monthly_cents = {MAX_PRICE_CENTS + 1}"))
    result = load(app, tmp_path / "huge.toml")
    assert result.exit_code == 1 and "highest price" in result.output
    with db.connection_context():
        assert current_version() == 1
        assert Plan.get(Plan.code == "webinar-standard").monthly_cents == 11900


def test_a_retired_plan_keeps_its_subscribers_and_is_sold_to_nobody_else(app, giulia,
                                                                         tmp_path):
    retired = catalog_with(tmp_path, app, **{
        'code = "webinar-standard"\n  name = "Standard"\n':
        'code = "webinar-standard"\n  name = "Standard"\n  retired = true\n'})
    result = load(app, retired)
    assert "webinar-standard: retired (no longer sold)" in result.output
    dashboard = giulia.get("/", headers={"Accept-Language": "it"}).get_data(as_text=True)
    assert "piano non più in vendita" in dashboard
    # Giulia's subscription is on it: she may still change its licenses...
    response = giulia.post(CHANGE, {"plan": "webinar-standard", "licenses": "6",
                                    "frequency": "monthly", "intent": "add"})
    assert response.status_code == 303
    # ...but the expired Meeting trial cannot start on a retired plan, nor can Lite users move
    set_subscription(1, plan=Plan.get(Plan.code == "webinar-pro").id)
    page = giulia.get(CHANGE, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'id="plan-webinar-standard" value=' not in page
    refused = giulia.post(CHANGE, {"plan": "webinar-standard", "licenses": "6",
                                   "frequency": "monthly", "intent": "add"},
                          headers={"Accept-Language": "en"})
    assert refused.status_code == 422


def test_the_dashboard_announces_a_new_price_from_the_next_renewal(app, giulia, tmp_path):
    load(app, catalog_with(tmp_path, app, **{"monthly_cents = 11900": "monthly_cents = 13900"}))
    html = giulia.get("/", headers={"Accept-Language": "it"}).get_data(as_text=True)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("\u00a0", " ")
    assert "Dal 10 dic 2026: 139,00 € per licenza al mese" in text
    assert "695,00 € + IVA il 10 dic 2026" in text  # the renewal at the new price
    with db.connection_context():
        assert Subscription.get_by_id(1).price_cents == 11900  # this period stays as paid


def test_the_largest_order_the_portal_allows_fits(app, giulia):
    """10,000 Pro annual licenses: 29,133,211.24 € with VAT; money columns are 64-bit."""
    add_to_cart(1, "webinar-pro", MAX_LICENSES, "annual")
    html, fields = review(giulia)
    shown = figures(html)
    credit = round(11900 * 5 * 14 / 30)
    subtotal = 238800 * MAX_LICENSES - credit
    assert shown["summary-subtotal"] == subtotal
    order_id_from(place(giulia, fields))
    [order] = rows(Order)
    assert order.subtotal_cents == subtotal > 2 ** 31
    vat = int((Decimal(subtotal) * Decimal("0.22")).quantize(Decimal(1), ROUND_HALF_UP))
    assert order.total_cents == subtotal + vat == 2_913_326_124  # 29,133,261.24 €
    with db.connection_context():
        assert Order.select().where(Order.total_cents > 2 ** 31).count() == 1
        assert LedgerEntry.select().count() >= 1
