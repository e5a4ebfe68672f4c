"""Locale negotiation, the language switcher and money/date/number formatting."""
import datetime as dt

import pytest
from flask import render_template_string

from conftest import GIULIA, PASSWORD
from portal.core.db import db
from portal.core.i18n import date, money, number, percent, select_locale
from portal.core.models import User

NBSP = "\u00a0"


def html_lang(response):
    """The ``lang`` attribute of the page's <html> element."""
    body = response.get_data(as_text=True)
    start = body.index("<html lang=\"") + len("<html lang=\"")
    return body[start:body.index('"', start)]


def switch(browser, locale, next_url="/login"):
    """Use the language switcher in the header."""
    return browser.post("/locale", {"locale": locale, "next": next_url})


def saved_locale(email=GIULIA):
    with db.connection_context():
        return User.get(User.email == email).locale


# --- negotiation order -------------------------------------------------------------------------

@pytest.mark.parametrize("accept, expected", [
    (None, "it"),
    ("en", "en"),
    ("it", "it"),
    # the catalog is English; dates and numbers follow the browser's variant of it
    ("en-US,en;q=0.9", "en-US"),
    ("en-GB", "en-GB"),
    ("en-GB,en;q=0.9,it;q=0.5", "en-GB"),
    ("en-QQ", "en"),                   # a region Babel does not know: plain English
    ("ja-JP,ja;q=0.9", "it"),          # unknown locale: Italian
    ("fr, en;q=0.5", "en"),
    ("ja, it;q=0.4, en;q=0.8", "en"),  # quality order wins
    ("*", "it"),
])
def test_accept_language_then_italian(client, accept, expected):
    headers = {"Accept-Language": accept} if accept else {}
    response = client.get("/login", headers=headers)
    assert response.status_code == 200
    assert html_lang(response) == expected


@pytest.mark.parametrize("accept, expected", [
    ("en-US", "Dec 10, 2026"),
    ("en-GB", "10 Dec 2026"),
    ("de-AT,de;q=0.9", "10.12.2026"),
])
def test_dates_follow_the_browsers_variant_of_the_language(browser, accept, expected):
    browser.login(GIULIA)
    body = browser.get("/", headers={"Accept-Language": accept}).get_data(as_text=True)
    assert f'<span class="nowrap">{expected}</span>' in body


def test_session_choice_beats_accept_language(browser):
    browser.refresh_token()
    response = switch(browser, "en")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    assert html_lang(browser.get("/login", headers={"Accept-Language": "it"})) == "en"
    switch(browser, "it")
    assert html_lang(browser.get("/login", headers={"Accept-Language": "en"})) == "it"


def test_unknown_locale_from_the_switcher_is_ignored(browser):
    browser.refresh_token()
    switch(browser, "ja")
    assert html_lang(browser.get("/login")) == "it"
    switch(browser, "en")
    switch(browser, "xx")
    assert html_lang(browser.get("/login")) == "en"


def test_user_preference_beats_session_and_accept_language(giulia):
    switch(giulia, "it")
    with db.connection_context():
        User.update(locale="en").where(User.email == GIULIA).execute()
    assert html_lang(giulia.get("/", headers={"Accept-Language": "it"})) == "en"


def test_unknown_saved_preference_falls_back(giulia):
    with db.connection_context():
        User.update(locale="xx").where(User.email == GIULIA).execute()
    assert html_lang(giulia.get("/")) == "it"
    assert html_lang(giulia.get("/", headers={"Accept-Language": "en"})) == "en"


def test_switcher_saves_the_preference_on_the_user(app, giulia):
    assert saved_locale() is None
    response = switch(giulia, "en", next_url="/")
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert saved_locale() == "en"
    # A new browser, Italian by its header, gets English as soon as Giulia logs in.
    from conftest import Browser
    other = Browser(app.test_client())
    assert html_lang(other.get("/login", headers={"Accept-Language": "it"})) == "it"
    other.login(GIULIA, PASSWORD)
    assert html_lang(other.get("/", headers={"Accept-Language": "it"})) == "en"


def test_switcher_ignores_an_unknown_locale_for_the_user(giulia):
    switch(giulia, "en", next_url="/")
    switch(giulia, "klingon", next_url="/")
    assert saved_locale() == "en"


def test_switcher_anonymous_saves_nothing_on_users(browser):
    browser.refresh_token()
    switch(browser, "en")
    with db.connection_context():
        assert User.select().where(User.locale.is_null(False)).count() == 0


@pytest.mark.parametrize("target", ["//evil.com", "https://evil.com", "/\\evil.com",
                                    "javascript:alert(1)"])
def test_switcher_refuses_an_unsafe_next(browser, target):
    browser.refresh_token()
    response = switch(browser, "en", next_url=target)
    assert response.headers["Location"] == "/"


def test_switcher_requires_csrf(browser):
    response = browser.post("/locale", {"locale": "en"}, csrf=False)
    assert response.status_code == 400
    assert html_lang(browser.get("/login")) == "it"


def test_switcher_marks_the_current_language(client):
    body = client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<option value="en" lang="en" selected>English</option>' in body
    assert '<option value="it" lang="it" >Italiano</option>' in body


def test_select_locale_outside_a_user(app):
    with app.test_request_context(headers={"Accept-Language": "ja"}):
        assert select_locale() == "it"
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert select_locale() == "en"


def test_ui_strings_follow_the_locale(client):
    body = client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "<h1>Log in to the Billing Center</h1>" in body


# --- formatting --------------------------------------------------------------------------------

@pytest.mark.parametrize("locale, cents, expected", [
    ("it", 123450, f"1.234,50{NBSP}€"),
    ("it", 5000, f"50,00{NBSP}€"),
    ("it", 0, f"0,00{NBSP}€"),
    ("it", 5, f"0,05{NBSP}€"),
    ("it", -11900, f"-119,00{NBSP}€"),
    ("it", 123456789, f"1.234.567,89{NBSP}€"),
    ("en", 123450, "€1,234.50"),
    ("en", 5000, "€50.00"),
    ("en", 5, "€0.05"),
    ("en", -11900, "-€119.00"),
    ("en", 123456789, "€1,234,567.89"),
])
def test_money(app, locale, cents, expected):
    with app.test_request_context(headers={"Accept-Language": locale}):
        assert money(cents) == expected


def test_money_none_is_blank(app):
    with app.test_request_context():
        assert money(None) == ""


def test_money_is_exact_for_large_amounts(app):
    # 0.1 + 0.2 style float errors would show up in the last digit.
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert money(999999999999999) == "€9,999,999,999,999.99"


@pytest.mark.parametrize("locale, expected", [
    ("it", "26 nov 2026"),
    ("en", "Nov 26, 2026"),
])
def test_date(app, locale, expected):
    with app.test_request_context(headers={"Accept-Language": locale}):
        assert date(dt.date(2026, 11, 26)) == expected
        assert date("2026-11-26") == expected
        assert date(None) == ""


def test_long_date(app):
    with app.test_request_context(headers={"Accept-Language": "it"}):
        assert date(dt.date(2026, 11, 26), "long") == "26 novembre 2026"
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert date(dt.date(2026, 11, 26), "long") == "November 26, 2026"


@pytest.mark.parametrize("locale, value, expected", [
    ("it", 1234, "1.234"),
    ("en", 1234, "1,234"),
    ("it", 5, "5"),
])
def test_number(app, locale, value, expected):
    with app.test_request_context(headers={"Accept-Language": locale}):
        assert number(value) == expected


@pytest.mark.parametrize("locale, rate, expected", [
    ("it", "0.22", "22%"),
    ("en", "0.22", "22%"),
    ("it", "0.045", "4,5%"),
    ("en", "0.045", "4.5%"),
    ("it", "0", "0%"),
])
def test_percent(app, locale, rate, expected):
    with app.test_request_context(headers={"Accept-Language": locale}):
        assert percent(rate) == expected


def test_filters_are_registered_in_templates(app):
    template = "{{ 123450|money }}|{{ d|date }}|{{ 1234|number }}|{{ '0.22'|percent }}"
    with app.test_request_context(headers={"Accept-Language": "it"}):
        assert render_template_string(template, d=dt.date(2026, 11, 26)) == (
            f"1.234,50{NBSP}€|26 nov 2026|1.234|22%")
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert render_template_string(template, d=dt.date(2026, 11, 26)) == (
            "€1,234.50|Nov 26, 2026|1,234|22%")


def test_formatting_follows_the_users_saved_locale(giulia):
    with db.connection_context():
        User.update(locale="en").where(User.email == GIULIA).execute()
    body = giulia.get("/", headers={"Accept-Language": "it"}).get_data(as_text=True)
    assert "<strong>€50.00</strong>" in body


def test_country_options_mark_a_known_country_and_nothing_for_a_forged_value(app):
    """The billing details' country select: names in the page's language, the chosen
    country selected, a value that is no country code selecting nothing."""
    from portal.core.i18n import country_options
    with app.test_request_context("/", headers={"Accept-Language": "it"}):
        italian = str(country_options("DE"))
        forged = str(country_options("<b>XX"))
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        english = str(country_options("DE"))
    assert '<option value="DE" selected>Germania</option>' in italian
    assert italian.count(" selected") == 1
    assert '<option value="DE" selected>Germany</option>' in english
    assert " selected" not in forged and "<b>" not in forged
    assert forged.count("<option") == italian.count("<option") > 200


def test_each_request_remembers_its_own_locale(app):
    # The locale is remembered per application context (portal.core.scope), not per thread.
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert money(5000) == "€50.00"
    with app.test_request_context(headers={"Accept-Language": "it"}):
        assert money(5000) == f"50,00{NBSP}€"
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert money(5000) == "€50.00"


def test_speaking_switches_the_remembered_locale_and_back(app):
    from portal.core.i18n import locale_name, messages_key, speaking, translations
    with app.test_request_context(headers={"Accept-Language": "it"}):
        assert (locale_name(), messages_key()) == ("it", "it")
        italian = translations()
        with speaking("en"):
            assert (locale_name(), messages_key()) == ("en", "en")
            assert money(5000) == "€50.00"
            assert translations() is not italian
        assert (locale_name(), messages_key()) == ("it", "it")
        assert translations() is italian and money(5000) == f"50,00{NBSP}€"


def test_each_application_context_has_its_own_values_and_nothing_outside_one(app):
    from portal.core import scope
    assert scope.current() is None
    with app.app_context():
        outer = scope.current()
        assert outer == {}
        outer["x"] = 1
        with app.app_context():
            assert scope.current() == {} and scope.current() is not outer
        assert scope.current() is outer and outer == {"x": 1}
    assert scope.current() is None


def test_a_deactivated_users_saved_language_is_not_followed(giulia):
    # Flask-Login counts an inactive user as not authenticated: the login page it is sent
    # to speaks the browser's language, not the one saved on the account.
    with db.connection_context():
        User.update(locale="en", active=False).where(User.email == GIULIA).execute()
    response = giulia.get("/", headers={"Accept-Language": "it"}, follow_redirects=True)
    assert html_lang(response) == "it"


def test_nothing_is_remembered_after_a_context_whose_teardown_raised(make_app):
    from portal.core import scope
    app = make_app(seed=False)

    @app.teardown_appcontext
    def _fails(error):
        raise RuntimeError("teardown failed")

    context = app.app_context()
    context.push()
    scope.current()["locale_name"] = "de"
    with pytest.raises(RuntimeError):
        context.pop()
    assert scope.current() is None
