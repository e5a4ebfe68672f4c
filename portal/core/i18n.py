"""Locale selection and the Jinja filters that format money, dates and numbers."""
import datetime as dt
import functools
from decimal import Decimal

from babel import Locale
from babel.numbers import format_currency, format_decimal, format_percent
from flask import current_app, request, session
from flask.globals import _cv_app
from flask_babel import Babel, format_date, get_locale, get_translations
from flask_login import current_user

babel = Babel()


def available_locales():
    """The locales the portal speaks (the first is the default)."""
    return current_app.config["LANGUAGES"]


def select_locale():
    """The user's saved preference, then the session, then Accept-Language, then Italian."""
    languages = available_locales()
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    if session.get("locale") in languages:
        return session["locale"]
    if request:
        best = request.accept_languages.best_match(languages)
        if best:
            return best
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def _babel_state():
    """flask-babel's per-request namespace (``g._flask_babel``), or None outside a request.

    Reached through the application context directly: every template string and every
    number goes through here (about fifty times per summary), and flask-babel's own path
    crosses three werkzeug proxies per call.
    """
    app_ctx = _cv_app.get(None)
    return None if app_ctx is None else getattr(app_ctx.g, "_flask_babel", None)


def _locale_name():
    """``str(get_locale())``, remembered per request (and per locale: ``refresh()`` resets)."""
    state = _babel_state()
    locale = getattr(state, "babel_locale", None)
    if locale is None:
        return str(get_locale())
    cached = getattr(state, "portal_locale", None)
    if cached is None or cached[0] is not locale:
        cached = state.portal_locale = (locale, str(locale))
    return cached[1]


def _translations():
    """flask-babel's translations for the request's locale, remembered per request."""
    state = _babel_state()
    locale = getattr(state, "babel_locale", None)
    cached = getattr(state, "portal_translations", None)
    if locale is not None and cached is not None and cached[0] is locale:
        return cached[1]
    translations = get_translations()
    state = _babel_state()
    if state is not None and getattr(state, "babel_locale", None) is not None:
        state.portal_translations = (state.babel_locale, translations)
    return translations


# The filters are pure functions of (value, locale): memoised, because Babel parses the
# locale's number pattern on every call and a summary formats about fifteen amounts. The
# value's type is part of the key (1, 1.0 and Decimal("1") are equal keys otherwise).
_memo = functools.lru_cache(maxsize=4096)


@_memo
def _money(cents, currency, locale):
    """The formatted amount (cached)."""
    return format_currency(Decimal(cents) / 100, currency, locale=locale)


@_memo
def _number(value, kind, locale):
    """The formatted number (cached; ``kind`` is the value's type)."""
    return format_decimal(value, locale=locale)


@_memo
def _percent(rate, locale):
    """The formatted rate (cached; ``rate`` is its exact decimal text)."""
    return format_percent(Decimal(rate), locale=locale, decimal_quantization=False)


@_memo
def _date(value, style, locale):
    """The formatted calendar date (cached; ``locale`` only keys the cache: flask-babel
    formats in the request's locale, which it equals)."""
    return format_date(value, format=style)


def money(cents, currency="EUR"):
    """Integer cents → ``1.234,50 €`` (it) or ``€1,234.50`` (en)."""
    if cents is None:
        return ""
    return _money(int(cents), currency, _locale_name())


def number(value):
    """A number in the current locale (``1.234`` / ``1,234``)."""
    try:
        return _number(value, type(value), _locale_name())
    except TypeError:  # unhashable: format it without the cache
        return format_decimal(value, locale=str(get_locale()))


def percent(rate):
    """A rate such as ``Decimal('0.22')`` → ``22%``."""
    return _percent(str(rate), _locale_name())


def date(value, style="medium"):
    """A calendar date in the current locale (``26 nov 2026``)."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = dt.date.fromisoformat(value)
    if type(value) is dt.date and isinstance(style, str):
        return _date(value, style, _locale_name())
    return format_date(value, format=style)  # a datetime is converted to the user's zone


@_memo
def _territories(locale):
    """{ISO 3166 alpha-2 code: name} in ``locale`` (Babel also lists regions such as "150"
    and "ZZ" unknown: left out)."""
    names = Locale.parse(locale).territories
    return {code: name for code, name in names.items()
            if len(code) == 2 and code.isalpha() and code not in ("ZZ", "EU", "EZ", "UN", "QO")}


def country_name(code):
    """A country's name in the current locale (the code itself when unknown)."""
    return _territories(_locale_name()).get(code, code or "")


def country_choices():
    """[(code, name)] of every country, sorted by name in the current locale."""
    return sorted(_territories(_locale_name()).items(), key=lambda item: item[1])


def country_codes():
    """The country codes the billing details accept."""
    return frozenset(_territories("en"))


#: Native names shown in the language switcher (not translated, by convention).
LANGUAGE_NAMES = {"it": "Italiano", "en": "English", "de": "Deutsch"}


def init_app(app):
    """Register Flask-Babel with the top-level translations folder and the filters."""
    babel.init_app(app, locale_selector=select_locale)
    # flask-babel's template callables, with the request's translations looked up once
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: _translations().ugettext(s),
        ngettext=lambda s, p, n: _translations().ungettext(s, p, n),
        pgettext=lambda c, s: _translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: _translations().unpgettext(c, s, p, n),
        newstyle=True)
    app.jinja_env.filters.update(money=money, number=number, percent=percent, date=date)
    app.jinja_env.add_extension("jinja2.ext.loopcontrols")

    @app.context_processor
    def _locale_context():
        return {"current_locale": _locale_name(), "language_names": LANGUAGE_NAMES,
                "country_name": country_name,
                "languages": available_locales()}
