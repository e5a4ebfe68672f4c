"""Money helpers: every amount is an integer number of cents."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

__all__ = ["round_cents", "to_decimal"]

_ONE = Decimal(1)


def to_decimal(value: Decimal | int) -> Decimal:
    """Return ``value`` as a Decimal, refusing floats and bools."""
    # A float has already lost the exact cent value; refusing it keeps binary
    # rounding errors out of the books instead of hiding them.
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError("money must be Decimal or int, not %s" % type(value).__name__)
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("money must be finite")
        return value
    raise TypeError("money must be Decimal or int, not %s" % type(value).__name__)


def round_cents(value: Decimal | int) -> int:
    """Round an amount expressed in cents to a whole cent, half away from zero."""
    return int(to_decimal(value).quantize(_ONE, rounding=ROUND_HALF_UP))
