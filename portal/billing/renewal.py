"""What the next renewal of a subscription costs, net of VAT."""
from __future__ import annotations

from .prices import PlanPrice

__all__ = ["renewal_net"]


def renewal_net(plan: PlanPrice, licenses: int, frequency: str) -> int | None:
    """The net amount of the next period at this plan, licenses and frequency, in cents
    (None for a plan without prices, such as a "Contattaci" plan)."""
    price = plan.unit_price(frequency)
    return None if price is None else price * licenses
