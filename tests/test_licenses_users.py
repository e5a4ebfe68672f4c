"""Adding a member to the account from the license page."""
import html as htmllib

import pytest

from conftest import GIULIA, without_tokens
from portal.accounts.views import authenticate
from portal.core.db import db
from portal.core.models import Account, AuditEvent, MemberInvitation, User

URL = "/subscriptions/1/users"


def users_named(email):
    """The users with this email (0 or 1), with their account."""
    with db.connection_context():
        return list(User.select().join(Account).where(User.email == email))


def invitations():
    """(account name, email, name, inviter email) of every invitation."""
    with db.connection_context():
        return {(i.account.name, i.email, i.name, i.invited_by.email)
                for i in MemberInvitation.select().join(Account)}


def test_adding_an_address_invites_it(giulia):
    response = giulia.post(URL, {"name": "  Nadia   Bruno ", "email": " Nadia.Bruno@Example.IT "},
                           headers={"Accept-Language": "en"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/subscriptions/1/licenses"
    assert invitations() == {("Rossi Eventi S.r.l.", "nadia.bruno@example.it", "Nadia Bruno",
                              GIULIA)}
    assert users_named("nadia.bruno@example.it") == []  # nobody claims an address
    html = giulia.get(response.headers["Location"],
                      headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert ("We have sent nadia.bruno@example.it an invitation to join your account: the user "
            "appears in this list after setting a password with the link in the email.") in html
    with db.connection_context():
        [event] = AuditEvent.select().where(AuditEvent.action == "user.invited")
        assert event.details == {"email": "nadia.bruno@example.it"}
    assert "Invited nadia.bruno@example.it to join the account." in giulia.get(
        "/activity", headers={"Accept-Language": "en"}).get_data(as_text=True)
    # Asking again changes nothing and answers the same.
    again = giulia.post(URL, {"name": "Nadia", "email": "nadia.bruno@example.it"})
    assert again.status_code == 303 and len(invitations()) == 1


def test_another_accounts_address_answers_exactly_like_a_free_one(giulia):
    """Issue 20: the answer said "already exists" for another company's user, and a free
    address became a user of whoever typed it first."""
    def answer(email):
        response = giulia.post(URL, {"name": "Someone", "email": email},
                               headers={"Accept-Language": "en"})
        page = giulia.get(response.headers.get("Location", "/"),
                          headers={"Accept-Language": "en"}).get_data(as_text=True)
        return (response.status_code, response.headers.get("Location"),
                without_tokens(page).replace(email, "EMAIL"))

    assert answer("anna.bianchi@example.com") == answer("free.address@example.com")
    [anna] = users_named("anna.bianchi@example.com")
    assert anna.account.name == "Globex Italia S.p.A."  # not attached to Rossi
    assert users_named("free.address@example.com") == []


def test_the_operator_accepts_an_invitation(giulia, runner):
    giulia.post(URL, {"name": "Nadia Bruno", "email": "nadia.bruno@example.it"})
    result = runner.invoke(args=["users", "accept-invitation", "nadia.bruno@example.it",
                                 "--account", "Rossi Eventi S.r.l.",
                                 "--password", "nadia-secret-1"])
    assert result.exit_code == 0, result.output
    [user] = users_named("nadia.bruno@example.it")
    assert (user.name, user.role, user.account.name) == ("Nadia Bruno", "member",
                                                         "Rossi Eventi S.r.l.")
    assert invitations() == set()
    assert authenticate("nadia.bruno@example.it", "nadia-secret-1") is not None
    with db.connection_context():
        [event] = AuditEvent.select().where(AuditEvent.action == "user.added")
        assert event.details["user_id"] == user.id and event.user.email == GIULIA


def test_an_invitation_of_another_accounts_user_is_not_accepted(giulia, runner):
    giulia.post(URL, {"name": "Anna", "email": "anna.bianchi@example.com"})
    result = runner.invoke(args=["users", "accept-invitation", "anna.bianchi@example.com",
                                 "--account", "Rossi Eventi S.r.l.",
                                 "--password", "whatever-1"])
    assert result.exit_code != 0 and "already has a user" in result.output
    [anna] = users_named("anna.bianchi@example.com")
    assert anna.account.name == "Globex Italia S.p.A."
    listed = runner.invoke(args=["users", "invitations"])
    assert "anna.bianchi@example.com" in listed.output and "already has a user" in listed.output


def test_add_with_htmx_redirects_the_whole_page(giulia):
    response = giulia.post(URL, {"name": "Ugo Riva", "email": "ugo.riva@example.it"},
                           htmx=True)
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/subscriptions/1/licenses"


@pytest.mark.parametrize("name, email, field, english", [
    ("", "new@example.it", "name", "Enter the user's name."),
    ("x" * 201, "new@example.it", "name", "at most 200 characters"),
    ("Line\x07Bell", "new@example.it", "name", "at most 200 characters"),
    ("New User", "", "email", "Enter the user's email address."),
    ("New User", "not-an-email", "email", "Enter a valid email address"),
    ("New User", "two@@example.it", "email", "Enter a valid email address"),
    ("New User", "spaces in@example.it", "email", "Enter a valid email address"),
    ("New User", "nodot@localhost", "email", "Enter a valid email address"),
    ("New User", "a" * 250 + "@example.it", "email", "Enter a valid email address"),
    ("New User", "GIULIA.ROSSI@example.it", "email", "already belongs to a user of your"),
])
def test_invalid_new_users_are_refused_with_a_message(giulia, name, email, field, english):
    with db.connection_context():
        before = User.select().count()
    response = giulia.post(URL, {"name": name, "email": email}, htmx=True,
                           headers={"Accept-Language": "en"})
    body = htmllib.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert body.lstrip().startswith('<section id="add-user"')
    assert f'id="new-user-{field}-error"' in body and english in body
    assert f'id="new-user-{field}" ' in body and 'aria-invalid="true"' in body
    with db.connection_context():
        assert User.select().count() == before
        assert not AuditEvent.select().where(AuditEvent.action == "user.invited").exists()
        assert not MemberInvitation.select().exists()


def test_invalid_new_user_without_javascript_re_renders_the_page(giulia):
    response = giulia.post(URL, {"name": "New User", "email": "nope"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "<html" in html and 'id="license-list"' in html
    assert 'id="new-user-email-error"' in html and 'value="nope"' in html
