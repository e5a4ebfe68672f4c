""""Today" for an account: a calendar date in the account's timezone.

The pricing engine never reads the clock; views ask here. ``FIXED_TODAY`` (ISO date) in the
configuration pins the date, for tests and demonstrations.
"""
import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app, has_app_context


def today_in(timezone="Europe/Rome"):
    """The current calendar date in ``timezone`` (or the configured fixed date)."""
    fixed = current_app.config.get("FIXED_TODAY") if has_app_context() else None
    if fixed:
        return fixed if isinstance(fixed, dt.date) else dt.date.fromisoformat(fixed)
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("Europe/Rome")
    return dt.datetime.now(zone).date()
