"""Scenario: the life after the order, in Chromium — automatic renewal off and on, a saved
card added and removed, and a past-due subscription paid with "Paga ora"."""
import re

import pytest
from playwright.sync_api import expect

from .conftest import SCENARIO_LANGS
from .helpers import Flow

pytestmark = pytest.mark.browser

TEXT = {
    "it": {"off": "Disattiva rinnovo automatico", "on": "Attiva rinnovo automatico",
           "ends": "Scade il", "next": "Prossimo rinnovo", "methods": "Metodi di pagamento",
           "save": "Salva la carta", "remove": "Rimuovi", "pay": "Paga ora",
           "paid": "è pagato e attivo", "overdue": "Non è stato possibile addebitare"},
    "en": {"off": "Turn off automatic renewal", "on": "Turn on automatic renewal",
           "ends": "Ends on", "next": "Next renewal", "methods": "Payment methods",
           "save": "Save the card", "remove": "Remove", "pay": "Pay now",
           "paid": "is paid and active", "overdue": "could not be charged"},
}


@pytest.mark.parametrize("lang", SCENARIO_LANGS)
def test_automatic_renewal_off_and_on(fresh_server, open_page, lang):
    page = open_page(fresh_server.url, lang)
    flow = Flow(page, lang, "auto-renew")
    flow.login()
    card = page.locator("#subscription-1")
    card.locator("details.options-menu > summary").click()
    card.get_by_role("button", name=TEXT[lang]["off"]).click()
    expect(page.locator("#expires-1")).to_contain_text(TEXT[lang]["ends"])
    flow.check("renewal-off")
    card = page.locator("#subscription-1")
    card.locator("details.options-menu > summary").click()
    card.get_by_role("button", name=TEXT[lang]["on"]).click()
    expect(page.locator("#subscription-1")).to_contain_text(TEXT[lang]["next"])
    expect(page.locator("#expires-1")).to_have_count(0)
    flow.check("renewal-on")


@pytest.mark.parametrize("lang", SCENARIO_LANGS)
def test_a_card_is_added_and_removed(fresh_server, open_page, lang):
    page = open_page(fresh_server.url, lang)
    flow = Flow(page, lang, "cards")
    flow.login()
    page.get_by_role("link", name=TEXT[lang]["methods"]).click()
    flow.check("no-cards")
    flow.pay_with_card("5555 5555 5555 4444")
    page.get_by_role("button", name=TEXT[lang]["save"]).click()
    saved = page.locator("#saved-cards li")
    expect(saved).to_have_count(1)
    expect(saved.first).to_contain_text("4444")
    flow.check("card-saved")
    flow.pay_with_card("4242 4242 4242 4242")
    page.get_by_role("button", name=TEXT[lang]["save"]).click()
    expect(saved).to_have_count(2)
    # the second card is not the default: it can go
    second = page.locator("#saved-cards li").filter(has_text="4242")
    second.get_by_role("button", name=re.compile(TEXT[lang]["remove"])).click()
    expect(page.locator("#saved-cards li")).to_have_count(1)
    expect(page.locator("#saved-cards")).not_to_contain_text("4242")
    flow.check("card-removed")


@pytest.mark.parametrize("lang", SCENARIO_LANGS)
def test_a_past_due_subscription_is_paid_now(fresh_server, open_page, lang):
    page = open_page(fresh_server.url, lang)
    flow = Flow(page, lang, "pay-now")
    flow.login("davide.costa@example.it")
    banner = page.locator("[id^=overdue-]")
    expect(banner).to_contain_text(TEXT[lang]["overdue"])
    flow.check("overdue-banner")
    banner.get_by_role("link", name=TEXT[lang]["pay"]).click()
    expect(page.locator("#pay-due")).to_have_text(re.compile(r"92[.,]72"))
    flow.check("pay-page")
    flow.pay_with_card("4242 4242 4242 4242", holder="Davide Costa")
    page.locator("#pay-form button[type=submit]").click()
    expect(page.locator("#flash-messages")).to_contain_text(TEXT[lang]["paid"])
    expect(page.locator("[id^=overdue-]")).to_have_count(0)
    flow.check("paid")
