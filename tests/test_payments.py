"""The sandbox gateway: Stripe-style test cards, tokens without card data, idempotent charges."""
import datetime as dt

import pytest

import portal.payments.gateway as gateway_module
from portal.core.config import DEFAULTS, environment_settings
from portal.core.db import db
from portal.core.models import SandboxCharge, SandboxToken
from portal.payments.gateway import (GATEWAYS, CardDetails, CardInvalid, Gateway, GatewayError,
                             PaymentDeclined, SandboxGateway, get_gateway, parse_expiry)

TODAY = dt.date(2026, 11, 26)


@pytest.fixture
def gateway(app):
    """The sandbox on the test's database (its tokens and charges are rows there)."""
    return SandboxGateway(today=lambda: TODAY)


def card(number="4242 4242 4242 4242", month=12, year=2030, cvc="123", holder="Giulia Rossi"):
    return CardDetails(number=number, exp_month=month, exp_year=year, cvc=cvc, holder=holder)


def test_tokenize_keeps_only_token_brand_last4_expiry_and_holder(gateway):
    token = gateway.tokenize(card(holder="  Giulia   Rossi "))
    assert token.token.startswith("sandbox_tok_") and len(token.token) > 20
    assert (token.brand, token.last4, token.exp_month, token.exp_year, token.holder) == (
        "visa", "4242", 12, 2030, "Giulia Rossi")
    assert "4242424242424242" not in repr(token)
    assert "4242424242424242" not in repr(card()) and "123" not in repr(card())


@pytest.mark.parametrize("number,cvc,brand", [
    ("4242424242424242", "123", "visa"),
    ("5555 5555 5555 4444", "123", "mastercard"),
    ("378282246310005", "1234", "amex"),
])
def test_cards_that_succeed(gateway, number, cvc, brand):
    token = gateway.tokenize(card(number=number, cvc=cvc))
    assert token.brand == brand
    charge = gateway.charge(token.token, 1234, "EUR", "key-" + number)
    assert (charge.amount_cents, charge.currency, charge.replayed) == (1234, "EUR", False)
    assert charge.id.startswith("sandbox_ch_")


@pytest.mark.parametrize("number,error,code", [
    ("4000000000000002", PaymentDeclined, "card_declined"),
    ("4000000000009995", PaymentDeclined, "insufficient_funds"),
    ("4000000000000069", PaymentDeclined, "expired_card"),
    ("4000000000000127", PaymentDeclined, "incorrect_cvc"),
    ("4000000000000119", GatewayError, "processing_error"),
    ("4000056655665556", PaymentDeclined, "card_declined"),
])
def test_cards_that_fail_at_charge_time(gateway, number, error, code):
    token = gateway.tokenize(card(number=number))
    with pytest.raises(error) as raised:
        gateway.charge(token.token, 1000, "EUR", "fail-" + number + token.token)
    assert raised.value.code == code


@pytest.mark.parametrize("kwargs,field,code", [
    ({"number": "4242424242424241"}, "card_number", "invalid_number"),
    ({"number": "4242"}, "card_number", "invalid_number"),
    ({"number": "4242x4242x4242x4242"}, "card_number", "invalid_number"),
    ({"month": None, "year": None}, "card_expiry", "invalid_expiry"),
    ({"month": 10, "year": 2026}, "card_expiry", "expired_card"),
    ({"month": 1, "year": 2099}, "card_expiry", "invalid_expiry"),
    ({"cvc": "12"}, "card_cvc", "invalid_cvc"),
    ({"cvc": "1234"}, "card_cvc", "invalid_cvc"),
    ({"number": "378282246310005", "cvc": "123"}, "card_cvc", "invalid_cvc"),
    ({"holder": ""}, "card_holder", "invalid_holder"),
])
def test_unusable_details_are_refused_at_tokenization(gateway, kwargs, field, code):
    with pytest.raises(CardInvalid) as raised:
        gateway.tokenize(card(**kwargs))
    assert (raised.value.field, raised.value.code) == (field, code)


def test_this_month_is_not_expired(gateway):
    assert gateway.tokenize(card(month=11, year=2026)).exp_month == 11


def test_charge_is_idempotent_per_key(gateway):
    token = gateway.tokenize(card()).token
    first = gateway.charge(token, 5000, "EUR", "idem-1-" + token)
    again = gateway.charge(token, 5000, "EUR", "idem-1-" + token)
    assert again.id == first.id and again.replayed
    assert list(SandboxGateway.charges()).count("idem-1-" + token) == 1
    with pytest.raises(GatewayError) as raised:
        gateway.charge(token, 6000, "EUR", "idem-1-" + token)
    assert raised.value.code == "idempotency_key_reused"


def test_a_declined_charge_is_not_remembered(gateway):
    declined = gateway.tokenize(card(number="4000000000000002")).token
    with pytest.raises(PaymentDeclined):
        gateway.charge(declined, 5000, "EUR", "retry-" + declined)
    good = gateway.tokenize(card()).token
    assert gateway.charge(good, 5000, "EUR", "retry-" + declined).replayed is False


def test_no_charge_of_nothing(gateway):
    token = gateway.tokenize(card()).token
    with pytest.raises(GatewayError):
        gateway.charge(token, 0, "EUR", "zero-" + token)


@pytest.mark.parametrize("raw,expected", [
    ("12/30", (12, 2030)), ("1/31", (1, 2031)), ("12 / 2030", (12, 2030)), ("1230", (12, 2030)),
    ("13/30", (None, None)), ("", (None, None)), ("ab/cd", (None, None)), ("0/30", (None, None)),
])
def test_parse_expiry(raw, expected):
    assert parse_expiry(raw) == expected


def test_gateway_comes_from_configuration(app):
    with app.app_context():
        assert isinstance(get_gateway(), SandboxGateway)
    app.config["PAYMENT_GATEWAY"] = "nope"
    with app.app_context(), pytest.raises(RuntimeError):
        get_gateway()


def test_a_real_provider_is_a_new_class(app, monkeypatch):
    class FakeProvider(Gateway):
        name = "fake"

        def tokenize(self, card):
            raise CardInvalid("invalid_number")

        def charge(self, token, amount_cents, currency, idempotency_key, description=""):
            raise GatewayError("unavailable")

        def find_charge(self, idempotency_key):
            return None

    monkeypatch.setitem(GATEWAYS, "fake", lambda app: FakeProvider())
    app.config["PAYMENT_GATEWAY"] = "fake"
    with app.app_context():
        assert get_gateway().name == "fake"


def test_module_documents_the_test_cards():
    import portal.payments.gateway as payments
    for number in ("4242 4242 4242 4242", "4000 0000 0000 0002", "4000 0000 0000 9995",
                   "4000 0000 0000 0119", "4000 0000 0000 0341"):
        assert number in payments.__doc__


def test_a_card_that_saves_but_never_pays(gateway):
    """Stripe's 4000 0000 0000 0341: it attaches fine, every charge is declined."""
    token = gateway.tokenize(card(number="4000 0000 0000 0341"))
    assert (token.brand, token.last4) == ("visa", "0341")
    for attempt in range(2):
        with pytest.raises(PaymentDeclined) as raised:
            gateway.charge(token.token, 1000, "EUR", f"k0341-{attempt}-{token.token}")
        assert raised.value.code == "card_declined"


def test_the_sandbox_remembers_in_the_database_not_in_a_process(gateway):
    """Another gateway object (another gunicorn worker) knows the card and the charge."""
    declined = gateway.tokenize(card(number="4000000000000002")).token
    good = gateway.tokenize(card()).token
    first = gateway.charge(good, 700, "EUR", "shared-" + good)
    other = SandboxGateway(today=lambda: TODAY)
    with pytest.raises(PaymentDeclined):
        other.charge(declined, 700, "EUR", "shared-" + declined)
    again = other.charge(good, 700, "EUR", "shared-" + good)
    assert (again.id, again.replayed) == (first.id, True)
    assert other.find_charge("shared-" + good).id == first.id
    with db.connection_context():
        assert SandboxToken.select().count() == 2
        assert SandboxCharge.select().count() == 1


def test_sandbox_latency_is_configured_and_slept_in_charge(app, monkeypatch):
    app.config["SANDBOX_LATENCY_MS"] = 300
    slept = []
    monkeypatch.setattr(gateway_module.time, "sleep", slept.append)
    with app.app_context():
        sandbox = get_gateway()
        token = sandbox.tokenize(card()).token
        assert slept == []  # tokenizing does not wait
        sandbox.charge(token, 100, "EUR", "slow-" + token)
    assert slept == [0.3]


def test_sandbox_latency_comes_from_the_environment(monkeypatch):
    assert DEFAULTS["SANDBOX_LATENCY_MS"] == 0
    monkeypatch.setenv("SANDBOX_LATENCY_MS", "300")
    assert environment_settings()["SANDBOX_LATENCY_MS"] == 300
    monkeypatch.delenv("SANDBOX_LATENCY_MS")
    monkeypatch.setenv("PORTAL_SANDBOX_LATENCY_MS", "250")
    assert environment_settings()["SANDBOX_LATENCY_MS"] == 250
