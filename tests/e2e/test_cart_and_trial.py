"""Scenario 2 (two products through the cart) and scenario 3 (expired trial -> "Abbonati ora")."""
import re

import pytest
from playwright.sync_api import expect

from .conftest import SCENARIO_LANGS
from .helpers import SUCCESS_CARD, TODAY, Flow, expect_no_page_load, set_marker

pytestmark = pytest.mark.browser

LANGS = SCENARIO_LANGS
#: Webinar Standard 5 -> 6 monthly: 714.00 - 277.67 credit = 436.33 net.
WEBINAR_6_NET = 71400 - 27767
#: Meeting Business, 3 licenses, monthly, a new subscription (no credit).
MEETING_BUSINESS_3_NET = 3 * 1900


def due_of(net_cents, balance=5000):
    """Italian VAT 22 % (half-up), then the credit balance."""
    vat = (net_cents * 22 + 50) // 100
    return max(0, net_cents + vat - balance)


def subscribe_now(flow, product="Meeting"):
    """The expired-trial card has no Options icon but "Abbonati ora"."""
    page = flow.page
    card = page.locator("article.subscription-card").filter(
        has=page.get_by_role("heading", name=product, exact=True))
    expect(card.locator("details.options-menu")).to_have_count(0)
    card.get_by_role("link", name=flow.label("subscribe_now"), exact=True).click()
    flow.expect_change_page()


@pytest.mark.parametrize("lang", LANGS)
def test_two_products_through_the_cart(fresh_server, open_page, lang):
    """Change one product, then a second: the button reads "Aggiungi al carrello"."""
    page = open_page(fresh_server.url, lang)
    flow = Flow(page, lang, "cart")
    flow.login()
    flow.open_change_from_options("Webinar")
    add = page.get_by_role("button", name=flow.label("add_license"), exact=True)
    add.click()
    flow.expect_due(due_of(WEBINAR_6_NET))
    # The cart is empty: the first change goes straight to the review.
    expect(flow.complete_button()).to_be_enabled()
    flow.complete_button().click()
    expect(page).to_have_url(re.compile(r"/checkout$"))
    expect(page.locator("#review-item-1")).to_be_visible()
    flow.check("first-item-review")

    page.get_by_role("link", name=flow.label("billing_center"), exact=True).first.click()
    expect(page.locator("#cart-badge")).to_contain_text("1")
    subscribe_now(flow, "Meeting")
    marker = set_marker(page)
    page.get_by_role("radio", name="Business", exact=True).check()
    expect(flow.summary_figure("new-plan")).to_have_text("Business")
    add = page.get_by_role("button", name=flow.label("add_license"), exact=True)
    add.click()
    expect(flow.summary_figure("new-licenses")).to_have_text("2")
    add.click()
    expect(flow.summary_figure("new-licenses")).to_have_text("3")
    expect_no_page_load(page, marker)
    to_cart = page.get_by_role("button", name=flow.label("add_to_cart"), exact=True)
    expect(to_cart).to_be_enabled()
    expect(page.get_by_role("button", name=LABEL_COMPLETE[lang])).to_have_count(0)
    flow.check("second-item")
    to_cart.click()

    expect(page).to_have_url(re.compile(r"/cart$"))
    expect(page.locator("article.cart-item")).to_have_count(2)
    expect(page.locator("#summary-due")).to_have_attribute(
        "data-cents", str(due_of(WEBINAR_6_NET + MEETING_BUSINESS_3_NET)))
    flow.check("cart")
    page.get_by_role("link", name=flow.label("complete")).click()

    expect(page).to_have_url(re.compile(r"/checkout$"))
    expect(page.locator("article.review-item")).to_have_count(2)
    expect(page.locator("#review-item-2 .quote-line")).to_have_attribute(
        "data-period-start", TODAY)
    flow.pay_with_card(SUCCESS_CARD)
    flow.check("review")
    flow.place_order()
    expect(page).to_have_url(re.compile(r"/orders/\d+$"))
    expect(page.locator("ul.order-lines > li")).to_have_count(2)
    expect(page.locator("#order-due")).to_have_attribute(
        "data-cents", str(due_of(WEBINAR_6_NET + MEETING_BUSINESS_3_NET)))
    flow.check("confirmation")
    page.goto("/")
    expect(page.locator("#cart-badge")).to_have_count(0)


#: The change page's button when the cart is empty (must not show once the cart has items).
LABEL_COMPLETE = {"it": "Completa la transazione", "en": "Complete transaction"}


@pytest.mark.parametrize("lang", LANGS)
def test_expired_trial_subscribe_now(fresh_server, open_page, lang):
    """Scenario 3: "Abbonati ora" opens the selector for a new subscription, no credit."""
    page = open_page(fresh_server.url, lang)
    flow = Flow(page, lang, "trial")
    flow.login()
    subscribe_now(flow, "Meeting")
    flow.check("subscribe-page")
    marker = set_marker(page)
    expect(page.get_by_role("radio", name="Professional", exact=True)).to_be_checked()
    add = page.get_by_role("button", name=flow.label("add_license"), exact=True)
    add.click()
    expect(flow.summary_figure("new-licenses")).to_have_text("2")
    add.click()
    page.get_by_role("radio", name=flow.label("annual"), exact=True).check()
    flow.expect_due(due_of(3 * 14400))
    expect(flow.summary_figure("credit")).to_have_count(0)
    expect_no_page_load(page, marker)
    flow.check("subscribe-summary")
    flow.complete_button().click()

    expect(page).to_have_url(re.compile(r"/checkout$"))
    item = page.locator("#review-item-2 .quote-line")
    expect(item).to_have_attribute("data-credit", "0")
    expect(item).to_have_attribute("data-period-start", TODAY)
    expect(item).to_have_attribute("data-period-end", "2027-11-26")
    expect(item).to_contain_text(f"{flow.label('today')} – {flow.label('next_year')}")
    expect(page.locator("#summary-due")).to_have_attribute("data-cents", str(due_of(43200)))
    flow.pay_with_card(SUCCESS_CARD)
    flow.check("review")
    flow.place_order()
    expect(page).to_have_url(re.compile(r"/orders/\d+$"))
    expect(page.locator("#assign-reminder")).to_be_visible()
    flow.check("confirmation")
    page.goto("/")
    card = page.locator("#subscription-2")
    expect(card.locator("details.options-menu")).to_have_count(1)
    expect(card.get_by_role("link", name=flow.label("subscribe_now"))).to_have_count(0)
    expect(card).to_contain_text("Professional")
    flow.check("dashboard-after")
