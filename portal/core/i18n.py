"""Locale selection and the Jinja filters that format money, dates and numbers."""
import datetime as dt
import functools
from contextlib import contextmanager
from decimal import Decimal

from babel.numbers import format_currency, format_decimal, format_percent
from flask import current_app, g, has_app_context, request, session
from flask_babel import Babel, force_locale, format_date, get_locale, get_translations
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


def locale_name():
    """``str(get_locale())``, remembered on ``g`` for the request.

    Every number and date a page shows asks for it (about fifty times per summary); the
    answer cannot change within a request unless a view switches the language and calls
    ``flask_babel.refresh()``, which must then also ``g.pop("locale_name", None)`` (none
    does: the language switch redirects).
    """
    if not has_app_context():
        return str(get_locale())
    name = g.get("locale_name")
    if name is None:
        name = g.locale_name = str(get_locale())
    return name


def translations():
    """flask-babel's translations for the request's locale, remembered on ``g`` like
    ``locale_name`` (``g.pop("translations", None)`` after ``flask_babel.refresh()``)."""
    if not has_app_context():
        return get_translations()
    found = g.get("translations")
    if found is None:
        found = g.translations = get_translations()
    return found


@contextmanager
def speaking(locale):
    """Text, money and dates in ``locale`` for the block (an email to a user who speaks
    another language than the request's, or outside any request), then back.

    ``flask_babel.force_locale`` switches the locale; the names remembered on ``g``
    (``locale_name``, ``translations``) are switched with it.
    """
    saved = {name: g.pop(name, None) for name in ("locale_name", "translations")}
    try:
        with force_locale(locale):
            yield
    finally:
        for name, value in saved.items():
            g.pop(name, None)
            if value is not None:
                setattr(g, name, value)


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
    return _money(int(cents), currency, locale_name())


def number(value):
    """A number in the current locale (``1.234`` / ``1,234``)."""
    try:
        return _number(value, type(value), locale_name())
    except TypeError:  # unhashable: format it without the cache
        return format_decimal(value, locale=str(get_locale()))


def percent(rate):
    """A rate such as ``Decimal('0.22')`` → ``22%``."""
    return _percent(str(rate), locale_name())


def date(value, style="medium"):
    """A calendar date in the current locale (``26 nov 2026``)."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = dt.date.fromisoformat(value)
    if type(value) is dt.date and isinstance(style, str):
        return _date(value, style, locale_name())
    return format_date(value, format=style)  # a datetime is converted to the user's zone


#: Native names shown in the language switcher (not translated, by convention).
LANGUAGE_NAMES = {"it": "Italiano", "en": "English", "de": "Deutsch"}


def init_app(app):
    """Register Flask-Babel with the top-level translations folder and the filters."""
    babel.init_app(app, locale_selector=select_locale)
    # flask-babel's template callables, with the request's translations looked up once
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: translations().ugettext(s),
        ngettext=lambda s, p, n: translations().ungettext(s, p, n),
        pgettext=lambda c, s: translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: translations().unpgettext(c, s, p, n),
        newstyle=True)
    app.jinja_env.filters.update(money=money, number=number, percent=percent, date=date)
    app.jinja_env.add_extension("jinja2.ext.loopcontrols")

    @app.context_processor
    def _locale_context():
        return {"current_locale": locale_name(), "language_names": LANGUAGE_NAMES,
                "languages": available_locales()}
