"""The pricing engine: pure functions over plain values, no web or database code."""
from .catalog import PlanPrice
from .explain import explain_line, explain_quote
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
from .validation import MAX_LICENSES, Problem, parse_licenses, validate_change
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
    "explain_line",
    "explain_quote",
]
