"""Billing details ("Dati di fatturazione"): what an invoice and a FatturaPA file need.

``validate_billing_details`` takes what the customer typed and returns the normalised details
and, per field, the code of what is wrong (the page turns codes into localized messages).
Limits follow the FatturaPA schema (``Denominazione`` 80, ``Indirizzo`` and ``Comune`` 60
characters), so that every saved detail fits the electronic invoice.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from stdnum import exceptions as stdnum_exceptions
from stdnum.it import codicefiscale

from .vat import SELLER_COUNTRY, InvalidVatNumber, is_eu_country, normalize_vat_number

__all__ = ["BillingDetails", "ITALIAN_PROVINCES", "FIELDS", "validate_billing_details",
           "billing_details_problems", "NO_SDI_CODE"]

#: The fields of the form, in the order the page shows them.
FIELDS = ("name", "street", "postal_code", "city", "province", "country", "vat_number",
          "codice_fiscale", "sdi_code", "pec")

NAME_MAX = 80
STREET_MAX = 60
CITY_MAX = 60
PEC_MAX = 254
#: The SdI code of a recipient who receives in the tax authority's reserved area.
NO_SDI_CODE = "0000000"

#: The "sigle" of the Italian provinces and metropolitan cities (SU: Sud Sardegna, 2016).
ITALIAN_PROVINCES = frozenset("""
AG AL AN AO AP AQ AR AT AV BA BG BI BL BN BO BR BS BT BZ CA CB CE CH CL CN CO CR CS CT CZ EN
FC FE FG FI FM FR GE GO GR IM IS KR LC LE LI LO LT LU MB MC ME MI MN MO MS MT NA NO NU OR PA
PC PD PE PG PI PN PO PR PT PU PV PZ RA RC RE RG RI RM RN RO SA SI SO SP SR SS SU SV TA TE TN
TO TP TR TS TV UD VA VB VC VE VI VR VT VV
""".split())

_SPACES = re.compile(r"\s+")
_COUNTRY = re.compile(r"[A-Z]{2}", re.ASCII)
_CAP = re.compile(r"\d{5}", re.ASCII)
_FOREIGN_POSTAL_CODE = re.compile(r"[A-Z0-9][A-Z0-9 -]{1,9}", re.ASCII)
_SDI_CODE = re.compile(r"[A-Z0-9]{7}", re.ASCII)
_FOREIGN_TAX_ID = re.compile(r"[A-Z0-9]{2,28}", re.ASCII)
# Deliberately simple: one @, a dot in the domain, no spaces; the PEC provider checks the rest.
_PEC = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}", re.ASCII)
# Printable text only: FatturaPA is Latin-1 text, and control characters never belong here.
_TEXT = re.compile(r"[\x20-\x7e\xa0-\xff]*")


@dataclass(frozen=True)
class BillingDetails:
    """Normalised billing details; the Italian-only fields are None elsewhere."""

    name: str
    street: str
    postal_code: str
    city: str
    province: str | None
    country: str
    vat_number: str | None
    codice_fiscale: str | None
    sdi_code: str | None
    pec: str | None

    def as_dict(self):
        """The details as a plain dict (for a snapshot or the account row)."""
        return asdict(self)


def _clean(value):
    """Collapse whitespace; None and non-strings become ''."""
    return _SPACES.sub(" ", value).strip() if isinstance(value, str) else ""


def _text(value, limit, errors, field, required=True):
    """A required (or optional) printable text of at most ``limit`` characters."""
    value = _clean(value)
    if not value:
        if required:
            errors[field] = "required"
    elif len(value) > limit:
        errors[field] = "too_long"
    elif not _TEXT.fullmatch(value):
        errors[field] = "characters"
    return value


def validate_billing_details(raw, countries=None):
    """(BillingDetails or None, {field: error code}) for the mapping ``raw``.

    ``countries`` is the set of country codes the page offers (None: any two letters).
    Error codes: required, too_long, characters, country_unknown, postal_code_it,
    postal_code_format, province_unknown, vat_format, vat_checksum, vat_country,
    vat_or_cf_required, cf_invalid, sdi_format, pec_format, sdi_or_pec_required.
    """
    errors = {}
    name = _text(raw.get("name"), NAME_MAX, errors, "name")
    street = _text(raw.get("street"), STREET_MAX, errors, "street")
    city = _text(raw.get("city"), CITY_MAX, errors, "city")
    country = _clean(raw.get("country")).upper()
    if not _COUNTRY.fullmatch(country) or (countries is not None and country not in countries):
        errors["country"] = "country_unknown" if country else "required"
    italy = country == SELLER_COUNTRY

    postal_code = _clean(raw.get("postal_code")).upper()
    if not postal_code:
        errors["postal_code"] = "required"
    elif italy and not _CAP.fullmatch(postal_code):
        errors["postal_code"] = "postal_code_it"
    elif not italy and not _FOREIGN_POSTAL_CODE.fullmatch(postal_code):
        errors["postal_code"] = "postal_code_format"

    province = _clean(raw.get("province")).upper() or None
    if italy and province is None:
        errors["province"] = "required"
    elif italy and province not in ITALIAN_PROVINCES:
        errors["province"] = "province_unknown"
    if not italy:
        province = None

    vat_number = _vat_number(_clean(raw.get("vat_number")), country, errors)
    codice_fiscale = sdi_code = pec = None
    if italy:
        codice_fiscale = _codice_fiscale(_clean(raw.get("codice_fiscale")), errors)
        if vat_number is None and codice_fiscale is None and "vat_number" not in errors \
                and "codice_fiscale" not in errors:
            errors["vat_number"] = "vat_or_cf_required"
        sdi_code = _clean(raw.get("sdi_code")).upper().replace(" ", "") or None
        if sdi_code is not None and not _SDI_CODE.fullmatch(sdi_code):
            errors["sdi_code"] = "sdi_format"
        if sdi_code == NO_SDI_CODE:
            sdi_code = None
        pec = _clean(raw.get("pec")).lower() or None
        if pec is not None and (len(pec) > PEC_MAX or not _PEC.fullmatch(pec)):
            errors["pec"] = "pec_format"
        # A business receives its invoices through the SdI: a code or a PEC address.
        if vat_number and sdi_code is None and pec is None and not (
                {"sdi_code", "pec"} & errors.keys()):
            errors["sdi_code"] = "sdi_or_pec_required"
    if errors:
        return None, errors
    return BillingDetails(name=name, street=street, postal_code=postal_code, city=city,
                          province=province, country=country, vat_number=vat_number,
                          codice_fiscale=codice_fiscale, sdi_code=sdi_code, pec=pec), {}


def _vat_number(value, country, errors):
    """The normalised VAT number (EU: with its prefix), None when empty, or an error."""
    if not value:
        return None
    if is_eu_country(country):
        try:
            return normalize_vat_number(value, country)
        except InvalidVatNumber as error:
            errors["vat_number"] = error.code
            return None
    compact = re.sub(r"[\s.\-/]", "", value).upper()
    if not _FOREIGN_TAX_ID.fullmatch(compact):
        errors["vat_number"] = "vat_format"
        return None
    return compact


def _codice_fiscale(value, errors):
    """A valid codice fiscale (16 characters for a person, 11 digits for a company)."""
    if not value:
        return None
    try:
        return codicefiscale.validate(value.replace(" ", "").upper())
    except stdnum_exceptions.ValidationError:
        errors["codice_fiscale"] = "cf_invalid"
        return None


def billing_details_problems(values, countries=None):
    """The error codes of details already stored (an empty dict: complete and valid)."""
    return validate_billing_details(values, countries)[1]
