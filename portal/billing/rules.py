"""The product's rules about who may change what: one home for each, asked by the pages that
offer a choice and by the orders that accept it.

- Corporate accounts change nothing here (the seed: they use the Corporate Billing Portal).
- A canceled subscription cannot be changed.
- A running subscription (active or in its trial) cannot move to a lower tier online: "a tier
  downgrade needs support". An expired trial starts afresh and may choose any plan.
- Licenses can be assigned only while the subscription runs (active or trialing).
- A retired plan ("no longer sold") stays valid for the running subscriptions on it and
  cannot be chosen by anyone else.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .prices import PlanPrice

__all__ = ["Problem", "RUNNING", "HAS_ACCESS", "OVERDUE", "account_refusal", "change_refusals", "assignment_refusal", "is_downgrade",
           "plan_problem"]

#: Statuses of a subscription that is running: its tier cannot be lowered online.
RUNNING = ("active", "trialing")
#: Statuses whose users have the product: a past-due subscription keeps its users' access
#: while dunning retries; a suspended one does not.
HAS_ACCESS = ("active", "trialing", "past_due")
#: Statuses that owe a renewal: pay it ("Paga ora") before changing anything.
OVERDUE = ("past_due", "suspended")


@dataclass(frozen=True)
class Problem:
    """A refused input: a code for the message catalog, the form field, message params."""

    code: str
    field: str
    params: dict[str, Any] = field(default_factory=dict)


def account_refusal(account_kind: str) -> Problem | None:
    """Why this account cannot change subscriptions here at all, or None."""
    if account_kind == "corporate":
        return Problem("corporate_account", "subscription")
    return None


def change_refusals(account_kind: str, status: str) -> tuple[Problem, ...]:
    """Why no change of this subscription can be ordered here at all (empty when it can)."""
    refusals = [refusal for refusal in (account_refusal(account_kind),) if refusal]
    if status == "canceled":
        refusals.append(Problem("subscription_canceled", "subscription"))
    if status in OVERDUE:
        refusals.append(Problem("payment_overdue", "subscription"))
    return tuple(refusals)


def assignment_refusal(account_kind: str, status: str) -> Problem | None:
    """Why the subscription's licenses cannot be assigned to users here, or None."""
    refusal = account_refusal(account_kind)
    if refusal:
        return refusal
    if status not in HAS_ACCESS:
        return Problem("no_licenses", "subscription")
    return None


def is_downgrade(status: str, current: PlanPrice | None, wanted: PlanPrice) -> bool:
    """True when ``wanted`` is a lower tier than the running subscription's plan."""
    return status in RUNNING and current is not None and wanted.tier < current.tier


def plan_problem(product_code: str, status: str, current: PlanPrice | None,
                 wanted: PlanPrice) -> Problem | None:
    """Why ``wanted`` cannot be chosen for a subscription of ``product_code``, or None."""
    # Another product's plan answers like an unknown code, so that the form cannot be used
    # to probe the catalog.
    if wanted.product_code != product_code:
        return Problem("plan_unknown", "plan")
    if not wanted.self_service or not wanted.has_prices:
        return Problem("plan_not_self_service", "plan")
    if wanted.retired and (status not in RUNNING or current is None
                           or current.code != wanted.code):
        return Problem("plan_retired", "plan")
    if is_downgrade(status, current, wanted):
        return Problem("plan_downgrade", "plan", {"current": current.name})
    return None


def card_lapses_before(exp_year: int, exp_month: int, day) -> bool:
    """True when a card valid through ``exp_month``/``exp_year`` is expired on ``day``: the
    renewal charged that day would be declined (the dashboard's banner, the reminder)."""
    return (exp_year, exp_month) < (day.year, day.month)
