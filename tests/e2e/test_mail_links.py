"""Scenario: the links the portal sends by email, followed in Chromium. A user invited on the
license page sets a password from the received invitation and logs in; a user who forgot
the password asks for a link on the login page, sets a new one and logs in with it.

The server writes the emails to its outbox; ``flask mail send`` (the worker's job, run here
as an operator would) delivers them to a real SMTP server in the test process."""
import re
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .conftest import ARTICLE_LANGS, ROOT, _portal_env
from .helpers import Flow

pytestmark = pytest.mark.browser

NEW_PASSWORD = "nuova-password-42"
TEXT = {
    "it": {"add": "Aggiungi utente", "accept": "Accetta l'invito", "login": "Accedi",
           "welcome": "Benvenuto in Rossi Eventi S.r.l.", "forgot": "Password dimenticata?",
           "send": "Invia il link", "save": "Salva la nuova password",
           "changed": "La tua password è stata cambiata", "my_licenses": "Le mie licenze",
           "reset_subject": "Scegli una nuova password per il Centro fatturazione"},
    "en": {"add": "Add user", "accept": "Accept the invitation", "login": "Log in",
           "welcome": "Welcome to Rossi Eventi S.r.l.", "forgot": "Forgot your password?",
           "send": "Send the link", "save": "Save the new password",
           "changed": "Your password has been changed", "my_licenses": "My licenses",
           "reset_subject": "Set a new password for the Billing Center"},
}


def deliver(server, smtp):
    """``flask mail send`` on the server's database, to the test's SMTP server."""
    env = _portal_env(server.workdir, server.database)
    env.update({"PORTAL_MAIL_SERVER": "127.0.0.1", "PORTAL_MAIL_PORT": str(smtp.port)})
    flask = str(Path(sys.executable).parent / "flask")
    done = subprocess.run([flask, "--app", "portal", "mail", "send"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def received_link(smtp, address, server):
    """The one portal link (not the home page) of the newest email to ``address``."""
    [message] = [m for recipients, m in smtp.messages if address in recipients][-1:]
    text = message.get_body(("plain",)).get_content()
    links = [link for link in re.findall(re.escape(server.url) + r"/\S+", text)]
    assert len(links) == 1, text
    return message, links[0]


def log_in(page, email, password):
    page.locator("#email").fill(email)
    page.locator("#password").fill(password)
    page.locator("#password").press("Enter")


@pytest.mark.parametrize("lang", ARTICLE_LANGS)
def test_an_invited_user_sets_a_password_from_the_email_and_logs_in(fresh_server, open_page,
                                                                     smtp, lang):
    page = open_page(fresh_server.url, lang)
    flow = Flow(page, lang, "invitation")
    flow.login()
    page.goto("/subscriptions/1/licenses")
    page.locator("#new-user-name").fill("Nadia Bruno")
    page.locator("#new-user-email").fill("nadia.bruno@example.it")
    page.get_by_role("button", name=TEXT[lang]["add"], exact=True).click()
    expect(page.locator("#flash-messages")).to_contain_text("nadia.bruno@example.it")
    assert "sent: 1" in deliver(fresh_server, smtp)
    message, link = received_link(smtp, "nadia.bruno@example.it", fresh_server)
    # Giulia saved no language: the invitation speaks the account's, Italian.
    assert message["Subject"] == "Giulia Rossi ti invita in Rossi Eventi S.r.l."

    nadia = open_page(fresh_server.url, lang)
    flow = Flow(nadia, lang, "invitation")
    nadia.goto(link)
    expect(nadia.get_by_role("heading", level=1)).to_contain_text("Rossi Eventi S.r.l.")
    flow.check("set-password")
    nadia.locator("#password").fill(NEW_PASSWORD)
    nadia.locator("#confirm").fill(NEW_PASSWORD)
    nadia.get_by_role("button", name=TEXT[lang]["accept"]).click()
    expect(nadia.locator("#flash-messages")).to_contain_text(TEXT[lang]["welcome"])
    expect(nadia.locator("#email")).to_have_value("nadia.bruno@example.it")
    nadia.locator("#password").fill(NEW_PASSWORD)
    nadia.locator("#password").press("Enter")
    expect(nadia.locator(".user-name")).to_have_text("Nadia Bruno")
    flow.check("first-login")
    nadia.get_by_role("link", name=TEXT[lang]["my_licenses"]).click()
    expect(nadia.get_by_role("heading", level=1)).to_be_visible()
    # The link worked once.
    nadia.goto(link)
    expect(nadia.locator("#link-problem")).to_be_visible()
    flow.check("link-used")


@pytest.mark.parametrize("lang", ARTICLE_LANGS)
def test_a_forgotten_password_is_reset_from_the_email(fresh_server, open_page, smtp, lang):
    page = open_page(fresh_server.url, lang)
    flow = Flow(page, lang, "reset")
    page.goto("/login")
    page.get_by_role("link", name=TEXT[lang]["forgot"]).click()
    page.locator("#email").fill("giulia.rossi@example.it")
    flow.check("forgot")
    page.get_by_role("button", name=TEXT[lang]["send"]).click()
    expect(page.locator("#reset-sent")).to_contain_text("giulia.rossi@example.it")
    flow.check("sent")
    assert "sent: 1" in deliver(fresh_server, smtp)
    message, link = received_link(smtp, "giulia.rossi@example.it", fresh_server)
    assert message["Subject"] == TEXT[lang]["reset_subject"]  # the language she asked in

    page.goto(link)
    flow.check("new-password")
    page.locator("#password").fill(NEW_PASSWORD)
    page.locator("#confirm").fill("something else")
    page.get_by_role("button", name=TEXT[lang]["save"]).click()
    expect(page.locator("#confirm-error")).to_be_visible()
    page.locator("#password").fill(NEW_PASSWORD)
    page.locator("#confirm").fill(NEW_PASSWORD)
    page.get_by_role("button", name=TEXT[lang]["save"]).click()
    expect(page.locator("#flash-messages")).to_contain_text(TEXT[lang]["changed"])
    log_in(page, "giulia.rossi@example.it", NEW_PASSWORD)
    expect(page.locator(".user-name")).to_have_text("Giulia Rossi")
    flow.check("logged-in")
