"""Server-side validation of changes, license parsing and VAT numbers."""
from datetime import date
from decimal import Decimal

import pytest

from portal.billing import (
    EU_STANDARD_RATES,
    MAX_LICENSES,
    SELLER_COUNTRY,
    ChangeRequest,
    CurrentSubscription,
    InvalidVatNumber,
    Problem,
    VatTreatment,
    is_eu_country,
    normalize_vat_number,
    parse_licenses,
    validate_change,
    vat_treatment,
)

from demo_plans import BUSINESS, PLANS, PRO, PROFESSIONAL, STANDARD


def webinar(status="active", plan=STANDARD, licenses=5, frequency="monthly", assigned=4):
    """Return the Rossi Eventi Webinar subscription, or a variation of it."""
    return CurrentSubscription(1, "webinar", "Webinar", plan, licenses, frequency,
                               date(2026, 11, 10), date(2026, 12, 10), status, 1, assigned,
                               price_paid=plan.unit_price(frequency))


def meeting_expired():
    """Return the Rossi Eventi Meeting subscription whose trial expired."""
    return CurrentSubscription(2, "meeting", "Meeting", BUSINESS, 5, "monthly",
                               date(2026, 10, 23), date(2026, 11, 23), "trial_expired", 3, 0)


def check(sub=None, plan="webinar-pro", licenses="8", frequency="annual", kind="self_service"):
    """Validate a change with sensible defaults; returns (change, problem codes)."""
    change, problems = validate_change(sub or webinar(), PLANS, plan_code=plan,
                                       licenses_raw=licenses, frequency=frequency,
                                       account_kind=kind)
    return change, [p.code for p in problems]


# ---------------------------------------------------------------- parse_licenses


@pytest.mark.parametrize("raw,expected", [
    ("1", 1), ("12", 12), ("0", 0), ("10000", 10000), ("10001", 10001), ("000012", 12),
    ("999999", 999999), (7, 7), (0, 0),
    ("-1", None), ("+1", None), ("12.5", None), ("12.0", None), ("1e3", None), ("1_000", None),
    (" 12", None), ("12 ", None), ("12\n", None), ("1 2", None), ("１２", None), ("١٢", None),
    ("۱۲", None), ("", None), (None, None), ("1000000", None), ("0x10", None), ("abc", None),
    (True, None), (-3, None), (12.0, None), ([12], None),
])
def test_parse_licenses(raw, expected):
    assert parse_licenses(raw) == expected


# ---------------------------------------------------------------- validate_change


def test_valid_upgrade():
    change, codes = check()
    assert codes == []
    assert change == ChangeRequest(webinar(), PRO, 8, "annual")


@pytest.mark.parametrize("raw,code", [
    ("-1", "licenses_below_one"), ("0", "licenses_below_one"), ("12.5", "licenses_not_integer"),
    ("1e3", "licenses_not_integer"), ("1_000", "licenses_not_integer"),
    (" 12", "licenses_not_integer"), ("12 ", "licenses_not_integer"),
    ("１２", "licenses_not_integer"), ("١٢", "licenses_not_integer"),
    ("", "licenses_not_integer"), (None, "licenses_not_integer"),
    ("10001", "licenses_above_max"), ("99999999999999999999", "licenses_above_max"),
    ("3", "licenses_below_assigned"), (-2, "licenses_below_one"), (10**9, "licenses_above_max"),
])
def test_license_problems(raw, code):
    change, codes = check(licenses=raw)
    assert change is None and codes == [code]


def test_license_problem_params():
    _, problems = validate_change(webinar(), PLANS, plan_code="webinar-pro",
                                  licenses_raw="10001", frequency="annual",
                                  account_kind="self_service")
    assert problems == (Problem("licenses_above_max", "licenses", {"max": MAX_LICENSES}),)
    _, problems = validate_change(webinar(), PLANS, plan_code="webinar-pro",
                                  licenses_raw="2", frequency="annual",
                                  account_kind="self_service")
    assert problems == (Problem("licenses_below_assigned", "licenses", {"assigned": 4}),)


@pytest.mark.parametrize("raw,expected", [("10000", 10000), ("4", 4), ("1", 1), (9, 9)])
def test_licenses_accepted(raw, expected):
    sub = webinar(assigned=1 if raw == "1" else 4)
    change, codes = check(sub=sub, licenses=raw)
    assert codes == [] and change.licenses == expected


@pytest.mark.parametrize("plan,code", [
    ("webinar-gold", "plan_unknown"),
    ("meeting-business", "plan_unknown"),  # another product's plan looks unknown
    ("", "plan_unknown"), (None, "plan_unknown"), (["webinar-pro"], "plan_unknown"),
    ("webinar-enterprise", "plan_not_self_service"),
    ("webinar-lite", "plan_downgrade"),
])
def test_plan_problems(plan, code):
    change, codes = check(plan=plan)
    assert change is None and codes == [code]


def test_plan_mapping_key_must_match_code():
    change, problems = validate_change(webinar(), {"webinar-pro": STANDARD},
                                       plan_code="webinar-pro", licenses_raw="8",
                                       frequency="annual", account_kind="self_service")
    assert change is None and [p.code for p in problems] == ["plan_unknown"]


def test_downgrade_refused_while_trialing():
    _, codes = check(sub=webinar(status="trialing"), plan="webinar-lite")
    assert codes == ["plan_downgrade"]


def test_expired_trial_is_a_new_purchase():
    # Any self-service plan, even a lower tier, and the same settings are fine.
    change, codes = check(sub=meeting_expired(), plan="meeting-professional", licenses="2",
                          frequency="monthly")
    assert codes == [] and change.plan == PROFESSIONAL
    change, codes = check(sub=meeting_expired(), plan="meeting-business", licenses="5",
                          frequency="monthly")
    assert codes == [] and change.licenses == 5


@pytest.mark.parametrize("frequency", ["weekly", "", None, "Monthly", "annual ", 1])
def test_frequency_unknown(frequency):
    _, codes = check(frequency=frequency)
    assert codes == ["frequency_unknown"]


def test_all_field_problems_together():
    _, problems = validate_change(webinar(), PLANS, plan_code="webinar-lite",
                                  licenses_raw="12.5", frequency="weekly",
                                  account_kind="self_service")
    assert [(p.code, p.field) for p in problems] == [
        ("plan_downgrade", "plan"),
        ("licenses_not_integer", "licenses"),
        ("frequency_unknown", "frequency"),
    ]


def test_corporate_account_refused():
    _, problems = validate_change(webinar(), PLANS, plan_code="webinar-pro",
                                  licenses_raw="8", frequency="annual",
                                  account_kind="corporate")
    assert problems == (Problem("corporate_account", "subscription", {}),)


def test_canceled_subscription_refused():
    _, codes = check(sub=webinar(status="canceled"), licenses="x")
    assert codes == ["subscription_canceled"]
    _, codes = check(sub=webinar(status="canceled"), kind="corporate")
    assert codes == ["corporate_account", "subscription_canceled"]


def test_no_change():
    change, problems = validate_change(webinar(), PLANS, plan_code="webinar-standard",
                                       licenses_raw="5", frequency="monthly",
                                       account_kind="self_service")
    assert change is None
    assert problems == (Problem("no_change", "subscription", {}),)


def test_no_change_only_without_other_problems():
    sub = webinar(assigned=6)  # more users assigned than licenses
    _, codes = check(sub=sub, plan="webinar-standard", licenses="5", frequency="monthly")
    assert codes == ["licenses_below_assigned"]


def test_same_settings_on_a_trial_is_a_change():
    change, codes = check(sub=webinar(status="trialing"), plan="webinar-standard",
                          licenses="5", frequency="monthly")
    assert codes == [] and change is not None


@pytest.mark.parametrize("plan,licenses,frequency", [
    ("webinar-standard", "6", "monthly"),
    ("webinar-standard", "5", "annual"),
    ("webinar-pro", "5", "monthly"),
    ("webinar-standard", "4", "monthly"),  # fewer licenses are fine online
])
def test_single_differences_are_changes(plan, licenses, frequency):
    change, codes = check(plan=plan, licenses=licenses, frequency=frequency)
    assert codes == [] and change is not None


# ---------------------------------------------------------------- VAT numbers


@pytest.mark.parametrize("raw,country,expected", [
    ("IT01234560124", None, "IT01234560124"),
    ("it 0123456 0124", None, "IT01234560124"),
    ("IT-012.345.601-24", None, "IT01234560124"),
    ("01234560124", "IT", "IT01234560124"),
    ("0123456 0124", "it", "IT01234560124"),
    ("IT01234560124", "IT", "IT01234560124"),
    ("GR094259216", None, "EL094259216"),
    ("gr 094 259 216", "GR", "EL094259216"),
    ("EL094259216", None, "EL094259216"),
    ("094259216", "GR", "EL094259216"),
    ("DE136695976", None, "DE136695976"),
    ("de 136.695.976", "DE", "DE136695976"),
    ("ATU 5719 4903", "AT", "ATU57194903"),
    ("FR 61 954 506 077", None, "FR61954506077"),
])
def test_vat_number_normalised(raw, country, expected):
    assert normalize_vat_number(raw, country) == expected


@pytest.mark.parametrize("raw,country,code", [
    ("IT01234560125", None, "vat_checksum"),
    ("DE136695977", None, "vat_checksum"),
    ("EL094259217", None, "vat_checksum"),
    ("IT0123456012", None, "vat_format"),
    ("ITABCDEFGHIJK", None, "vat_format"),
    ("", None, "vat_format"),
    ("   ", "IT", "vat_format"),
    ("01234560124", None, "vat_format"),  # no prefix and no country to take it from
    ("US123456789", None, "vat_country"),
    ("CHE-123.456.788", None, "vat_country"),
    ("GB980780684", None, "vat_country"),
    ("XI980780684", None, "vat_country"),  # Northern Ireland is not an EU member state
    ("EU372009975", None, "vat_country"),  # OSS numbers are not a customer's VAT number
    ("123456789", "US", "vat_country"),
    ("DE136695976", "IT", "vat_country"),  # not the account's country
    (None, None, "vat_format"),
])
def test_vat_number_refused(raw, country, code):
    with pytest.raises(InvalidVatNumber) as info:
        normalize_vat_number(raw, country)
    assert info.value.code == code


def test_eu_rates_table():
    assert len(EU_STANDARD_RATES) == 27
    assert SELLER_COUNTRY == "IT"
    assert EU_STANDARD_RATES["IT"] == Decimal("22")
    assert EU_STANDARD_RATES["DE"] == Decimal("19")
    assert EU_STANDARD_RATES["FI"] == Decimal("25.5")
    assert "GR" in EU_STANDARD_RATES and "EL" not in EU_STANDARD_RATES
    assert "GB" not in EU_STANDARD_RATES
    assert all(isinstance(rate, Decimal) and 0 < rate < 30 for rate in EU_STANDARD_RATES.values())
    assert is_eu_country("gr") and is_eu_country("EL") and not is_eu_country("CH")


@pytest.mark.parametrize("country,vat_number,expected", [
    ("IT", None, VatTreatment(Decimal("0.22"), "it_vat")),
    ("IT", "IT01234560124", VatTreatment(Decimal("0.22"), "it_vat")),
    ("DE", "DE136695976", VatTreatment(Decimal("0"), "reverse_charge")),
    ("DE", None, VatTreatment(Decimal("0.19"), "eu_vat")),
    ("DE", "", VatTreatment(Decimal("0.19"), "eu_vat")),
    ("FI", None, VatTreatment(Decimal("0.255"), "eu_vat")),
    ("GR", None, VatTreatment(Decimal("0.24"), "eu_vat")),
    ("US", None, VatTreatment(Decimal("0"), "outside_eu")),
    ("US", "whatever", VatTreatment(Decimal("0"), "outside_eu")),
    ("CH", None, VatTreatment(Decimal("0"), "outside_eu")),
])
def test_vat_treatment(country, vat_number, expected):
    assert vat_treatment(country, vat_number) == expected
