"""Writing an email to the outbox, rendered in its recipient's language.

A message is a row of ``OutboxMessage`` written by the caller's transaction: if the event
rolls back (a declined card, a stale order), so does its email. The row holds the values
of the message's templates; its first delivery renders the subject, the plain-text part
(``templates/mail/<kind>.txt``) and the HTML part (``templates/mail/<kind>.html``) in the
language chosen when the row was written (see ``recipient_locale``), with money and dates
formatted by the same filters as the pages, and stores them for every later attempt. A receipt names its
invoice (``OutboxMessage.invoice``), attached as a PDF when the message is sent.
"""
import datetime as dt
import json
from decimal import Decimal
from email.utils import make_msgid
from urllib.parse import urlsplit

from flask import current_app, render_template
from flask_babel import lazy_gettext as _l
from peewee import Model

from portal.core.db import Prepared, PreparedInsert, write_transaction
from portal.core.i18n import date as format_date
from portal.core.i18n import speaking
from portal.core.models import ALL_MODELS, OutboxMessage, User, utcnow

#: The subject of each kind of message (formatted with the template's values).
SUBJECTS = {
    "order_receipt": _l("Your order: invoice %(invoice_number)s"),
    "renewal_receipt": _l("%(product_name)s renewed: invoice %(invoice_number)s"),
    "renewal_failed": _l("Payment for %(product_name)s failed"),
    "subscription_suspended": _l("%(product_name)s has been suspended"),
    "trial_ending": _l("Your free trial of %(product_name)s ends on %(trial_end)s"),
    "card_expiring": _l("Your card ending in %(last4)s expires before the next renewal"),
    "subscription_expiring": _l("%(product_name)s expires on %(period_end)s"),
    "invitation": _l("%(inviter_name)s invites you to %(account_name)s"),
    "password_reset": _l("Set a new password for the Billing Center"),
}


def recipient_locale(user, fallback=None):
    """The language ``user`` reads their email in: their saved choice, else ``fallback``
    (the page they asked from, when there is one), else the account's (its first billing
    contact's saved choice), else the portal's default."""
    languages = current_app.config["LANGUAGES"]
    if user.locale in languages:
        return user.locale
    if fallback in languages:
        return fallback
    return account_locale(user.account_id)


# Every order's receipt may ask (a contact who never chose a language): SQL built once.
_contact_locales = Prepared(
    lambda account_id: User.select(User.locale)
    .where((User.account == account_id) & (User.role == "billing_contact")
           & User.locale.is_null(False)).order_by(User.id), row=tuple)


def account_locale(account_id):
    """The account's language: its first billing contact's saved choice, else the default."""
    languages = current_app.config["LANGUAGES"]
    saved = next((locale for (locale,) in _contact_locales.rows(int(account_id))
                  if locale in languages), None)
    return saved or current_app.config["BABEL_DEFAULT_LOCALE"]


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


def write_message(key, kind, user, attach=None, locale=None, **values):
    """Write the message ``kind`` for ``user`` under the event's ``key``, in the caller's
    transaction; a second write for the same key changes nothing (one event, one email).

    ``values`` reach the templates and the subject; ``user`` is in them as ``recipient``.
    ``attach`` is an invoice to attach as a PDF; ``locale`` is the fallback language (see
    ``recipient_locale``).
    """
    write_to_address(key, kind, user.email, recipient_locale(user, locale), user.account_id,
                     attach=attach, recipient=user, **values)


def written(key, legacy=None):
    """True when the event ``key`` already wrote its message (checked before the work of
    preparing one that would be ignored); ``legacy``: (an earlier form of the key, the
    address it must have been written for to count)."""
    found = OutboxMessage.key == key
    if legacy is not None:
        found |= (OutboxMessage.key == legacy[0]) & (OutboxMessage.recipient == legacy[1])
    return OutboxMessage.select().where(found).exists()


def subject_values(values):
    """The values as the subject shows them: dates formatted in the current language."""
    return {name: format_date(value, "long") if isinstance(value, dt.date) else value
            for name, value in values.items()}


def write_to_address(key, kind, address, locale, account_id, attach=None, **values):
    """``write_message`` for an address that has no user yet (an invitation).

    The row holds the values (``freeze``), not the rendered message: rendering costs more
    than the rest of a renewal's writes, and the transaction that writes the event (holding
    the write lock, and on PostgreSQL the invoice numbering lock) should not wait for it.
    The first delivery renders the message and stores it (``render_row``)."""
    now = utcnow()
    _new_message.add(
        key=key, account=account_id, kind=kind, recipient=address, locale=locale,
        subject="", text_body="", html_body="", context=json.dumps(freeze(values)),
        message_id=make_msgid(idstring=kind.replace("_", "-"), domain=message_domain()),
        state="pending", attempts=0, next_attempt_at=now, created_at=now,
        invoice=attach.id if attach is not None else None)


def unrendered(row):
    """True for a row whose message has not been rendered yet."""
    return row.context is not None and not row.text_body


def render_row(row):
    """(subject, text, HTML) of the row's message, rendered in its language from the values
    written with the event (read again from the database)."""
    values = thaw(json.loads(row.context))
    with speaking(row.locale):
        subject = str(SUBJECTS[row.kind]) % subject_values(values)
        text = render_template(f"mail/{row.kind}.txt", subject=subject, **values)
        html = render_template(f"mail/{row.kind}.html", subject=subject, **values)
    return subject[:255], text, html


#: Records a message's values may name, by class name.
MODELS = {model.__name__: model for model in ALL_MODELS}


def freeze(value):
    """``value`` as JSON: a record becomes its class and id, a date its ISO form."""
    if isinstance(value, Model):
        return {"$model": type(value).__name__, "id": value.id}
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, (list, tuple)):
        return [freeze(item) for item in value]
    if isinstance(value, dict):
        return {name: freeze(item) for name, item in value.items()}
    return value


def thaw(value):
    """``freeze``'s inverse: records are read again (``DoesNotExist`` if one is gone)."""
    if isinstance(value, list):
        return [thaw(item) for item in value]
    if isinstance(value, dict):
        if "$model" in value:
            return MODELS[value["$model"]].get_by_id(value["id"])
        if "$datetime" in value:
            return dt.datetime.fromisoformat(value["$datetime"])
        if "$date" in value:
            return dt.date.fromisoformat(value["$date"])
        if "$decimal" in value:
            return Decimal(value["$decimal"])
        return {name: thaw(item) for name, item in value.items()}
    return value


#: Rows emptied per transaction when pruning (a short hold of SQLite's write lock each).
PRUNE_BATCH = 500


def prune_bodies(now=None, keep_days=None):
    """Empty what the messages settled long ago said; returns how many were emptied.

    A message written more than ``MAIL_KEEP_DAYS`` days ago (90; 0 keeps everything) that
    was sent, or refused for good, loses its bodies and its template values: a receipt or a
    reminder carries names, amounts and addresses, and a year of renewals would otherwise
    keep megabytes of them. The row itself stays, with its key, kind, subject, recipient,
    state and dates: the key is what keeps an event from writing its message twice, however
    old it is, and the subject says what was sent. Pending messages are never touched.
    """
    keep_days = current_app.config["MAIL_KEEP_DAYS"] if keep_days is None else keep_days
    if not keep_days or keep_days <= 0:
        return 0
    cutoff = (now or utcnow()) - dt.timedelta(days=int(keep_days))
    settled = ((OutboxMessage.state.in_(("sent", "failed")))
               & (OutboxMessage.created_at < cutoff)
               & ((OutboxMessage.text_body != "") | (OutboxMessage.html_body != "")
                  | OutboxMessage.context.is_null(False)))
    pruned, last = 0, 0
    while True:  # in order of id, so that no batch reads again what the previous ones did
        with write_transaction():
            ids = [row_id for (row_id,) in OutboxMessage.select(OutboxMessage.id)
                   .where(settled & (OutboxMessage.id > last))
                   .order_by(OutboxMessage.id).limit(PRUNE_BATCH).tuples()]
            if not ids:
                return pruned
            pruned += (OutboxMessage.update(text_body="", html_body="", context=None)
                       .where(OutboxMessage.id.in_(ids) & settled).execute())
            last = ids[-1]
