"""Plain-language explanations of a quote as (key, params) pairs.

The engine speaks no language: templates map each key to a translated
sentence and format the params (cents as money, dates in the locale).

Line keys and their params:

- ``new_subscription``: product, plan, frequency — an expired trial or new purchase.
- ``credit``: days, period_days, product, plan, licenses, frequency, amount —
  unused time of the current period, given back.
- ``plan_change``: product, old_plan, new_plan.
- ``frequency_change``: old_frequency, new_frequency.
- ``licenses_change``: old_licenses, new_licenses, added, removed.
- ``charge``: product, licenses, plan, frequency, unit_price, start, end, amount —
  a full new period starting today.
- ``line_total``: amount (charge − credit, may be negative).

Order keys (``explain_quote``): ``subtotal``, ``vat`` (rate_percent, reason,
amount), ``balance_applied``, ``credit_added``, ``due``.
"""
from __future__ import annotations

from .quote import OrderQuote, QuoteLine

__all__ = ["explain_line", "explain_quote"]


def explain_line(line: QuoteLine) -> list[tuple[str, dict]]:
    """Return the explanation entries of one quote line, in reading order."""
    entries: list[tuple[str, dict]] = []
    if line.is_new:
        entries.append(("new_subscription", {
            "product": line.product_name,
            "plan": line.new_plan.name,
            "frequency": line.new_frequency,
        }))
    if line.credit > 0:
        entries.append(("credit", {
            "days": line.unused_days,
            "period_days": line.period_days,
            "product": line.product_name,
            "plan": line.old_plan.name if line.old_plan else None,
            "licenses": line.old_licenses,
            "frequency": line.old_frequency,
            "amount": line.credit,
        }))
    if not line.is_new:
        if line.plan_changed:
            entries.append(("plan_change", {
                "product": line.product_name,
                "old_plan": line.old_plan.name if line.old_plan else None,
                "new_plan": line.new_plan.name,
            }))
        if line.frequency_changed:
            entries.append(("frequency_change", {
                "old_frequency": line.old_frequency,
                "new_frequency": line.new_frequency,
            }))
        if line.old_licenses != line.new_licenses:
            entries.append(("licenses_change", {
                "old_licenses": line.old_licenses,
                "new_licenses": line.new_licenses,
                "added": max(0, line.new_licenses - line.old_licenses),
                "removed": max(0, line.old_licenses - line.new_licenses),
            }))
    entries.append(("charge", {
        "product": line.product_name,
        "licenses": line.new_licenses,
        "plan": line.new_plan.name,
        "frequency": line.new_frequency,
        "unit_price": line.unit_price,
        "start": line.period_start,
        "end": line.period_end,
        "amount": line.charge,
    }))
    entries.append(("line_total", {"amount": line.amount}))
    return entries


def explain_quote(quote: OrderQuote) -> list[tuple[str, dict]]:
    """Return the order-level explanation entries (after the lines')."""
    entries: list[tuple[str, dict]] = [("subtotal", {"amount": quote.subtotal})]
    if quote.subtotal > 0:
        entries.append(("vat", {
            "rate_percent": quote.vat_percent,
            "reason": quote.vat_reason,
            "amount": quote.vat,
        }))
    if quote.applied > 0:
        entries.append(("balance_applied", {"amount": quote.applied, "balance": quote.balance}))
    if quote.credit_added > 0:
        entries.append(("credit_added", {
            "amount": quote.credit_added,
            "rate_percent": quote.vat_percent,
            "reason": quote.vat_reason,
        }))
    entries.append(("due", {"amount": quote.due}))
    return entries
