"""Scenario: the billing details completed on the review page, in the order form itself, and
the order placed in one go; the invoice carries them."""
import re

import pytest
from playwright.sync_api import expect

from .conftest import SCENARIO_LANGS
from .helpers import Flow, expected_due

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("lang", SCENARIO_LANGS)
def test_billing_details_completed_in_the_order_form(fresh_server, open_page, lang):
    page = open_page(fresh_server.url, lang)
    flow = Flow(page, lang, "billing-details")
    flow.login()
    flow.open_change_from_options("Webinar")
    page.get_by_role("radio", name="Pro", exact=True).check()
    flow.expect_due(expected_due(23900, 5))
    flow.complete_button().click()
    expect(page).to_have_url(re.compile(r"/checkout$"))
    # an invoice to an Italian business needs an SdI code or a PEC: leave both empty
    page.locator("#billing-sdi_code").fill("")
    page.locator("#billing-pec").fill("")
    page.locator("#billing-street").fill("Via Dante 12")
    flow.pay_with_card("4242 4242 4242 4242")
    flow.place_order()
    expect(page.locator("#billing-sdi_code-error")).to_have_attribute(
        "data-code", "sdi_or_pec_required")
    expect(page.locator("#billing-street")).to_have_value("Via Dante 12")  # nothing lost
    flow.check("details-refused")
    # complete them in the same form and place the order in one go
    page.locator("#billing-sdi_code").fill("M5UXCR1")
    flow.pay_with_card("4242 4242 4242 4242")
    flow.place_order()
    expect(page).to_have_url(re.compile(r"/orders/\d+$"))
    flow.check("confirmation")
    page.locator("a[href*='/invoices/']").first.click()
    expect(page.locator("body")).to_contain_text("Via Dante 12")
    expect(page.locator("body")).to_contain_text("M5UXCR1")
    flow.check("invoice")
