"""Posta inviata: in development, the emails the portal kept instead of sending (no
``MAIL_SERVER``), so that every message can be read without a mail server. Any other
environment answers 404: the page shows every account's mail."""
from flask import Blueprint, abort, current_app
from flask_login import login_required

from portal.core.http import no_store, render
from portal.core.i18n import speaking
from portal.core.models import Invoice, OutboxMessage
from portal.invoices.pdf import pdf_bytes, pdf_name
from portal.mail.outbox import render_row, unrendered

bp = Blueprint("mail", __name__, url_prefix="/dev/mail")

#: Messages listed, newest first.
SHOWN = 200


@bp.before_request
def development_only():
    """The page exists in development only."""
    if current_app.config["ENV_NAME"] != "development":
        abort(404)


def shown(row):
    """The row with its message: a message not delivered yet is rendered for the page (and
    not stored: its delivery does that)."""
    if unrendered(row):
        row.subject, row.text_body, row.html_body = render_row(row)
    return row


@bp.get("/")
@login_required
def index():
    """The newest messages of the outbox, whatever their state."""
    messages = [shown(row) for row in
                OutboxMessage.select().order_by(OutboxMessage.id.desc()).limit(SHOWN)]
    return no_store(render("mail/sent.html", messages=messages))


@bp.get("/<int:message_id>")
@login_required
def show(message_id):
    """One message: its headers, its plain-text part and its HTML part."""
    message = OutboxMessage.get_or_none(OutboxMessage.id == message_id)
    if message is None:
        abort(404)
    return no_store(render("mail/sent_message.html", message=shown(message)))


@bp.get("/<int:message_id>/html")
@login_required
def html_part(message_id):
    """The HTML part as the recipient's mail client gets it."""
    message = OutboxMessage.get_or_none(OutboxMessage.id == message_id)
    if message is None:
        abort(404)
    response = current_app.response_class(shown(message).html_body, mimetype="text/html")
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return no_store(response)


@bp.get("/<int:message_id>/attachment")
@login_required
def attachment(message_id):
    """A receipt's attached invoice, as the delivery renders it (in the message's language)."""
    message = OutboxMessage.get_or_none(OutboxMessage.id == message_id)
    if message is None or message.invoice_id is None:
        abort(404)
    invoice = Invoice.get_by_id(message.invoice_id)
    with speaking(message.locale):
        body = pdf_bytes(invoice)
    response = current_app.response_class(body, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{pdf_name(invoice)}"'
    return no_store(response)
