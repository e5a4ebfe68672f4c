"""Values remembered for one application context (a request, a CLI command, a worker task),
without the cost of ``flask.g``.

``flask.g`` is a werkzeug proxy: every use looks the current context up again (about
1.5 µs). A page asks for its locale, its catalog and its account dozens of times (every
amount or date it formats asks for the locale), so those are kept in a plain dict reached
through a ``ContextVar``: one dict per application context, created when Flask pushes the
context and dropped when it pops it (the ``appcontext_pushed`` and ``appcontext_popped``
signals), so that a nested context (a test's, a worker task's) has its own.

``current()`` is that dict, or None outside an application context of a portal app; callers
then compute the value without remembering it.
"""
from contextvars import ContextVar

from flask import appcontext_popped, appcontext_pushed, has_app_context

_current = ContextVar("portal_scope", default=None)
#: The current application context's dict (None outside one, and possibly a dead context's
#: after a teardown raised: check ``has_app_context()`` before trusting a value found). For
#: the lookups asked dozens of times per page (``portal.core.i18n.locale_name``); anything
#: else asks ``current()`` or ``remembered()``.
CURRENT = _current


class Scope(dict):
    """The values of one application context (a dict), with the token that restores the
    enclosing context's when it is popped."""

    __slots__ = ("token",)


def current():
    """The current application context's dict, or None outside one (also after a context
    whose teardown raised: Flask then pops it without sending ``appcontext_popped``)."""
    values = _current.get()
    if values is not None and not has_app_context():
        return None
    return values


def remembered(name, compute):
    """``compute()``, once per application context (every time outside one): what
    ``current()`` and a lookup do, in one call (the locale is asked for some thirty times
    per page)."""
    values = _current.get()
    if values is None or not has_app_context():
        return compute()
    found = values.get(name)
    if found is None:
        found = values[name] = compute()
    return found


def _pushed(app, **extra):
    scope = Scope()
    scope.token = _current.set(scope)


def _popped(app, **extra):
    scope = _current.get()
    if scope is not None:
        _current.reset(scope.token)


def init_app(app):
    """Give every application context of ``app`` its own dict."""
    appcontext_pushed.connect(_pushed, app)
    appcontext_popped.connect(_popped, app)
