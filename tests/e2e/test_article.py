"""Scenario 1: the whole help article, in Italian and English, with the mouse, with the
keyboard only, and with JavaScript disabled (scenario 6)."""
import re

import pytest
from playwright.sync_api import expect

from .conftest import ARTICLE_LANGS
from .helpers import (SUCCESS_CARD, TODAY, Flow, expect_no_page_load, expected_due,
                      set_marker)

pytestmark = pytest.mark.browser

LANGS = ARTICLE_LANGS
PRO_MONTHLY, PRO_ANNUAL = 23900, 238800
#: SPEC worked example A: Standard 5 monthly -> Pro 8 annual.
EXAMPLE_A_DUE = 2291812
EXAMPLE_A_CHARGE = 1910400
EXAMPLE_A_TOTAL = 2296812


def choose_with_htmx(flow, act, due_cents, figure=None, value=None):
    """Do ``act`` and see the summary reach ``due_cents`` without a page load."""
    marker = set_marker(flow.page, flow.step + 100)
    act()
    flow.expect_due(due_cents)
    if figure:
        expect(flow.summary_figure(figure)).to_have_text(value)
    expect_no_page_load(flow.page, marker)


def change_plan_licenses_frequency(flow, javascript=True):
    """Seed step 3: Pro, 3 more licenses, annual; the summary follows every change."""
    page = flow.page
    flow.expect_change_page()
    # the live region is a short status line, not the whole summary (read on every change)
    expect(page.locator("#summary-status")).to_have_attribute("role", "status")
    expect(page.locator('[aria-live]').filter(has=page.locator("#order-summary"))
           ).to_have_count(0)
    expect(flow.summary_figure("new-licenses")).to_have_text("5")
    # Nothing changed yet: the order button is not offered.
    expect(flow.complete_button()).to_be_disabled()
    flow.check("change-page")

    pro = page.get_by_role("radio", name="Pro", exact=True)
    add = page.get_by_role("button", name=flow.label("add_license"), exact=True)
    annual = page.get_by_role("radio", name=flow.label("annual"), exact=True)
    if javascript:
        choose_with_htmx(flow, pro.check, expected_due(PRO_MONTHLY, 5), "new-plan", "Pro")
        for count in (6, 7, 8):
            choose_with_htmx(flow, add.click, expected_due(PRO_MONTHLY, count),
                             "new-licenses", str(count))
        choose_with_htmx(flow, annual.check, EXAMPLE_A_DUE)
    else:
        # Without JavaScript the same form posts and the page comes back with the result.
        pro.check()
        for count in (6, 7, 8):
            add.click()
            expect(page.locator("#licenses")).to_have_value(str(count))
            flow.expect_due(expected_due(PRO_MONTHLY, count))
        expect(pro).to_be_checked()
        annual.check()
        page.locator(".js-hide").get_by_role("button").click()
        flow.expect_due(EXAMPLE_A_DUE)
    expect(flow.summary_figure("new-licenses")).to_have_text("8")
    expect(flow.summary_figure("charge")).to_have_text(re.compile(r"19.?104"))
    expect(flow.complete_button()).to_be_enabled()
    flow.check("summary-changed")


def expect_review(flow):
    """Seed step 5: billing period from today, licenses, plan cost and total due."""
    page = flow.page
    expect(page).to_have_url(re.compile(r"/checkout$"))
    item = page.locator("#review-item-1 .quote-line")
    expect(item).to_have_attribute("data-period-start", TODAY)
    expect(item).to_have_attribute("data-period-end", "2027-11-26")
    expect(item).to_contain_text(f"{flow.label('today')} – {flow.label('next_year')}")
    expect(item).to_have_attribute("data-licenses", "8")
    expect(item).to_contain_text(re.compile(r"(?<!\d)8 licen(se|ses|za|ze)\b"))
    expect(item).to_have_attribute("data-charge", str(EXAMPLE_A_CHARGE))
    expect(item).to_contain_text(re.compile(r"19.?104[.,]00"))
    due = page.locator("#summary-due")
    expect(due).to_have_attribute("data-cents", str(EXAMPLE_A_DUE))
    expect(due).to_have_text(re.compile(r"22.?918[.,]12"))
    expect(page.get_by_role("heading", name=flow.label("order_summary"), exact=True)
           ).to_be_visible()


def edit_order_and_back(flow):
    """"Modifica ordine" returns to the change page with the choices kept."""
    page = flow.page
    page.get_by_role("link", name=flow.label("edit_order"), exact=True).click()
    flow.expect_change_page()
    expect(page.get_by_role("radio", name="Pro", exact=True)).to_be_checked()
    expect(page.locator("#licenses")).to_have_value("8")
    expect(page.get_by_role("radio", name=flow.label("annual"), exact=True)).to_be_checked()
    flow.expect_due(EXAMPLE_A_DUE)
    flow.check("edit-order")
    flow.complete_button().click()
    expect_review(flow)


def expect_confirmation_and_assign(flow):
    """Result: the new period starts today; the reminder leads to the license page."""
    page = flow.page
    expect(page).to_have_url(re.compile(r"/orders/\d+$"))
    expect(page.get_by_role("status").filter(has_text=flow.label("changed"))).to_be_visible()
    expect(page.locator("#order-due")).to_have_attribute("data-cents", str(EXAMPLE_A_DUE))
    reminder = page.locator("#assign-reminder")
    expect(reminder).to_be_visible()
    invoice_url = page.locator("#invoice-link").get_attribute("href")
    flow.check("confirmation")
    reminder.get_by_role("link", name=flow.label("assign_licenses"), exact=True).click()
    expect(page).to_have_url(re.compile(r"/subscriptions/1/licenses"))
    counter = page.locator("#license-counter")
    expect(counter).to_have_attribute("data-licenses", "8")
    expect(counter).to_have_attribute("data-assigned", "4")
    flow.check("licenses")
    sara = page.locator("tr").filter(has_text="Sara Conti")
    expect(sara).to_have_attribute("data-enabled", "0")
    if page.locator("html.no-js").count():
        # without JavaScript the switch (a type=button) is replaced by a real submit button
        expect(page.get_by_role("switch")).to_have_count(0)
        sara.get_by_role("button", name=re.compile("Sara Conti")).click()
        expect(page.locator("tr").filter(has_text="Sara Conti")
               ).to_have_attribute("data-enabled", "1")
    else:
        switch = page.get_by_role("switch", name=re.compile("Sara Conti"))
        expect(switch).to_have_attribute("aria-checked", "false")
        switch.click()
        expect(page.get_by_role("switch", name=re.compile("Sara Conti"))
               ).to_have_attribute("aria-checked", "true")
    expect(counter).to_have_attribute("data-assigned", "5")
    expect(counter).to_contain_text(re.compile(r"\b5\b.*\b8\b"))
    flow.check("license-assigned")
    return invoice_url


def expect_invoice(flow, invoice_url):
    """The order's invoice: a progressive number of 2026 and the total of example A."""
    page = flow.page
    page.goto(invoice_url)
    expect(page.locator("#invoice")).to_have_attribute("data-number", re.compile(r"^2026/\d+$"))
    expect(page.locator("#invoice-total")).to_have_attribute("data-cents", str(EXAMPLE_A_TOTAL))
    expect(page.locator("#invoice-paid")).to_have_attribute("data-cents", str(EXAMPLE_A_DUE))
    flow.check("invoice")


def expect_dashboard_after_order(flow):
    """Back in the Billing Center the subscription shows the new plan from today."""
    page = flow.page
    page.goto("/")
    card = page.locator("#subscription-1")
    expect(card).to_contain_text("Pro")
    expect(card).to_contain_text(f"{flow.label('today')} – {flow.label('next_year')}")


def run_article(flow, javascript=True):
    """The help article from login to the license assignment."""
    flow.login()
    flow.open_change_from_options("Webinar")
    change_plan_licenses_frequency(flow, javascript=javascript)
    flow.complete_button().click()
    expect_review(flow)
    flow.check("review")
    edit_order_and_back(flow)
    flow.pay_with_card(SUCCESS_CARD)
    flow.check("payment")
    flow.place_order()
    invoice_url = expect_confirmation_and_assign(flow)
    expect_invoice(flow, invoice_url)
    expect_dashboard_after_order(flow)


@pytest.mark.parametrize("lang", LANGS)
def test_whole_article(fresh_server, open_page, lang):
    """Log in, change plan, licenses and frequency live, review, edit, pay, assign."""
    page = open_page(fresh_server.url, lang)
    run_article(Flow(page, lang, "article"))


@pytest.mark.parametrize("lang", LANGS)
def test_whole_article_without_javascript(fresh_server, open_page, lang):
    """Scenario 6: the same article with JavaScript disabled: real forms all the way."""
    page = open_page(fresh_server.url, lang, javascript=False)
    run_article(Flow(page, lang, "nojs"), javascript=False)


# ------------------------------------------------------------------------ keyboard only

def tab_to(page, locator, limit=80, backwards=False):
    """Press Tab (or Shift+Tab) until ``locator`` has the focus, as a keyboard user does."""
    key = "Shift+Tab" if backwards else "Tab"
    target = locator.element_handle()
    for _ in range(limit):
        if page.evaluate("(el) => el === document.activeElement", target):
            return
        page.keyboard.press(key)
    raise AssertionError(f"{locator} never received the focus after {limit} × {key}")


def run_article_with_keyboard(flow):
    """The article with the keyboard alone: Tab, arrows, Enter, Space and typing."""
    page = flow.page
    keys = page.keyboard
    page.goto("/login")
    tab_to(page, page.locator("#email"))
    keys.type("giulia.rossi@example.it")
    keys.press("Tab")
    keys.type("demo1234")
    keys.press("Enter")
    expect(page.get_by_role("heading", level=1, name=flow.label("billing_center"))
           ).to_be_visible()
    flow.check("dashboard")

    tab_to(page, page.locator("#subscription-1 details.options-menu > summary"))
    keys.press("Enter")
    change_link = page.locator("#subscription-1").get_by_role(
        "link", name=flow.label("change_subscription"), exact=True)
    tab_to(page, change_link)
    keys.press("Enter")
    flow.expect_change_page()
    flow.check("change-page")

    marker = set_marker(page)
    tab_to(page, page.get_by_role("radio", name="Standard", exact=True))
    keys.press("ArrowDown")  # Lite is a downgrade (not a radio): the next plan is Pro
    expect(page.get_by_role("radio", name="Pro", exact=True)).to_be_checked()
    flow.expect_due(expected_due(PRO_MONTHLY, 5))
    add = page.get_by_role("button", name=flow.label("add_license"), exact=True)
    tab_to(page, add)
    for count in (6, 7, 8):
        keys.press("Enter")
        flow.expect_due(expected_due(PRO_MONTHLY, count))
    tab_to(page, page.get_by_role("radio", name=flow.label("monthly"), exact=True))
    keys.press("ArrowRight")
    flow.expect_due(EXAMPLE_A_DUE)
    expect_no_page_load(page, marker)
    flow.check("summary-changed")

    tab_to(page, flow.complete_button())
    keys.press("Enter")
    expect_review(flow)
    flow.check("review")

    tab_to(page, page.get_by_role("link", name=flow.label("edit_order"), exact=True))
    keys.press("Enter")
    flow.expect_change_page()
    flow.expect_due(EXAMPLE_A_DUE)
    tab_to(page, flow.complete_button())
    keys.press("Enter")
    expect_review(flow)

    for field, text in (("#card_holder", "Giulia Rossi"), ("#card_number", SUCCESS_CARD),
                        ("#card_expiry", "12/30"), ("#card_cvc", "123")):
        tab_to(page, page.locator(field))
        keys.type(text)
    flow.check("payment")
    tab_to(page, page.get_by_role("button", name=flow.label("place_order"), exact=True))
    keys.press("Enter")
    expect(page).to_have_url(re.compile(r"/orders/\d+$"))
    flow.check("confirmation")

    tab_to(page, page.locator("#assign-reminder").get_by_role(
        "link", name=flow.label("assign_licenses"), exact=True))
    keys.press("Enter")
    expect(page).to_have_url(re.compile(r"/subscriptions/1/licenses"))
    switch = page.get_by_role("switch", name=re.compile("Sara Conti"))
    tab_to(page, switch)
    keys.press("Space")
    expect(page.get_by_role("switch", name=re.compile("Sara Conti"))
           ).to_have_attribute("aria-checked", "true")
    expect(page.locator("#license-counter")).to_have_attribute("data-assigned", "5")
    flow.check("license-assigned")


@pytest.mark.parametrize("lang", LANGS)
def test_whole_article_with_keyboard_only(fresh_server, open_page, lang):
    """The whole flow is operable with the keyboard alone."""
    page = open_page(fresh_server.url, lang)
    run_article_with_keyboard(Flow(page, lang, "keyboard"))
