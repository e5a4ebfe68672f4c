"""What the next renewal of a subscription costs (SPEC §3.1).

A subscription renews at the catalog's price of its plan for its frequency: a price change
applies to existing subscriptions from their next renewal. A retired plan ("no longer sold")
renews at the price paid for the current period.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from .money import round_cents
from .periods import period_end
from .prices import PlanPrice
from .vat import vat_treatment

__all__ = ["renewal_unit_price", "renewal_net", "upcoming_price", "RenewalQuote",
           "quote_renewal", "retry_date"]


def renewal_unit_price(plan: PlanPrice, frequency: str, price_paid: int | None) -> int | None:
    """The net price per license of the next period (None when nothing is known)."""
    if plan.retired or plan.unit_price(frequency) is None:
        return price_paid
    return plan.unit_price(frequency)


def renewal_net(plan: PlanPrice, licenses: int, frequency: str,
                price_paid: int | None = None) -> int | None:
    """The net amount of the next period, in cents (None for an unpriced plan)."""
    price = renewal_unit_price(plan, frequency, price_paid)
    return None if price is None else price * licenses


def upcoming_price(plan: PlanPrice, frequency: str, price_paid: int | None) -> int | None:
    """The new price per license from the next renewal, when it differs from the price paid
    (the dashboard announces it as soon as the catalog changes); else None."""
    price = renewal_unit_price(plan, frequency, price_paid)
    if price_paid is None or price is None or price == price_paid:
        return None
    return price


@dataclass(frozen=True)
class RenewalQuote:
    """What renewing costs: the new period, its net price, VAT, credit applied and due."""

    period_start: date
    period_end: date
    unit_price: int
    subtotal: int
    vat_rate: Decimal
    vat_reason: str
    vat: int
    total: int
    applied: int
    due: int


def quote_renewal(*, unit_price: int, licenses: int, frequency: str, period_start: date,
                  country: str, vat_number: str | None, balance: int) -> RenewalQuote:
    """Price one renewal (SPEC §3.2): the unit price × licenses, plus VAT, minus the credit
    balance, for the period [period_start, period_start + 1 period)."""
    if not isinstance(unit_price, int) or unit_price < 0:
        raise ValueError("a renewal needs a whole, non-negative price")
    treatment = vat_treatment(country, vat_number)
    subtotal = unit_price * licenses
    vat = round_cents(Decimal(subtotal) * treatment.rate)
    total = subtotal + vat
    applied = min(max(0, balance), total)
    return RenewalQuote(period_start=period_start,
                        period_end=period_end(period_start, frequency), unit_price=unit_price,
                        subtotal=subtotal, vat_rate=treatment.rate, vat_reason=treatment.reason,
                        vat=vat, total=total, applied=applied, due=total - applied)


def retry_date(period_start: date, failures: int, schedule: tuple[int, ...]) -> date | None:
    """When dunning tries a declined renewal again after its ``failures``-th failure (days
    after the period's start, from ``schedule``), or None when the last try failed and the
    subscription is suspended."""
    if failures < 1:
        raise ValueError("a retry follows a failure")
    if failures > len(schedule):
        return None
    return period_start + timedelta(days=schedule[failures - 1])
