"""The emailed links and the profile: "Password dimenticata?", invitations, reminders from
``billing run``, and Profilo. Every email is received by a real SMTP server (aiosmtpd) and
its link is followed from the received text."""
import datetime as dt
import re
import time

import pytest
import time_machine

from conftest import ANNA, GIULIA, MARCO, PASSWORD, TODAY, Browser
from portal.accounts.views import authenticate, record_failure
from portal.core.db import db
from portal.core.models import (AuditEvent, LoginLock, MemberInvitation, OutboxMessage,
                                PaymentMethod, Subscription, User, utcnow)
from portal.lifecycle.renewals import run_billing
from portal.mail.delivery import deliver_pending
from test_renewals import GOOD, save_card

LINK = re.compile(r"https://portal\.example\.com(/\S+)")
NEW_PASSWORD = "a-new-secret-42"


@pytest.fixture
def app(mail_app):
    """The portal sending to the test's SMTP server (``mail_app``), as ``app``."""
    return mail_app


def deliver(app):
    with app.app_context(), db.connection_context():
        return deliver_pending()


def inbox_for(smtp, address):
    """The messages received for ``address``, oldest first."""
    return [message for recipients, message in smtp.messages if address in recipients]


def text_of(message):
    return message.get_body(("plain",)).get_content()


def link_in(message):
    """The portal path of the (only) link to a portal page that is not the home page."""
    paths = [path for path in LINK.findall(text_of(message)) if path.rstrip("/")]
    assert len(paths) == 1, paths
    return paths[0]


def outbox_kinds():
    with db.connection_context():
        return [row.kind for row in OutboxMessage.select().order_by(OutboxMessage.id)]


def visitor(app, path="/login"):
    """A logged-out browser holding a CSRF token."""
    browser = Browser(app.test_client())
    browser.refresh_token(path)
    return browser


def ask_reset(app, email, lang="en", client="192.0.2.10"):
    browser = visitor(app, "/password/forgot")
    return browser.post("/password/forgot", {"email": email},
                        headers={"Accept-Language": lang},
                        environ_base={"REMOTE_ADDR": client})


# ------------------------------------------------------------------ password reset


def test_the_login_page_offers_the_reset(app):
    html = visitor(app).get("/login").get_data(as_text=True)
    assert 'href="/password/forgot"' in html and "Password dimenticata?" in html


def test_a_reset_by_email_works_once_and_ends_every_other_session(app, smtp):
    elsewhere = Browser(app.test_client())
    elsewhere.login(GIULIA)
    with db.connection_context():
        record_failure(User.get(User.email == GIULIA), "198.51.100.9", utcnow())
    response = ask_reset(app, " Giulia.Rossi@Example.IT ", lang="en")
    assert response.status_code == 200
    assert "If giulia.rossi@example.it belongs to a user" in response.get_data(as_text=True)
    assert deliver(app)["sent"] == 1
    [message] = inbox_for(smtp, GIULIA)
    # Giulia has no saved language: the email speaks the page's, English.
    assert message["Subject"] == "Set a new password for the Billing Center"
    assert "it works once, for 24 hours" in text_of(message)
    path = link_in(message)
    assert path.startswith("/password/reset/")

    browser = visitor(app)
    page = browser.get(path)
    assert page.status_code == 200 and GIULIA in page.get_data(as_text=True)
    mismatch = browser.post(path, {"password": NEW_PASSWORD, "confirm": "something-else"},
                            headers={"Accept-Language": "en"})
    assert mismatch.status_code == 422
    assert "The two passwords are not the same." in mismatch.get_data(as_text=True)
    short = browser.post(path, {"password": "short", "confirm": "short"},
                         headers={"Accept-Language": "en"})
    assert "at least 8 characters" in short.get_data(as_text=True)

    done = browser.post(path, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.status_code == 303
    assert done.headers["Location"] == "/login?email=giulia.rossi@example.it"
    with app.app_context(), db.connection_context():
        assert authenticate(GIULIA, PASSWORD) is None
        assert authenticate(GIULIA, NEW_PASSWORD) is not None
        assert LoginLock.select().count() == 0  # the lock of the other client ended too
    # The session opened before the reset is over.
    assert elsewhere.get("/").status_code in (302, 303)
    # The link worked once.
    again = visitor(app).get(path, headers={"Accept-Language": "en"})
    assert again.status_code == 404
    html = again.get_data(as_text=True)
    assert "This link cannot be used" in html and 'href="/password/forgot"' in html


def test_an_unknown_address_gets_the_same_answer_and_no_email(app, smtp):
    def answer(email):
        html = ask_reset(app, email).get_data(as_text=True)
        html = re.sub(r'value="[^"]+"', "", html.replace(email, "EMAIL"))
        return re.sub(r'"X-CSRFToken": "[^"]+"', "", html)  # each visitor's own token

    assert answer("nobody@example.org") == answer(MARCO)
    assert outbox_kinds() == ["password_reset"]  # Marco's only
    deliver(app)
    assert [r for r, _ in smtp.messages] == [[MARCO]]


def test_a_second_link_makes_the_first_useless(app, smtp):
    ask_reset(app, GIULIA)
    with time_machine.travel(time.time() + 60):
        ask_reset(app, GIULIA)
        deliver(app)
        first, second = (link_in(m) for m in inbox_for(smtp, GIULIA))
        assert first != second
        browser = visitor(app)
        assert browser.post(second, {"password": NEW_PASSWORD,
                                     "confirm": NEW_PASSWORD}).status_code == 303
        assert visitor(app).get(first).status_code == 404


def test_an_expired_or_forged_link_says_so(app, smtp):
    ask_reset(app, GIULIA)
    deliver(app)
    path = link_in(inbox_for(smtp, GIULIA)[0])
    with time_machine.travel(time.time() + 24 * 3600 + 60, tick=False):
        expired = visitor(app).get(path, headers={"Accept-Language": "en"})
        assert expired.status_code == 410
        html = expired.get_data(as_text=True)
        assert "This link has expired" in html and 'href="/password/forgot"' in html
        # Submitting the form after the expiry changes nothing either.
        browser = visitor(app)
        assert browser.post(path, {"password": NEW_PASSWORD,
                                   "confirm": NEW_PASSWORD}).status_code == 410
    with app.app_context(), db.connection_context():
        assert authenticate(GIULIA, PASSWORD) is not None
    forged = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    assert visitor(app).get(forged).status_code == 404
    assert visitor(app).get("/password/reset/not-a-token").status_code == 404


def test_resets_are_limited_per_client_and_per_address(make_app, smtp):
    app = make_app(RATELIMIT_ENABLED=True, MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port,
                   PORTAL_URL="https://portal.example.com")
    # One address, asked from many clients: 5 an hour.
    answers = [ask_reset(app, MARCO, client=f"192.0.2.{n}").status_code for n in range(1, 8)]
    assert answers == [200] * 5 + [429] * 2
    # One client, many addresses: 5 a minute.
    answers = [ask_reset(app, f"someone{n}@example.org", client="203.0.113.5").status_code
               for n in range(7)]
    assert answers == [200] * 5 + [429] * 2
    with db.connection_context():
        assert OutboxMessage.select().count() == 5  # Marco's five, nothing for the unknown


# ------------------------------------------------------------------ invitations


def invite(giulia, email, name="Nadia Bruno"):
    response = giulia.post("/subscriptions/1/users", {"name": name, "email": email})
    assert response.status_code == 303
    return response


@pytest.mark.parametrize("lang, subject, button", [
    ("it", "Giulia Rossi ti invita in Rossi Eventi S.r.l.", "Accetta l'invito"),
    ("en", "Giulia Rossi invites you to Rossi Eventi S.r.l.", "Accept the invitation"),
])
def test_an_invited_address_sets_a_password_and_logs_in(app, smtp, lang, subject, button):
    with db.connection_context():
        User.update(locale=lang).where(User.email == GIULIA).execute()
    giulia = Browser(app.test_client())
    giulia.login(GIULIA)
    invite(giulia, "nadia.bruno@example.it")
    deliver(app)
    [message] = inbox_for(smtp, "nadia.bruno@example.it")
    assert message["Subject"] == subject  # in the inviter's (the account's) language
    path = link_in(message)
    assert path.startswith("/invitation/")

    nadia = visitor(app)
    page = nadia.get(path, headers={"Accept-Language": lang})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Rossi Eventi S.r.l." in html and button in html
    joined = nadia.post(path, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
                        headers={"Accept-Language": lang})
    assert joined.status_code == 303
    assert joined.headers["Location"] == "/login?email=nadia.bruno@example.it"
    nadia.login("nadia.bruno@example.it", NEW_PASSWORD)
    assert nadia.get("/my-licenses").status_code == 200
    with db.connection_context():
        user = User.get(User.email == "nadia.bruno@example.it")
        assert (user.name, user.role, user.account_id, user.locale) == (
            "Nadia Bruno", "member", 1, lang)
        assert MemberInvitation.select().count() == 0
        [added] = AuditEvent.select().where(AuditEvent.action == "user.added")
        assert added.user.email == GIULIA  # recorded as the inviter's doing
    # The link worked once.
    assert visitor(app).get(path).status_code == 404
    assert "nadia.bruno@example.it" in giulia.get("/subscriptions/1/licenses").get_data(
        as_text=True)


def test_inviting_again_sends_a_fresh_link_once_a_day(app, smtp, giulia):
    invite(giulia, "nadia.bruno@example.it")
    invite(giulia, "nadia.bruno@example.it")  # a double click: one email
    assert outbox_kinds() == ["invitation"]
    with time_machine.travel(time.time() + 86400):
        app.config["FIXED_TODAY"] = "2026-11-27"
        giulia.refresh_token("/")  # the page of that day, with a fresh form token
        invite(giulia, "nadia.bruno@example.it")
    assert outbox_kinds() == ["invitation", "invitation"]


def test_an_invitation_expires_after_seven_days(app, smtp, giulia):
    invite(giulia, "nadia.bruno@example.it")
    deliver(app)
    path = link_in(inbox_for(smtp, "nadia.bruno@example.it")[0])
    with time_machine.travel(time.time() + 7 * 86400 + 60, tick=False):
        page = visitor(app).get(path, headers={"Accept-Language": "en"})
    assert page.status_code == 410
    assert "ask whoever invited you to invite your address again" in page.get_data(
        as_text=True).lower()


def test_an_address_with_a_user_elsewhere_cannot_join(app, smtp, giulia):
    invite(giulia, ANNA, name="Anna")
    deliver(app)
    path = link_in(inbox_for(smtp, ANNA)[0])
    browser = visitor(app)
    page = browser.get(path, headers={"Accept-Language": "en"})
    assert page.status_code == 404
    assert "This address already has a user" in page.get_data(as_text=True)
    refused = browser.post(path, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert refused.status_code == 404
    with app.app_context(), db.connection_context():
        anna = User.get(User.email == ANNA)
        assert anna.account.name == "Globex Italia S.p.A."
        assert authenticate(ANNA, NEW_PASSWORD) is None


# ------------------------------------------------------------------ profile


def test_the_profile_saves_name_and_language(giulia):
    page = giulia.get("/profile")
    assert page.status_code == 200 and GIULIA in page.get_data(as_text=True)
    saved = giulia.post("/profile", {"name": "  Giulia   Rossi Bianchi ", "locale": "en"})
    assert saved.status_code == 303
    html = giulia.get("/profile").get_data(as_text=True)
    assert "Your profile has been saved." in html and 'lang="en"' in html
    with db.connection_context():
        user = User.get(User.email == GIULIA)
        assert (user.name, user.locale) == ("Giulia Rossi Bianchi", "en")
    refused = giulia.post("/profile", {"name": " ", "locale": "xx"})
    assert refused.status_code == 422
    assert "Enter your name." in refused.get_data(as_text=True)


def test_changing_the_password_needs_the_current_one_and_keeps_this_session(app, giulia):
    elsewhere = Browser(app.test_client())
    elsewhere.login(GIULIA)
    wrong = giulia.post("/profile/password", {"current": "not-it", "password": NEW_PASSWORD,
                                              "confirm": NEW_PASSWORD},
                        headers={"Accept-Language": "en"})
    assert wrong.status_code == 422
    assert "The current password is not correct." in wrong.get_data(as_text=True)
    with app.app_context(), db.connection_context():
        assert authenticate(GIULIA, PASSWORD) is not None
    done = giulia.post("/profile/password", {"current": PASSWORD, "password": NEW_PASSWORD,
                                             "confirm": NEW_PASSWORD})
    assert done.status_code == 303
    assert giulia.get("/").status_code == 200  # this session goes on
    assert elsewhere.get("/").status_code in (302, 303)  # the other one is over
    with app.app_context(), db.connection_context():
        assert authenticate(GIULIA, NEW_PASSWORD) is not None
        assert AuditEvent.select().where(
            AuditEvent.action == "user.password_changed").count() == 1


def test_the_profile_needs_a_login(client):
    assert client.get("/profile").status_code in (302, 303)


# ------------------------------------------------------------------ reminders


@pytest.fixture
def billing(app):
    with app.app_context(), db.connection_context():
        yield app


def test_a_trial_ending_in_three_days_is_reminded_once(billing, smtp):
    Subscription.update(status="trialing", period_end=TODAY + dt.timedelta(days=3),
                        price_cents=None).where(Subscription.id == 2).execute()
    assert run_billing(TODAY + dt.timedelta(days=-1)).reminders["trial_ending"] == 0
    assert run_billing(TODAY).reminders["trial_ending"] == 1
    run_billing(TODAY + dt.timedelta(days=1))
    assert outbox_kinds() == ["trial_ending"]
    deliver_pending()
    [message] = inbox_for(smtp, GIULIA)
    assert message["Subject"] == "La prova gratuita di Meeting termina il 29 novembre 2026"
    assert "https://portal.example.com/subscriptions/2/change" in text_of(message)


def test_a_subscription_expiring_with_renewal_off_is_reminded_seven_days_before(billing,
                                                                                 smtp):
    Subscription.update(auto_renew=False).where(Subscription.id == 1).execute()
    end = Subscription.get_by_id(1).period_end
    run_billing(end - dt.timedelta(days=8))
    assert outbox_kinds() == []
    run_billing(end - dt.timedelta(days=7))
    run_billing(end - dt.timedelta(days=6))
    assert outbox_kinds() == ["subscription_expiring"]
    deliver_pending()
    [message] = inbox_for(smtp, GIULIA)
    assert message["Subject"] == "Webinar scade il 10 dicembre 2026"
    assert "Opzioni" in text_of(message)


def test_a_card_expiring_before_the_renewal_is_reminded_once_per_card(billing, smtp):
    card = save_card(GOOD)
    PaymentMethod.update(exp_month=11, exp_year=2026).where(
        PaymentMethod.id == card.id).execute()
    run_billing(TODAY)
    run_billing(TODAY + dt.timedelta(days=1))
    assert outbox_kinds() == ["card_expiring"]
    # A new card that also lapses is a new reminder; a valid one is none.
    save_card(GOOD)
    run_billing(TODAY + dt.timedelta(days=2))
    assert outbox_kinds() == ["card_expiring"]
    deliver_pending()
    [message] = inbox_for(smtp, GIULIA)
    assert message["Subject"] == ("La tua carta che termina con 4242 scade prima del "
                                  "prossimo rinnovo")
    text = text_of(message)
    assert "11/2026" in text and "10 dicembre 2026" in text
    assert "https://portal.example.com/payment-methods" in text


def second_contacts():
    """Two of Rossi Eventi's members become billing contacts too: Luca, who reads English,
    and Sara, whose user is deactivated. Giulia saves Italian (without a saved choice she
    would read the account's language: its first billing contact's saved choice, Luca's)."""
    User.update(locale="it").where(User.email == GIULIA).execute()
    User.update(role="billing_contact", locale="en").where(
        User.email == "luca.ferri@example.it").execute()
    User.update(role="billing_contact", active=False).where(
        User.email == "sara.conti@example.it").execute()
    return (User.get(User.email == "luca.ferri@example.it"),
            User.get(User.email == "sara.conti@example.it"))


def test_every_active_billing_contact_is_reminded_in_their_language_once(billing, smtp):
    luca, sara = second_contacts()
    Subscription.update(status="trialing", period_end=TODAY + dt.timedelta(days=3),
                        price_cents=None).where(Subscription.id == 2).execute()
    assert run_billing(TODAY).reminders["trial_ending"] == 1
    run_billing(TODAY + dt.timedelta(days=1))
    rows = list(OutboxMessage.select().order_by(OutboxMessage.id))
    giulia = User.get(User.email == GIULIA)
    assert [(row.recipient, row.key) for row in rows] == [
        (GIULIA, f"trial-ending:2:2026-11-29:to:{giulia.id}"),
        (luca.email, f"trial-ending:2:2026-11-29:to:{luca.id}")]
    deliver_pending()
    [italian] = inbox_for(smtp, GIULIA)
    assert italian["Subject"] == "La prova gratuita di Meeting termina il 29 novembre 2026"
    [english] = inbox_for(smtp, luca.email)
    assert english["Subject"] == "Your free trial of Meeting ends on November 29, 2026"
    assert "Luca" in text_of(english)
    assert inbox_for(smtp, sara.email) == []


def test_a_reminder_written_before_counts_for_the_address_it_went_to(billing, smtp):
    """A database where the first billing contact was reminded under the event's key alone
    (when only that contact was told): she is not reminded again, the others are."""
    Subscription.update(status="trialing", period_end=TODAY + dt.timedelta(days=3),
                        price_cents=None).where(Subscription.id == 2).execute()
    OutboxMessage.create(key="trial-ending:2:2026-11-29", account=1, kind="trial_ending",
                         recipient=GIULIA, locale="it", subject="", text_body="",
                         html_body="", message_id="<earlier@example.com>", state="sent")
    luca, _sara = second_contacts()
    run_billing(TODAY)
    run_billing(TODAY + dt.timedelta(days=1))
    assert [row.recipient for row in OutboxMessage.select().order_by(OutboxMessage.id)] == [
        GIULIA, luca.email]


def test_contacts_changing_within_the_window_are_each_reminded_once(billing, smtp):
    """Giulia is deactivated on the first day of the window and active again on the next;
    a member with a lower id than Luca's becomes a billing contact meanwhile. Each is
    reminded once, whatever the order of the contacts on each day."""
    luca, _sara = second_contacts()
    User.update(active=False).where(User.email == GIULIA).execute()
    Subscription.update(status="trialing", period_end=TODAY + dt.timedelta(days=3),
                        price_cents=None).where(Subscription.id == 2).execute()
    run_billing(TODAY)
    User.update(active=True).where(User.email == GIULIA).execute()
    laura = User.get(User.email == "laura.neri@example.it")
    assert laura.id < luca.id
    User.update(role="billing_contact").where(User.id == laura.id).execute()
    run_billing(TODAY + dt.timedelta(days=1))
    run_billing(TODAY + dt.timedelta(days=2))
    recipients = [row.recipient for row in OutboxMessage.select().order_by(OutboxMessage.id)]
    assert recipients == [luca.email, GIULIA, laura.email]


def test_with_no_active_billing_contact_the_first_one_is_still_told(billing, smtp):
    luca, _sara = second_contacts()
    User.update(active=False).where(User.role == "billing_contact").execute()
    Subscription.update(auto_renew=False).where(Subscription.id == 1).execute()
    end = Subscription.get_by_id(1).period_end
    run_billing(end - dt.timedelta(days=7))
    assert [row.recipient for row in OutboxMessage.select()] == [GIULIA]
