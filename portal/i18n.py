"""Locale selection and the Jinja filters that format money, dates and numbers."""
import datetime as dt
from decimal import Decimal

from babel.numbers import format_currency, format_decimal, format_percent
from flask import current_app, request, session
from flask_babel import Babel, format_date, get_locale
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


def money(cents, currency="EUR"):
    """Integer cents → ``1.234,50 €`` (it) or ``€1,234.50`` (en)."""
    if cents is None:
        return ""
    return format_currency(Decimal(int(cents)) / 100, currency, locale=str(get_locale()))


def number(value):
    """A number in the current locale (``1.234`` / ``1,234``)."""
    return format_decimal(value, locale=str(get_locale()))


def percent(rate):
    """A rate such as ``Decimal('0.22')`` → ``22%``."""
    return format_percent(Decimal(str(rate)), locale=str(get_locale()),
                          decimal_quantization=False)


def date(value, style="medium"):
    """A calendar date in the current locale (``26 nov 2026``)."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = dt.date.fromisoformat(value)
    return format_date(value, format=style)


#: Native names shown in the language switcher (not translated, by convention).
LANGUAGE_NAMES = {"it": "Italiano", "en": "English", "de": "Deutsch"}


def init_app(app):
    """Register Flask-Babel with the top-level translations folder and the filters."""
    import os
    from . import ROOT
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", os.path.join(ROOT, "translations"))
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.filters.update(money=money, number=number, percent=percent, date=date)
    app.jinja_env.add_extension("jinja2.ext.loopcontrols")

    @app.context_processor
    def _locale_context():
        return {"current_locale": str(get_locale()), "language_names": LANGUAGE_NAMES,
                "languages": available_locales()}
