"""Login, logout, bad credentials, the login lock, safe ``next`` and CSRF on POST."""
import datetime as dt
import re
import time

import pytest

from conftest import GIULIA, MARCO, PASSWORD, Browser
from portal.accounts.views import LOCK_AFTER, lock_for
from portal.core.db import db
from portal.core.models import LoginLock, User, utcnow

EN = {"Accept-Language": "en"}
GENERIC_ERROR = ("Email or password is not correct, or the account is temporarily locked "
                 "after too many attempts.")
_ALERT = re.compile(r'<div class="alert alert-error" role="alert">(.*?)</div>', re.S)


def alert_text(response):
    """The text of the login form's error message (None when there is none)."""
    match = _ALERT.search(response.get_data(as_text=True))
    return match.group(1).strip() if match else None


def post_login(browser, email, password, **data):
    """Submit the login form in English with a valid CSRF token."""
    browser.refresh_token("/login")
    return browser.post("/login", {"email": email, "password": password, **data}, headers=EN)


def user(email):
    """The user row as it is now in the database."""
    with db.connection_context():
        return User.get(User.email == email)


def test_login_then_dashboard_shows_the_user(browser):
    response = post_login(browser, GIULIA, PASSWORD)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    page = browser.get("/", headers=EN)
    assert page.status_code == 200
    assert re.search(r'<a class="user-name" href="/profile"[^>]*>Giulia Rossi</a>', page.get_data(as_text=True))


def test_login_email_is_case_insensitive_and_trimmed(browser):
    response = post_login(browser, "  Giulia.ROSSI@Example.IT ", PASSWORD)
    assert response.status_code == 303


def test_login_page_is_served_to_anonymous_users(client):
    response = client.get("/login", headers=EN)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert 'name="email"' in body and 'name="password"' in body
    assert 'autocomplete="current-password"' in body


def test_logged_in_user_visiting_login_goes_to_dashboard(giulia):
    response = giulia.get("/login")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_logout_ends_the_session(giulia):
    response = giulia.post("/logout", headers=EN)
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    assert "You have logged out." in giulia.get("/login", headers=EN).get_data(as_text=True)
    after = giulia.get("/")
    assert after.status_code == 302
    assert after.headers["Location"].startswith("/login")


def test_logout_requires_post(giulia):
    assert giulia.get("/logout").status_code == 405
    assert giulia.get("/").status_code == 200


def test_logout_invalidates_a_copied_session_cookie(app, giulia):
    stolen = giulia.client.get_cookie("session").value
    assert giulia.get("/").status_code == 200
    giulia.post("/logout")
    attacker = app.test_client()
    attacker.set_cookie("session", stolen)
    response = attacker.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_login_clears_the_previous_session_but_keeps_the_language(app, browser):
    browser.refresh_token("/login")
    browser.post("/locale", {"locale": "en", "next": "/login"})
    before = browser.client.get_cookie("session").value
    post_login(browser, GIULIA, PASSWORD)
    page = browser.get("/")
    assert '<html lang="en"' in page.get_data(as_text=True)
    # The anonymous cookie does not become a logged-in one (no session fixation).
    replay = app.test_client()
    replay.set_cookie("session", before)
    assert replay.get("/").status_code == 302


@pytest.mark.parametrize("email, password", [
    (GIULIA, "wrong-password"),
    ("nobody@example.it", PASSWORD),
    ("nobody@example.it", "wrong-password"),
    (GIULIA, ""),
    ("", ""),
])
def test_bad_credentials_get_the_one_generic_message(browser, email, password):
    response = post_login(browser, email, password)
    assert response.status_code == 401
    assert alert_text(response) == GENERIC_ERROR
    assert browser.get("/").status_code == 302


def test_wrong_password_and_unknown_email_answer_the_same(browser):
    wrong = post_login(browser, GIULIA, "not-her-password")
    unknown = post_login(browser, "nobody@example.it", PASSWORD)
    assert (wrong.status_code, alert_text(wrong)) == (unknown.status_code, alert_text(unknown))


def test_failed_login_keeps_the_typed_email(browser):
    response = post_login(browser, GIULIA, "wrong")
    assert f'value="{GIULIA}"' in response.get_data(as_text=True)


def test_inactive_user_cannot_log_in(browser):
    with db.connection_context():
        User.update(active=False).where(User.email == MARCO).execute()
    response = post_login(browser, MARCO, PASSWORD)
    assert response.status_code == 401
    assert alert_text(response) == GENERIC_ERROR


ATTACKER = {"REMOTE_ADDR": "203.0.113.66"}
OWNER = {"REMOTE_ADDR": "198.51.100.7"}


def login_from(browser, address, email, password):
    """Submit the login form from a client ``address`` (environ REMOTE_ADDR)."""
    browser.client.get("/login", environ_base=address)
    browser.refresh_token("/login")
    return browser.post("/login", {"email": email, "password": password}, headers=EN,
                        environ_base=address)


def locks_of(email):
    """{client address: (failures, locked)} of a user's login locks."""
    now = utcnow()
    with db.connection_context():
        return {lock.client: (lock.failures, bool(lock.locked_until and lock.locked_until > now))
                for lock in LoginLock.select().join(User).where(User.email == email)}


def test_login_locks_the_guessing_client_with_the_same_message(app):
    attacker = Browser(app.test_client())
    for _ in range(LOCK_AFTER):
        assert login_from(attacker, ATTACKER, GIULIA, "guess").status_code == 401
    assert locks_of(GIULIA) == {"203.0.113.66": (LOCK_AFTER, True)}
    # From that client even the right password is refused, with the very same message.
    response = login_from(attacker, ATTACKER, GIULIA, PASSWORD)
    assert response.status_code == 401
    assert alert_text(response) == GENERIC_ERROR
    assert attacker.get("/").status_code == 302


def test_the_owner_logs_in_while_an_attacker_is_locked_out(app):
    """Issue 20: five wrong passwords from anywhere used to lock the owner out too."""
    attacker, owner = Browser(app.test_client()), Browser(app.test_client())
    for _ in range(LOCK_AFTER + 3):
        login_from(attacker, ATTACKER, GIULIA, "guess")
    assert login_from(owner, OWNER, GIULIA, PASSWORD).status_code == 303
    assert owner.get("/", environ_base=OWNER).status_code == 200
    # ... and the owner's success does not free the attacker.
    assert login_from(attacker, ATTACKER, GIULIA, PASSWORD).status_code == 401


def test_failures_below_the_threshold_do_not_lock_and_success_resets(browser):
    for _ in range(LOCK_AFTER - 1):
        post_login(browser, GIULIA, "guess")
    assert locks_of(GIULIA) == {"127.0.0.1": (LOCK_AFTER - 1, False)}
    assert post_login(browser, GIULIA, PASSWORD).status_code == 303
    assert locks_of(GIULIA) == {}


def test_login_works_again_once_the_lock_expired(browser):
    for _ in range(LOCK_AFTER):
        post_login(browser, GIULIA, "guess")
    with db.connection_context():
        LoginLock.update(locked_until=dt.datetime(2020, 1, 1)).execute()
    assert post_login(browser, GIULIA, PASSWORD).status_code == 303
    assert locks_of(GIULIA) == {}


@pytest.mark.parametrize("command", [
    ["users", "unlock", GIULIA.upper()],
    ["users", "set-password", "--email", GIULIA, "--password", "a-new-password"],
])
def test_unlock_and_a_new_password_end_every_lock(app, browser, command):
    for _ in range(LOCK_AFTER):
        post_login(browser, GIULIA, "guess")
    assert locks_of(GIULIA) == {"127.0.0.1": (LOCK_AFTER, True)}
    result = app.test_cli_runner().invoke(args=command)
    assert result.exit_code == 0, result.output
    assert locks_of(GIULIA) == {}
    password = "a-new-password" if "set-password" in command else PASSWORD
    assert post_login(browser, GIULIA, password).status_code == 303


def test_unlock_of_an_unknown_user_fails(app):
    result = app.test_cli_runner().invoke(args=["users", "unlock", "nobody@example.com"])
    assert result.exit_code != 0 and "No user with email" in result.output


def test_lock_grows_with_further_failures():
    assert lock_for(LOCK_AFTER - 1) is None
    assert lock_for(LOCK_AFTER) == dt.timedelta(seconds=60)
    assert lock_for(LOCK_AFTER + 1) == dt.timedelta(seconds=120)
    assert lock_for(LOCK_AFTER + 50) == dt.timedelta(hours=1)


SLOW_HASH = "pbkdf2:sha256:200000"


def timed_login(browser, email, password):
    """Seconds the login POST took, and its answer."""
    browser.refresh_token("/login")
    start = time.perf_counter()
    response = browser.post("/login", {"email": email, "password": password}, headers=EN)
    return time.perf_counter() - start, response


def test_every_login_failure_takes_as_long_and_says_the_same(make_app):
    """Issue 20: a locked account answered in a few ms (no hash check), an unknown or wrong
    one in 130 ms, which told which addresses have accounts."""
    app = make_app(PASSWORD_HASH_METHOD=SLOW_HASH)
    with app.app_context(), db.connection_context():
        for email in (GIULIA, MARCO):
            account_user = User.get(User.email == email)
            account_user.set_password(PASSWORD)
            account_user.save()
    browser = Browser(app.test_client())
    for _ in range(LOCK_AFTER):
        post_login(browser, MARCO, "guess")
    timings = {"wrong": [], "unknown": [], "locked": []}
    texts = set()
    for _ in range(3):
        for case, email in (("wrong", GIULIA), ("unknown", "nobody@example.com"),
                            ("locked", MARCO)):
            seconds, response = timed_login(browser, email, "guess")
            assert response.status_code == 401
            texts.add(alert_text(response))
            timings[case].append(seconds)
    assert texts == {GENERIC_ERROR}
    fastest = {case: min(values) for case, values in timings.items()}
    slowest_wrong = max(timings["wrong"])
    assert fastest["locked"] > 0.5 * min(timings["wrong"]), timings
    assert fastest["unknown"] > 0.5 * min(timings["wrong"]), timings
    assert min(timings["wrong"]) > 0.5 * max(fastest["locked"], fastest["unknown"]), (
        timings, slowest_wrong)


@pytest.mark.parametrize("target", ["/help/support", "/help/corporate?x=1"])
def test_login_follows_a_same_site_next(browser, target):
    response = post_login(browser, GIULIA, PASSWORD, next=target)
    assert response.status_code == 303
    assert response.headers["Location"] == target


UNSAFE_NEXT = ["//evil.com", "https://evil.com", "/\\evil.com", "javascript:alert(1)",
               "http:/evil.com", "///evil.com", "\\\\evil.com", " //evil.com", "/\t/evil.com",
               "evil.com"]


@pytest.mark.parametrize("target", UNSAFE_NEXT)
def test_login_refuses_an_unsafe_next(browser, target):
    response = post_login(browser, GIULIA, PASSWORD, next=target)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("target", UNSAFE_NEXT)
def test_login_form_does_not_carry_an_unsafe_next(client, target):
    body = client.get("/login", query_string={"next": target}).get_data(as_text=True)
    login_form = body[body.index('action="/login"'):]
    assert 'name="next"' not in login_form[:login_form.index("</form>")]


def test_login_form_carries_a_safe_next_from_the_query(client):
    body = client.get("/login?next=/help/support").get_data(as_text=True)
    assert '<input type="hidden" name="next" value="/help/support">' in body


def test_login_required_page_sends_to_login_with_next_and_back(browser):
    response = browser.get("/?tab=1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/?tab%3D1"
    browser.refresh_token(response.headers["Location"])
    back = browser.post("/login", {"email": GIULIA, "password": PASSWORD, "next": "/?tab=1"})
    assert back.headers["Location"] == "/?tab=1"


# --- CSRF --------------------------------------------------------------------------------------

def test_login_without_csrf_token_is_refused_with_a_clear_page(browser):
    response = browser.post("/login", {"email": GIULIA, "password": PASSWORD}, csrf=False,
                            headers=EN)
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "<h1>This form has expired</h1>" in body
    assert "For your security the form could not be sent." in body
    assert browser.get("/").status_code == 302


def test_wrong_csrf_token_is_refused(browser):
    response = browser.post("/login", {"email": GIULIA, "password": PASSWORD,
                                       "csrf_token": "forged"}, headers=EN)
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)


def test_csrf_token_of_another_session_is_refused(app, giulia):
    other = app.test_client()
    page = other.get("/login").get_data(as_text=True)
    foreign = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = giulia.post("/logout", {"csrf_token": foreign})
    assert response.status_code == 400
    assert giulia.get("/").status_code == 200


def test_logout_without_csrf_is_refused_and_keeps_the_session(giulia):
    response = giulia.post("/logout", csrf=False, headers=EN)
    assert response.status_code == 400
    assert giulia.get("/").status_code == 200


def test_csrf_error_is_localized(browser):
    it = browser.post("/login", {"email": GIULIA}, csrf=False, headers={"Accept-Language": "it"})
    assert it.status_code == 400
    assert '<html lang="it"' in it.get_data(as_text=True)
    en = browser.post("/login", {"email": GIULIA}, csrf=False, headers=EN)
    assert '<html lang="en"' in en.get_data(as_text=True)


def test_htmx_post_without_csrf_gets_a_fragment(giulia):
    response = giulia.post("/logout", htmx=True, csrf=False, headers=EN)
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "<html" not in body
    assert body.startswith('<div class="alert alert-error" role="alert">')
    assert "This form has expired" in body
    assert response.headers["HX-Retarget"] == "#flash-messages"
    assert response.headers["HX-Reswap"] == "innerHTML"


def test_htmx_post_with_csrf_header_is_accepted(giulia):
    response = giulia.post("/logout", htmx=True)
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/login"
    assert giulia.get("/").status_code == 302


def test_request_user_is_the_user_flask_login_holds_through_login_and_logout(app):
    # portal.core.access.request_user: current_user without its proxy
    from flask_login import current_user, login_user, logout_user

    from portal.core.access import request_user
    giulia, marco = user(GIULIA), user(MARCO)
    with app.test_request_context("/"):
        assert not request_user().is_authenticated  # nobody: current_user itself
        login_user(giulia)
        assert request_user() is not current_user and request_user().email == GIULIA
        login_user(marco)  # another login in the same request replaces it
        assert request_user().email == MARCO
        logout_user()
        assert not request_user().is_authenticated and not current_user.is_authenticated


def test_request_user_is_the_user_the_session_loads(app):
    from flask import session
    from flask_login import current_user

    from portal.core.access import request_user
    with app.test_request_context("/"):
        session["_user_id"] = user(GIULIA).session_token
        assert request_user() is current_user  # not loaded yet: the proxy itself
        assert current_user.email == GIULIA  # Flask-Login loads it from the session
        assert request_user() is not current_user and request_user().email == GIULIA
