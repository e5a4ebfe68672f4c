"""Dati di fatturazione: every field refused with its own message, VIES (valid, invalid,
unavailable, slow) and the re-check of numbers accepted provisionally."""
import re
import time

import pytest

from portal.billing.details import validate_billing_details
from portal.core.db import db
from portal.customers.details import recheck_unchecked
from test_checkout_support import account, set_account

GOOD = {"name": "Rossi Eventi S.r.l.", "street": "Via Roma 1", "postal_code": "20121",
        "city": "Milano", "province": "MI", "country": "IT", "vat_number": "IT01234560124",
        "codice_fiscale": "01234560124", "sdi_code": "M5UXCR1", "pec": ""}
GERMAN = dict(GOOD, country="DE", vat_number="DE136695976", province="", postal_code="10115",
              city="Berlin", street="Hauptstr. 1", codice_fiscale="", sdi_code="")


@pytest.mark.parametrize("field,value,code", [
    ("name", "", "required"),
    ("name", "x" * 81, "too_long"),
    ("name", "Rossi\x07", "characters"),
    ("street", "  ", "required"),
    ("street", "v" * 61, "too_long"),
    ("postal_code", "", "required"),
    ("postal_code", "2012", "postal_code_it"),
    ("postal_code", "20121a", "postal_code_it"),
    ("city", "", "required"),
    ("city", "c" * 61, "too_long"),
    ("province", "", "required"),
    ("province", "XX", "province_unknown"),
    ("country", "", "required"),
    ("country", "QQ", "country_unknown"),
    ("country", "ITA", "country_unknown"),
    ("vat_number", "IT123", "vat_format"),
    ("vat_number", "IT01234560125", "vat_checksum"),
    ("vat_number", "DE136695976", "vat_country"),
    ("codice_fiscale", "RSSMRA85T10A562X", "cf_invalid"),
    ("sdi_code", "M5U", "sdi_format"),
    ("sdi_code", "M5UXCR1!", "sdi_format"),
    ("pec", "not-an-address", "pec_format"),
])
def test_every_field_is_refused_with_its_reason(field, value, code):
    details, errors = validate_billing_details(dict(GOOD, **{field: value}),
                                               countries={"IT", "DE", "US"})
    assert details is None and errors == {field: code}


@pytest.mark.parametrize("changes,field,code", [
    ({"vat_number": "", "codice_fiscale": ""}, "vat_number", "vat_or_cf_required"),
    ({"sdi_code": "", "pec": ""}, "sdi_code", "sdi_or_pec_required"),
    ({"sdi_code": "0000000", "pec": ""}, "sdi_code", "sdi_or_pec_required"),
    ({"country": "DE", "vat_number": "DE136695976", "postal_code": "!!"}, "postal_code",
     "postal_code_format"),
    ({"country": "US", "vat_number": "12-3456789@"}, "vat_number", "vat_format"),
])
def test_rules_across_fields(changes, field, code):
    assert validate_billing_details(dict(GOOD, **changes))[1] == {field: code}


def test_normalised_details():
    details, errors = validate_billing_details(dict(
        GOOD, vat_number=" it 0123456 0124 ", province="mi", sdi_code="m5uxcr1",
        pec="Fatture@PEC.Example.it"))
    assert errors == {}
    assert (details.vat_number, details.province, details.sdi_code, details.pec) == (
        "IT01234560124", "MI", "M5UXCR1", "fatture@pec.example.it")
    foreign, errors = validate_billing_details(dict(GERMAN, province="BE", sdi_code="X",
                                                    codice_fiscale="junk"))
    assert errors == {} and foreign.province is None and foreign.sdi_code is None
    assert foreign.codice_fiscale is None


def test_page_shows_the_details_and_saves_them(giulia):
    html = giulia.get("/billing-details").get_data(as_text=True)
    assert 'value="M5UXCR1"' in html and 'id="details-incomplete"' not in html
    response = giulia.post("/billing-details", dict(GOOD, street="Via Roma 3"))
    assert response.status_code == 303
    assert account().street == "Via Roma 3"


def test_page_refuses_bad_input_in_the_users_language(giulia):
    response = giulia.post("/billing-details", dict(GOOD, postal_code="2012", pec="x",
                                                    sdi_code=""),
                           headers={"Accept-Language": "de"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="billing-postal_code-error" data-code="postal_code_it"' in html
    assert 'id="billing-pec-error" data-code="pec_format"' in html
    assert "fünf Ziffern" in html
    assert account().postal_code == "20121"
    # a field names its message, and its hint when it has one, to screen readers
    assert re.search(r'id="billing-postal_code"[^>]*aria-invalid="true"[^>]*'
                     r'aria-describedby="billing-postal_code-error"', html)
    assert re.search(r'id="billing-pec"[^>]*aria-invalid="true"[^>]*'
                     r'aria-describedby="billing-pec-error billing-pec-hint"', html)
    assert re.search(r'id="billing-street"(?![^>]*aria-invalid)(?![^>]*aria-describedby)[^>]*>',
                     html)
    assert re.search(r'id="billing-province"(?![^>]*aria-invalid)[^>]*'
                     r'aria-describedby="billing-province-hint"', html)


def test_members_cannot_see_the_billing_details(app):
    from conftest import MARCO, PASSWORD, Browser
    marco = Browser(app.test_client())
    marco.login(MARCO, PASSWORD)
    assert marco.get("/billing-details").status_code == 403


def test_vies_valid_shows_the_registered_name(giulia, vies):
    assert giulia.post("/billing-details", GERMAN).status_code == 303
    row = account()
    assert (row.vat_number, row.vies_status, row.vies_name) == ("DE136695976", "valid",
                                                                 "ACME GMBH")
    html = giulia.get("/billing-details").get_data(as_text=True)
    assert 'id="vies-status" data-status="valid"' in html and "ACME GMBH" in html


def test_vies_invalid_refuses_the_number(giulia, vies):
    response = giulia.post("/billing-details", dict(GERMAN, country="FR",
                                                    vat_number="FR40303265045",
                                                    postal_code="75001", city="Paris"))
    assert response.status_code == 422
    assert 'data-code="vies_invalid"' in response.get_data(as_text=True)
    assert account().vat_number == "IT01234560124"


@pytest.mark.parametrize("number,country,postal", [("ATU13585627", "AT", "1010"),
                                                   ("NL004495445B01", "NL", "1011 AB")])
def test_vies_unavailable_or_slow_accepts_provisionally(giulia, vies, number, country, postal):
    started = time.monotonic()
    response = giulia.post("/billing-details", dict(GERMAN, country=country, vat_number=number,
                                                    postal_code=postal))
    assert time.monotonic() - started < 2  # the slow answer is not waited for
    assert response.status_code == 303
    row = account()
    assert (row.vat_number, row.vies_status) == (number, "unchecked")
    assert row.taxable_vat_number == number  # reverse charge, provisionally


def test_recheck_confirms_or_revokes_provisional_numbers(app, vies):
    set_account(country="DE", vat_number="DE136695976", vies_status="unchecked")
    set_account(name="Globex Italia S.p.A.", country="FR", vat_number="FR40303265045",
                vies_status="unchecked")
    with app.app_context(), db.connection_context():
        assert sorted(recheck_unchecked()) == [(1, "valid"), (2, "invalid")]
    assert account().vies_status == "valid"
    globex = account("Globex Italia S.p.A.")
    assert globex.vies_status == "invalid" and globex.taxable_vat_number is None


def test_recheck_command_keeps_unanswered_numbers_unchecked(app, runner, vies):
    set_account(country="AT", vat_number="ATU13585627", vies_status="unchecked")
    result = runner.invoke(args=["vat", "recheck"])
    assert result.exit_code == 0 and "account 1: unchecked" in result.output
    assert account().vies_status == "unchecked"


@pytest.mark.parametrize("language", ["it", "en", "de"])
def test_the_intro_reads_well_after_a_name_ending_in_a_full_stop(giulia, language):
    """"Rossi Eventi S.r.l." is not followed by a second full stop in any language."""
    html = giulia.get("/billing-details", headers={"Accept-Language": language}).get_data(
        as_text=True)
    assert f'<html lang="{language}"' in html
    intro = html.split('<p class="muted">', 1)[1].split("</p>", 1)[0]
    assert "Rossi Eventi S.r.l." in intro
    assert "S.r.l.." not in intro
