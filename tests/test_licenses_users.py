"""Adding a member to the account from the license page."""
import html as htmllib

import pytest

from conftest import GIULIA
from portal.accounts.views import authenticate
from portal.core.db import db
from portal.core.models import Account, AuditEvent, User

URL = "/subscriptions/1/users"


def users_named(email):
    """The users with this email (0 or 1), with their account."""
    with db.connection_context():
        return list(User.select().join(Account).where(User.email == email))


def test_add_a_member_by_name_and_email(giulia):
    response = giulia.post(URL, {"name": "  Nadia   Bruno ", "email": " Nadia.Bruno@Example.IT "},
                           headers={"Accept-Language": "en"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/subscriptions/1/licenses?q=nadia.bruno@example.it"
    [user] = users_named("nadia.bruno@example.it")
    assert user.name == "Nadia Bruno" and user.role == "member"
    assert user.account.name == "Rossi Eventi S.r.l."
    page = giulia.get(response.headers["Location"], headers={"Accept-Language": "en"})
    html = page.get_data(as_text=True)
    assert f'<tr id="user-{user.id}" data-enabled="0">' in html
    assert "Nadia Bruno has been added to your account." in html
    with db.connection_context():
        [event] = AuditEvent.select().where(AuditEvent.action == "user.added")
        assert event.details["user_id"] == user.id and event.user.email == GIULIA
        # nobody knows the password: no empty or obvious one logs in
        for guess in ("", "demo1234", "nadia.bruno@example.it", "password"):
            assert authenticate("nadia.bruno@example.it", guess) is None


def test_add_with_htmx_redirects_the_whole_page(giulia):
    response = giulia.post(URL, {"name": "Ugo Riva", "email": "ugo.riva@example.it"},
                           htmx=True)
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/subscriptions/1/licenses?q=ugo.riva@example.it"


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
    ("New User", "GIULIA.ROSSI@example.it", "email", "already exists"),
    ("New User", "anna.bianchi@example.com", "email", "already exists"),  # another account
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
        assert not AuditEvent.select().where(AuditEvent.action == "user.added").exists()


def test_invalid_new_user_without_javascript_re_renders_the_page(giulia):
    response = giulia.post(URL, {"name": "New User", "email": "nope"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "<html" in html and 'id="license-list"' in html
    assert 'id="new-user-email-error"' in html and 'value="nope"' in html
