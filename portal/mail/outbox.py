"""Writing an email to the outbox, rendered in its recipient's language.

A message is a row of ``OutboxMessage`` written by the caller's transaction: if the event
rolls back (a declined card, a stale order), so does its email. The subject, the plain-text
part (``templates/mail/<kind>.txt``) and the HTML part (``templates/mail/<kind>.html``) are
rendered when the row is written, in the recipient's saved language (else the portal's
default, Italian), with money and dates formatted by the same filters as the pages.
"""
from email.utils import make_msgid
from urllib.parse import urlsplit

from flask import current_app, render_template
from flask_babel import lazy_gettext as _l

from portal.core.db import PreparedInsert
from portal.core.i18n import speaking
from portal.core.models import OutboxMessage, utcnow

#: The subject of each kind of message (formatted with the template's values).
SUBJECTS = {
    "order_receipt": _l("Your order: invoice %(invoice_number)s"),
    "renewal_receipt": _l("%(product_name)s renewed: invoice %(invoice_number)s"),
    "renewal_failed": _l("Payment for %(product_name)s failed"),
    "subscription_suspended": _l("%(product_name)s has been suspended"),
}


def recipient_locale(user):
    """The language a user reads their email in: their saved choice, else the default."""
    if user.locale in current_app.config["LANGUAGES"]:
        return user.locale
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def portal_link(endpoint, **values):
    """The absolute address of a portal page, under ``PORTAL_URL`` (an email is read
    outside the request, often written by the worker, which has none)."""
    base = urlsplit(current_app.config["PORTAL_URL"])
    adapter = current_app.url_map.bind(base.netloc, script_name=base.path or "/",
                                       url_scheme=base.scheme or "https")
    return adapter.build(endpoint, values, force_external=True)


def message_domain():
    """The right-hand side of the portal's Message-IDs: the host of ``PORTAL_URL``."""
    return urlsplit(current_app.config["PORTAL_URL"]).hostname or "localhost"


#: The outbox INSERT, built once; a message already written under its key is left alone.
_new_message = PreparedInsert(OutboxMessage, ignore_conflicts=True)


def write_message(key, kind, user, **values):
    """Write the message ``kind`` for ``user`` under the event's ``key``, in the caller's
    transaction; a second write for the same key changes nothing (one event, one email).

    ``values`` reach the templates and the subject; ``user`` is in them as ``recipient``.
    """
    locale = recipient_locale(user)
    values = dict(values, recipient=user)
    with speaking(locale):
        subject = str(SUBJECTS[kind]) % values
        text = render_template(f"mail/{kind}.txt", subject=subject, **values)
        html = render_template(f"mail/{kind}.html", subject=subject, **values)
    now = utcnow()
    _new_message.create(
        key=key, account=user.account_id, kind=kind, recipient=user.email, locale=locale,
        subject=subject[:255], text_body=text, html_body=html,
        message_id=make_msgid(idstring=kind.replace("_", "-"), domain=message_domain()),
        state="pending", attempts=0, next_attempt_at=now, created_at=now)
