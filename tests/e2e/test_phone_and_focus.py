"""The UX round: stale summaries, the phone, focus, live region, card errors, the language
switcher after a refused payment, saved cards and history (issue 19, items 1-8, 11, 12)."""
import re

import pytest
from playwright.sync_api import expect

from .conftest import check_page
from .helpers import DECLINED_CARD, SUCCESS_CARD, Flow, expected_due

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
NARROWEST = {"width": 320, "height": 700}
EXAMPLE_A_DUE = 2291812


def logged_in(server, open_page, scenario, viewport=None, javascript=True):
    """Giulia logged in, in Italian, at ``viewport``."""
    page = open_page(server.url, "it", javascript=javascript)
    if viewport:
        page.set_viewport_size(viewport)
    flow = Flow(page, "it", scenario)
    flow.login()
    return page, flow


def choose_example_a(flow):
    """Pro, 8 licenses, annual: the SPEC's worked example A."""
    page = flow.page
    page.goto("/subscriptions/1/change")
    page.get_by_role("radio", name="Pro", exact=True).check()
    page.locator("#licenses").fill("8")
    flow.expect_due(expected_due(23900, 8))
    page.get_by_role("radio", name=flow.label("annual"), exact=True).check()
    flow.expect_due(EXAMPLE_A_DUE)


def page_width(page):
    """How wide the page is: wider than the viewport means it scrolls sideways."""
    return page.evaluate("() => document.documentElement.scrollWidth")


# --- 1. out-of-range counts ---------------------------------------------------------------

def test_out_of_range_counts_show_the_servers_message_and_disable_the_button(
        server, open_page):
    page, flow = logged_in(server, open_page, "ux-range")
    choose_example_a(flow)
    button = flow.complete_button()
    expect(button).to_be_enabled()
    page.locator("#licenses").fill("0")
    # the server is asked (no browser validation bubble) and answers in Italian
    expect(page.locator("#licenses-error")).to_have_text("Serve almeno una licenza.")
    expect(page.locator("#summary-status")).to_contain_text("Serve almeno una licenza.")
    expect(button).to_be_disabled()
    expect(page.locator("[data-figure=bar-due]")).to_have_text("—")
    page.locator("#licenses").fill("20000")
    expect(page.locator("#licenses-error")).to_contain_text("10.000")
    expect(button).to_be_disabled()
    # the button stays off while a valid count is on its way, then comes back
    page.locator("#licenses").fill("8")
    expect(button).to_be_disabled()
    flow.expect_due(EXAMPLE_A_DUE)
    expect(button).to_be_enabled()
    check_page(page, "ux-range-it-valid-again", "it")


# --- 2, 3 and axe at the phone width -------------------------------------------------------

@pytest.mark.parametrize("viewport", [PHONE, NARROWEST], ids=["390", "320"])
def test_no_page_scrolls_sideways_on_a_phone(server, open_page, viewport):
    page, flow = logged_in(server, open_page, f"ux-phone-{viewport['width']}", viewport)
    for path in ("/", "/subscriptions/1/change", "/subscriptions/2/change",
                 "/subscriptions/1/licenses", "/my-licenses", "/invoices", "/activity",
                 "/cart", "/support"):
        page.goto(path)
        assert page_width(page) <= viewport["width"], f"{path} scrolls sideways"
    page.goto("/subscriptions/1/licenses")
    for switch in page.get_by_role("switch").all():
        box = switch.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]


def test_phone_pages_pass_axe_and_keep_the_order_bar_in_view(fresh_server, open_page):
    page, flow = logged_in(fresh_server, open_page, "ux-phone-axe", PHONE)
    choose_example_a(flow)
    assert page_width(page) <= PHONE["width"]
    page.evaluate("() => window.scrollTo(0, 0)")
    # the total due and the button are on screen at the top of the page
    bar_due = page.locator("[data-figure=bar-due]")
    expect(bar_due).to_be_in_viewport()
    expect(bar_due).to_have_text(flow.summary_figure("due").inner_text())
    expect(flow.complete_button()).to_be_in_viewport()
    check_page(page, "ux-phone-it-01-change")
    flow.complete_button().click()
    expect(page).to_have_url(re.compile(r"/checkout$"))
    assert page_width(page) <= PHONE["width"]
    check_page(page, "ux-phone-it-02-review")
    page.goto("/subscriptions/1/licenses")
    check_page(page, "ux-phone-it-03-licenses")


# --- 4. visible focus ---------------------------------------------------------------------

_FOCUS_BOX_JS = """
() => {
  let el = document.activeElement;
  if (!el || el === document.body) return null;
  const box0 = el.getBoundingClientRect();
  if ((box0.width < 4 || box0.height < 4) && el.labels && el.labels.length) el = el.labels[0];
  const box = el.getBoundingClientRect();
  return {x: box.x, y: box.y, width: box.width, height: box.height,
          name: (el.id || el.tagName) + ' ' + (el.textContent || '').trim().slice(0, 30)};
}
"""


def test_every_control_of_the_change_page_shows_its_focus(server, open_page):
    page, flow = logged_in(server, open_page, "ux-focus")
    page.goto("/subscriptions/1/change?plan=webinar-pro&licenses=8&frequency=annual")
    page.locator("#main").focus()
    seen = []
    for _ in range(40):
        page.keyboard.press("Tab")
        box = page.evaluate(_FOCUS_BOX_JS)
        if box is None or not page.evaluate(
                "() => !!document.activeElement.closest('#change-form')"):
            if seen:
                break
            continue
        margin = 6
        clip = {"x": max(0, box["x"] - margin), "y": max(0, box["y"] - margin),
                "width": box["width"] + 2 * margin, "height": box["height"] + 2 * margin}
        page.evaluate("() => document.activeElement.scrollIntoView({block: 'center'})")
        box = page.evaluate(_FOCUS_BOX_JS)
        clip.update(x=max(0, box["x"] - margin), y=max(0, box["y"] - margin))
        focused = page.screenshot(clip=clip)
        page.evaluate("() => document.activeElement.blur()")
        unfocused = page.screenshot(clip=clip)
        assert focused != unfocused, f"no visible focus on {box['name']}"
        seen.append(box["name"])
        # back where we were, with keyboard focus (Tab from the previous element)
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Tab")
    assert any(name.startswith("LABEL Annual") for name in seen), seen  # the segmented control
    assert any(name.startswith("licenses") for name in seen), seen


# --- 5, 6. the live status line and the units of the prices ---------------------------------

def test_a_short_status_line_is_announced_and_prices_have_units(server, open_page):
    page, flow = logged_in(server, open_page, "ux-live")
    choose_example_a(flow)
    status = page.locator("#summary-status")
    expect(status).to_have_text(
        re.compile(r"^Totale dovuto oggi 22\.918,12\s€, prossimo rinnovo il 26 nov 2027\.$"))
    assert len(status.inner_text()) < 120
    expect(page.locator("[aria-live], [role=status]").filter(
        has=page.locator("#order-summary"))).to_have_count(0)
    expect(flow.summary_figure("current-unit-price")).to_have_text(re.compile(r"119,00\s€/mese"))
    expect(flow.summary_figure("new-unit-price")).to_have_text(
        re.compile(r"2\.388,00\s€/anno\s*\(199,00\s€/mese\)"))


# --- 7, 8, 11. the card form ----------------------------------------------------------------

def to_review(flow):
    """Example A in the cart, on the review page."""
    choose_example_a(flow)
    flow.complete_button().click()
    expect(flow.page).to_have_url(re.compile(r"/checkout$"))


def test_card_errors_are_listed_at_the_top_and_take_the_focus(fresh_server, open_page):
    page, flow = logged_in(fresh_server, open_page, "ux-card")
    to_review(flow)
    page.locator("#card_expiry").fill("12/30")
    flow.place_order()
    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Inserisci il numero della carta")
    expect(summary).not_to_contain_text("non è valido")
    for field in ("card_holder", "card_number", "card_cvc"):
        expect(page.locator(f"#{field}")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#card_expiry")).not_to_have_attribute("aria-invalid", "true")
    summary.get_by_role("link", name=re.compile("Numero della carta")).click()
    expect(page.locator("#card_number")).to_be_focused()
    check_page(page, "ux-card-it-errors", "it")


def test_language_switch_after_a_declined_card_returns_to_the_review(fresh_server, open_page):
    page, flow = logged_in(fresh_server, open_page, "ux-lang")
    to_review(flow)
    flow.pay_with_card(DECLINED_CARD)
    flow.place_order()
    expect(page.locator("#payment-error")).to_have_attribute("data-code", "card_declined")
    # The card was charged in the background: the address is the order's "being processed"
    # page, which shows the review with the reason, now in German.
    expect(page).to_have_url(re.compile(r"/orders/pending/[\w-]+$"))
    page.locator("#locale-select").select_option("de")
    expect(page).to_have_url(re.compile(r"/orders/pending/[\w-]+$"))
    expect(page.get_by_role("heading", level=1)).not_to_have_text(re.compile("nicht erlaubt"))
    expect(page.locator("#payment-error")).to_have_attribute("data-code", "card_declined")
    expect(page.get_by_role("button", name="Zahlungspflichtig bestellen")).to_be_visible()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
def test_new_card_fields_only_for_a_new_card(fresh_server, open_page, javascript):
    page, flow = logged_in(fresh_server, open_page, "ux-saved", javascript=javascript)
    page.goto("/subscriptions/1/change?plan=webinar-pro&licenses=5&frequency=monthly")
    flow.complete_button().click()
    flow.pay_with_card(SUCCESS_CARD)
    flow.place_order()
    expect(page).to_have_url(re.compile(r"/orders/\d+$"))
    # a second change: the card just used is saved and chosen
    page.goto("/subscriptions/1/change?plan=webinar-pro&licenses=9&frequency=monthly")
    flow.complete_button().click()
    expect(page).to_have_url(re.compile(r"/checkout$"))
    saved = page.locator("input[name=payment_method]:not([value=new])").first
    expect(saved).to_be_checked()
    expect(page.locator("#card_number")).to_be_hidden()
    page.locator("#payment-method-new").check()
    expect(page.locator("#card_number")).to_be_visible()
    saved.check()
    expect(page.locator("#card_number")).to_be_hidden()


# --- 12. history ------------------------------------------------------------------------

def test_summary_updates_replace_the_address_instead_of_adding_history(server, open_page):
    page, flow = logged_in(server, open_page, "ux-history")
    page.goto("/")
    page.goto("/subscriptions/1/change")
    page.get_by_role("radio", name="Pro", exact=True).check()
    flow.expect_due(expected_due(23900, 5))
    page.get_by_role("button", name=flow.label("add_license"), exact=True).click()
    flow.expect_due(expected_due(23900, 6))
    expect(page).to_have_url(re.compile(r"plan=webinar-pro&licenses=6"))
    page.go_back()
    expect(page).to_have_url(re.compile(r"/$"))


@pytest.mark.parametrize("viewport", [PHONE, NARROWEST], ids=["390", "320"])
def test_an_invoice_and_its_downloads_are_all_in_view_on_a_phone(fresh_server, open_page,
                                                                 viewport):
    """The invoice list is a card per invoice on a phone: nothing waits off to the side."""
    page, flow = logged_in(fresh_server, open_page, f"ux-invoices-{viewport['width']}",
                           viewport)
    to_review(flow)
    flow.pay_with_card(SUCCESS_CARD)
    flow.place_order()
    expect(page).to_have_url(re.compile(r"/orders/\d+$"))
    page.goto("/invoices")
    row = page.locator("#invoice-list tbody tr")
    expect(row).to_have_count(1)
    total, paid = row.locator("td[data-label]").all()
    for cell, label in ((total, "Totale"), (paid, "Pagato con carta")):
        # the column headings are hidden on a phone: each figure is named before it
        assert label in cell.evaluate("cell => getComputedStyle(cell, '::before').content")
    for part in (total, paid, row.get_by_role("link", name=re.compile("PDF")),
                 row.get_by_role("link", name=re.compile("XML"))):
        box = part.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], part
    assert page_width(page) <= viewport["width"]
    check_page(page, f"ux-invoices-it-{viewport['width']}", "it")
