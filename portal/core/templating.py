"""Templates compiled once per message catalog, with their constant messages translated.

A page translates dozens of messages that never change for a given catalog: "Order summary",
"Log out", the labels of the billing details (about 80 on the review page). Translated at render
time, each costs a Jinja call, a catalog lookup and a ``Markup`` (about 8 µs). So every catalog
gets an overlay of the Jinja environment (same loader, globals and filters; a template cache of
its own) whose compiler sees the messages already translated (``FoldedMessages``):

- ``{{ _("Log out") }}``, a whole output tag, becomes template data: the translated text;
- ``_("Company name")`` inside an expression becomes a string literal (marked safe where the
  template autoescapes, as ``_`` returns ``Markup`` there);
- ``_("%(amount)s due", amount=...)`` becomes ``formatted_message("%(amount)s dovuti", ...)``
  (``portal.core.i18n``): only the formatting is left for render time.

``ngettext`` (its form depends on a number) and anything else stays a call at render time. The
HTML is the same either way (``tests/test_templating.py`` renders every page both ways);
``FOLD_MESSAGES = False`` turns the overlays off. Outside an application context, and for a
template that switches autoescaping itself, templates compile as written.

The overlay of a catalog is chosen on every ``get_template`` of the application's environment
(``render_template``, jinja2-fragments, ``portal.subscriptions.change.render_part``); imports
and includes inside a template use the template's own environment, so they stay in its catalog.
"""
import functools
import threading
from decimal import Decimal

from flask import current_app, has_app_context
from flask.templating import Environment
from jinja2 import pass_environment
from jinja2.ext import Extension
from jinja2.lexer import (TOKEN_BLOCK_BEGIN, TOKEN_COMMA, TOKEN_DATA, TOKEN_DOT, TOKEN_LPAREN,
                          TOKEN_NAME, TOKEN_PIPE, TOKEN_RPAREN, TOKEN_STRING,
                          TOKEN_VARIABLE_BEGIN, TOKEN_VARIABLE_END, Token)
from portal.billing.prices import PlanPrice
from portal.core.i18n import locale_name, messages_key, translations

#: The names of ``gettext`` in templates (see ``portal.core.i18n.init_app``).
GETTEXT_NAMES = frozenset({"_", "gettext"})
#: A name after which ``_`` is not a call of gettext (a definition, an attribute, a filter).
_NOT_A_CALL_AFTER = frozenset({"macro", "call", "import", "as", "set", "for", "is", "with"})
#: Overlays kept at most (one per catalog in use: a handful; beyond, templates compile as
#: written rather than grow without bound).
MAX_CATALOGS = 16


def _constant(text):
    """What ``_`` returns for ``text`` without variables (``%%`` → ``%``), or None when that
    is an error at render time (a placeholder without its variable), left to happen there."""
    if "%" not in text:
        return text
    try:
        return text % {}
    except (KeyError, TypeError, ValueError):
        return None


class FoldedMessages(Extension):
    """Rewrites the token stream of a template: constant ``_("...")`` calls become their
    translation in the overlay's catalog (``environment.message_catalog``)."""

    def filter_stream(self, stream):
        tokens = list(stream)
        catalog = self.environment.message_catalog
        if catalog is None or _switches_autoescape(tokens):
            return tokens
        autoescape = self.environment.autoescape
        if callable(autoescape):
            autoescape = autoescape(stream.name)
        out = []
        index = 0
        while index < len(tokens):
            folded = self._fold(tokens, index, out[-1] if out else None, catalog, autoescape)
            if folded is None:
                out.append(tokens[index])
                index += 1
            else:
                replacement, consumed = folded
                out.extend(replacement)
                index += consumed
        return out

    @staticmethod
    def _fold(tokens, index, previous, catalog, autoescape):
        """(replacement tokens, tokens consumed) for a gettext call at ``index``, or None."""
        token = tokens[index]
        if token.type == TOKEN_VARIABLE_BEGIN:
            # {{ _("text") }}: the whole tag is the translated text
            window = tokens[index + 1:index + 6]
            if (len(window) == 5 and _is_gettext(window[0], token)
                    and [t.type for t in window[1:]] == [TOKEN_LPAREN, TOKEN_STRING,
                                                         TOKEN_RPAREN, TOKEN_VARIABLE_END]):
                text = _constant(catalog.ugettext(window[2].value))
                if text is not None:
                    return [Token(token.lineno, TOKEN_DATA, text)], 6
            return None
        if not _is_gettext(token, previous):
            return None
        window = tokens[index + 1:index + 4]
        if len(window) < 3 or window[0].type != TOKEN_LPAREN or window[1].type != TOKEN_STRING:
            return None
        line = token.lineno
        translated = catalog.ugettext(window[1].value)
        if window[2].type == TOKEN_RPAREN:  # _("text"): a constant
            text = _constant(translated)
            if text is None:
                return None
            literal = Token(line, TOKEN_STRING, text)
            if not autoescape:
                return [literal], 4
            return [Token(line, TOKEN_LPAREN, "("), literal, Token(line, TOKEN_PIPE, "|"),
                    Token(line, TOKEN_NAME, "safe"), Token(line, TOKEN_RPAREN, ")")], 4
        if window[2].type == TOKEN_COMMA:  # _("text", name=...): the variables stay
            return [Token(line, TOKEN_NAME, "formatted_message"),
                    Token(line, TOKEN_LPAREN, "("), Token(line, TOKEN_STRING, translated)], 3
        return None


def _is_gettext(token, previous):
    """Whether ``token`` names gettext being called (not an attribute, filter or definition)."""
    if token.type != TOKEN_NAME or token.value not in GETTEXT_NAMES or previous is None:
        return False
    if previous.type in (TOKEN_DOT, TOKEN_PIPE):
        return False
    return not (previous.type == TOKEN_NAME and previous.value in _NOT_A_CALL_AFTER)


def _switches_autoescape(tokens):
    """A template with ``{% autoescape %}`` blocks: left as written (whether ``_`` returns
    Markup would depend on where the call sits)."""
    return any(token.type == TOKEN_NAME and token.value == "autoescape"
               and previous.type == TOKEN_BLOCK_BEGIN
               for previous, token in zip(tokens, tokens[1:]))


class PortalEnvironment(Environment):
    """Flask's Jinja environment, handing out each template compiled for the request's
    catalog (see the module's docstring)."""

    #: The catalog an overlay's templates are compiled with (None: the environment itself).
    message_catalog = None

    def __init__(self, app, **options):
        super().__init__(app, **options)
        #: {catalog key: overlay}
        self.message_overlays = {}

    def make_globals(self, d):
        """A template's globals: the environment's own dict when the template brings none of
        its own (the portal never does). Jinja's default, a ChainMap of the two, costs a
        generator per lookup; every render copies it and every import compares its keys
        (about 5 % of the summary fragment's time)."""
        if not d:
            return self.globals
        return super().make_globals(d)

    def get_template(self, name, parent=None, globals=None):
        """The template, from the overlay of the current catalog."""
        return self._load("get_template", name, parent, globals)

    def select_template(self, names, parent=None, globals=None):
        """The first template found, from the overlay of the current catalog."""
        return self._load("select_template", names, parent, globals)

    def _load(self, method, names, parent, globals):
        """Jinja's ``method`` on the overlay of the current catalog (or on this environment)."""
        _no_template_globals(globals)
        return getattr(super(PortalEnvironment, self._for_catalog()), method)(
            names, parent, globals)

    def _for_catalog(self):
        """The overlay of the current request's catalog; this environment for an overlay,
        outside an application context, or with ``FOLD_MESSAGES`` off."""
        if self.message_catalog is not None or not has_app_context():
            return self
        if not current_app.config["FOLD_MESSAGES"]:
            return self
        catalog = translations()
        key = _catalog_key(catalog)
        overlays = self.message_overlays
        found = overlays.get(key)
        if found is None:
            with _overlay_lock:
                found = overlays.get(key)
                if found is None:
                    if len(overlays) >= MAX_CATALOGS:
                        return self
                    found = self.overlay(extensions=[FoldedMessages], cache_size=400)
                    found.message_catalog = catalog
                    overlays[key] = found
        return found


_overlay_lock = threading.Lock()


def _no_template_globals(globals):
    """Globals given to ``get_template`` would be written into the cached template's globals,
    which are the environment's (``make_globals``): pass them to ``render`` instead."""
    if globals:
        raise TypeError("templates take no globals of their own: pass them to render()")


def _catalog_key(catalog):
    """What a catalog's messages come from: its files (``en_GB`` reads the ``en`` catalog,
    so both share one overlay), else the object itself (the in-memory pseudo-locale)."""
    files = tuple(getattr(catalog, "files", None) or ())
    return files or id(catalog)


# --------------------------------------------------------------------------- cached macros

#: The label macros of ``macros.html`` that templates call as globals, each output
#: remembered per arguments and catalog (``cached_macro``): their arguments are hashable and
#: all they depend on. A Jinja macro call, with the filters and messages inside it, costs
#: some twenty Python calls; remembered, a few (the summary calls seven: 3 % of its
#: instructions).
LABEL_MACROS = ("frequency_label", "licenses_count", "unit_price", "vat_reason_label")


@functools.lru_cache(maxsize=2048)
def _cached_macro(environment, template, name, args, types, locale):
    """Macro ``name``'s HTML (``types`` and ``locale`` only key the cache: ``1``, ``True``
    and ``Decimal(1)`` are equal keys but may print differently, and the macro renders in
    the current request's locale)."""
    return getattr(environment.get_template(template).module, name)(*args)


def cached_macro(environment, template, name, *args):
    """Macro ``name`` of ``template`` (imported without context) as ``environment`` (the
    application's, or a catalog's overlay) renders it, once per arguments and locale (the
    messages' key and the formats' locale: ``speaking`` a language in a pseudo-locale
    session keeps the one and switches the other). The arguments must be hashable and be all the macro depends on; in
    development (templates reloaded) it renders every time."""
    if environment.auto_reload:
        return getattr(environment.get_template(template).module, name)(*args)
    return _cached_macro(environment, template, name, args, tuple(map(type, args)),
                         (messages_key(), locale_name()))


#: The arguments a label's output is remembered for: values, never a model row (which hashes
#: by its id whatever its fields hold).
_VALUE_TYPES = frozenset({str, int, bool, Decimal, type(None), PlanPrice})


def _label_macro(name):
    """The template global that calls ``macros.html``'s ``name`` through ``cached_macro``
    (with any argument that is not a plain value, it renders every time)."""
    @pass_environment
    def call(environment, *args):
        for arg in args:
            if type(arg) not in _VALUE_TYPES:
                return getattr(environment.get_template("macros.html").module, name)(*args)
        return cached_macro(environment, "macros.html", name, *args)
    call.__name__ = call.__qualname__ = name
    return call


def init_app(app):
    """The label macros as template globals (a template that imports one from
    ``macros.html`` gets the macro itself, uncached)."""
    app.jinja_env.globals.update({name: _label_macro(name) for name in LABEL_MACROS})
