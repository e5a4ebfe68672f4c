"""What the scenarios share: the labels a user reads, the steps of the help article, figures.

Locators follow what a user perceives: roles and accessible names with the visible labels of
SPEC section 1 (Italian first). Where a label is not fixed by the SPEC (login fields, card
fields) the element's id is used instead, and the page-wide language check still catches a label
left in the other language.
"""
import re
from decimal import ROUND_HALF_UP, Decimal

from playwright.sync_api import expect

from .conftest import GIULIA, PASSWORD, check_page

#: Today as the server sees it (PORTAL_FIXED_TODAY) and the worked example A of the SPEC.
TODAY = "2026-11-26"
DEMO_CREDIT_CENTS = 27767  # Webinar Standard 5 × 119.00, 14 of 30 days left
DEMO_BALANCE_CENTS = 5000
VAT_IT = Decimal("0.22")
SUCCESS_CARD = "4242 4242 4242 4242"
DECLINED_CARD = "4000 0000 0000 0002"

LABELS = {
    "it": {
        "billing_center": "Centro fatturazione",
        "change_subscription": "Modifica sottoscrizione",
        "subscribe_now": "Abbonati ora",
        "order_summary": "Riepilogo ordine",
        "complete": "Completa la transazione",
        "add_to_cart": "Aggiungi al carrello",
        "edit_order": "Modifica ordine",
        "place_order": "Effettua l'ordine",
        "assign_licenses": "Assegna licenze",
        "add_license": "Aggiungi una licenza",
        "remove_license": "Rimuovi una licenza",
        "monthly": "Mensile",
        "annual": "Annuale",
        "changed": "Hai modificato il tuo piano di sottoscrizione",
        "downgrade": "Per effettuare il downgrade contatta l'assistenza",
        # Dates as the portal formats them (Babel, medium).
        "today": "26 nov 2026",
        "next_year": "26 nov 2027",
        "next_month": "26 dic 2026",
    },
    "en": {
        "billing_center": "Billing Center",
        "change_subscription": "Change subscription",
        "subscribe_now": "Subscribe now",
        "order_summary": "Order summary",
        "complete": re.compile(r"^Complete (the )?transaction$"),
        "add_to_cart": "Add to cart",
        "edit_order": "Edit order",
        "place_order": "Place order",
        "assign_licenses": "Assign licenses",
        "add_license": "Add a license",
        "remove_license": "Remove a license",
        "monthly": "Monthly",
        "annual": "Annual",
        "changed": "You have changed your subscription plan",
        "downgrade": "To downgrade your plan, contact support",
        "today": "Nov 26, 2026",
        "next_year": "Nov 26, 2027",
        "next_month": "Dec 26, 2026",
    },
}


def cents(text):
    """The amount in a formatted money text, in cents (``22.918,12 €`` -> 2291812)."""
    digits = re.sub(r"\D", "", text or "")
    assert digits, f"no amount in {text!r}"
    return int(digits)


def expected_due(unit_cents, licenses, credit=DEMO_CREDIT_CENTS, balance=DEMO_BALANCE_CENTS):
    """The SPEC's rules 1-7 for one Italian change, computed here independently."""
    subtotal = unit_cents * licenses - credit
    if subtotal <= 0:
        return 0
    vat = int((Decimal(subtotal) * VAT_IT).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return max(0, subtotal + vat - balance)


def money_pattern(amount_cents):
    """A regex matching the amount formatted in Italian (1.234,50 €) or English (€1,234.50)."""
    euros = f"{amount_cents // 100:,}".replace(",", "[.,\u00a0\u202f]?")
    return re.compile(rf"(?<![\d.,]){euros}[.,]{amount_cents % 100:02d}(?![\d])")


class Flow:
    """One user's walk through the portal: labels of the language, numbered screenshots."""

    def __init__(self, page, lang, scenario):
        self.page = page
        self.lang = lang
        self.scenario = scenario
        self.step = 0

    def label(self, key):
        """The visible label ``key`` in the flow's language."""
        return LABELS[self.lang][key]

    def check(self, name):
        """Screenshot, axe and language check of the page as it is now."""
        self.step += 1
        check_page(self.page, f"{self.scenario}-{self.lang}-{self.step:02d}-{name}", self.lang)

    # -- pages --------------------------------------------------------------------------

    def login(self, email=GIULIA):
        """Seed step 1: log in to the Billing Center."""
        page = self.page
        page.goto("/login")
        self.check("login")
        page.locator("#email").fill(email)
        page.locator("#password").fill(PASSWORD)
        page.locator("#password").press("Enter")
        expect(page.get_by_role("heading", level=1, name=self.label("billing_center"))
               ).to_be_visible()
        self.check("dashboard")

    def open_change_from_options(self, product="Webinar"):
        """Seed step 2: the product's Options icon, then "Modifica sottoscrizione"."""
        page = self.page
        card = page.locator("article.subscription-card").filter(
            has=page.get_by_role("heading", name=product, exact=True))
        options = card.locator("details.options-menu > summary")
        expect(options).to_have_attribute("aria-label", re.compile(product))
        options.click()
        link = card.get_by_role("link", name=self.label("change_subscription"), exact=True)
        expect(link).to_be_visible()
        self.check("options-menu")
        link.click()
        self.expect_change_page()

    def expect_change_page(self):
        """The change page with its live "Riepilogo ordine"."""
        page = self.page
        expect(page.locator("#order-summary")).to_be_visible()
        expect(page.get_by_role("heading", name=self.label("order_summary"), exact=True)
               ).to_be_visible()

    def summary_figure(self, name):
        """The text of ``[data-figure=name]`` in the summary."""
        return self.page.locator(f'#order-summary [data-figure="{name}"]')

    def expect_due(self, due_cents):
        """Wait until the summary's total due reads ``due_cents`` (in either locale)."""
        expect(self.summary_figure("due"),
               f"the summary's total due never read {due_cents / 100:.2f}: the summary did "
               "not update (htmx request missing, refused or not swapped)"
               ).to_have_text(money_pattern(due_cents))

    def complete_button(self):
        """The order button of the change page ("Completa la transazione")."""
        return self.page.get_by_role("button", name=self.label("complete"))

    def pay_with_card(self, number, holder="Giulia Rossi", expiry="12/30", cvc="123"):
        """Seed step 5 note: the payment details asked for when an amount is due."""
        page = self.page
        if page.locator("#payment-method-new").count():
            page.locator("#payment-method-new").check()
        page.locator("#card_holder").fill(holder)
        page.locator("#card_number").fill(number)
        page.locator("#card_expiry").fill(expiry)
        page.locator("#card_cvc").fill(cvc)

    def place_order(self):
        """Seed step 6: "Effettua l'ordine"."""
        self.page.get_by_role("button", name=self.label("place_order"), exact=True).click()


def expect_no_page_load(page, marker):
    """The ``window`` marker set before a change is still there: the page was not reloaded."""
    assert page.evaluate("() => window.__marker") == marker, (
        "the page was reloaded (the window marker is gone): the summary did not update "
        "through htmx")


def set_marker(page, value=1):
    """Mark the current document; a page load clears the mark."""
    page.evaluate("(v) => { window.__marker = v; }", value)
    return value
