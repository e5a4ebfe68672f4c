"""Payment gateways: one small interface, a built-in sandbox, room for a real provider.

The portal never stores or logs a card number or a CVC: a new card is turned into a gateway
token at once, and only the token, brand, last four digits, expiry and holder are kept
(``PaymentMethod``). Amounts are integer cents.

Choosing a gateway: ``PAYMENT_GATEWAY`` in the configuration names an entry of ``GATEWAYS``.
A real provider (e.g. Stripe) is a new ``Gateway`` subclass registered with
``register_gateway("stripe", StripeGateway)``; the order service only calls ``tokenize`` and
``charge`` and catches ``CardInvalid``, ``PaymentDeclined`` and ``GatewayError``.
A provider that tokenizes in the browser (Stripe Elements) would post its own token and
implement ``tokenize`` by looking that token up; the rest stays as it is.

Sandbox test cards (Stripe test-mode convention; any future expiry, any 3-digit CVC, 4 digits
for American Express; spaces are ignored):

======================  ==========  ==========================================
number                  brand       result
======================  ==========  ==========================================
4242 4242 4242 4242     visa        succeeds
5555 5555 5555 4444     mastercard  succeeds
3782 822463 10005       amex        succeeds
4000 0000 0000 0002     visa        declined (``card_declined``)
4000 0000 0000 9995     visa        declined (``insufficient_funds``)
4000 0000 0000 0069     visa        declined (``expired_card``)
4000 0000 0000 0127     visa        declined (``incorrect_cvc``)
4000 0000 0000 0119     visa        gateway error (``processing_error``)
4000 0000 0000 0341     visa        saved fine, every charge declined (``card_declined``)
======================  ==========  ==========================================

Any other number that passes the Luhn check is declined (``card_declined``), as Stripe's
test mode refuses real cards; a number that fails it is refused as ``invalid_number``.

The sandbox keeps its state in the portal's database (``sandbox_token``: what each saved
card's charges do; ``sandbox_charge``: the charge made under each idempotency key), so a card
saved by one gunicorn worker charges the same in the other, and a restart forgets nothing.
``SANDBOX_LATENCY_MS`` (default 0) makes every ``charge`` wait that long first, as a real
provider's round trip does, for tests and benchmarks of placing orders. A token the sandbox
never issued (seeded demo and benchmark cards) charges successfully.
"""
from __future__ import annotations

import datetime as dt
import re
import secrets
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from flask import current_app

from portal.core.clock import today_in
from portal.core.db import Prepared, PreparedInsert, write_transaction
from portal.core.models import SandboxCharge, SandboxToken

__all__ = [
    "CardDetails", "CardToken", "card_problems", "Charge", "PaymentError", "CardInvalid",
    "PaymentDeclined", "GatewayError", "Gateway", "SandboxGateway", "GATEWAYS", "register_gateway",
    "get_gateway", "parse_expiry", "SANDBOX_TEST_CARDS",
]


class PaymentError(Exception):
    """A payment problem with a stable ``code`` for the message catalog."""

    def __init__(self, code):
        """Keep the code; it is safe to log (it never contains card data)."""
        super().__init__(code)
        self.code = code


class CardInvalid(PaymentError):
    """The card details cannot be used (bad number, expiry, CVC or holder): fix the form.

    ``field`` names the form field at fault; ``problems`` maps every field at fault to its
    code (``card_problems``), when the gateway knows them all.
    """

    def __init__(self, code, field="card_number", problems=None):
        """Keep the code, the field it belongs to and all the problems."""
        super().__init__(code)
        self.field = field
        self.problems = dict(problems or {field: code})


class PaymentDeclined(PaymentError):
    """The issuer refused the charge (card_declined, insufficient_funds, ...)."""


class GatewayError(PaymentError):
    """The gateway could not process the charge (processing_error, unavailable, ...)."""


@dataclass(frozen=True)
class CardDetails:
    """A card as typed by the customer; number and CVC are kept out of ``repr`` so that
    they cannot end up in a log or a traceback by accident."""

    number: str = field(repr=False)
    exp_month: int | None
    exp_year: int | None
    cvc: str = field(repr=False)
    holder: str


@dataclass(frozen=True)
class CardToken:
    """What may be stored of a card: the gateway's token and the display details."""

    token: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    holder: str


@dataclass(frozen=True)
class Charge:
    """A successful charge; ``replayed`` when an earlier charge with the same key answered."""

    id: str
    amount_cents: int
    currency: str
    replayed: bool = False


class Gateway(ABC):
    """What the portal needs from a payment provider."""

    #: Stored on ``PaymentMethod.gateway``: a saved card only works with its own gateway.
    name = "abstract"

    @abstractmethod
    def tokenize(self, card: CardDetails) -> CardToken:
        """Turn card details into a reusable token; raises ``CardInvalid``."""

    @abstractmethod
    def charge(self, token: str, amount_cents: int, currency: str,
               idempotency_key: str, description: str = "") -> Charge:
        """Charge ``amount_cents`` to ``token``.

        Idempotent per ``idempotency_key``: the same key charges at most once and answers the
        first charge again. Raises ``PaymentDeclined`` or ``GatewayError``.
        """

    @abstractmethod
    def find_charge(self, idempotency_key: str) -> Charge | None:
        """The successful charge made under ``idempotency_key``, if any.

        Asked only after a gateway failure under that key: the failure may have come after
        the money moved (a timeout), and then the order must be completed with that charge,
        whatever card the customer types again.
        """


def parse_expiry(raw):
    """``"MM/YY"``, ``"MM / YYYY"`` or ``"MMYY"`` → (month, year) or (None, None)."""
    text = re.sub(r"\s+", "", raw or "")
    match = re.fullmatch(r"(\d{1,2})/?(\d{2}|\d{4})", text, re.ASCII)
    if not match:
        return None, None
    month, year = int(match.group(1)), int(match.group(2))
    if year < 100:
        year += 2000
    if not 1 <= month <= 12:
        return None, None
    return month, year


def luhn_ok(digits):
    """The Luhn checksum every card number carries."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def card_brand(digits):
    """The card network from the number's prefix."""
    if digits.startswith("4"):
        return "visa"
    if digits[:2] in ("34", "37"):
        return "amex"
    if digits[:2] in ("51", "52", "53", "54", "55") or 2221 <= int(digits[:4] or 0) <= 2720:
        return "mastercard"
    if digits.startswith("6011") or digits.startswith("65"):
        return "discover"
    return "card"


def card_problems(card, today):
    """Every problem of a typed card as ``{form field: code}``, in the form's order (empty
    when the card may be sent to the gateway). All fields are checked, so the customer can
    fix them in one go; an empty field gets its own code ("enter the number", not "invalid")."""
    problems = {}
    digits = re.sub(r"[\s-]+", "", card.number or "")
    if not " ".join((card.holder or "").split()) or len(card.holder or "") > 200:
        problems["card_holder"] = "invalid_holder"
    if not digits:
        problems["card_number"] = "missing_number"
    elif not re.fullmatch(r"\d{12,19}", digits, re.ASCII) or not luhn_ok(digits):
        problems["card_number"] = "invalid_number"
    if (card.exp_month is None or card.exp_year is None
            or not 1 <= card.exp_month <= 12 or card.exp_year > today.year + 30):
        problems["card_expiry"] = "invalid_expiry"
    elif (card.exp_year, card.exp_month) < (today.year, today.month):
        problems["card_expiry"] = "expired_card"
    cvc_length = 4 if digits and card_brand(digits) == "amex" else 3
    if not card.cvc:
        problems["card_cvc"] = "missing_cvc"
    elif not re.fullmatch(r"\d{%d}" % cvc_length, card.cvc, re.ASCII):
        problems["card_cvc"] = "invalid_cvc"
    return problems


#: number → outcome of a charge: None succeeds, ("declined"|"error", code) fails.
SANDBOX_TEST_CARDS = {
    "4242424242424242": None,
    "5555555555554444": None,
    "378282246310005": None,
    "4000000000000002": ("declined", "card_declined"),
    "4000000000009995": ("declined", "insufficient_funds"),
    "4000000000000069": ("declined", "expired_card"),
    "4000000000000127": ("declined", "incorrect_cvc"),
    "4000000000000119": ("error", "processing_error"),
    # Stripe's "attaches, then every charge fails": saving the card works, paying never does.
    "4000000000000341": ("declined", "card_declined"),
}
_UNKNOWN_CARD = ("declined", "card_declined")


# The sandbox's reads and its one write, their SQL built once (a billing run charges thousands).
_sandbox_token = Prepared(lambda token: SandboxToken.select()
                          .where(SandboxToken.token == token).limit(1))
_sandbox_charge = Prepared(lambda key: SandboxCharge.select()
                           .where(SandboxCharge.idempotency_key == key).limit(1))
_new_sandbox_charge = PreparedInsert(SandboxCharge, ignore_conflicts=True)


class SandboxGateway(Gateway):
    """A gateway that never talks to a bank, for development and tests.

    Its memory is two tables of the portal's database (``SandboxToken``, ``SandboxCharge``):
    which outcome each token stands for (never the number) and which charge answered each
    idempotency key, shared by every process. ``latency_ms`` is slept in ``charge``.
    """

    name = "sandbox"

    def __init__(self, today=None, latency_ms=0):
        """``today`` is a callable giving the date expiries are checked against."""
        self._today = today or dt.date.today
        self.latency = max(0, int(latency_ms or 0)) / 1000

    def tokenize(self, card):
        """Check the card like a real gateway would and keep only its outcome."""
        problems = card_problems(card, self._today())
        if problems:
            field_name, code = next(iter(problems.items()))
            raise CardInvalid(code, field_name, problems)
        digits = re.sub(r"[\s-]+", "", card.number)
        brand = card_brand(digits)
        holder = " ".join(card.holder.split())
        token = "sandbox_tok_" + secrets.token_urlsafe(18)
        outcome = SANDBOX_TEST_CARDS.get(digits, _UNKNOWN_CARD)
        kind, code = outcome if outcome is not None else ("succeeds", None)
        with write_transaction():
            SandboxToken.create(token=token, outcome=kind, code=code)
        return CardToken(token=token, brand=brand, last4=digits[-4:], exp_month=card.exp_month,
                         exp_year=card.exp_year, holder=holder)

    def charge(self, token, amount_cents, currency, idempotency_key, description=""):
        """Charge once per key; a failed charge is not remembered, so it may be retried."""
        if not isinstance(amount_cents, int) or amount_cents <= 0:
            raise GatewayError("invalid_amount")
        if self.latency:
            time.sleep(self.latency)  # the provider's round trip; never inside a transaction
        saved = _sandbox_token.first(token)
        if saved is not None and saved.outcome != "succeeds":
            # a refused card never charged anything, under this key or any other
            raise (PaymentDeclined if saved.outcome == "declined" else GatewayError)(saved.code)
        charge = Charge("sandbox_ch_" + secrets.token_urlsafe(12), amount_cents, currency)
        # One statement: written unless the key already charged (then its charge answers).
        if _new_sandbox_charge.create(idempotency_key=idempotency_key, charge_id=charge.id,
                                      token=token, amount_cents=amount_cents,
                                      currency=currency) is None:
            earlier = self._replay(token, amount_cents, currency, idempotency_key)
            if earlier is None:  # the conflicting row is gone: nothing to answer with
                raise GatewayError("processing_error")
            return earlier
        return charge

    def _replay(self, token, amount_cents, currency, idempotency_key):
        """The earlier charge under the key (refused if it was for something else)."""
        row = _sandbox_charge.first(idempotency_key)
        if row is None:
            return None
        if row.token != token or row.amount_cents != amount_cents or row.currency != currency:
            raise GatewayError("idempotency_key_reused")
        return Charge(row.charge_id, row.amount_cents, row.currency, replayed=True)

    def find_charge(self, idempotency_key):
        """The charge made under the key, if one succeeded."""
        row = _sandbox_charge.first(idempotency_key)
        if row is None:
            return None
        return Charge(row.charge_id, row.amount_cents, row.currency, replayed=True)

    @classmethod
    def charges(cls):
        """The successful charges so far: {idempotency key: Charge} (for tests and demos)."""
        return {row.idempotency_key: Charge(row.charge_id, row.amount_cents, row.currency)
                for row in SandboxCharge.select().order_by(SandboxCharge.created_at)}


#: Gateway name → factory taking the Flask app.
GATEWAYS = {}


def register_gateway(name, factory):
    """Make a gateway available under ``PAYMENT_GATEWAY = name``."""
    GATEWAYS[name] = factory


def _sandbox(app):
    """The sandbox, checking expiries against the portal's today (pinned in tests)."""
    return SandboxGateway(today=lambda: today_in(app.config.get("BABEL_DEFAULT_TIMEZONE")
                                                 or "Europe/Rome"),
                          latency_ms=app.config.get("SANDBOX_LATENCY_MS") or 0)


register_gateway("sandbox", _sandbox)


def get_gateway(app=None):
    """The gateway the configuration names (``PAYMENT_GATEWAY``)."""
    app = app or current_app
    name = app.config.get("PAYMENT_GATEWAY") or "sandbox"
    try:
        factory = GATEWAYS[name]
    except KeyError:
        raise RuntimeError(f"unknown PAYMENT_GATEWAY {name!r}; known: {sorted(GATEWAYS)}")
    return factory(app)
