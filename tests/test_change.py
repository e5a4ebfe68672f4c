"""The change page: full page vs htmx summary, figures from the engine, validation, access."""
import re

import pytest

from conftest import ANNA, MARCO, TODAY, statements
from portal.billing import quote_change
from portal.core import security
from portal.core.db import db
from portal.core.models import AuditEvent, CartItem, Subscription, User
from portal.subscriptions.quotes import current_subscription, product_plans

URL = "/subscriptions/1/change"
EN = {"Accept-Language": "en"}
IT = {"Accept-Language": "it"}


def figure(html, name):
    """The text of the element marked ``data-figure=name``."""
    match = re.search(r'data-figure="%s">([^<]*)<' % name, html)
    return match.group(1) if match else None


def test_full_page_and_htmx_fragment_share_one_url(giulia):
    page = giulia.get(URL)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<html" in html and 'id="change-form"' in html and 'id="order-summary"' in html
    assert "HX-Request" in page.headers["Vary"]

    fragment = giulia.get(URL + "?plan=webinar-pro&licenses=8&frequency=annual", htmx=True)
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200
    assert "<html" not in body and "<form" not in body
    assert body.lstrip().startswith('<section id="order-summary"')
    assert "HX-Request" in fragment.headers["Vary"]
    # the parts of the form that depend on the choice come out of band
    assert 'id="order-actions" class="order-actions" hx-swap-oob="true"' in body
    assert 'id="plan-price-webinar-pro" hx-swap-oob="true"' in body
    assert 'id="licenses-error" hx-swap-oob="true"' in body
    assert len(body.encode()) < 8192


def test_history_restore_gets_the_whole_page(giulia):
    response = giulia.get(URL + "?licenses=6", headers={"HX-Request": "true",
                                                        "HX-History-Restore-Request": "true"})
    assert "<html" in response.get_data(as_text=True)


@pytest.mark.parametrize("query, expected", [
    # worked example A of the specification
    ("plan=webinar-pro&licenses=8&frequency=annual",
     {"credit": "−277,67\xa0€", "charge": "19.104,00\xa0€", "subtotal": "18.826,33\xa0€",
      "vat": "4.141,79\xa0€", "total": "22.968,12\xa0€", "applied": "−50,00\xa0€",
      "due": "22.918,12\xa0€"}),
    # worked example B
    ("plan=webinar-standard&licenses=4&frequency=monthly",
     {"credit": "−277,67\xa0€", "charge": "476,00\xa0€", "subtotal": "198,33\xa0€"}),
])
def test_summary_figures_are_the_engines(giulia, app, query, expected):
    html = giulia.get(URL + "?" + query, htmx=True, headers=IT).get_data(as_text=True)
    for name, value in expected.items():
        assert figure(html, name) == value, name


def test_summary_equals_engine_quote_for_demo_subscription(giulia, app):
    html = giulia.get(URL + "?plan=webinar-standard&licenses=3&frequency=monthly",
                      htmx=True, headers=IT).get_data(as_text=True)
    with app.app_context(), db.connection_context():
        from portal.subscriptions.quotes import validate_request
        sub = (Subscription.select().where(Subscription.id == 1).get())
        _, change, problems = validate_request(sub, sub.account, "webinar-standard", "3",
                                               "monthly")
    # 3 licenses is below the 4 assigned users: refused, no figures
    assert problems and problems[0].code == "licenses_below_assigned"
    assert figure(html, "due") is None
    # worked example B itself, with nobody assigned beyond three users
    with app.app_context(), db.connection_context():
        from portal.core.models import LicenseAssignment
        LicenseAssignment.delete().where(LicenseAssignment.user == User.get(
            User.email == "paolo.gallo@example.it").id).execute()
        sub = Subscription.get_by_id(1)
        current = current_subscription(sub)
        plans = product_plans(sub.product_id)
        from portal.billing import ChangeRequest
        quote = quote_change([ChangeRequest(current, plans["webinar-standard"], 3, "monthly")],
                             country="IT", vat_number=None, balance=5000, today=TODAY)
    html = giulia.get(URL + "?plan=webinar-standard&licenses=3&frequency=monthly",
                      htmx=True, headers=IT).get_data(as_text=True)
    [line] = quote.lines
    assert (line.credit, line.charge, quote.subtotal, quote.vat, quote.due) == (
        27767, 35700, 7933, 1745, 4678)
    assert figure(html, "due") == "46,78\xa0€"
    assert figure(html, "vat") == "17,45\xa0€"
    assert "That is why reducing licenses can still cost something today." in giulia.get(
        URL + "?plan=webinar-standard&licenses=3&frequency=monthly", htmx=True,
        headers=EN).get_data(as_text=True)


MESSAGES = [
    ("licenses=abc", "licenses", "Enter the number of licenses as a whole number",
     "Inserisci il numero di licenze"),
    ("licenses=0", "licenses", "You need at least one license.", "Serve almeno una licenza."),
    ("licenses=12.5", "licenses", "Enter the number of licenses as a whole number",
     "Inserisci il numero di licenze"),
    ("licenses=10001", "licenses", "For more than 10,000 licenses", "Per più di 10.000 licenze"),
    ("licenses=3", "licenses", "4 users have this product enabled",
     "4 utenti hanno questo prodotto abilitato"),
    ("plan=webinar-lite", "plan", "To downgrade your plan, contact support.",
     "Per effettuare il downgrade contatta l'assistenza"),
    ("plan=webinar-enterprise", "plan", "This plan cannot be bought online",
     "Questo piano non si può acquistare online"),
    ("plan=meeting-business", "plan", "Choose one of the plans shown.",
     "Scegli uno dei piani proposti."),
    ("plan=nope", "plan", "Choose one of the plans shown.", "Scegli uno dei piani proposti."),
    ("frequency=weekly", "frequency", "Choose monthly or annual billing.",
     "Scegli la fatturazione mensile o annuale."),
]


@pytest.mark.parametrize("query, field, english, italian", MESSAGES)
def test_invalid_choices_answer_422_with_localized_message(giulia, query, field, english,
                                                           italian):
    for headers, text in ((EN, english), (IT, italian)):
        response = giulia.get(URL + "?" + query, htmx=True, headers=headers)
        body = response.get_data(as_text=True)
        assert response.status_code == 422
        error = re.search(r'<p class="field-error" id="%s-error" hx-swap-oob="true">(.*?)</p>'
                          % field, body, re.S).group(1)
        assert text.replace("'", "&#39;") in error or text in error
        summary = body.split('id="order-summary"')[1]
        assert text.replace("'", "&#39;") in summary or text in summary
        assert re.search(r'value="add"[^>]*disabled', body)
        assert figure(body, "due") is None


def test_unchanged_choice_disables_the_button(giulia):
    body = giulia.get(URL, headers=EN).get_data(as_text=True)
    assert "This is your current subscription" in body
    assert re.search(r'value="add"[^>]*disabled', body)
    assert figure(body, "due") is None


def test_button_label_depends_on_other_cart_items(giulia, app):
    body = giulia.get(URL + "?licenses=6", headers=EN).get_data(as_text=True)
    assert "Complete transaction" in body and "Add to cart" not in body
    with app.app_context(), db.connection_context():
        CartItem.create(user=User.get(User.email == "giulia.rossi@example.it"),
                        subscription=2, plan=5, licenses=2, frequency="monthly")
    body = giulia.get(URL + "?licenses=6", headers=EN).get_data(as_text=True)
    assert "Add to cart" in body and "Complete transaction" not in body
    fragment = giulia.get(URL + "?licenses=7", headers=EN, htmx=True).get_data(as_text=True)
    assert "Add to cart" in fragment


def test_add_to_cart_stores_server_values_and_ignores_forged_fields(giulia, app):
    response = giulia.post(URL, {"plan": "webinar-pro", "licenses": "8", "frequency": "annual",
                                 "intent": "add", "price": "1", "total": "0", "due": "0",
                                 "account": "2", "subscription": "3", "version": "99"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/checkout")
    with app.app_context(), db.connection_context():
        items = list(CartItem.select())
        assert [(i.subscription_id, i.plan.code, i.licenses, i.frequency) for i in items] == [
            (1, "webinar-pro", 8, "annual")]
        assert Subscription.get_by_id(1).licenses == 5  # nothing changes before the order
        assert AuditEvent.select().where(AuditEvent.action == "cart.add").count() == 1
        first = items[0]
    # adding again replaces the pending change (the same item, first added when it was)
    giulia.post(URL, {"plan": "webinar-standard", "licenses": "9", "frequency": "monthly",
                      "intent": "add"})
    with app.app_context(), db.connection_context():
        assert [(i.id, i.plan.code, i.licenses, i.frequency, i.created_at)
                for i in CartItem.select()] == [
            (first.id, "webinar-standard", 9, "monthly", first.created_at)]
        assert AuditEvent.select().where(AuditEvent.action == "cart.add").count() == 2


def test_add_goes_to_cart_when_it_holds_other_items(giulia):
    giulia.post("/subscriptions/2/change", {"plan": "meeting-business", "licenses": "3",
                                            "frequency": "annual", "intent": "add"})
    response = giulia.post(URL, {"plan": "webinar-pro", "licenses": "8", "frequency": "annual",
                                 "intent": "add"})
    assert response.headers["Location"].endswith("/cart")


def test_invalid_add_changes_nothing(giulia, app):
    response = giulia.post(URL, {"plan": "webinar-lite", "licenses": "5",
                                 "frequency": "monthly", "intent": "add"}, headers=EN)
    assert response.status_code == 422
    assert "To downgrade your plan, contact support." in response.get_data(as_text=True)
    with app.app_context(), db.connection_context():
        assert CartItem.select().count() == 0


def test_no_javascript_post_re_renders_identical_summary(giulia):
    via_get = giulia.get(URL + "?plan=webinar-pro&licenses=8&frequency=annual", htmx=True,
                         headers=IT).get_data(as_text=True)
    via_post = giulia.post(URL, {"plan": "webinar-pro", "licenses": "8", "frequency": "annual",
                                 "intent": "preview"}, headers=IT).get_data(as_text=True)
    summary = via_post.split('<section id="order-summary"')[1].split("</section>")[0]
    assert summary == via_get.split('<section id="order-summary"')[1].split("</section>")[0]


def test_minus_and_plus_buttons_work_without_javascript(giulia):
    body = giulia.post(URL, {"plan": "webinar-standard", "licenses": "5",
                             "frequency": "monthly", "adjust": "+1"}).get_data(as_text=True)
    assert 'id="licenses" name="licenses" value="6"' in body
    assert figure(body, "new-licenses") == "6"
    body = giulia.post(URL, {"plan": "webinar-standard", "licenses": "6",
                             "frequency": "monthly", "adjust": "-1"}).get_data(as_text=True)
    assert 'value="5"' in body and figure(body, "due") is None  # back to unchanged


def test_expired_trial_is_a_new_subscription_without_credit(giulia):
    body = giulia.get("/subscriptions/2/change?plan=meeting-professional&licenses=1"
                      "&frequency=monthly", headers=EN).get_data(as_text=True)
    assert "Subscribe to Meeting" in body
    assert figure(body, "credit") is None
    assert figure(body, "charge") == "€14.00"
    assert figure(body, "due") == "€0.00"  # €17.08 with VAT, paid by the €50.00 balance
    assert "from Nov 26, 2026 to Dec 26, 2026" in body
    assert not re.search(r'value="add"[^>]*disabled', body)


def test_other_accounts_subscription_is_404(giulia):
    assert giulia.get("/subscriptions/3/change").status_code == 404
    assert giulia.get("/subscriptions/3/change", htmx=True).status_code == 404
    assert giulia.post("/subscriptions/3/change", {"intent": "add"}).status_code == 404
    assert giulia.get("/subscriptions/999/change").status_code == 404


def test_member_is_refused_with_the_billing_contacts_name(browser):
    browser.login(MARCO)
    response = browser.get(URL, headers=EN)
    assert response.status_code == 403
    assert "Giulia Rossi" in response.get_data(as_text=True)
    response = browser.post(URL, {"plan": "webinar-pro", "licenses": "8",
                                  "frequency": "annual", "intent": "add"})
    assert response.status_code == 403


def test_corporate_account_is_refused(browser, app):
    browser.login(ANNA)
    response = browser.get("/subscriptions/3/change", headers=EN)
    assert response.status_code == 403
    assert "Corporate Billing Portal" in response.get_data(as_text=True)
    assert browser.post("/subscriptions/3/change", {"plan": "webinar-enterprise",
                                                    "licenses": "300", "frequency": "annual",
                                                    "intent": "add"}).status_code == 403
    with app.app_context(), db.connection_context():
        assert CartItem.select().count() == 0


def test_logged_out_htmx_request_redirects_to_login(client):
    response = client.get(URL, headers={"HX-Request": "true"})
    assert response.headers["HX-Redirect"].startswith("/login")


def test_the_summary_reads_its_user_and_subscription_in_one_statement(giulia, app,
                                                                      count_queries,
                                                                      monkeypatch):
    with app.app_context(), db.connection_context():  # a change for another subscription
        CartItem.create(user=User.get(User.email == "giulia.rossi@example.it"), subscription=2,
                        plan=Subscription.get_by_id(2).plan_id, licenses=3,
                        frequency="monthly")
    path = URL + "?plan=webinar-pro&licenses=8&frequency=annual"
    giulia.get(URL + "?licenses=6", htmx=True)  # warm the in-process catalog
    with count_queries() as queries:
        response = giulia.get(path, htmx=True)
    assert response.status_code == 200
    # the user, its account, the catalog version, the subscription and both counts
    assert queries.count == 1, statements(queries)
    joined = response.get_data(as_text=True)
    assert "Aggiungi al carrello" in joined  # the other change counted
    # A user loaded without it (``load_user`` for any other page): the view reads the
    # subscription and its counts itself, and answers the same.
    monkeypatch.setattr(security, "_user_queries", {})
    with count_queries() as queries:
        separate = giulia.get(path, htmx=True).get_data(as_text=True)
    assert queries.count == 2, statements(queries)
    assert separate == joined


@pytest.mark.parametrize("status", ["active", "trialing", "trial_expired"])
def test_the_page_offers_exactly_the_plans_the_order_accepts(giulia, status):
    """One rule (``portal.billing.plan_problem``): a plan is a radio button on the change page
    exactly when adding it to the cart is accepted. A trialing Standard subscription may not
    move to Lite online; an expired trial may choose any plan."""
    with db.atomic():
        Subscription.update(status=status).where(Subscription.id == 1).execute()
    html = giulia.get(URL).get_data(as_text=True)
    for plan in ("webinar-lite", "webinar-standard", "webinar-pro", "webinar-enterprise"):
        offered = f'type="radio" name="plan" id="plan-{plan}"' in html
        answer = giulia.post(URL, {"plan": plan, "licenses": "6", "frequency": "monthly",
                                   "intent": "add"})
        accepted = answer.status_code == 303
        assert offered == accepted, (status, plan, answer.status_code)
        CartItem.delete().execute()
    lite_offered = 'id="plan-webinar-lite" value=' in html
    assert lite_offered == (status == "trial_expired")


@pytest.mark.parametrize("query", [
    "plan=webinar-pro&licenses=8&frequency=annual",
    "plan=webinar-standard&licenses=3&frequency=monthly",  # below the assigned users
    "plan=webinar-standard&licenses=5&frequency=monthly",  # no change
    "plan=webinar-lite&licenses=abc&frequency=weekly",  # every field wrong
])
@pytest.mark.parametrize("headers", [IT, EN])
def test_the_summary_fragment_needs_nothing_the_context_processors_add(giulia, monkeypatch,
                                                                       query, headers):
    # The summary renders without the context processors (processors=False): rendered with
    # them (the user, the request, the language switcher's values), it is the same.
    from portal.core import http
    from portal.subscriptions import change
    without = giulia.get(f"{URL}?{query}", htmx=True, headers=headers)
    monkeypatch.setattr(change, "render", lambda *args, processors=True, **context:
                        http.render(*args, **context))
    with_them = giulia.get(f"{URL}?{query}", htmx=True, headers=headers)
    assert without.status_code == with_them.status_code
    assert without.get_data(as_text=True) == with_them.get_data(as_text=True)
