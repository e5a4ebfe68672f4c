"""What every form of the portal shares: the base class and the input bounds.

Each feature declares its forms in its own ``forms.py``; the rules they check stay where
they live (``portal/billing``, ``portal/accounts/users.py``).
"""
import functools
import gettext

from flask_wtf import FlaskForm
from wtforms.i18n import get_translations

from portal.core.i18n import locale_name


@functools.lru_cache(maxsize=32)
def wtforms_catalog(locale):
    """WTForms' own messages in ``locale`` (``en_GB`` falls back to ``en``), read from disk
    once per locale rather than once per request as Flask-WTF's default does; English
    where WTForms has no catalog."""
    try:
        return get_translations([locale])
    except FileNotFoundError:
        return gettext.NullTranslations()


class PostForm(FlaskForm):
    """A form read from the posted body (empty on GET), without a CSRF field of its own.

    ``CSRFProtect`` (``portal/core/security.py``) already checks the token of every POST
    before a view runs, and the login view checks it after the rate limit: a second check
    in each form would only duplicate that, and a form that forgot its field would fail
    where the global check does not.
    """

    class Meta:
        """No per-form token: see the class docstring. WTForms' messages in the request's
        locale, from a catalog kept in memory."""

        csrf = False

        def get_translations(self, form):
            """The request's catalog of WTForms' messages (see ``wtforms_catalog``)."""
            return wtforms_catalog(locale_name())


def bounded(limit):
    """A filter that keeps the first ``limit`` characters (missing input becomes ``""``),
    so that a pasted novel is never parsed, looked up or shown again."""
    def bound(value):
        return (value or "")[:limit]
    return bound


def first_errors(form):
    """``{field name: its first message}``, the shape the templates show next to a field."""
    return {name: messages[0] for name, messages in form.errors.items() if messages}
