"""Email: the outbox written with its event, delivered to a real SMTP server (aiosmtpd, in
the test process) once, in the recipient's language; and the development "Posta inviata"."""
import datetime as dt
import subprocess

import pytest
from aiosmtpd.controller import Controller

from conftest import GIULIA, statements
from portal.core.db import db
from portal.core.models import Invoice, Order, OutboxMessage, User, utcnow
from portal.lifecycle.renewals import run_billing
from portal.mail import delivery
from portal.mail.delivery import CLAIM_TIMEOUT, deliver_pending
from portal.mail.outbox import prune_bodies
from test_checkout_support import add_to_cart, card_form, order_id_from, place, review
from test_fatturapa import PDFTOTEXT_MISSING
from test_renewals import DECLINED, GOOD, START, save_card


def send(app, now=None):
    """``deliver_pending`` as the worker runs it."""
    with app.app_context(), db.connection_context():
        return deliver_pending(now)


def outbox():
    """Every outbox row, oldest first."""
    with db.connection_context():
        return list(OutboxMessage.select().order_by(OutboxMessage.id))


def parts(message):
    """(plain text, HTML) of a received message."""
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return text, html


def login(app):
    """Giulia's browser on ``app``."""
    from conftest import Browser
    browser = Browser(app.test_client())
    browser.login(GIULIA)
    return browser


def place_seed_order(browser, card=None):
    """The seed's order: Webinar Pro, 6 licenses, monthly, paid by a new card."""
    add_to_cart(1, "webinar-pro", 6, "monthly")
    _html, fields = review(browser)
    return place(browser, fields, card_form(card) if card else None)


# ------------------------------------------------------------------ the order receipt


def test_the_order_receipt_arrives_in_italian_with_the_total_due(mail_app, smtp):
    browser = login(mail_app)
    order_id = order_id_from(place_seed_order(browser))
    [row] = outbox()
    assert (row.kind, row.state, row.recipient, row.locale) == (
        "order_receipt", "pending", GIULIA, "it")
    assert smtp.messages == []  # written with the order, sent by the worker

    assert send(mail_app)["sent"] == 1
    [(recipients, message)] = smtp.messages
    assert recipients == [GIULIA]
    with db.connection_context():
        order = Order.get_by_id(order_id)
        invoice = Invoice.get(Invoice.order == order_id)
        link = f"https://portal.example.com/invoices/{invoice.id}"
    assert message["Subject"] == f"Il tuo ordine: fattura {invoice.number}"
    assert message["Message-ID"].strip() == row.message_id
    assert message["From"] == "Centro fatturazione <fatturazione@example.com>"
    text, html = parts(message)
    due = f"{order.due_cents // 100:,}".replace(",", ".") + f",{order.due_cents % 100:02d}"
    assert f"Importo addebitato: {due}\xa0€" in text, text
    assert invoice.number in text and link in text
    assert "Cosa è cambiato" in text and "6 licenze" in text
    assert f'href="{link}"' in html and due in html
    assert "La fattura è allegata a questa email in PDF." in text
    [pdf] = message.iter_attachments()
    assert (pdf.get_content_type(), pdf.get_filename()) == ("application/pdf",
                                                            "invoice-2026-000001.pdf")
    assert pdf.get_content().startswith(b"%PDF-")
    assert outbox()[0].state == "sent"
    assert send(mail_app)["sent"] == 0 and len(smtp.messages) == 1  # never twice


def test_the_receipt_is_in_the_language_the_user_chose(mail_app, smtp):
    with db.connection_context():
        User.update(locale="de").where(User.email == GIULIA).execute()
    place_seed_order(login(mail_app))
    send(mail_app)
    [(_, message)] = smtp.messages
    assert message["Subject"].startswith("Ihre Bestellung")
    assert message["Content-Language"] == "de"
    assert "€" in parts(message)[0]
    [pdf] = message.iter_attachments()
    assert pdf.get_content().startswith(b"%PDF-")


@pytest.mark.skipif(PDFTOTEXT_MISSING, reason="pdftotext missing: apt-get install poppler-utils")
@pytest.mark.parametrize("locale, words", [("it", ["Fattura 2026/000001", "Totale"]),
                                           ("en", ["Invoice 2026/000001", "Total"])])
def test_the_attached_invoice_speaks_the_recipients_language(mail_app, smtp, tmp_path, locale,
                                                              words):
    with db.connection_context():
        User.update(locale=locale).where(User.email == GIULIA).execute()
    place_seed_order(login(mail_app))
    send(mail_app)
    [(_, message)] = smtp.messages
    [pdf] = message.iter_attachments()
    (tmp_path / "attached.pdf").write_bytes(pdf.get_content())
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "attached.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    for word in words:
        assert word in text


def test_a_pdf_that_fails_to_render_does_not_hold_the_receipt_back(mail_app, smtp,
                                                                     monkeypatch):
    def broken(invoice):
        raise RuntimeError("renderer down")

    monkeypatch.setattr(delivery, "pdf_bytes", broken)
    place_seed_order(login(mail_app))
    assert send(mail_app)["sent"] == 1
    [(_, message)] = smtp.messages
    assert list(message.iter_attachments()) == []
    assert "/invoices/" in parts(message)[0]  # the link is still there


def test_a_declined_order_leaves_no_email(mail_app, smtp):
    response = place_seed_order(login(mail_app), card="4000000000000002")
    assert response.status_code != 303
    assert outbox() == []
    send(mail_app)
    assert smtp.messages == []


# ------------------------------------------------------------------ renewals


@pytest.fixture
def renewal_ctx(mail_app):
    with mail_app.app_context(), db.connection_context():
        yield mail_app


def received(smtp, kind_subject):
    """The received messages whose subject starts with ``kind_subject``."""
    return [m for _, m in smtp.messages if m["Subject"].startswith(kind_subject)]


def test_renewal_receipt(renewal_ctx, smtp):
    save_card(GOOD)
    assert run_billing(START).renewed == [1]
    [row] = outbox()
    assert row.kind == "renewal_receipt"
    deliver_pending()
    [message] = received(smtp, "Webinar rinnovato")
    order = Order.select().order_by(Order.id.desc()).get()
    text, _html = parts(message)
    assert Invoice.get(Invoice.order == order.id).number in message["Subject"]
    assert "675,90\xa0€" in text and order.due_cents == 67590  # 50 € of credit used


def test_every_billing_contact_gets_the_renewal_receipt_and_the_failures(renewal_ctx, smtp):
    """The renewal order is recorded for the first billing contact; each active one is told,
    in their own language, with the invoice attached to each receipt."""
    from test_mail_links import second_contacts
    luca, _sara = second_contacts()
    save_card(GOOD)
    assert run_billing(START).renewed == [1]
    order = Order.select().order_by(Order.id.desc()).get()
    assert order.user.email == GIULIA
    deliver_pending()
    assert sorted(to for to, _message in smtp.messages) == sorted([[GIULIA], [luca.email]])
    [italian] = received(smtp, "Webinar rinnovato")
    [english] = received(smtp, "Webinar renewed")
    number = Invoice.get(Invoice.order == order.id).number
    for message in (italian, english):
        assert number in message["Subject"]
        [pdf] = [part for part in message.iter_attachments()
                 if part.get_content_type() == "application/pdf"]
        assert pdf.get_content().startswith(b"%PDF")


def test_every_billing_contact_is_told_of_a_declined_renewal_and_the_suspension(renewal_ctx,
                                                                                smtp):
    from test_mail_links import second_contacts
    luca, _sara = second_contacts()
    save_card(DECLINED)
    for day in (START + dt.timedelta(days=d) for d in (0, 1, 3, 5)):
        run_billing(day)
    rows = [(row.kind, row.recipient) for row in outbox()]
    assert rows == [(kind, to) for kind in ["renewal_failed"] * 3 + ["subscription_suspended"]
                    for to in (GIULIA, luca.email)]
    deliver_pending()
    assert len(received(smtp, "Payment for Webinar failed")) == 3  # Luca's, in English
    assert len(received(smtp, "Pagamento di Webinar non riuscito")) == 3
    assert len(received(smtp, "Webinar has been suspended")) == 1


def test_renewal_failed_then_suspended(renewal_ctx, smtp):
    save_card(DECLINED)
    days = [START + dt.timedelta(days=d) for d in (0, 1, 3, 5)]
    for day in days:
        run_billing(day)
    kinds = [row.kind for row in outbox()]
    assert kinds == ["renewal_failed"] * 3 + ["subscription_suspended"]
    deliver_pending()
    failed = received(smtp, "Pagamento di Webinar non riuscito")
    assert len(failed) == 3
    text, html = parts(failed[0])
    assert "675,90\xa0€" in text  # 119 € × 5 + IVA = 725,90 €, less the 50 € credit held
    assert "rifiutata" in text  # the reason: declined by the issuer
    assert "11 dic 2026" in text  # the next retry
    pay = "https://portal.example.com/subscriptions/1/pay"
    assert f"Paga ora: {pay}" in text and f'href="{pay}"' in html
    [suspended] = received(smtp, "Webinar è stato sospeso")
    assert pay in parts(suspended)[0]
    assert "725,90\xa0€" in parts(suspended)[0]  # the credit went back to the balance


# ------------------------------------------------------------------ delivery


def test_smtp_down_keeps_messages_pending_until_it_is_back(mail_app, smtp):
    place_seed_order(login(mail_app))
    smtp.controller.stop()
    now = utcnow()
    assert send(mail_app, now) == {"sent": 0, "kept": 0, "postponed": 1, "failed": 0}
    [row] = outbox()
    assert (row.state, row.attempts, row.next_attempt_at) == (
        "pending", 1, now + dt.timedelta(minutes=1))
    assert send(mail_app, now)["postponed"] == 0  # waits for its backoff

    smtp.controller = Controller(smtp, hostname="127.0.0.1", port=smtp.port)
    smtp.controller.start()
    assert send(mail_app, now + dt.timedelta(minutes=1))["sent"] == 1
    assert len(smtp.messages) == 1 and outbox()[0].state == "sent"


def test_a_slow_server_is_waited_for_up_to_the_timeout(make_app, smtp):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, MAIL_TIMEOUT=1,
                   PORTAL_URL="https://portal.example.com")
    place_seed_order(login(app))
    smtp.delay = 0.5  # slow, but answers within MAIL_TIMEOUT
    assert send(app)["sent"] == 1 and len(smtp.messages) == 1


def test_a_server_slower_than_the_timeout_keeps_the_message_for_later(make_app, smtp):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, MAIL_TIMEOUT=1,
                   PORTAL_URL="https://portal.example.com")
    place_seed_order(login(app))
    smtp.delay = 3  # answers after the portal gave up waiting
    now = utcnow()
    assert send(app, now) == {"sent": 0, "kept": 0, "postponed": 1, "failed": 0}
    [row] = outbox()
    assert row.state == "pending" and "timed out" in row.last_error
    smtp.delay = 0
    # The server may have kept the late copy: the retry sends the same message (same
    # Message-ID), which mail systems recognise as one.
    assert send(app, now + dt.timedelta(minutes=1))["sent"] == 1
    ids = {message["Message-ID"].strip() for _, message in smtp.messages}
    assert ids == {row.message_id} and outbox()[0].state == "sent"


def test_a_refused_recipient_fails_without_retries(mail_app, smtp):
    smtp.refused.add(GIULIA)
    place_seed_order(login(mail_app))
    assert send(mail_app)["failed"] == 1
    [row] = outbox()
    assert row.state == "failed" and row.last_error.startswith("550")
    smtp.refused.clear()
    assert send(mail_app, utcnow() + dt.timedelta(days=30))["sent"] == 0
    assert smtp.messages == []


def test_a_crash_after_the_smtp_answer_sends_the_same_message_again(mail_app, smtp,
                                                                      monkeypatch):
    place_seed_order(login(mail_app))
    start = utcnow()

    def crash(*args, **kwargs):
        raise SystemExit("killed after the server's answer")

    with monkeypatch.context() as patched:
        patched.setattr(delivery, "mark_sent", crash)
        with pytest.raises(SystemExit):
            send(mail_app, start)
    [row] = outbox()
    assert row.state == "sending" and len(smtp.messages) == 1
    # Another worker before the claim runs out: nothing is sent.
    assert send(mail_app, start + dt.timedelta(minutes=5))["sent"] == 0
    assert len(smtp.messages) == 1
    # After it: the very same message once more (at least once), then never again.
    later = start + CLAIM_TIMEOUT + dt.timedelta(seconds=1)
    assert send(mail_app, later)["sent"] == 1
    assert send(mail_app, later + dt.timedelta(hours=1))["sent"] == 0
    first, second = (message for _, message in smtp.messages)
    assert first["Message-ID"].strip() == second["Message-ID"].strip() == row.message_id
    assert first["Date"] == second["Date"] and parts(first) == parts(second)
    assert outbox()[0].state == "sent"


def test_the_command_delivers_once(mail_app, smtp):
    place_seed_order(login(mail_app))
    result = mail_app.test_cli_runner().invoke(args=["mail", "send"])
    assert result.exit_code == 0, result.output
    assert "sent: 1" in result.output and len(smtp.messages) == 1
    result = mail_app.test_cli_runner().invoke(args=["mail", "send"])
    assert "sent: 0" in result.output and len(smtp.messages) == 1


# ------------------------------------------------------------------ retention


def age(row, days):
    """Move ``row``'s writing ``days`` into the past."""
    with db.connection_context():
        OutboxMessage.update(created_at=row.created_at - dt.timedelta(days=days)).where(
            OutboxMessage.id == row.id).execute()


def test_settled_messages_older_than_the_retention_are_emptied_not_forgotten(mail_app, smtp):
    """After MAIL_KEEP_DAYS a sent message keeps its key, kind, subject, recipient and dates
    but not its content; a pending one is never touched; the event still writes nothing
    twice."""
    browser = login(mail_app)
    order_id = order_id_from(place_seed_order(browser))
    send(mail_app)
    smtp.controller.stop()
    add_to_cart(1, "webinar-pro", 7, "monthly")  # a second order, its receipt left pending
    _html, fields = review(browser)
    place(browser, fields)
    sent, pending = outbox()
    assert (sent.state, pending.state) == ("sent", "pending")
    age(sent, 91)
    age(pending, 91)
    with mail_app.app_context():
        with db.connection_context():
            assert prune_bodies(keep_days=0) == 0  # 0 keeps everything
            assert prune_bodies() == 1
            assert prune_bodies() == 0
    emptied, untouched = outbox()
    assert (emptied.text_body, emptied.html_body, emptied.context) == ("", "", None)
    assert emptied.subject == sent.subject and emptied.key == sent.key
    assert (emptied.recipient, emptied.state, emptied.sent_at) == (
        sent.recipient, "sent", sent.sent_at)
    assert (untouched.context, untouched.state) == (pending.context, "pending")
    with mail_app.app_context(), db.connection_context():
        order = Order.get_by_id(order_id)
        invoice = Invoice.get(Invoice.order == order_id)
        from portal.mail.messages import order_receipt
        order_receipt(order, invoice, order.user)  # the same event again
    assert len(outbox()) == 2


def test_pruning_goes_through_the_outbox_in_batches(mail_app, monkeypatch, count_queries):
    from portal.mail import outbox as outbox_module
    monkeypatch.setattr(outbox_module, "PRUNE_BATCH", 2)
    old = utcnow() - dt.timedelta(days=100)
    with mail_app.app_context(), db.connection_context():
        for n in range(5):
            OutboxMessage.create(key=f"test:{n}", kind="order_receipt", recipient=GIULIA,
                                 locale="it", subject=f"Messaggio {n}", text_body="testo",
                                 html_body="<p>testo</p>", message_id=f"<{n}@example.com>",
                                 state="failed" if n == 3 else "sent", created_at=old)
        with count_queries() as queries:
            assert prune_bodies() == 5
        updates = [sql for sql in statements(queries) if sql.lstrip("('").startswith("UPDATE")]
        assert len(updates) == 3  # 2 + 2 + 1, each batch its own transaction
    assert [(row.subject, row.text_body) for row in outbox()] == [
        (f"Messaggio {n}", "") for n in range(5)]


def test_recent_messages_keep_their_content_and_the_command_says_what_it_emptied(mail_app,
                                                                                 smtp):
    place_seed_order(login(mail_app))
    send(mail_app)
    [row] = outbox()
    age(row, 89)
    result = mail_app.test_cli_runner().invoke(args=["mail", "prune"])
    assert result.exit_code == 0 and "emptied: 0" in result.output
    assert outbox()[0].text_body == row.text_body != ""
    result = mail_app.test_cli_runner().invoke(args=["mail", "prune", "--days", "30"])
    assert result.exit_code == 0 and "emptied: 1" in result.output
    assert outbox()[0].text_body == ""


# ------------------------------------------------------------------ Posta inviata


def test_development_keeps_mail_and_shows_it(make_app):
    app = make_app(ENV_NAME="development")
    browser = login(app)
    place_seed_order(browser)
    assert send(app) == {"sent": 0, "kept": 1, "postponed": 0, "failed": 0}
    [row] = outbox()
    assert (row.state, row.delivered_by) == ("sent", "kept")
    page = browser.get("/dev/mail/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Posta inviata" in html and row.subject in html
    page = browser.get(f"/dev/mail/{row.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Importo addebitato" in html
    assert browser.get(f"/dev/mail/{row.id}/html").status_code == 200
    age(row, 91)
    with app.app_context(), db.connection_context():
        assert prune_bodies() == 1
    html = browser.get(f"/dev/mail/{row.id}").get_data(as_text=True)
    assert "Di questo messaggio resta solo l'oggetto" in html and row.subject in html
    assert "Importo addebitato" not in html


def test_production_refuses_the_page_and_keeps_mail_pending(make_app):
    app = make_app(ENV_NAME="production", SECRET_KEY="x" * 40)
    browser = login(app)
    place_seed_order(browser)
    assert send(app) == {"sent": 0, "kept": 0, "postponed": 0, "failed": 0}
    assert outbox()[0].state == "pending"
    assert browser.get("/dev/mail/").status_code == 404
    assert browser.get(f"/dev/mail/{outbox()[0].id}").status_code == 404
