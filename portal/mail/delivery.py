"""Delivering the outbox over SMTP (the standard library's ``smtplib`` and ``email``).

Why the standard library: the portal needs one thing from SMTP, handing a finished message
to a relay, and ``smtplib`` does that with STARTTLS, implicit TLS and login; an extension
would add a dependency and its own idea of when to send, which the outbox already decides.

``deliver_pending(now)`` (the worker, every ``MAIL_SEND_MINUTES``; ``flask mail send``):

1. **claim** (its own write transaction): due rows (``pending`` whose ``next_attempt_at``
   has come, or ``sending`` whose claim ran out) become ``sending`` under a fresh claim
   token until ``now + CLAIM_TIMEOUT``, with one more attempt counted. Two workers never
   claim the same row: the update checks the state it changes.
2. **render** a row whose message is not rendered yet (its first delivery) from the values
   written with the event, and store it under the claim;
3. **send**, outside any transaction: the message as stored, with its stored Message-ID
   and Date, so every attempt sends the same message (a receipt's invoice is attached as a
   PDF rendered from the immutable invoice).
4. **mark** (a write transaction per row, only under the claim): ``sent``; or, when the
   server refused the recipient or the message for good (5xx), ``failed``; or, for a
   temporary failure (4xx, server down, timeout), ``pending`` again after a backoff
   (``BACKOFF``), ``failed`` after the last one.

What is guaranteed, honestly: the database and the SMTP server cannot commit together, so
delivery is **at least once**. A row is marked only after the server accepted the message;
if the process dies between the server's answer and the mark, the claim runs out and the
row is sent again. That second copy is the same message (same Message-ID, Date, subject
and body), which mail systems and clients recognise as one message; it is never a second,
different email. Exactly once holds for everything else: one event writes one row (its
unique key), a row is claimed by one worker at a time, and a marked row is never sent again.

Without ``MAIL_SERVER`` in development, due rows are marked ``sent`` by ``kept`` (nothing
leaves the machine) and shown on the "Posta inviata" page; in production they stay pending
until a server is configured.
"""
import datetime as dt
import logging
import secrets
import smtplib
from email.message import EmailMessage
from email.utils import format_datetime

from flask import current_app

from portal.core.db import write_transaction
from portal.core.i18n import speaking
from portal.core.models import Invoice, OutboxMessage, utcnow
from portal.invoices.pdf import pdf_bytes, pdf_name
from portal.mail.outbox import render_row, unrendered

log = logging.getLogger(__name__)

#: A claimed row not marked after this long is claimed again (its worker died). Longer than
#: any SMTP conversation may take (``MAIL_TIMEOUT`` per command).
CLAIM_TIMEOUT = dt.timedelta(minutes=10)
#: Waits after each failed attempt; after the last one the row is ``failed``.
BACKOFF = tuple(dt.timedelta(minutes=m) for m in (1, 5, 15, 60, 180, 720))
#: Rows claimed per run.
BATCH = 50


class PermanentFailure(Exception):
    """The server refused the message or its recipient for good (a 5xx answer)."""


def mail_server_configured():
    """True when an SMTP server is configured."""
    return bool(current_app.config.get("MAIL_SERVER"))


def keeps_mail():
    """Development without an SMTP server: messages are kept in the database instead."""
    return not mail_server_configured() and current_app.config["ENV_NAME"] != "production"


def claim_due(now, limit=BATCH):
    """Claim the due rows for this run (one transaction); returns them."""
    token = secrets.token_urlsafe(24)
    due = ((OutboxMessage.state == "pending") & (OutboxMessage.next_attempt_at <= now)) | (
        (OutboxMessage.state == "sending") & (OutboxMessage.claimed_until < now))
    with write_transaction():
        ids = [row_id for (row_id,) in OutboxMessage.select(OutboxMessage.id).where(due)
               .order_by(OutboxMessage.id).limit(limit).tuples()]
        if not ids:
            return []
        # The state is checked again by the update itself (PostgreSQL re-reads a row another
        # transaction changed meanwhile), so a row is claimed by one worker only.
        (OutboxMessage.update(state="sending", claim=token, claimed_until=now + CLAIM_TIMEOUT,
                              attempts=OutboxMessage.attempts + 1)
         .where(OutboxMessage.id.in_(ids) & due).execute())
    return list(OutboxMessage.select().where(OutboxMessage.claim == token)
                .order_by(OutboxMessage.id))


def email_message(row):
    """The MIME message of a row: plain text with an HTML alternative, and the row's stable
    Message-ID and Date (a repeated attempt sends the very same message)."""
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_DEFAULT_SENDER"]
    message["To"] = row.recipient
    message["Subject"] = row.subject
    message["Date"] = format_datetime(row.created_at.replace(tzinfo=dt.timezone.utc))
    message["Message-ID"] = row.message_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    message.set_content(row.text_body)
    message.add_alternative(row.html_body, subtype="html")
    attach_invoice(message, row)
    # After the parts: making the message multipart moves Content-* headers into a part.
    message["Content-Language"] = row.locale
    return message


def attach_invoice(message, row):
    """A receipt's invoice as a PDF, in the message's language. Should the PDF fail to
    render, the receipt goes without it (its body links to the invoice) rather than not
    at all; the failure is logged."""
    if row.invoice_id is None:
        return
    invoice = Invoice.get_or_none(Invoice.id == row.invoice_id)
    if invoice is None:
        return
    try:
        with speaking(row.locale):
            body = pdf_bytes(invoice)
    except Exception:  # noqa: BLE001 (WeasyPrint raises many kinds; the email matters more)
        log.exception("email %s: the PDF of invoice %s could not be rendered", row.id,
                      invoice.number)
        return
    message.add_attachment(body, maintype="application", subtype="pdf",
                           filename=pdf_name(invoice))


def open_smtp():
    """A connection to ``MAIL_SERVER``, secured and logged in as configured."""
    cfg = current_app.config
    factory = smtplib.SMTP_SSL if cfg.get("MAIL_USE_SSL") else smtplib.SMTP
    connection = factory(cfg["MAIL_SERVER"], int(cfg.get("MAIL_PORT") or 25),
                         timeout=float(cfg.get("MAIL_TIMEOUT") or 30))
    try:
        if cfg.get("MAIL_USE_TLS"):
            connection.starttls()
        if cfg.get("MAIL_USERNAME"):
            connection.login(cfg["MAIL_USERNAME"], cfg.get("MAIL_PASSWORD") or "")
    except BaseException:
        connection.close()
        raise
    return connection


def send_over(connection, row):
    """Hand one row to the server; ``PermanentFailure`` for a 5xx refusal."""
    try:
        refused = connection.send_message(email_message(row))
    except smtplib.SMTPRecipientsRefused as error:
        raise PermanentFailure(_describe(error.recipients.get(row.recipient))) from error
    except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as error:
        if 500 <= error.smtp_code < 600:
            raise PermanentFailure(_describe((error.smtp_code, error.smtp_error))) from error
        raise
    if refused:  # only some recipients refused: there is one per message
        raise PermanentFailure(_describe(refused.get(row.recipient)))


def _describe(answer):
    """The server's answer (code, text) as one short line."""
    if not answer:
        return "refused"
    code, text = answer
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {text}"[:255]


def mark_sent(row, now, delivered_by):
    """``sent``, if the row is still under this run's claim."""
    with write_transaction():
        return (OutboxMessage.update(state="sent", sent_at=now, delivered_by=delivered_by,
                                     claim=None, claimed_until=None, last_error=None)
                .where((OutboxMessage.id == row.id) & (OutboxMessage.claim == row.claim))
                .execute()) == 1


def mark_failed_attempt(row, now, error, permanent=False):
    """Back to ``pending`` after the backoff, or ``failed`` (refused, or no tries left)."""
    last = permanent or row.attempts > len(BACKOFF)
    wait = BACKOFF[min(row.attempts, len(BACKOFF)) - 1]
    with write_transaction():
        (OutboxMessage.update(state="failed" if last else "pending", claim=None,
                              claimed_until=None, last_error=str(error)[:255],
                              next_attempt_at=now if last else now + wait)
         .where((OutboxMessage.id == row.id) & (OutboxMessage.claim == row.claim)).execute())
    log.log(logging.ERROR if last else logging.WARNING, "email %s to %s %s: %s", row.id,
            row.recipient, "failed" if last else "postponed", error)


def rendered(row, now):
    """Render a claimed row's message at its first delivery and store it (under the claim),
    so that every attempt sends the same message; False, with the row ``failed``, when it
    cannot be rendered (a record it names is gone, a template is broken)."""
    if not unrendered(row):
        return True
    try:
        subject, text, html = render_row(row)
    except Exception as error:  # noqa: BLE001 (any failure: the row must not be retried forever)
        log.exception("email %s (%s) could not be rendered", row.id, row.kind)
        mark_failed_attempt(row, now, f"not rendered: {error}", permanent=True)
        return False
    with write_transaction():
        (OutboxMessage.update(subject=subject, text_body=text, html_body=html)
         .where((OutboxMessage.id == row.id) & (OutboxMessage.claim == row.claim)).execute())
    row.subject, row.text_body, row.html_body = subject, text, html
    return True


def deliver_pending(now=None):
    """Deliver every due message once (see the module doc); returns {outcome: count}."""
    now = now or utcnow()
    outcomes = {"sent": 0, "kept": 0, "postponed": 0, "failed": 0}
    if not mail_server_configured() and not keeps_mail():
        pending = OutboxMessage.select().where(OutboxMessage.state == "pending").count()
        if pending:
            log.warning("%s emails wait: set MAIL_SERVER to send them", pending)
        return outcomes
    claimed = claim_due(now)
    rows = [row for row in claimed if rendered(row, now)]
    outcomes["failed"] += len(claimed) - len(rows)
    if not rows:
        return outcomes
    if keeps_mail():
        for row in rows:
            outcomes["kept"] += mark_sent(row, now, "kept")
        return outcomes
    try:
        connection = open_smtp()
    except (OSError, smtplib.SMTPException) as error:
        for row in rows:
            mark_failed_attempt(row, now, error)
            outcomes["postponed"] += 1
        return outcomes
    try:
        for row in rows:
            try:
                send_over(connection, row)
            except PermanentFailure as error:
                mark_failed_attempt(row, now, error, permanent=True)
                outcomes["failed"] += 1
                continue
            except (OSError, smtplib.SMTPException) as error:
                mark_failed_attempt(row, now, error)
                outcomes["postponed"] += 1
                continue
            mark_sent(row, now, "smtp")
            outcomes["sent"] += 1
    finally:
        try:
            connection.quit()
        except (OSError, smtplib.SMTPException):
            connection.close()
    return outcomes
