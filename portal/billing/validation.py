"""Server-side checks of a requested change; the browser is never trusted."""
from __future__ import annotations

import re
from typing import Any, Mapping

from .prices import PlanPrice
from .periods import FREQUENCIES
from .rules import Problem, change_refusals, plan_problem
from .quote import ChangeRequest, CurrentSubscription

__all__ = ["MAX_LICENSES", "Problem", "parse_licenses", "validate_change"]

MAX_LICENSES = 10_000

# At most six digits: enough for MAX_LICENSES, and int() never sees a huge string.
_LICENSES = re.compile(r"[0-9]{1,6}", re.ASCII)
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_NEGATIVE = re.compile(r"-[0-9]{1,6}", re.ASCII)


def parse_licenses(raw: str | int | None) -> int | None:
    """Return the license count for plain ASCII digits (at most six), else None."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if 0 <= raw <= 999_999 else None
    if not isinstance(raw, str) or not _LICENSES.fullmatch(raw):
        return None
    return int(raw)


def _licenses_problem(raw: Any, assigned: int) -> tuple[int | None, Problem | None]:
    """Return (licenses, problem) for the licenses field; at most one problem."""
    value = parse_licenses(raw)
    if value is None:
        # Tell "too many" and "negative" apart from garbage: they are integers
        # and the user deserves the precise message.
        if isinstance(raw, int) and not isinstance(raw, bool):
            value = raw
        elif isinstance(raw, str) and _DIGITS.fullmatch(raw) and len(raw.lstrip("0")) > 6:
            return None, Problem("licenses_above_max", "licenses", {"max": MAX_LICENSES})
        elif isinstance(raw, str) and _NEGATIVE.fullmatch(raw):
            return None, Problem("licenses_below_one", "licenses", {})
        else:
            return None, Problem("licenses_not_integer", "licenses", {})
    if value < 1:
        return None, Problem("licenses_below_one", "licenses", {})
    if value > MAX_LICENSES:
        return None, Problem("licenses_above_max", "licenses", {"max": MAX_LICENSES})
    if value < assigned:
        return None, Problem("licenses_below_assigned", "licenses", {"assigned": assigned})
    return value, None


def _plan_problem(
    sub: CurrentSubscription, plans: Mapping[str, PlanPrice], plan_code: Any
) -> tuple[PlanPrice | None, Problem | None]:
    """Return (plan, problem) for the plan field; at most one problem."""
    plan = plans.get(plan_code) if isinstance(plan_code, str) else None
    if plan is None or plan.code != plan_code:
        return None, Problem("plan_unknown", "plan", {})
    problem = plan_problem(sub.product_code, sub.status, sub.plan, plan)
    if problem:
        return None, problem
    return plan, None


def validate_change(
    sub: CurrentSubscription,
    plans: Mapping[str, PlanPrice],
    *,
    plan_code: Any,
    licenses_raw: Any,
    frequency: Any,
    account_kind: str,
) -> tuple[ChangeRequest | None, tuple[Problem, ...]]:
    """Check a requested change; return (change, ()) or (None, problems).

    Account and subscription problems (corporate account, canceled
    subscription) stop there, since no field can fix them. Otherwise every
    field's problem is reported at once (one per field), and "no_change" only
    when the fields are all valid. ``plans`` maps plan code to plan.
    """
    refusals = change_refusals(account_kind, sub.status)
    if refusals:
        return None, refusals

    plan, plan_problem = _plan_problem(sub, plans, plan_code)
    licenses, licenses_problem = _licenses_problem(licenses_raw, sub.assigned)
    frequency_problem = None
    if not isinstance(frequency, str) or frequency not in FREQUENCIES:
        frequency_problem = Problem("frequency_unknown", "frequency", {})
    problems = tuple(p for p in (plan_problem, licenses_problem, frequency_problem) if p)
    if problems:
        return None, problems

    if (
        sub.status == "active"
        and sub.plan is not None
        and plan.code == sub.plan.code
        and licenses == sub.licenses
        and frequency == sub.frequency
    ):
        return None, (Problem("no_change", "subscription", {}),)
    return ChangeRequest(subscription=sub, plan=plan, licenses=licenses, frequency=frequency), ()
