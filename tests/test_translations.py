"""The message catalogs: up to date with the code, complete, consistent, and used by the pages.

These are the checks a translator runs locally with ``flask --app portal translate check``
(TRANSLATING.md); here they run with ``make test``.
"""
import datetime as dt
import os
import re
import shutil

import pytest
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po, write_po

from portal.core.config import ROOT

TRANSLATIONS = os.path.join(ROOT, "translations")
POT = os.path.join(TRANSLATIONS, "messages.pot")
LANGUAGES = ["it", "en", "de"]
NBSP = "\u00a0"
PLACEHOLDER = re.compile(r"%\((\w+)\)")
PLACEHOLDER_FULL = re.compile(r"%\(\w+\)\d*[a-z]")


def read(path):
    """A .po/.pot file as a Babel catalog."""
    with open(path, "rb") as handle:
        return read_po(handle)


def po_path(lang, root=TRANSLATIONS):
    return os.path.join(root, lang, "LC_MESSAGES", "messages.po")


def ids(catalog):
    """Message ids (tuples for plurals), header excluded."""
    return {message.id for message in catalog if message.id}


def forms(message):
    """The translation as a tuple of forms (one form for a singular message)."""
    return tuple(message.string) if message.pluralizable else (message.string,)


def label(message):
    return message.id[0] if message.pluralizable else message.id


@pytest.fixture
def cli_app(make_app):
    """An app for the ``flask translate`` commands (no demo data needed)."""
    return make_app(seed=False)


@pytest.fixture
def scratch(make_app, tmp_path):
    """An app whose translations folder is a scratch copy that a test may break."""
    folder = tmp_path / "translations"
    shutil.copytree(TRANSLATIONS, folder, ignore=shutil.ignore_patterns("*.mo"))
    return make_app(seed=False, BABEL_TRANSLATION_DIRECTORIES=str(folder)), folder


# --- the template and the catalogs ------------------------------------------------------------

def test_pot_is_up_to_date_with_the_code(cli_app, tmp_path):
    fresh = tmp_path / "fresh.pot"
    result = cli_app.test_cli_runner().invoke(args=["translate", "extract", "-o", str(fresh)])
    assert result.exit_code == 0, result.output
    committed, current = ids(read(POT)), ids(read(fresh))
    assert current - committed == set(), (
        "strings in the code are missing from translations/messages.pot: run "
        "`flask translate extract` and `flask translate update`, then translate them")
    assert committed - current == set(), "messages.pot holds strings the code no longer uses"


def test_the_pot_has_no_locations_so_it_does_not_churn():
    with open(POT, encoding="utf-8") as handle:
        assert not any(line.startswith("#: ") for line in handle)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalog_is_merged_from_the_current_pot(lang):
    assert ids(read(po_path(lang))) == ids(read(POT)), (
        f"{lang} is out of date with messages.pot: run `flask translate update`")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalog_is_complete(lang):
    catalog = read(po_path(lang))
    untranslated = [label(m) for m in catalog if m.id and not all(forms(m))]
    fuzzy = [label(m) for m in catalog if m.id and m.fuzzy]
    assert untranslated == []
    assert fuzzy == []
    assert list(catalog.obsolete) == []
    with open(po_path(lang), encoding="utf-8") as handle:
        assert not any(line.startswith("#~") for line in handle), "obsolete entries remain"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_babel_checkers_find_nothing(lang):
    catalog = read(po_path(lang))
    problems = [(label(message), [str(e) for e in errors]) for message, errors in catalog.check()]
    assert problems == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_placeholders_match_the_english_text(lang):
    # Babel's python-format checker accepts a translation that drops a placeholder; we do not.
    for message in read(po_path(lang)):
        if message.id:
            english = {name for text in (message.id if message.pluralizable else (message.id,))
                       for name in PLACEHOLDER.findall(text)}
            translated = {name for text in forms(message) for name in PLACEHOLDER.findall(text)}
            assert translated == english, label(message)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_plural_entries_have_every_form(lang):
    catalog = read(po_path(lang))
    assert catalog.plural_forms == get_plural(lang).plural_forms, (
        f"the pinned Babel's CLDR data gives {lang} other plural forms than the catalog's "
        "Plural-Forms header: update the header and give every plural message each form "
        "(TRANSLATING.md, 'Plural forms')")
    plurals = [m for m in catalog if m.id and m.pluralizable]
    assert plurals
    for message in plurals:
        assert len(message.string) == catalog.num_plurals, label(message)
        assert all(message.string), label(message)


@pytest.mark.parametrize("noun", ["license", "user", "day", "item"])
def test_every_count_shown_uses_plural_forms(noun):
    """A number next to a counted noun must be an ngettext entry, never a plain string."""
    catalog = read(POT)
    counted = re.compile(r"%\((num|count|n)\)s (\w+ )?" + noun + r"s?\b")
    plural = [m for m in catalog if m.id and m.pluralizable and re.search(noun, m.id[1])]
    assert plural, f"no plural entry counts {noun}s"
    singular = [m.id for m in catalog if m.id and not m.pluralizable and counted.search(m.id)]
    assert singular == []


def test_english_is_the_msgid():
    for message in read(po_path("en")):
        if message.id:
            assert forms(message) == (tuple(message.id) if message.pluralizable
                                      else (message.id,))


# Words that are the same in English; texts made only of placeholders are skipped too.
SAME_IN = {
    "it": {"Email", "Email:", "Password", "Single sign-on", "PEC"},
    "de": {"Name", "Detail", "Support", "Downloads"},
}


@pytest.mark.parametrize("lang", ["it", "de"])
def test_no_english_copied_into_a_translation(lang):
    copied = [label(m) for m in read(po_path(lang)) if m.id and not m.pluralizable
              and m.string == m.id and m.id not in SAME_IN[lang]
              and re.search(r"[A-Za-z]", PLACEHOLDER_FULL.sub("", m.id))]
    assert copied == []


# The Italian labels of SPEC section 1 and the glossary in TRANSLATING.md.
ITALIAN = {
    "Billing Center": "Centro fatturazione",
    "Change subscription": "Modifica sottoscrizione",
    "Subscribe now": "Abbonati ora",
    "Order summary": "Riepilogo ordine",
    "Complete transaction": "Completa la transazione",
    "Add to cart": "Aggiungi al carrello",
    "Edit order": "Modifica ordine",
    "Place order": "Effettua l'ordine",
    "Assign licenses": "Assegna licenze",
    "Cart": "Carrello",
    "Invoices": "Fatture",
    "To downgrade your plan, contact support.":
        "Per effettuare il downgrade contatta l'assistenza.",
    "You have changed your subscription plan; your new billing period starts today.":
        "Hai modificato il tuo piano di sottoscrizione; da oggi ha inizio il tuo nuovo periodo di "
        "fatturazione.",
    "Billing contact": "Contatto di fatturazione",
    "Credit balance": "Credito disponibile",
    "VAT number": "Partita IVA",
}
GERMAN = {
    "Billing Center": "Abrechnungscenter",
    "Change subscription": "Abonnement ändern",
    "Subscribe now": "Jetzt abonnieren",
    "Order summary": "Bestellübersicht",
    "Complete transaction": "Transaktion abschließen",
    "Add to cart": "In den Warenkorb",
    "Edit order": "Bestellung bearbeiten",
    # § 312j BGB: the button that places a paid order says so
    "Place order": "Zahlungspflichtig bestellen",
    "VAT number": "USt-IdNr.",
}


@pytest.mark.parametrize("lang, table", [("it", ITALIAN), ("de", GERMAN)])
def test_spec_labels(lang, table):
    catalog = read(po_path(lang))
    wrong = {msgid: catalog.get(msgid) and catalog.get(msgid).string for msgid in table
             if catalog.get(msgid) is None or catalog.get(msgid).string != table[msgid]}
    assert wrong == {}


@pytest.mark.parametrize("lang, words", [
    ("it", {"licenz": ["licenses", "license"], "periodo di fatturazione": ["billing period"],
            "contatto di fatturazione": ["billing contact"], "credito disponibile":
            ["credit balance"], "sottoscrizion": ["subscription"]}),
    ("de", {"Lizenz": ["license"], "Abrechnungszeitraum": ["billing period"],
            "Abrechnungskontakt": ["billing contact"], "Guthaben": ["credit balance"],
            "Abonnement": ["subscription"]}),
])
def test_glossary_terms_are_used_consistently(lang, words):
    """Where the English says a glossary term, the translation uses the glossary's word."""
    bad = []
    for message in read(po_path(lang)):
        if not message.id:
            continue
        english = " ".join(message.id if message.pluralizable else (message.id,)).lower()
        english = re.sub(r"%\(\w+\)\w", "", english)
        translated = " ".join(forms(message)).lower()
        for term, sources in words.items():
            if (any(source in english for source in sources)
                    and term.lower() not in translated):
                bad.append((label(message), term))
    assert bad == []


# --- the workflow: flask translate ------------------------------------------------------------

def test_status_shows_every_language_complete(cli_app):
    result = cli_app.test_cli_runner().invoke(args=["translate", "status"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.output.splitlines()[1:]}
    total = len(ids(read(POT)))
    for lang in LANGUAGES:
        assert rows[lang] == [lang, str(total), str(total), "0", "0", "0", "100%"]


def test_check_passes_on_the_committed_catalogs(cli_app):
    result = cli_app.test_cli_runner().invoke(args=["translate", "check"])
    assert result.exit_code == 0, result.output
    assert "complete and up to date" in result.output


def test_check_and_status_report_a_broken_catalog(scratch):
    app, folder = scratch
    catalog = read(po_path("it", folder))
    singular = next(m for m in catalog if m.id and not m.pluralizable and "%(" in m.id)
    plural = next(m for m in catalog if m.id and m.pluralizable)
    other = next(m for m in catalog if m.id and not m.pluralizable and m is not singular)
    singular.string = "senza segnaposto"
    plural.string = (plural.string[0], "")
    other.flags.add("fuzzy")
    with open(po_path("it", folder), "wb") as handle:
        write_po(handle, catalog, width=79)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["translate", "check"])
    assert result.exit_code == 1
    assert f"it: placeholders differ from the English text: {singular.id!r}" in result.output
    assert f"it: untranslated: {plural.id[0]!r}" in result.output
    assert f"it: fuzzy (check it, then remove the fuzzy flag): {other.id!r}" in result.output
    assert "de:" not in result.output and "en:" not in result.output
    status = runner.invoke(args=["translate", "status"]).output
    it_row = next(line.split() for line in status.splitlines() if line.startswith("it "))
    total = len(ids(catalog))
    assert it_row[1:6] == [str(total), str(total - 2), "1", "1", "0"]
    assert it_row[6] == f"{(total - 2) * 100 // total}%"


def test_check_reports_a_stale_pot(scratch):
    app, folder = scratch
    template = read(folder / "messages.pot")
    template.add("A string no template uses any more")
    with open(folder / "messages.pot", "wb") as handle:
        write_po(handle, template, width=79)
    result = app.test_cli_runner().invoke(args=["translate", "check"])
    assert result.exit_code == 1
    assert "messages.pot is out of date (0 new, 1 removed)" in result.output


def test_init_update_compile_add_a_language(scratch):
    """The workflow of TRANSLATING.md on a new language: init, update, compile."""
    app, folder = scratch
    runner = app.test_cli_runner()
    result = runner.invoke(args=["translate", "init", "fr"])
    assert result.exit_code == 0, result.output
    french = read(po_path("fr", folder))
    assert ids(french) == ids(read(POT)) and french.plural_forms == get_plural("fr").plural_forms
    assert runner.invoke(args=["translate", "init", "fr"]).exit_code == 1  # never overwrites
    assert runner.invoke(args=["translate", "init", "not-a-language"]).exit_code == 1
    row = next(line.split() for line in runner.invoke(args=["translate", "status"]).output
               .splitlines() if line.startswith("fr "))
    assert row[2] == "0" and row[-1] == "0%"
    # On update a string removed from the code leaves every catalog (no obsolete entry); a new
    # one arrives empty, except in English, which is the msgid itself.
    template = read(folder / "messages.pot")
    gone, new = "Breadcrumb", ("%(num)s new seat", "%(num)s new seats")
    del template[gone]
    template.add(new, flags=["python-format"])
    with open(folder / "messages.pot", "wb") as handle:
        write_po(handle, template, width=79)
    result = runner.invoke(args=["translate", "update"])
    assert result.exit_code == 0, result.output
    assert "en: 1 new messages copied from the English text." in result.output
    for lang in ("it", "de", "fr", "en"):
        catalog = read(po_path(lang, folder))
        assert catalog.get(gone) is None and not catalog.obsolete
        assert not catalog.get(new[0]).fuzzy
        empty = ("",) * get_plural(lang).num_plurals  # as many forms as the pinned CLDR has
        assert catalog.get(new[0]).string == (new if lang == "en" else empty)
    assert read(po_path("it", folder)).get("Billing Center").string == "Centro fatturazione"
    assert runner.invoke(args=["translate", "compile"]).exit_code == 0
    assert os.path.exists(os.path.join(folder, "de", "LC_MESSAGES", "messages.mo"))


# --- what the user sees -----------------------------------------------------------------------

@pytest.mark.parametrize("locale, cents, expected", [
    ("it", 123450, f"1.234,50{NBSP}€"),
    ("de", 123450, f"1.234,50{NBSP}€"),
    ("en", 123450, "€1,234.50"),
    ("de", -11900, f"-119,00{NBSP}€"),
])
def test_money_per_locale(app, locale, cents, expected):
    from portal.core.i18n import money
    with app.test_request_context(headers={"Accept-Language": locale}):
        assert money(cents) == expected


def test_german_dates_numbers_and_rates(app):
    from portal.core.i18n import date, number, percent
    with app.test_request_context(headers={"Accept-Language": "de"}):
        assert date(dt.date(2026, 11, 26)) == "26.11.2026"
        assert date(dt.date(2026, 11, 26), "long") == "26. November 2026"
        assert number(10000) == "10.000"
        assert percent("0.22") == f"22{NBSP}%"


def test_switcher_lists_german_and_german_is_served(client):
    body = client.get("/login", headers={"Accept-Language": "de-DE,de;q=0.9"}).get_data(
        as_text=True)
    assert '<html lang="de-DE"' in body  # the browser's variant: its dates and numbers
    assert '<option value="de" lang="de" selected>Deutsch</option>' in body
    assert '<option value="it" lang="it" >Italiano</option>' in body
    assert "Beim Abrechnungscenter anmelden" in body


@pytest.mark.parametrize("lang, words", [
    ("it", ["Modifica sottoscrizione", "Riepilogo ordine", "Completa la transazione",
            "1. Scegli il piano", "Frequenza di fatturazione", "8 licenze", "Annuale",
            f"22.968,12{NBSP}€"]),
    ("de", ["Abonnement ändern", "Bestellübersicht", "Transaktion abschließen",
            "1. Tarif wählen", "Abrechnungsintervall", "8 Lizenzen", "Jährlich",
            f"22.968,12{NBSP}€"]),
    ("en", ["Change subscription", "Order summary", "Complete transaction", "8 licenses",
            "€22,968.12"]),
])
def test_change_page_speaks_the_language(giulia, lang, words):
    """SPEC worked example A on the change page, in each language."""
    body = giulia.get("/subscriptions/1/change?plan=webinar-pro&licenses=8&frequency=annual",
                      headers={"Accept-Language": lang}).get_data(as_text=True)
    assert f'<html lang="{lang}"' in body
    for word in words:
        assert word in body, word


@pytest.mark.parametrize("count, it, de", [
    (1, "1 licenza", "1 Lizenz"), (2, "2 licenze", "2 Lizenzen"),
    (1000, "1.000 licenze", "1.000 Lizenzen"),
    # CLDR's Italian "many" form: exact millions take "di".
    (1_000_000, "1.000.000 di licenze", "1.000.000 Lizenzen"),
    (2_000_001, "2.000.001 licenze", "2.000.001 Lizenzen")])
def test_license_counts_use_plural_forms(app, count, it, de):
    from flask import render_template_string
    template = ('{% from "macros.html" import licenses_count %}{{ licenses_count(n) }}')
    for lang, expected in (("it", it), ("de", de)):
        with app.test_request_context(headers={"Accept-Language": lang}):
            assert render_template_string(template, n=count).strip() == expected
