"""Plan prices as plain values, shared by the engine, the views and the tests."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .money import round_cents
from .periods import FREQUENCIES

__all__ = ["PlanPrice"]


@dataclass(frozen=True)
class PlanPrice:
    """One plan of a product with its prices per license, net of VAT, in cents.

    A plan that is not self-service ("Contattaci") may have no prices
    (``None``); the engine never quotes such a plan.
    """

    code: str
    product_code: str
    name: str
    tier: int
    monthly_cents: int | None
    annual_cents: int | None
    self_service: bool
    #: No longer sold: valid for the subscriptions on it, chosen by nobody else.
    retired: bool = False

    def __post_init__(self):
        """Refuse prices that are not whole, non-negative cents."""
        for value in (self.monthly_cents, self.annual_cents):
            if value is None and not self.self_service:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError("plan %r: prices must be whole, non-negative cents" % self.code)

    @property
    def has_prices(self) -> bool:
        """Tell whether both prices are known (always true for self-service plans)."""
        return self.monthly_cents is not None and self.annual_cents is not None

    def unit_price(self, frequency: str) -> int | None:
        """Return the price per license for one period of ``frequency`` (None if unpriced)."""
        if frequency == "monthly":
            return self.monthly_cents
        if frequency == "annual":
            return self.annual_cents
        raise ValueError("unknown frequency: %r (expected one of %s)" % (frequency, FREQUENCIES))

    def monthly_equivalent(self, frequency: str) -> int | None:
        """Return the price per license per month when billed with ``frequency``."""
        price = self.unit_price(frequency)
        if price is None or frequency == "monthly":
            return price
        return round_cents(Decimal(price) / 12)

    def annual_saving_cents(self) -> int:
        """Return what paying yearly saves per license per year (never negative)."""
        if not self.has_prices:
            return 0
        return max(0, 12 * self.monthly_cents - self.annual_cents)
