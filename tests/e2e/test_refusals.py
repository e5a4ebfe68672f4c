"""Scenario 4: a downgrade is refused with the support message, licenses cannot go below the
assigned users, and a declined card changes nothing."""
import re

import pytest
from playwright.sync_api import expect

from .conftest import SCENARIO_LANGS
from .helpers import DECLINED_CARD, Flow, expect_no_page_load, expected_due, set_marker

pytestmark = pytest.mark.browser

LANGS = SCENARIO_LANGS


@pytest.mark.parametrize("lang", LANGS)
def test_downgrade_and_too_few_licenses_refused(server, open_page, lang):
    """Lite is shown but not selectable; a forged Lite and 3 licenses are refused live."""
    page = open_page(server.url, lang)
    flow = Flow(page, lang, "refusals")
    flow.login()
    flow.open_change_from_options("Webinar")

    # The lower tier is visible, with the support message, but offers no radio button.
    lite = page.locator(".plan-card").filter(has_text="Lite")
    expect(lite).to_contain_text(flow.label("downgrade"))
    expect(lite.get_by_role("link")).to_have_attribute("href", re.compile(r"/support"))
    expect(page.get_by_role("radio", name="Lite")).to_have_count(0)
    flow.check("downgrade-note")

    # A forged downgrade (the radio added by hand) is refused by the server.
    marker = set_marker(page)
    page.evaluate("""() => {
        const radio = document.createElement('input');
        radio.type = 'radio'; radio.name = 'plan'; radio.value = 'webinar-lite';
        radio.hidden = true;
        document.getElementById('plan-options').appendChild(radio);
        radio.checked = true;
        radio.dispatchEvent(new Event('change', {bubbles: true}));
    }""")
    alert = page.locator("#order-summary").get_by_role("alert")
    expect(alert).to_be_visible()
    expect(flow.summary_figure("due")).to_have_count(0)
    expect(flow.complete_button()).to_be_disabled()
    expect_no_page_load(page, marker)

    # Back to Standard; one license fewer is fine (4 users have the product) ...
    page.get_by_role("radio", name="Standard", exact=True).check()
    remove = page.get_by_role("button", name=flow.label("remove_license"), exact=True)
    remove.click()
    flow.expect_due(expected_due(11900, 4))
    expect(flow.complete_button()).to_be_enabled()
    # ... two fewer is not: the message links to the license page.
    remove.click()
    expect(page.locator("#licenses")).to_have_value("3")
    expect(alert).to_be_visible()
    # SPEC 3: the message comes with a link to the license page.
    message = page.locator('#order-summary [role="alert"], #licenses-error')
    expect(message.locator('a[href$="/subscriptions/1/licenses"]').first).to_be_visible()
    expect(flow.complete_button()).to_be_disabled()
    expect_no_page_load(page, marker)
    flow.check("too-few-licenses")


@pytest.mark.parametrize("lang", LANGS)
def test_declined_card_changes_nothing(fresh_server, open_page, lang):
    """The sandbox's declined card: a clear message, and the subscription stays as it was."""
    page = open_page(fresh_server.url, lang)
    flow = Flow(page, lang, "declined")
    flow.login()
    dashboard_before = page.locator("#subscription-1").inner_text()
    balance_before = page.locator("#credit-balance").inner_text()
    flow.open_change_from_options("Webinar")
    page.get_by_role("radio", name="Pro", exact=True).check()
    flow.expect_due(expected_due(23900, 5))
    flow.complete_button().click()
    expect(page).to_have_url(re.compile(r"/checkout$"))
    flow.pay_with_card(DECLINED_CARD)
    flow.place_order()

    error = page.locator("#payment-error")
    expect(error).to_have_attribute("data-code", "card_declined")
    # listed in the error summary at the top, which is announced and takes the focus
    expect(page.locator("#error-summary")).to_have_attribute("role", "alert")
    expect(page.locator("#error-summary")).to_be_focused()
    expect(page.locator("#error-summary")).to_contain_text(error.inner_text())
    expect(page.locator("#card_number")).to_have_value("")  # never shown back
    flow.check("declined")

    page.goto("/")
    expect(page.locator("#subscription-1")).to_contain_text("Standard")
    assert page.locator("#subscription-1").inner_text() == dashboard_before
    assert page.locator("#credit-balance").inner_text() == balance_before
    flow.check("dashboard-unchanged")
