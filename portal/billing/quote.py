"""Quotes for subscription changes: proration credit, new period, VAT, balance.

Pure functions over frozen values: the same inputs always give the same
quote, so a review page can be re-checked at order time through its
fingerprint.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from datetime import date
from decimal import Decimal
from typing import Sequence

from .prices import PlanPrice
from .money import round_cents
from .periods import FREQUENCIES, days_between, period_end
from .vat import vat_treatment

__all__ = [
    "STATUSES",
    "CurrentSubscription",
    "ChangeRequest",
    "QuoteLine",
    "OrderQuote",
    "proration_credit",
    "quote_change",
    "quote_fingerprint",
]

STATUSES = ("trialing", "active", "past_due", "suspended", "trial_expired", "expired",
            "canceled")

# Bump when the canonical form changes, so old fingerprints can never match new ones.
_FINGERPRINT_VERSION = 3


@dataclass(frozen=True)
class CurrentSubscription:
    """A subscription as it is now, as far as pricing and validation need it."""

    id: int
    product_code: str
    product_name: str
    plan: PlanPrice | None
    licenses: int
    frequency: str
    period_start: date | None
    period_end: date | None
    status: str
    version: int
    assigned: int
    #: What the current period was billed at: net cents per license per period, recorded
    #: when the period started (None for a trial, which was not paid for).
    price_paid: int | None = None


@dataclass(frozen=True)
class ChangeRequest:
    """A validated pending change: the subscription and the wanted plan, licenses, frequency."""

    subscription: CurrentSubscription
    plan: PlanPrice
    licenses: int
    frequency: str


@dataclass(frozen=True)
class QuoteLine:
    """The priced result of one change; amounts in cents."""

    subscription_id: int
    product_name: str
    old_plan: PlanPrice | None
    old_licenses: int
    old_frequency: str
    new_plan: PlanPrice
    new_licenses: int
    new_frequency: str
    unit_price: int
    credit: int
    unused_days: int
    period_days: int
    charge: int
    period_start: date
    period_end: date
    is_new: bool

    @property
    def amount(self) -> int:
        """Return the net amount of the line: charge minus credit (may be negative)."""
        return self.charge - self.credit


@dataclass(frozen=True)
class OrderQuote:
    """The priced order: lines, VAT, balance use and what is due now; amounts in cents.

    With a negative subtotal nothing is charged: ``total`` is the (negative)
    subtotal, ``vat``/``applied``/``due`` are 0 and ``credit_added`` is the gross
    amount, VAT included, that goes to the credit balance.
    """

    lines: tuple[QuoteLine, ...]
    today: date
    subtotal: int
    vat_rate: Decimal
    vat_reason: str
    vat: int
    total: int
    balance: int
    applied: int
    due: int
    credit_added: int
    #: The catalog version every price of this quote comes from.
    catalog_version: int = 0
    #: What the fingerprint is computed from: (items, country, VAT number).
    fingerprint_inputs: tuple = field(default=(), repr=False, compare=False)

    @cached_property
    def fingerprint(self) -> str:
        """``quote_fingerprint`` of the quote's inputs, computed when first asked for: the
        live summary never shows it, the review and the order do."""
        items, country, vat_number = self.fingerprint_inputs
        return quote_fingerprint(items, country=country, vat_number=vat_number,
                                 balance=self.balance, today=self.today,
                                 catalog_version=self.catalog_version)

    @property
    def balance_after(self) -> int:
        """Return the credit balance once the order is placed."""
        return self.balance - self.applied + self.credit_added


def proration_credit(sub: CurrentSubscription, today: date) -> tuple[int, int, int]:
    """Return (credit, unused_days, period_days) for the unused part of the current period.

    The credit is at the price paid for the period (``sub.price_paid``), never at today's
    catalog price: a price change in the catalog can neither inflate nor shrink it (SPEC
    §3). Only an active, paid subscription earns credit; trials, expired trials and
    canceled subscriptions were not paid for. (0, 0, 0) when there is none.
    """
    if sub.status != "active" or sub.price_paid is None:
        return (0, 0, 0)
    if sub.period_start is None or sub.period_end is None:
        return (0, 0, 0)
    price = sub.price_paid
    if not price or sub.licenses <= 0:
        return (0, 0, 0)
    period_days = days_between(sub.period_start, sub.period_end)
    if period_days <= 0:
        return (0, 0, 0)
    # A period that has not started yet (today < start) was paid in full, so
    # the whole of it is unused rather than nothing.
    unused_days = min(days_between(today, sub.period_end), period_days)
    if unused_days <= 0:
        return (0, 0, 0)
    credit = round_cents(Decimal(price * sub.licenses * unused_days) / Decimal(period_days))
    if credit <= 0:
        return (0, 0, 0)
    return (credit, unused_days, period_days)


def _plan_key(plan: PlanPrice | None) -> dict | None:
    """Return the canonical fingerprint form of a plan's identity and prices."""
    if plan is None:
        return None
    return {"code": plan.code, "monthly": plan.monthly_cents, "annual": plan.annual_cents}


def _date_key(value: date | None) -> str | None:
    """Return a date in ISO form for the fingerprint."""
    return value.isoformat() if value is not None else None


def quote_fingerprint(
    items: Sequence[ChangeRequest],
    *,
    country: str,
    vat_number: str | None,
    balance: int,
    today: date,
    catalog_version: int = 0,
) -> str:
    """Return a hex SHA-256 over every input of a quote, independent of item order.

    Two quotes with the same fingerprint are priced identically; a review is
    charged only if its fingerprint still matches at order time.
    """
    canonical_items = []
    for item in sorted(items, key=lambda i: i.subscription.id):
        sub = item.subscription
        canonical_items.append({
            "subscription": {
                "id": sub.id,
                "version": sub.version,
                "status": sub.status,
                "plan": _plan_key(sub.plan),
                "licenses": sub.licenses,
                "frequency": sub.frequency,
                "period_start": _date_key(sub.period_start),
                "period_end": _date_key(sub.period_end),
                "price_paid": sub.price_paid,
            },
            "plan": _plan_key(item.plan),
            "licenses": item.licenses,
            "frequency": item.frequency,
        })
    # The VAT treatment, not the number itself: correcting a VAT number (or completing the
    # billing details) in the order form keeps the review valid when the price is the same.
    treatment = vat_treatment(country, vat_number)
    payload = {
        "v": _FINGERPRINT_VERSION,
        "items": canonical_items,
        "vat": [str(treatment.rate), treatment.reason],
        "balance": balance,
        "today": today.isoformat(),
        "catalog": catalog_version,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _quote_line(item: ChangeRequest, today: date) -> QuoteLine:
    """Price one change: credit for the old period, charge for a full new one from today."""
    sub = item.subscription
    if item.frequency not in FREQUENCIES:
        raise ValueError("unknown frequency: %r" % (item.frequency,))
    unit_price = item.plan.unit_price(item.frequency)
    if unit_price is None:
        raise ValueError("plan %r has no price" % item.plan.code)
    if not isinstance(item.licenses, int) or isinstance(item.licenses, bool) or item.licenses < 0:
        raise ValueError("licenses must be a non-negative integer")
    credit, unused_days, period_days = proration_credit(sub, today)
    return QuoteLine(
        subscription_id=sub.id,
        product_name=sub.product_name,
        old_plan=sub.plan,
        old_licenses=sub.licenses,
        old_frequency=sub.frequency,
        new_plan=item.plan,
        new_licenses=item.licenses,
        new_frequency=item.frequency,
        unit_price=unit_price,
        credit=credit,
        unused_days=unused_days,
        period_days=period_days,
        charge=unit_price * item.licenses,
        period_start=today,
        period_end=period_end(today, item.frequency),
        is_new=sub.status != "active",
    )


def quote_change(
    items: Sequence[ChangeRequest],
    *,
    country: str,
    vat_number: str | None,
    balance: int,
    today: date,
    catalog_version: int = 0,
) -> OrderQuote:
    """Price an order of changes for an account (SPEC section 3).

    ``vat_number`` must be normalised already; ``balance`` is the account's
    credit balance in cents before the order; ``catalog_version`` is the version of the
    catalog the plans' prices come from (part of the fingerprint, so that a review made
    before a catalog change is never charged after it). Raises ValueError for two
    changes of the same subscription or an unpriced plan.
    """
    ids = [item.subscription.id for item in items]
    if len(ids) != len(set(ids)):
        raise ValueError("at most one change per subscription")
    lines = tuple(_quote_line(item, today) for item in sorted(items, key=lambda i: i.subscription.id))
    treatment = vat_treatment(country, vat_number)
    subtotal = sum(line.charge for line in lines) - sum(line.credit for line in lines)
    # A negative ledger balance is not a debt this order may collect.
    usable = max(0, balance)
    vat = applied = due = credit_added = 0
    if subtotal > 0:
        vat = round_cents(Decimal(subtotal) * treatment.rate)
        total = subtotal + vat
        applied = min(usable, total)
        due = total - applied
    else:
        # No refunds to cards: the gross value of the unused time becomes
        # credit, as if the VAT charged on it had been returned too.
        total = subtotal
        credit_added = round_cents(Decimal(-subtotal) * (1 + treatment.rate))
    return OrderQuote(
        lines=lines,
        today=today,
        subtotal=subtotal,
        vat_rate=treatment.rate,
        vat_reason=treatment.reason,
        vat=vat,
        total=total,
        balance=balance,
        applied=applied,
        due=due,
        credit_added=credit_added,
        catalog_version=catalog_version,
        fingerprint_inputs=(tuple(items), country, vat_number),
    )
