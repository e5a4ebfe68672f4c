"""Billing periods: calendar dates, one month or one year long."""
from __future__ import annotations

from datetime import date

from dateutil.relativedelta import relativedelta

__all__ = ["FREQUENCIES", "period_end", "days_between"]

FREQUENCIES = ("monthly", "annual")

_STEP = {
    "monthly": relativedelta(months=1),
    "annual": relativedelta(years=1),
}


def period_end(start: date, frequency: str) -> date:
    """Return the exclusive end of the period of ``frequency`` starting on ``start``."""
    # relativedelta clamps to the month's last day (Jan 31 -> Feb 28/29,
    # Feb 29 -> Feb 28 next year), which is what customers expect.
    try:
        step = _STEP[frequency]
    except (KeyError, TypeError):
        raise ValueError("unknown frequency: %r" % (frequency,)) from None
    return start + step


def days_between(a: date, b: date) -> int:
    """Return the number of whole days from ``a`` to ``b`` (negative when b < a)."""
    return (b - a).days
