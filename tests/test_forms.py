"""The form classes: what they read from a request, and what they never give back."""
from types import SimpleNamespace

import pytest
from werkzeug.datastructures import MultiDict

from portal.billing import MAX_LICENSES
from portal.checkout.forms import OrderForm
from portal.subscriptions.forms import ChangeForm

SUBSCRIPTION = SimpleNamespace(plan=SimpleNamespace(code="webinar-standard"), licenses=5,
                               frequency="monthly")


@pytest.mark.parametrize("sent, wanted", [
    ({}, {"plan": "webinar-standard", "licenses": "5", "frequency": "monthly"}),
    ({"plan": "webinar-pro", "frequency": "annual"},
     {"plan": "webinar-pro", "licenses": "5", "frequency": "annual"}),
    ({"licenses": "7", "adjust": "+1"}, {"licenses": "8"}),
    ({"licenses": "7", "adjust": "-1"}, {"licenses": "6"}),
    ({"licenses": "1", "adjust": "-1"}, {"licenses": "1"}),
    ({"licenses": str(MAX_LICENSES), "adjust": "+1"}, {"licenses": str(MAX_LICENSES)}),
    ({"licenses": "abc", "adjust": "+1"}, {"licenses": "abc"}),  # left to the rule's message
    ({"licenses": "7", "adjust": "+5"}, {"licenses": "7"}),
    ({"licenses": ""}, {"licenses": ""}),
])
def test_change_form_reads_the_choice_with_the_subscription_as_default(sent, wanted):
    choice = ChangeForm.for_subscription(MultiDict(sent), SUBSCRIPTION).choice()
    assert {key: choice[key] for key in wanted} == wanted


def test_change_form_takes_the_first_of_a_repeated_field_and_the_button_pressed():
    form = ChangeForm.for_subscription(
        MultiDict([("licenses", "9"), ("licenses", "4"), ("intent", "add")]), SUBSCRIPTION)
    assert form.choice()["licenses"] == "9"
    assert form.intent == "add"
    assert ChangeForm.for_subscription(MultiDict(), SUBSCRIPTION).intent == ""


CARD = {"payment_method": "new", "card_number": "4242 4242 4242 4242", "card_cvc": "123",
        "card_expiry": "12/30", "card_holder": "Giulia Rossi"}


def order_form(app, data):
    """The order form as the view reads it from a POST of ``data``."""
    with app.test_request_context("/checkout/order", method="POST", data=data):
        return OrderForm()


def test_order_form_keeps_the_card_for_the_gateway_only(app):
    form = order_form(app, CARD)
    card = form.payment().card
    assert (card.number, card.cvc, card.exp_month, card.exp_year, card.holder) == (
        "4242 4242 4242 4242", "123", 12, 2030, "Giulia Rossi")
    kept = form.kept_card_fields()
    assert kept == {"payment_method": "new", "card_holder": "Giulia Rossi",
                    "card_expiry": "12/30"}  # never the number or the CVC


@pytest.mark.parametrize("choice, method_id, has_card", [
    ("7", 7, False), ("new", None, True), ("", None, False), ("7a", None, False),
    ("1" * 12, None, False),
])
def test_order_form_reads_the_payment_choice(app, choice, method_id, has_card):
    payment = order_form(app, dict(CARD, payment_method=choice)).payment()
    assert payment.method_id == method_id and (payment.card is not None) == has_card


def test_order_form_bounds_what_it_reads(app):
    form = order_form(app, {"card_holder": "x" * 1000, "card_number": "4" * 100,
                            "card_cvc": "1" * 50, "versions": "1:3,2:x,3:1"})
    assert len(form.card_holder.data) == 200 and len(form.card_number.data) == 40
    assert len(form.card_cvc.data) == 8 and form.versions.data == {1: 3, 3: 1}
    assert order_form(app, {}).idempotency_key.data == ""


def test_wtforms_messages_follow_the_request_language_from_a_cached_catalog(app):
    """WTForms' own messages (a field it converts, such as an integer) in the request's
    language; the catalog is read once per locale, not once per request."""
    from wtforms import IntegerField

    from portal.core.forms import PostForm, wtforms_catalog

    class Form(PostForm):
        count = IntegerField()

    messages = {}
    for language in ("it", "de", "en"):
        with app.test_request_context("/", method="POST", data={"count": "many"},
                                      headers={"Accept-Language": language}):
            form = Form()
            assert not form.validate()
            messages[language] = form.errors["count"][0]
            assert form.meta.get_translations(form) is wtforms_catalog(language)
    assert messages["en"] == "Not a valid integer value."
    assert messages["it"] != messages["en"] and messages["de"] != messages["en"]
    assert wtforms_catalog("xx").gettext("Not a valid integer value.") == messages["en"]
