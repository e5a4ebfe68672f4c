"""Locale selection and the Jinja filters that format money, dates and numbers."""
import datetime as dt
import functools
import io
import os
import re
from contextlib import contextmanager
from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, format_percent
from babel.support import Translations
from flask import current_app, has_app_context, has_request_context, request, session
from flask_babel import Babel, Domain, force_locale, format_date, get_locale, get_translations
from flask_login import current_user
from jinja2 import pass_eval_context
from markupsafe import Markup, escape
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header
from werkzeug.utils import cached_property

from portal.core import scope


class PortalDomain(Domain):
    """Flask-Babel's message domain, speaking the pseudo-locale too: the messages written in
    Python (flashed messages, form errors, email subjects) are pseudo-translated like the
    templates' (``translations``), so that one left out of the catalogs stands out there
    as well."""

    def get_translations(self):
        if pseudo_locale_active():
            return pseudo_translations(english_catalog_path())
        return super().get_translations()


class PortalBabel(Babel):
    """Flask-Babel with ``PortalDomain`` as the application's message domain."""

    @cached_property
    def domain_instance(self):
        return PortalDomain(domain=self.domain)


babel = PortalBabel()


def available_locales():
    """The locales the portal speaks (the first is the default)."""
    return current_app.config["LANGUAGES"]


#: The pseudo-locale for translators: English with accents and 30 % longer messages, so that
#: a string left out of the catalogs or cut off by the layout stands out in the screenshots.
PSEUDO_LOCALE = "qps"


def pseudo_locale_enabled():
    """The pseudo-locale is a development tool: offered only when asked for, never in
    production."""
    config = current_app.config
    return bool(config.get("PSEUDO_LOCALE")) and config.get("ENV_NAME") != "production"


def offered_locales():
    """The languages of the switcher: the portal's, plus the pseudo-locale in development."""
    languages = list(available_locales())
    return languages + [PSEUDO_LOCALE] if pseudo_locale_enabled() else languages


def pseudo_locale_active():
    """Whether this request shows the pseudo-locale (chosen in the session, development)."""
    return (has_request_context() and session.get("locale") == PSEUDO_LOCALE
            and pseudo_locale_enabled())


def chosen_language():
    """The user's saved preference, then the session, then Accept-Language, then Italian."""
    return _choice(*_choice_inputs())[0]


def regional_variant(language):
    """The browser's own variant of ``language`` (``en_GB`` for an en-GB browser), so that
    dates and numbers follow it; the messages stay those of ``language``'s catalog."""
    if not request:
        return language
    return _variant(language, request.headers.get("Accept-Language", ""))


def select_locale():
    """The locale of the request: the chosen language in the browser's regional variant
    (the pseudo-locale formats like English)."""
    if pseudo_locale_active():
        return "en"
    return _choice(*_choice_inputs())[1]


def _choice_inputs():
    """What the choice of language depends on: the signed-in, active user's saved
    preference, the session's, the Accept-Language header (None outside a request), the
    portal's languages and its default."""
    saved = current_user.locale if current_user.is_authenticated else None
    header = request.headers.get("Accept-Language", "") if request else None
    config = current_app.config
    return (saved, session.get("locale"), header, tuple(config["LANGUAGES"]),
            config["BABEL_DEFAULT_LOCALE"])


@functools.lru_cache(maxsize=256)
def _choice(saved, in_session, header, languages, default):
    """``(language, locale)`` for these inputs (``_choice_inputs``): a pure function, so a
    request with the same ones (every request of a signed-in user) finds it already made
    (the header is the browser's, so the cache is bounded)."""
    if saved in languages:
        language = saved
    elif in_session in languages:
        language = in_session
    else:
        language = None
        if header is not None:
            language = parse_accept_header(header, LanguageAccept).best_match(languages)
        language = language or default
    return language, (_variant(language, header) if header is not None else language)


@functools.lru_cache(maxsize=256)
def _variant(language, header):
    """``regional_variant`` of ``language`` for an Accept-Language ``header``."""
    for tag, _quality in parse_accept_header(header, LanguageAccept):
        parts = re.split(r"[-_]", tag)
        if len(parts) == 2 and parts[0].lower() == language and parts[1].isalpha():
            try:
                return str(Locale.parse(f"{language}_{parts[1].upper()}"))
            except (ValueError, UnknownLocaleError):
                continue
    return language


@functools.lru_cache(maxsize=64)
def _parsed_locale(identifier):
    """Babel's ``Locale`` of an identifier the portal selected (immutable: shared)."""
    return Locale.parse(identifier)


def _request_locale():
    """Flask-Babel's locale selector: ``select_locale``, parsed once per identifier rather
    than on every request."""
    return _parsed_locale(select_locale())


def messages_key():
    """What the request's messages depend on: the locale, or the pseudo-locale (which
    formats like English but has messages of its own). Keys caches of rendered text."""
    values = scope.CURRENT.get()  # inline ``scope.remembered``, as ``locale_name``
    if values is not None:
        key = values.get("messages_key")
        if key is not None and has_app_context():
            return key
    return _remembered("messages_key", _messages_key)


def _messages_key():
    return PSEUDO_LOCALE if pseudo_locale_active() else locale_name()


def language_of(locale_name):
    """``en_GB`` → ``en``: the catalog's language of a locale."""
    return locale_name.split("_")[0]


def pseudo_text(text):
    """``Order summary`` → ``[Óŕðéŕ šûɱɱåŕý ~~~~]``: accented, 30 % longer, placeholders
    (``%(name)s``, ``%s``) and markup left intact."""
    out = []
    for piece in re.split(r"(%\([a-z_]+\)[sd]|%[sd]|<[^>]+>|&[a-z]+;)", text):
        if piece.startswith(("%", "<", "&")):
            out.append(piece)
        else:
            out.append(piece.translate(_PSEUDO_ACCENTS))
    # the padding is words (a line may break between them), like a longer translation
    extra = max(1, round(len(text) * 0.3))
    padding = " ".join("~" * min(5, extra - start) for start in range(0, extra, 6))
    return "[" + "".join(out) + " " + padding + "]"


_PSEUDO_ACCENTS = str.maketrans("aceginorsuyzACEGINORSUYZ", "åçéĝîñöŕšûýžÅÇÉĜÎÑÖŔŠÛÝŽ")


@functools.lru_cache(maxsize=4)
def pseudo_translations(english_po_path):
    """The pseudo-locale's catalog, generated from the English one (kept in memory only)."""
    with open(english_po_path, "rb") as handle:
        catalog = read_po(handle)
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, tuple):  # plural: every form from the English plural
            forms = max(len(message.string), 2)
            message.string = tuple(pseudo_text(message.id[min(i, 1)]) for i in range(forms))
        else:
            message.string = pseudo_text(message.id)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


def english_catalog_path():
    """The English catalog the pseudo-locale is generated from."""
    folder = current_app.config["BABEL_TRANSLATION_DIRECTORIES"].split(";")[0]
    return os.path.join(folder, "en", "LC_MESSAGES", "messages.po")


def locale_name():
    """``str(get_locale())``, remembered for the application context (``portal.core.scope``).

    Every number and date a page shows asks for it (about thirty times per summary); the
    answer cannot change within a request unless a view switches the language and calls
    ``flask_babel.refresh()``, which must then also forget the names ``speaking`` forgets
    (none does: the language switch redirects).
    """
    values = scope.CURRENT.get()  # inline ``scope.remembered``: one call less per amount
    if values is not None:
        name = values.get("locale_name")
        if name is not None and has_app_context():
            return name
    return _remembered("locale_name", _locale_name)


def _locale_name():
    return str(get_locale())


def translations():
    """The request's catalog (the pseudo-locale's when it is active), remembered like
    ``locale_name``: a page asks for it once per message."""
    return _remembered("translations", _catalog)


#: {``messages_key``: its catalog}: Flask-Babel's own cache, keyed the same way (a locale's
#: catalog is loaded once per process), without its dozen lookups of the request to find it.
_CATALOGS = {}


def _catalog():
    key = messages_key()
    found = _CATALOGS.get(key)
    if found is None:
        found = _CATALOGS[key] = get_translations()  # the pseudo-locale's: PortalDomain
    return found


#: ``compute()``, once per application context (every time outside one).
_remembered = scope.remembered


@contextmanager
def speaking(locale):
    """Text, money and dates in ``locale`` for the block (an email to a user who speaks
    another language than the request's, or outside any request), then back.

    ``flask_babel.force_locale`` switches the locale; the names remembered for the context
    (``locale_name``, ``translations``, ``messages_key``) are switched with it.
    """
    values = scope.current()
    if values is None:
        values = {}  # outside an application context nothing is remembered
    saved = {name: values.pop(name) for name in _LOCALE_NAMES if name in values}
    try:
        with force_locale(locale):
            yield
    finally:
        for name in _LOCALE_NAMES:
            values.pop(name, None)
        values.update(saved)


#: What ``_remembered`` keeps that depends on the locale.
_LOCALE_NAMES = ("locale_name", "translations", "messages_key")


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


@_memo
def _territories(locale):
    """{ISO 3166 alpha-2 code: name} in ``locale`` (Babel also lists regions such as "150"
    and "ZZ" unknown: left out)."""
    names = Locale.parse(locale).territories
    return {code: name for code, name in names.items()
            if len(code) == 2 and code.isalpha() and code not in ("ZZ", "EU", "EZ", "UN", "QO")}


def country_name(code):
    """A country's name in the current locale (the code itself when unknown)."""
    return _territories(locale_name()).get(code, code or "")


@_memo
def _country_options(locale, selected):
    """The ``<option>`` elements of every country in ``locale``, ``selected`` marked (cached:
    a pure function of its arguments, about 250 options each)."""
    return Markup("").join(
        Markup('<option value="{}"{}>{}</option>').format(
            code, Markup(" selected") if code == selected else "", name)
        for code, name in sorted(_territories(locale).items(), key=lambda item: item[1]))


def country_options(selected):
    """The country select's options in the current locale, ``selected`` (a code) marked;
    anything else (a forged value) marks none and is kept out of the cache's keys."""
    locale = locale_name()
    selected = selected if selected in _territories(locale) else ""
    return _country_options(locale, selected)


def country_codes():
    """The country codes the billing details accept."""
    return frozenset(_territories("en"))


#: Native names shown in the language switcher (not translated, by convention).
LANGUAGE_NAMES = {"it": "Italiano", "en": "English", "de": "Deutsch",
                  PSEUDO_LOCALE: "Pseudo (qps)"}


def _formatted(eval_ctx, text, variables):
    """Jinja's newstyle rule: Markup when autoescaping, and always a format string (a
    message without variables and without ``%`` is its own result: most of a page's).

    Autoescaped, the variables are escaped first and the message formatted as a plain
    string: the same text as ``Markup.__mod__``, which wraps every variable in a helper
    object, about a tenth of the summary's rendering. Numbers stay numbers (``%(month)02d``)
    and need no escaping."""
    if not eval_ctx.autoescape:
        return text % variables if variables or "%" in text else text
    if not variables:
        return Markup(text % variables if "%" in text else text)
    return Markup(text % {name: value if type(value) in _NUMBERS else escape(value)
                          for name, value in variables.items()})


#: What a message's variables may be without escaping: their text has no markup characters.
_NUMBERS = (int, float, Decimal, bool)


@pass_eval_context
def formatted_message(eval_ctx, text, /, **variables):
    """A message already translated, formatted as ``_`` formats it: templates compiled with
    their messages translated (``portal.core.templating``) call it instead of ``_``."""
    return _formatted(eval_ctx, text, variables)


@pass_eval_context
def _template_gettext(eval_ctx, string, /, **variables):
    """``_("...")`` and ``gettext`` in templates."""
    return _formatted(eval_ctx, translations().ugettext(string), variables)


@pass_eval_context
def _template_ngettext(eval_ctx, singular, plural, num, /, **variables):
    """``ngettext`` in templates (``num`` is a variable too)."""
    variables.setdefault("num", num)
    return _formatted(eval_ctx, translations().ungettext(singular, plural, num), variables)


@pass_eval_context
def _template_pgettext(eval_ctx, message_context, string, /, **variables):
    """``pgettext`` in templates."""
    variables.setdefault("context", message_context)
    return _formatted(eval_ctx, translations().upgettext(message_context, string), variables)


@pass_eval_context
def _template_npgettext(eval_ctx, message_context, singular, plural, num, /,
                        **variables):
    """``npgettext`` in templates."""
    variables.setdefault("context", message_context)
    variables.setdefault("num", num)
    return _formatted(eval_ctx,
                      translations().unpgettext(message_context, singular, plural, num),
                      variables)


def init_app(app):
    """Register Flask-Babel with the top-level translations folder and the filters."""
    babel.init_app(app, locale_selector=_request_locale)
    # Jinja's "newstyle" gettext (autoescaped, always %-formatted), with the request's
    # translations looked up once; ``_`` is gettext itself rather than Jinja's alias that
    # resolves it again on every call (a page translates a few dozen messages).
    app.jinja_env.install_gettext_callables(
        gettext=_template_gettext, ngettext=_template_ngettext, pgettext=_template_pgettext,
        npgettext=_template_npgettext, newstyle=True)
    app.jinja_env.globals.update(
        _=_template_gettext, gettext=_template_gettext, ngettext=_template_ngettext,
        pgettext=_template_pgettext, npgettext=_template_npgettext,
        formatted_message=formatted_message)
    app.jinja_env.filters.update(money=money, number=number, percent=percent, date=date)
    # a global, so that imported macros (which see no request context) reach it
    app.jinja_env.globals["country_options"] = country_options
    app.jinja_env.add_extension("jinja2.ext.loopcontrols")

    app.jinja_env.globals.update(language_names=LANGUAGE_NAMES, country_name=country_name)

    @app.context_processor
    def _locale_context():
        name = locale_name()
        return {"current_locale": PSEUDO_LOCALE if pseudo_locale_active()
                else language_of(name),
                "locale_tag": name.replace("_", "-"), "languages": offered_locales()}
