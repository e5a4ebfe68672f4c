"""The lifecycle's pages: automatic renewal on/off, saved cards, "Paga ora", banners."""
import datetime as dt
import re

from conftest import ANNA, MARCO, Browser
from portal.core.db import db
from portal.core.models import AuditEvent, Invoice, PaymentMethod, Renewal, Subscription
from portal.lifecycle.renewals import run_billing
from test_checkout_support import card_form

IT = {"Accept-Language": "it"}
EN = {"Accept-Language": "en"}


def text(response):
    body = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return re.sub(r"\s+", " ", body).replace("\u00a0", " ")


def browser_for(app, email):
    """A new browser logged in as ``email``."""
    browser = Browser(app.test_client())
    browser.login(email)
    return browser


def add_card(giulia, number="4242 4242 4242 4242", **extra):
    form = {k: v for k, v in card_form(number=number).items() if k != "payment_method"}
    form.update(extra)
    return giulia.post("/payment-methods", form, headers=EN)


def methods():
    with db.connection_context():
        return list(PaymentMethod.select().where(PaymentMethod.account == 1)
                    .order_by(PaymentMethod.id))


def make_past_due(app):
    """The Webinar renewal of 2026-12-10 declined once: past due."""
    with app.app_context(), db.connection_context():
        run_billing(dt.date(2026, 12, 10))
        assert Subscription.get_by_id(1).status == "past_due"


def test_automatic_renewal_off_and_on(giulia):
    off = giulia.post("/subscriptions/1/auto-renew", {"auto_renew": "off"}, headers=IT)
    assert off.status_code == 303
    page = text(giulia.get("/", headers=IT))
    assert "Scade il 10 dic 2026" in page and "Prossimo rinnovo" not in page
    assert "Attiva rinnovo automatico" in page
    again = giulia.post("/subscriptions/1/auto-renew", {"auto_renew": "off"})  # second tab
    assert again.status_code == 303
    with db.connection_context():
        assert not Subscription.get_by_id(1).auto_renew
        assert AuditEvent.select().where(
            AuditEvent.action == "subscription.auto_renew_off").count() == 1
    giulia.post("/subscriptions/1/auto-renew", {"auto_renew": "on"})
    page = text(giulia.get("/", headers=IT))
    assert "Prossimo rinnovo" in page and "Disattiva rinnovo automatico" in page
    assert giulia.post("/subscriptions/1/auto-renew", {"auto_renew": "maybe"}).status_code == 409
    # an expired trial has nothing to renew; another account's id is not found
    assert giulia.post("/subscriptions/2/auto-renew", {"auto_renew": "off"}).status_code == 409
    assert giulia.post("/subscriptions/3/auto-renew", {"auto_renew": "off"}).status_code == 404


def test_members_and_corporate_accounts_cannot_touch_renewal_or_cards(app):
    member = browser_for(app, MARCO)
    assert member.post("/subscriptions/1/auto-renew", {"auto_renew": "off"}).status_code == 403
    assert member.get("/payment-methods").status_code == 403
    anna = browser_for(app, ANNA)
    assert anna.post("/subscriptions/3/auto-renew", {"auto_renew": "off"}).status_code == 403
    assert anna.get("/payment-methods").status_code == 403


def test_saved_cards_add_default_and_remove(giulia):
    page = giulia.get("/payment-methods", headers=EN)
    assert page.status_code == 200 and "No card is saved yet" in text(page)
    assert page.headers["Cache-Control"] == "no-store"
    assert add_card(giulia).status_code == 303
    assert add_card(giulia, "5555 5555 5555 4444").status_code == 303
    first, second = methods()
    assert (first.is_default, second.is_default) == (True, False)  # the first card renews
    bad = add_card(giulia, "4242 4242 4242 4241")
    assert bad.status_code == 422 and "The card number is not valid: check its digits." in text(bad)
    assert "4242 4242 4242 4241" not in bad.get_data(as_text=True)
    # the default card pays the renewal of Webinar: it cannot be removed
    refused = giulia.post(f"/payment-methods/{first.id}/remove", headers=EN)
    assert refused.status_code == 409 and "cannot be removed" in text(refused)
    assert giulia.post(f"/payment-methods/{second.id}/default").status_code == 303
    assert giulia.post(f"/payment-methods/{first.id}/remove").status_code == 303
    assert [(m.id, m.is_default) for m in methods()] == [(second.id, True)]
    # removing it twice, or another account's card, changes nothing
    assert giulia.post(f"/payment-methods/{first.id}/remove").status_code == 303
    assert giulia.post("/payment-methods/999999/default").status_code == 404
    page = text(giulia.get("/payment-methods", headers=EN))
    assert "Mastercard ending in 4444" in page and "Used for renewals" in page


def test_a_card_saved_with_an_order_pays_the_renewals_until_another_is_chosen(giulia):
    """The first card the account saves, here with an order, becomes the one renewals are
    charged to; a second card added later does not take its place unasked."""
    from test_checkout_support import add_to_cart, place, review
    add_to_cart(1, "webinar-pro", 6, "monthly")
    _html, fields = review(giulia)
    assert place(giulia, fields, card_form()).status_code == 303
    [visa] = methods()
    assert visa.is_default
    page = text(giulia.get("/payment-methods", headers=EN))
    assert "Used for renewals" in page and "Use for renewals" not in page
    refused = giulia.post(f"/payment-methods/{visa.id}/remove", headers=EN)
    assert refused.status_code == 409 and "cannot be removed" in text(refused)
    assert add_card(giulia, "5555 5555 5555 4444").status_code == 303
    assert [m.is_default for m in methods()] == [True, False]
    page = text(giulia.get("/payment-methods", headers=EN))
    assert page.index("Visa ending in 4242") < page.index("Used for renewals") < page.index(
        "Mastercard ending in 4444") < page.index("Use for renewals")


def test_a_default_card_of_another_gateway_does_not_count(giulia):
    """Renewals only use cards of the configured gateway: the first card saved with it
    becomes the default even though a card of an earlier provider was one."""
    with db.connection_context():
        PaymentMethod.create(account=1, gateway="earlier-provider", token="tok_old",
                             brand="visa", last4="1111", exp_month=12, exp_year=2030,
                             holder="Giulia Rossi", is_default=True)
    assert add_card(giulia).status_code == 303
    assert add_card(giulia, "5555 5555 5555 4444").status_code == 303
    assert [(m.last4, m.is_default) for m in methods()] == [
        ("1111", True), ("4242", True), ("4444", False)]


def test_without_a_default_card_the_page_marks_the_one_renewals_use(giulia):
    """A database where no card was ever made the default (cards saved with orders before
    they became it): renewals use the newest card, and the page says so."""
    assert add_card(giulia).status_code == 303
    assert add_card(giulia, "5555 5555 5555 4444").status_code == 303
    with db.connection_context():
        PaymentMethod.update(is_default=False).execute()
    visa, mastercard = methods()
    page = text(giulia.get("/payment-methods", headers=EN))
    assert page.index("Mastercard ending in 4444") < page.index("Used for renewals") < page.index(
        "Visa ending in 4242") < page.index("Use for renewals")
    refused = giulia.post(f"/payment-methods/{mastercard.id}/remove", headers=EN)
    assert refused.status_code == 409
    assert giulia.post(f"/payment-methods/{visa.id}/remove").status_code == 303


def test_a_past_due_subscription_shows_a_banner_and_is_paid_now(app, giulia):
    add_card(giulia, "4000 0000 0000 0002")
    make_past_due(app)
    page = text(giulia.get("/", headers=IT))
    assert "Non è stato possibile addebitare il rinnovo di Webinar" in page
    # 5 x 119 € + 22 % VAT = 725,90 €, less the 50 € credit balance held for it
    assert "Importo dovuto: 675,90 €." in page and "Paga ora" in page
    # no plan change while a renewal is owed
    refused = giulia.get("/subscriptions/1/change", headers=EN)
    assert refused.status_code == 409 and "Pay it first" in text(refused)
    pay_page = giulia.get("/subscriptions/1/pay", headers=IT)
    assert pay_page.status_code == 200 and "675,90 €" in text(pay_page)
    declined = giulia.post("/subscriptions/1/pay", {"payment_method": str(methods()[0].id)},
                           headers=EN)
    assert declined.status_code == 402 and "declined" in text(declined)
    paid = giulia.post("/subscriptions/1/pay", card_form(), headers=EN)
    assert paid.status_code == 303
    # the declined card paid the renewals; the card that paid now does
    assert [(m.last4, m.is_default) for m in methods()] == [("0002", False), ("4242", True)]
    assert "Renewals will be charged to this card." in text(giulia.get("/", headers=EN))
    with db.connection_context():
        sub = Subscription.get_by_id(1)
        assert (sub.status, sub.period_end) == ("active", dt.date(2027, 1, 10))
        assert Invoice.select().count() == 1
        assert Renewal.get().state == "completed"
    again = giulia.post("/subscriptions/1/pay", card_form(), headers=EN)  # a second tab
    assert again.status_code == 303 and methods()[-1].last4 == "4242"
    with db.connection_context():
        assert Invoice.select().count() == 1
    assert "Non è stato possibile" not in text(giulia.get("/", headers=IT))


def test_a_suspended_subscription_disables_the_product_until_paid(app, giulia):
    add_card(giulia, "4000 0000 0000 0002")
    with app.app_context(), db.connection_context():
        for day in (10, 11, 13, 15):
            run_billing(dt.date(2026, 12, day))
        assert Subscription.get_by_id(1).status == "suspended"
    member = browser_for(app, MARCO)  # Marco has Webinar assigned in the demo
    mine = member.get("/my-licenses", headers=EN).get_data(as_text=True)
    assert 'id="my-license-1" data-enabled="0"' in mine
    toggle = giulia.post("/subscriptions/1/licenses/2", {"enable": "0"})
    assert toggle.status_code == 409
    page = text(giulia.get("/", headers=IT))
    assert "Webinar è sospeso" in page
    paid = giulia.post("/subscriptions/1/pay", card_form())
    assert paid.status_code == 303
    with db.connection_context():
        sub = Subscription.get_by_id(1)
        assert (sub.status, sub.period_start) == ("active", dt.date(2026, 11, 26))


def test_a_card_expiring_before_the_next_renewal_is_flagged(giulia):
    add_card(giulia, "4242 4242 4242 4242", card_expiry="11/26")
    page = text(giulia.get("/", headers=EN))
    assert "Visa ending in 4242 expires before the next renewal" in page
