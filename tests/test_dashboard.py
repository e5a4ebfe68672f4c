"""The Billing Center dashboard as each demo persona sees it, and account scoping."""
import re

import pytest
from flask import url_for
from flask_login import login_user
from werkzeug.exceptions import NotFound

from conftest import ANNA, GIULIA, MARCO
from portal.core.access import account_subscription
from portal.core.db import db
from portal.core.models import Account, Subscription, User

EN = {"Accept-Language": "en"}
NBSP = "\u00a0"


def card(body, subscription_id):
    """The HTML of one subscription card."""
    match = re.search(r'<article class="card subscription-card" id="subscription-%d".*?</article>'
                      % subscription_id, body, re.S)
    assert match, f"no card for subscription {subscription_id}"
    return match.group(0)


def urls(app, endpoint, subscription_id):
    with app.test_request_context():
        return url_for(endpoint, subscription_id=subscription_id)


def dashboard(browser, email, headers=EN):
    """Log in as ``email`` and return the dashboard's HTML."""
    browser.login(email)
    response = browser.get("/", headers=headers)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_dashboard_requires_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/"


# --- Giulia, billing contact of Rossi Eventi ---------------------------------------------------

def test_billing_contact_sees_one_card_per_subscription(browser):
    body = dashboard(browser, GIULIA)
    assert re.findall(r'id="subscription-(\d+)"', body) == ["1", "2"]
    assert 'id="subscription-3"' not in body  # Globex's
    assert "<p class=\"muted\">Rossi Eventi S.r.l.</p>" in body


def test_billing_contact_active_card(app, browser):
    webinar = card(dashboard(browser, GIULIA), 1)
    assert '<h2 id="sub-title-1">Webinar</h2>' in webinar
    assert "Standard plan" in webinar
    assert '<span class="status status-active">Active</span>' in webinar
    assert "<dd>4 of 5 licenses assigned</dd>" in webinar
    assert "<dd>Monthly</dd>" in webinar
    assert ('<dd><span class="nowrap">Nov 10, 2026</span> – '
            '<span class="nowrap">Dec 10, 2026</span></dd>') in webinar
    assert "<dd>€595.00 + VAT on Dec 10, 2026</dd>" in webinar


def test_billing_contact_options_menu(app, browser):
    webinar = card(dashboard(browser, GIULIA), 1)
    assert '<details class="options-menu">' in webinar
    assert 'aria-label="Options for Webinar"' in webinar
    assert (f'<a href="{urls(app, "change.edit", 1)}">Change subscription</a>') in webinar
    assert (f'<a href="{urls(app, "licenses.index", 1)}">Assign licenses</a>') in webinar


def test_expired_trial_card_offers_subscribe_now_instead_of_options(app, browser):
    meeting = card(dashboard(browser, GIULIA), 2)
    assert '<span class="status status-trial_expired">Free trial ended</span>' in meeting
    assert "options-menu" not in meeting
    assert "Your free trial has ended. Subscribe to keep using Meeting." in meeting
    assert (f'<a class="button button-primary" href="{urls(app, "change.edit", 2)}">'
            "Subscribe now</a>") in meeting
    assert "<dd>1 license</dd>" in meeting
    assert ('<dt>Free trial</dt><dd><span class="nowrap">Oct 24, 2026</span> – '
            '<span class="nowrap">Nov 23, 2026</span></dd>') in meeting
    assert "Next renewal" not in meeting


def test_credit_balance_in_italian_and_english(app, browser):
    italian = dashboard(browser, GIULIA, headers={"Accept-Language": "it"})
    balance = re.search(r'id="credit-balance">.*?<strong>(.*?)</strong>', italian, re.S)
    assert balance.group(1) == f"50,00{NBSP}€"
    english = browser.get("/", headers=EN).get_data(as_text=True)
    assert re.search(r'id="credit-balance">.*?<strong>(.*?)</strong>', english,
                     re.S).group(1) == "€50.00"


def test_italian_dashboard_formats_dates_and_amounts(browser):
    webinar = card(dashboard(browser, GIULIA, headers={"Accept-Language": "it"}), 1)
    assert ('<span class="nowrap">10 nov 2026</span> – '
            '<span class="nowrap">10 dic 2026</span>') in webinar
    assert f"595,00{NBSP}€" in webinar


def test_billing_contact_sees_no_member_or_corporate_banner(browser):
    body = dashboard(browser, GIULIA)
    assert 'class="banner' not in body


def test_assigned_count_follows_the_assignments(browser):
    from portal.core.models import LicenseAssignment
    with db.connection_context():
        LicenseAssignment.delete().where(LicenseAssignment.subscription == 1).execute()
    assert "<dd>0 of 5 licenses assigned</dd>" in card(dashboard(browser, GIULIA), 1)


# --- Marco, member of Rossi Eventi -------------------------------------------------------------

def test_member_sees_the_billing_contact_banner(browser):
    body = dashboard(browser, MARCO)
    assert "Only the billing contact can change subscriptions" in body
    assert ("<li>Giulia Rossi (<a href=\"mailto:giulia.rossi@example.it\">"
            "giulia.rossi@example.it</a>)</li>") in body
    assert "Your billing contact is:" in body


def test_member_has_no_change_controls(app, browser):
    body = dashboard(browser, MARCO)
    assert re.findall(r'id="subscription-(\d+)"', body) == ["1", "2"]
    assert "options-menu" not in body
    assert "Subscribe now" not in body
    assert urls(app, "change.edit", 1) not in body
    assert urls(app, "change.edit", 2) not in body


def test_member_banner_names_every_billing_contact(browser):
    from portal.demo import make_user
    with db.connection_context():
        rossi = Account.get(Account.name == "Rossi Eventi S.r.l.")
        make_user(rossi, "bruno.bassi@example.it", "Bruno Bassi", "billing_contact")
    body = dashboard(browser, MARCO)
    assert "Your billing contacts are:" in body
    assert body.index("Bruno Bassi") < body.index("Giulia Rossi")


# --- Anna, billing contact of the corporate Globex ---------------------------------------------

def test_corporate_banner_links_to_the_faq_and_portal(app, browser):
    body = dashboard(browser, ANNA)
    assert "Your account is managed in the Corporate Billing Portal" in body
    banner = body[body.index('<div class="banner banner-info" role="note">'):]
    banner = banner[:banner.index("</div>")]
    assert '<a href="/help/corporate">Corporate Billing Portal FAQ</a>' in banner
    assert f'href="{app.config["CORPORATE_PORTAL_URL"]}"' in banner
    faq = browser.get("/help/corporate", headers=EN)
    assert faq.status_code == 200
    assert "Corporate Billing Portal: frequently asked questions" in faq.get_data(as_text=True)


def test_corporate_account_has_no_change_controls(app, browser):
    body = dashboard(browser, ANNA)
    assert re.findall(r'id="subscription-(\d+)"', body) == ["3"]
    enterprise = card(body, 3)
    assert "Enterprise plan" in enterprise
    assert "<dd>0 of 200 licenses assigned</dd>" in enterprise
    assert "<dd>Annual</dd>" in enterprise
    # the Options menu holds only what applies: the read-only license list
    assert '<details class="options-menu">' in enterprise
    assert (f'<a href="{urls(app, "licenses.index", 3)}">View licenses</a>') in enterprise
    assert "Change subscription" not in enterprise
    assert "Subscribe now" not in body
    assert urls(app, "change.edit", 3) not in body
    assert 'id="credit-balance"' not in body
    assert "Only the billing contact" not in body


def test_corporate_portal_url_is_configurable(make_app):
    app = make_app(CORPORATE_PORTAL_URL="https://billing.globex.example")
    from conftest import Browser
    other = Browser(app.test_client())
    other.login(ANNA)
    body = other.get("/", headers=EN).get_data(as_text=True)
    assert 'href="https://billing.globex.example"' in body


def test_corporate_expired_trial_offers_no_subscribe_now(browser):
    with db.connection_context():
        Subscription.update(status="trial_expired").where(Subscription.id == 3).execute()
    meeting = card(dashboard(browser, ANNA), 3)
    assert "Your free trial has ended." in meeting
    assert "Subscribe now" not in meeting


def test_account_with_no_subscriptions(browser):
    with db.connection_context():
        Subscription.delete().where(Subscription.account == 2).execute()
    body = dashboard(browser, ANNA)
    assert "Your account has no subscriptions yet." in body


# --- account scoping ---------------------------------------------------------------------------

def _as(app, email):
    """A request context with ``email`` logged in and the database connected."""
    ctx = app.test_request_context()
    ctx.push()
    db.connect(reuse_if_open=True)
    login_user(User.get(User.email == email))
    return ctx


def test_account_subscription_returns_own_subscription_with_joins(app):
    ctx = _as(app, GIULIA)
    try:
        subscription = account_subscription(1)
        assert subscription.id == 1
        assert (subscription.plan.code, subscription.product.code,
                subscription.account.name) == ("webinar-standard", "webinar",
                                               "Rossi Eventi S.r.l.")
    finally:
        db.close()
        ctx.pop()


@pytest.mark.parametrize("email, subscription_id", [
    (GIULIA, 3),   # Globex's
    (ANNA, 1),     # Rossi's
    (ANNA, 2),
    (GIULIA, 999),
])
def test_account_subscription_404_for_another_account(app, email, subscription_id):
    ctx = _as(app, email)
    try:
        with pytest.raises(NotFound):
            account_subscription(subscription_id)
    finally:
        db.close()
        ctx.pop()


def test_another_accounts_subscription_pages_answer_404(app, browser):
    """Through every page that takes a subscription id."""
    browser.login(GIULIA)
    checked = 0
    for endpoint in ("change.edit", "licenses.index"):
        own = browser.get(urls(app, endpoint, 1))
        other = browser.get(urls(app, endpoint, 3), headers=EN)
        assert own.status_code == 200, endpoint
        assert other.status_code == 404, endpoint
        assert "Page not found" in other.get_data(as_text=True)
        checked += 1
    assert checked == 2


def test_running_trial_card_offers_subscribe_now(app, browser):
    with db.connection_context():
        Subscription.update(status="trialing").where(Subscription.id == 2).execute()
    meeting = card(dashboard(browser, GIULIA), 2)
    assert '<span class="status status-trialing">Free trial</span>' in meeting
    assert "Your free trial has ended." not in meeting
    assert f'href="{urls(app, "change.edit", 2)}">Subscribe now</a>' in meeting
