"""What the next renewal of a subscription costs (SPEC §3.1).

A subscription renews at the catalog's price of its plan for its frequency: a price change
applies to existing subscriptions from their next renewal. A retired plan ("no longer sold")
renews at the price paid for the current period.
"""
from __future__ import annotations

from .prices import PlanPrice

__all__ = ["renewal_unit_price", "renewal_net", "upcoming_price"]


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
