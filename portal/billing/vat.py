"""VAT: EU VAT number normalisation and the rate that applies to an account."""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from stdnum import exceptions as stdnum_exceptions
from stdnum.eu import vat as eu_vat

__all__ = [
    "SELLER_COUNTRY",
    "EU_STANDARD_RATES",
    "InvalidVatNumber",
    "VatTreatment",
    "is_eu_country",
    "normalize_vat_number",
    "vat_treatment",
]

SELLER_COUNTRY = "IT"

# Standard rates in percent. Rates change (FI 2024, SK 2025, EE and RO mid-2025):
# keep this table in one place so an update is a one-line data change.
EU_STANDARD_RATES: dict[str, Decimal] = {
    "AT": Decimal("20"),
    "BE": Decimal("21"),
    "BG": Decimal("20"),
    "CY": Decimal("19"),
    "CZ": Decimal("21"),
    "DE": Decimal("19"),
    "DK": Decimal("25"),
    "EE": Decimal("24"),
    "ES": Decimal("21"),
    "FI": Decimal("25.5"),
    "FR": Decimal("20"),
    "GR": Decimal("24"),
    "HR": Decimal("25"),
    "HU": Decimal("27"),
    "IE": Decimal("23"),
    "IT": Decimal("22"),
    "LT": Decimal("21"),
    "LU": Decimal("17"),
    "LV": Decimal("21"),
    "MT": Decimal("18"),
    "NL": Decimal("21"),
    "PL": Decimal("23"),
    "PT": Decimal("23"),
    "RO": Decimal("21"),
    "SE": Decimal("25"),
    "SI": Decimal("22"),
    "SK": Decimal("23"),
}

# VAT numbers use "EL" for Greece while ISO 3166 (and accounts) use "GR".
_VAT_PREFIX_TO_COUNTRY = {"EL": "GR"}
_COUNTRY_TO_VAT_PREFIX = {"GR": "EL"}

_SEPARATORS = re.compile(r"[\s.\-/,]+")
_PREFIX = re.compile(r"[A-Z]{2}", re.ASCII)
_COMPACT = re.compile(r"[A-Z]{2}[A-Z0-9+*]+", re.ASCII)


class InvalidVatNumber(ValueError):
    """A VAT number was refused; ``code`` is one of vat_format, vat_checksum, vat_country."""

    def __init__(self, code: str):
        """Keep the code for the caller to translate."""
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class VatTreatment:
    """The VAT rate (a fraction, e.g. Decimal("0.22")) and the reason code for it."""

    rate: Decimal
    reason: str  # "it_vat" | "reverse_charge" | "eu_vat" | "outside_eu"


def _country(code: str | None) -> str:
    """Return an upper-case ISO country code, mapping the VAT prefix EL to GR."""
    code = (code or "").strip().upper()
    return _VAT_PREFIX_TO_COUNTRY.get(code, code)


def is_eu_country(country: str | None) -> bool:
    """Tell whether ``country`` (ISO 3166 alpha-2) is an EU member state."""
    return _country(country) in EU_STANDARD_RATES


def normalize_vat_number(raw: str, country: str | None = None) -> str:
    """Return the compact, validated EU VAT number with its prefix (EL for Greece).

    A number without a country prefix gets the prefix of ``country``. When
    ``country`` is given, the number must belong to that country: a reverse
    charge is only valid with the customer's own VAT registration.
    Raises InvalidVatNumber("vat_format" | "vat_checksum" | "vat_country").
    """
    if not isinstance(raw, str):
        raise InvalidVatNumber("vat_format")
    cleaned = _SEPARATORS.sub("", raw).upper()
    if not cleaned:
        raise InvalidVatNumber("vat_format")
    account_country = _country(country) if country else None
    if _PREFIX.match(cleaned):
        prefix = cleaned[:2]
    elif account_country:
        prefix = _COUNTRY_TO_VAT_PREFIX.get(account_country, account_country)
        cleaned = prefix + cleaned
    else:
        raise InvalidVatNumber("vat_format")
    number_country = _country(prefix)
    # stdnum also knows XI (Northern Ireland) and EU/IM (OSS): none of them is a
    # member state a reverse charge can be applied to.
    if number_country not in EU_STANDARD_RATES:
        raise InvalidVatNumber("vat_country")
    if account_country is not None and account_country != number_country:
        raise InvalidVatNumber("vat_country")
    vat_prefix = _COUNTRY_TO_VAT_PREFIX.get(number_country, number_country)
    cleaned = vat_prefix + cleaned[2:]
    try:
        number = eu_vat.validate(cleaned)
    except stdnum_exceptions.InvalidChecksum:
        raise InvalidVatNumber("vat_checksum") from None
    except stdnum_exceptions.ValidationError:
        raise InvalidVatNumber("vat_format") from None
    # stdnum folds some look-alike characters; only plain ASCII may be stored.
    if not _COMPACT.fullmatch(number) or not number.startswith(vat_prefix):
        raise InvalidVatNumber("vat_format")
    return number


def vat_treatment(country: str, vat_number: str | None) -> VatTreatment:
    """Return the VAT treatment of a sale by the Italian seller to an account.

    ``vat_number`` must already be normalised; its presence alone triggers the
    reverse charge for a business in another EU country.
    """
    country = _country(country)
    if country == SELLER_COUNTRY:
        return VatTreatment(EU_STANDARD_RATES[SELLER_COUNTRY] / 100, "it_vat")
    if country in EU_STANDARD_RATES:
        if vat_number:
            return VatTreatment(Decimal("0"), "reverse_charge")
        return VatTreatment(EU_STANDARD_RATES[country] / 100, "eu_vat")
    return VatTreatment(Decimal("0"), "outside_eu")
