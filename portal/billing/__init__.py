"""The pricing engine: pure functions over plain values, no web or database code."""
from .prices import PlanPrice
from .money import round_cents, to_decimal
from .periods import FREQUENCIES, days_between, period_end
from .quote import (
    STATUSES,
    ChangeRequest,
    CurrentSubscription,
    OrderQuote,
    QuoteLine,
    proration_credit,
    quote_change,
    quote_fingerprint,
)
from .rules import (
    RUNNING,
    Problem,
    account_refusal,
    assignment_refusal,
    change_refusals,
    is_downgrade,
    plan_problem,
)
from .renewal import (
    RenewalQuote,
    quote_renewal,
    renewal_net,
    renewal_unit_price,
    retry_date,
    upcoming_price,
)
from .validation import MAX_LICENSES, parse_licenses, validate_change
from .vat import (
    EU_STANDARD_RATES,
    SELLER_COUNTRY,
    InvalidVatNumber,
    VatTreatment,
    is_eu_country,
    normalize_vat_number,
    vat_treatment,
)

__all__ = [
    "FREQUENCIES",
    "STATUSES",
    "MAX_LICENSES",
    "SELLER_COUNTRY",
    "EU_STANDARD_RATES",
    "PlanPrice",
    "CurrentSubscription",
    "ChangeRequest",
    "QuoteLine",
    "OrderQuote",
    "Problem",
    "VatTreatment",
    "InvalidVatNumber",
    "round_cents",
    "to_decimal",
    "period_end",
    "days_between",
    "proration_credit",
    "quote_change",
    "quote_fingerprint",
    "parse_licenses",
    "validate_change",
    "normalize_vat_number",
    "vat_treatment",
    "is_eu_country",
    "RUNNING",
    "renewal_net",
    "RenewalQuote",
    "quote_renewal",
    "retry_date",
    "renewal_unit_price",
    "upcoming_price",
    "account_refusal",
    "assignment_refusal",
    "change_refusals",
    "is_downgrade",
    "plan_problem",
]
