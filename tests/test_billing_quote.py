"""The pricing engine pinned to SPEC section 3: worked examples and boundary cases.

Every expected figure is computed by hand in the table, never by the code under test.
"""
from datetime import date
from decimal import Decimal

import pytest

from portal.billing import (
    ChangeRequest,
    CurrentSubscription,
    PlanPrice,
    days_between,
    period_end,
    proration_credit,
    quote_change,
    round_cents,
)

from demo_plans import BUSINESS, ENTERPRISE, PRO, PROFESSIONAL, STANDARD
# Only for rounding and zero-price cases the demo catalog cannot produce.
CENT = PlanPrice("test-cent", "webinar", "Cent", 2, 1, 12, True)
QUARTER = PlanPrice("test-quarter", "webinar", "Quarter", 2, 25, 300, True)
FREE = PlanPrice("test-free", "webinar", "Free", 2, 0, 0, True)

TODAY = date(2026, 11, 26)


def webinar(plan=STANDARD, licenses=5, frequency="monthly", start=date(2026, 11, 10),
            end=date(2026, 12, 10), status="active", sub_id=1, version=1, assigned=4):
    """Return the Rossi Eventi Webinar subscription, or a variation of it."""
    return CurrentSubscription(sub_id, "webinar", "Webinar", plan, licenses, frequency,
                               start, end, status, version, assigned,
                               price_paid=plan.unit_price(frequency)
                               if status == "active" and plan else None)


def meeting_expired(sub_id=2):
    """Return the Rossi Eventi Meeting subscription whose trial expired."""
    return CurrentSubscription(sub_id, "meeting", "Meeting", PROFESSIONAL, 5, "monthly",
                               date(2026, 10, 23), date(2026, 11, 23), "trial_expired", 3, 0)


def quote(*items, country="IT", vat_number=None, balance=5000, today=TODAY):
    """Quote (subscription, plan, licenses, frequency) tuples."""
    return quote_change([ChangeRequest(*item) for item in items], country=country,
                        vat_number=vat_number, balance=balance, today=today)


# ---------------------------------------------------------------- worked examples


def test_example_a_upgrade_to_pro_annual():
    q = quote((webinar(), PRO, 8, "annual"))
    (line,) = q.lines
    assert (line.credit, line.unused_days, line.period_days) == (27767, 14, 30)
    assert line.charge == 1910400
    assert line.unit_price == 238800
    assert (line.period_start, line.period_end) == (date(2026, 11, 26), date(2027, 11, 26))
    assert q.subtotal == 1882633
    assert q.vat_rate == Decimal("0.22") and q.vat_reason == "it_vat"
    assert q.vat == 414179
    assert q.total == 2296812
    assert q.applied == 5000
    assert q.due == 2291812
    assert q.credit_added == 0
    assert (line.old_licenses, line.new_licenses) == (5, 8)
    assert q.balance_after == 0


def test_example_b_fewer_licenses_still_costs():
    q = quote((webinar(), STANDARD, 3, "monthly"))
    (line,) = q.lines
    assert line.credit == 27767
    assert line.charge == 35700
    assert (line.period_start, line.period_end) == (date(2026, 11, 26), date(2026, 12, 26))
    assert q.subtotal == 7933
    assert q.vat == 1745
    assert q.total == 9678
    assert q.applied == 5000
    assert q.due == 4678
    assert q.credit_added == 0
    assert line.new_licenses <= line.old_licenses


def test_example_c_annual_to_monthly_adds_gross_credit():
    sub = webinar(frequency="annual", start=date(2026, 1, 10), end=date(2027, 1, 10))
    q = quote((sub, STANDARD, 5, "monthly"))
    (line,) = q.lines
    assert (line.credit, line.unused_days, line.period_days) == (73233, 45, 365)
    assert line.charge == 59500
    assert (line.period_start, line.period_end) == (date(2026, 11, 26), date(2026, 12, 26))
    assert q.subtotal == -13733
    assert q.credit_added == 16754
    assert q.vat == 0
    assert q.total == -13733
    assert q.applied == 0
    assert q.due == 0
    assert q.balance_after == 5000 + 16754


# ---------------------------------------------------------------- boundary table

D = date
BOUNDARY_CASES = [
    # id, current (plan, licenses, freq, start, end), today, new (plan, licenses, freq),
    # expected (credit, unused_days, period_days, charge, new_end)
    ("first day of period", (STANDARD, 5, "monthly", D(2026, 11, 10), D(2026, 12, 10)),
     D(2026, 11, 10), (PRO, 5, "monthly"), (59500, 30, 30, 119500, D(2026, 12, 10))),
    ("last day of period", (STANDARD, 5, "monthly", D(2026, 11, 10), D(2026, 12, 10)),
     D(2026, 12, 9), (STANDARD, 6, "monthly"), (1983, 1, 30, 71400, D(2027, 1, 9))),
    ("period already ended", (STANDARD, 5, "monthly", D(2026, 11, 10), D(2026, 12, 10)),
     D(2026, 12, 10), (STANDARD, 5, "monthly"), (0, 0, 0, 59500, D(2027, 1, 10))),
    ("well past the end", (STANDARD, 5, "monthly", D(2026, 11, 10), D(2026, 12, 10)),
     D(2027, 3, 1), (PRO, 5, "monthly"), (0, 0, 0, 119500, D(2027, 4, 1))),
    ("28-day February", (STANDARD, 5, "monthly", D(2026, 2, 1), D(2026, 3, 1)),
     D(2026, 2, 15), (PRO, 5, "monthly"), (29750, 14, 28, 119500, D(2026, 3, 15))),
    ("29-day February, on 29 Feb", (STANDARD, 5, "monthly", D(2028, 2, 1), D(2028, 3, 1)),
     D(2028, 2, 29), (STANDARD, 5, "monthly"), (2052, 1, 29, 59500, D(2028, 3, 29))),
    ("29 Feb to annual ends 28 Feb", (STANDARD, 5, "monthly", D(2028, 2, 1), D(2028, 3, 1)),
     D(2028, 2, 29), (PRO, 5, "annual"), (2052, 1, 29, 1194000, D(2029, 2, 28))),
    ("30-day month", (STANDARD, 5, "monthly", D(2026, 4, 15), D(2026, 5, 15)),
     D(2026, 4, 16), (STANDARD, 5, "annual"), (57517, 29, 30, 594000, D(2027, 4, 16))),
    ("31-day month", (STANDARD, 5, "monthly", D(2026, 3, 10), D(2026, 4, 10)),
     D(2026, 3, 25), (PRO, 5, "monthly"), (30710, 16, 31, 119500, D(2026, 4, 25))),
    ("31 Jan period ends 28 Feb", (STANDARD, 5, "monthly", D(2026, 1, 31), D(2026, 2, 28)),
     D(2026, 2, 14), (STANDARD, 5, "monthly"), (29750, 14, 28, 59500, D(2026, 3, 14))),
    ("new period from 31 Jan", (STANDARD, 5, "monthly", D(2025, 12, 31), D(2026, 1, 31)),
     D(2026, 1, 31), (PRO, 5, "monthly"), (0, 0, 0, 119500, D(2026, 2, 28))),
    ("annual period", (STANDARD, 5, "annual", D(2026, 1, 10), D(2027, 1, 10)),
     D(2026, 7, 1), (PRO, 5, "annual"), (314088, 193, 365, 1194000, D(2027, 7, 1))),
    ("leap annual period, last day", (STANDARD, 5, "annual", D(2027, 3, 1), D(2028, 3, 1)),
     D(2028, 2, 29), (STANDARD, 5, "monthly"), (1623, 1, 366, 59500, D(2028, 3, 29))),
    ("DST starts in Rome", (STANDARD, 5, "monthly", D(2026, 3, 10), D(2026, 4, 10)),
     D(2026, 3, 29), (PRO, 5, "monthly"), (23032, 12, 31, 119500, D(2026, 4, 29))),
    ("DST ends in Rome", (STANDARD, 5, "monthly", D(2026, 10, 10), D(2026, 11, 10)),
     D(2026, 10, 25), (PRO, 5, "monthly"), (30710, 16, 31, 119500, D(2026, 11, 25))),
    ("half cent rounds up", (CENT, 5, "monthly", D(2026, 11, 1), D(2026, 12, 1)),
     D(2026, 11, 16), (CENT, 5, "annual"), (3, 15, 30, 60, D(2027, 11, 16))),
    ("meeting monthly", (PROFESSIONAL, 10, "monthly", D(2026, 11, 1), D(2026, 12, 1)),
     D(2026, 11, 21), (BUSINESS, 10, "monthly"), (4667, 10, 30, 19000, D(2026, 12, 21))),
]


@pytest.mark.parametrize("current,today,new,expected",
                         [case[1:] for case in BOUNDARY_CASES],
                         ids=[case[0] for case in BOUNDARY_CASES])
def test_boundary_line(current, today, new, expected):
    plan, licenses, frequency, start, end = current
    sub = webinar(plan=plan, licenses=licenses, frequency=frequency, start=start, end=end)
    q = quote((sub, *new), today=today, balance=0)
    (line,) = q.lines
    credit, unused, period, charge, new_end = expected
    assert (line.credit, line.unused_days, line.period_days) == (credit, unused, period)
    assert line.charge == charge
    assert line.period_start == today
    assert line.period_end == new_end
    assert line.amount == charge - credit
    assert q.subtotal == charge - credit


# Order-level figures: (id, items, country, vat_number, balance,
#   expected (subtotal, vat, total, applied, due, credit_added, vat_reason))
def _a():
    """Return the change of worked example A."""
    return (webinar(), PRO, 8, "annual")


def _c():
    """Return the change of worked example C."""
    return (webinar(frequency="annual", start=D(2026, 1, 10), end=D(2027, 1, 10)),
            STANDARD, 5, "monthly")


ORDER_CASES = [
    ("first day 28-day month, IT", [(webinar(start=D(2026, 2, 1), end=D(2026, 3, 1)),
                                      PRO, 5, "monthly")], D(2026, 2, 15), "IT", None, 0,
     (89750, 19745, 109495, 0, 109495, 0, "it_vat")),
    ("last day of period, IT", [(webinar(), STANDARD, 6, "monthly")], D(2026, 12, 9), "IT",
     None, 0, (69417, 15272, 84689, 0, 84689, 0, "it_vat")),
    ("zero subtotal: same plan on the first day", [(webinar(), STANDARD, 5, "monthly")],
     D(2026, 11, 10), "IT", None, 5000, (0, 0, 0, 0, 0, 0, "it_vat")),
    ("zero-priced plan, new", [(webinar(status="trial_expired"), FREE, 3, "monthly")], TODAY,
     "IT", None, 5000, (0, 0, 0, 0, 0, 0, "it_vat")),
    ("VAT half cent rounds up", [(webinar(status="trial_expired"), QUARTER, 1, "monthly")],
     TODAY, "IT", None, 0, (25, 6, 31, 0, 31, 0, "it_vat")),
    ("two items: upgrade and expired trial", [_a(), (meeting_expired(), BUSINESS, 4, "annual")],
     TODAY, "IT", None, 5000, (1959433, 431075, 2390508, 5000, 2385508, 0, "it_vat")),
    ("negative subtotal, IT VAT", [_c()], TODAY, "IT", None, 5000,
     (-13733, 0, -13733, 0, 0, 16754, "it_vat")),
    ("negative subtotal, outside EU", [_c()], TODAY, "US", None, 5000,
     (-13733, 0, -13733, 0, 0, 13733, "outside_eu")),
    ("negative subtotal, reverse charge", [_c()], TODAY, "DE", "DE136695976", 5000,
     (-13733, 0, -13733, 0, 0, 13733, "reverse_charge")),
    ("negative subtotal, German VAT", [_c()], TODAY, "DE", None, 5000,
     (-13733, 0, -13733, 0, 0, 16342, "eu_vat")),
    ("negative subtotal outweighs an increase", [_c(), (meeting_expired(), BUSINESS, 2,
                                                        "monthly")], TODAY, "IT", None, 0,
     (-9933, 0, -9933, 0, 0, 12118, "it_vat")),
    ("balance larger than total", [(webinar(), STANDARD, 3, "monthly")], TODAY, "IT", None,
     20000, (7933, 1745, 9678, 9678, 0, 0, "it_vat")),
    ("balance equal to total", [(webinar(), STANDARD, 3, "monthly")], TODAY, "IT", None,
     9678, (7933, 1745, 9678, 9678, 0, 0, "it_vat")),
    ("negative balance is not collected", [(webinar(), STANDARD, 3, "monthly")], TODAY, "IT",
     None, -500, (7933, 1745, 9678, 0, 9678, 0, "it_vat")),
    ("outside EU, positive", [_a()], TODAY, "US", None, 0,
     (1882633, 0, 1882633, 0, 1882633, 0, "outside_eu")),
    ("France without VAT number", [(webinar(), STANDARD, 3, "monthly")], TODAY, "FR", None, 0,
     (7933, 1587, 9520, 0, 9520, 0, "eu_vat")),
    ("Finland 25.5%", [(webinar(), STANDARD, 3, "monthly")], TODAY, "FI", None, 0,
     (7933, 2023, 9956, 0, 9956, 0, "eu_vat")),
    ("Italian account with a VAT number still pays IT VAT", [(webinar(), STANDARD, 3,
                                                              "monthly")], TODAY, "IT",
     "IT01234560124", 0, (7933, 1745, 9678, 0, 9678, 0, "it_vat")),
]


@pytest.mark.parametrize("items,today,country,vat_number,balance,expected",
                         [case[1:] for case in ORDER_CASES],
                         ids=[case[0] for case in ORDER_CASES])
def test_order_totals(items, today, country, vat_number, balance, expected):
    q = quote(*items, country=country, vat_number=vat_number, balance=balance, today=today)
    subtotal, vat, total, applied, due, credit_added, reason = expected
    assert (q.subtotal, q.vat, q.total, q.applied, q.due, q.credit_added, q.vat_reason) == (
        subtotal, vat, total, applied, due, credit_added, reason)
    assert all(line.period_start == today for line in q.lines)


# ---------------------------------------------------------------- credit rules


@pytest.mark.parametrize("status", ["trialing", "trial_expired", "canceled"])
def test_no_credit_unless_active(status):
    sub = webinar(status=status)
    assert proration_credit(sub, TODAY) == (0, 0, 0)
    (line,) = quote((sub, PRO, 5, "monthly")).lines
    assert line.is_new and line.credit == 0 and line.new_licenses == 5


def test_no_credit_without_plan_or_dates():
    assert proration_credit(webinar(plan=None), TODAY) == (0, 0, 0)
    assert proration_credit(webinar(start=None, end=None), TODAY) == (0, 0, 0)


def test_period_not_started_yet_is_credited_in_full():
    assert proration_credit(webinar(), D(2026, 11, 1)) == (59500, 30, 30)


def test_lines_are_sorted_and_duplicates_refused():
    q = quote((meeting_expired(), BUSINESS, 4, "annual"), _a())
    assert [line.subscription_id for line in q.lines] == [1, 2]
    with pytest.raises(ValueError):
        quote(_a(), (webinar(), STANDARD, 3, "monthly"))


def test_unpriced_plan_is_not_quoted():
    with pytest.raises(ValueError):
        quote((webinar(), ENTERPRISE, 5, "annual"))


def test_empty_order_is_zero():
    q = quote()
    assert (q.subtotal, q.vat, q.total, q.applied, q.due, q.credit_added) == (0,) * 6


# ---------------------------------------------------------------- helpers


def test_round_cents_half_up_and_no_float():
    assert round_cents(Decimal("2.5")) == 3
    assert round_cents(Decimal("2.4999")) == 2
    assert round_cents(Decimal("-2.5")) == -3
    assert round_cents(7) == 7
    with pytest.raises(TypeError):
        round_cents(2.5)


@pytest.mark.parametrize("start,frequency,end", [
    (D(2026, 1, 31), "monthly", D(2026, 2, 28)),
    (D(2028, 1, 31), "monthly", D(2028, 2, 29)),
    (D(2028, 2, 29), "annual", D(2029, 2, 28)),
    (D(2026, 12, 15), "monthly", D(2027, 1, 15)),
    (D(2026, 11, 26), "annual", D(2027, 11, 26)),
])
def test_period_end(start, frequency, end):
    assert period_end(start, frequency) == end


def test_period_end_unknown_frequency():
    with pytest.raises(ValueError):
        period_end(TODAY, "weekly")


def test_days_between():
    assert days_between(D(2026, 11, 10), D(2026, 12, 10)) == 30
    assert days_between(D(2026, 12, 10), D(2026, 11, 10)) == -30


def test_plan_price_helpers():
    assert STANDARD.unit_price("monthly") == 11900
    assert STANDARD.unit_price("annual") == 118800
    assert STANDARD.monthly_equivalent("monthly") == 11900
    assert STANDARD.monthly_equivalent("annual") == 9900
    assert PROFESSIONAL.monthly_equivalent("annual") == 1200
    assert CENT.monthly_equivalent("annual") == 1
    assert PlanPrice("x", "p", "X", 1, 100, 1206, True).monthly_equivalent("annual") == 101
    assert STANDARD.annual_saving_cents() == 24000
    assert PRO.annual_saving_cents() == 48000
    assert PlanPrice("x", "p", "X", 1, 100, 1300, True).annual_saving_cents() == 0
    assert ENTERPRISE.annual_saving_cents() == 0
    assert ENTERPRISE.unit_price("annual") is None
    with pytest.raises(ValueError):
        STANDARD.unit_price("weekly")
    with pytest.raises(ValueError):
        PlanPrice("x", "p", "X", 1, -1, 0, True)
    with pytest.raises(ValueError):
        PlanPrice("x", "p", "X", 1, None, 0, True)
