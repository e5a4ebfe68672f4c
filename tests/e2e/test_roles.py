"""Scenario 5: a corporate account and a member see the right explanations and no change
controls, on the dashboard and when they open a change address directly."""
import re

import pytest
from playwright.sync_api import expect

from .conftest import ANNA, MARCO, SCENARIO_LANGS
from .helpers import Flow

pytestmark = pytest.mark.browser

LANGS = SCENARIO_LANGS
CORPORATE_PORTAL_URL = "https://corporate-billing.example.com"


def expect_no_change_controls(flow):
    """No change or subscribe link, no plan or license control; an Options menu holds at
    most the read-only license list."""
    page = flow.page
    expect(page.locator("details.options-menu a[href$='/change']")).to_have_count(0)
    for key in ("change_subscription", "subscribe_now", "complete", "add_to_cart"):
        expect(page.get_by_role("link", name=flow.label(key))).to_have_count(0)
        expect(page.get_by_role("button", name=flow.label(key))).to_have_count(0)
    expect(page.get_by_role("radio")).to_have_count(0)
    expect(page.get_by_role("spinbutton")).to_have_count(0)
    expect(page.get_by_role("switch")).to_have_count(0)


@pytest.mark.parametrize("lang", LANGS)
def test_corporate_account_is_read_only(server, open_page, lang):
    """Globex's billing contact is sent to the Corporate Billing Portal, with the FAQ."""
    page = open_page(server.url, lang)
    flow = Flow(page, lang, "corporate")
    flow.login(ANNA)
    banner = page.get_by_role("note").filter(
        has=page.locator(f'a[href="{CORPORATE_PORTAL_URL}"]'))
    expect(banner).to_be_visible()
    faq = banner.locator('a[href$="/help/corporate"]')
    expect(faq).to_be_visible()
    expect(page.locator("#subscription-3")).to_contain_text("Enterprise")
    expect_no_change_controls(flow)
    flow.check("dashboard-banner")

    response = page.goto("/subscriptions/3/change")
    assert response.status == 403
    expect(page.locator("#change-form")).to_have_count(0)
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect_no_change_controls(flow)
    flow.check("change-refused")

    page.goto("/subscriptions/3/licenses")
    expect(page.get_by_role("note").filter(
        has=page.locator(f'a[href="{CORPORATE_PORTAL_URL}"]'))).to_be_visible()
    expect_no_change_controls(flow)
    flow.check("licenses-read-only")

    page.goto("/")
    faq.click()
    expect(page).to_have_url(re.compile(r"/help/corporate$"))
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    flow.check("faq")


@pytest.mark.parametrize("lang", LANGS)
def test_member_is_sent_to_the_billing_contact(server, open_page, lang):
    """Marco sees who the billing contact is, everywhere a change would start."""
    page = open_page(server.url, lang)
    flow = Flow(page, lang, "member")
    flow.login(MARCO)
    contact = page.locator('a[href="mailto:giulia.rossi@example.it"]')
    expect(contact).to_be_visible()
    expect(page.get_by_role("note")).to_contain_text("Giulia Rossi")
    expect_no_change_controls(flow)

    for path in ("/subscriptions/1/change", "/cart", "/subscriptions/1/licenses"):
        response = page.goto(path)
        assert response.status == 403, f"{path} answered {response.status} to a member"
        expect(page.locator('a[href="mailto:giulia.rossi@example.it"]')).to_be_visible()
        expect(page.locator("main")).to_contain_text("Giulia Rossi")
        expect_no_change_controls(flow)
        flow.check("refused-" + re.sub(r"\W+", "-", path.strip("/")))
