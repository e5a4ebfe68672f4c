"""Sessions and headers (issue 9): what a browser, a proxy or a thief of a cookie observes.

Cookies HttpOnly / SameSite=Lax / Secure on TLS; a new session at login; logout and a
password change end every copy of the session; X-Forwarded-* trusted only with PROXY_FIX;
a strict CSP on every page the portal serves; the Referer that CSRF checks over HTTPS still
sent; HSTS on TLS only; ``Cache-Control: no-store`` on review, payment and invoice pages.
"""
import re

import pytest

from conftest import GIULIA, PASSWORD, Browser
from portal.core.db import db
from portal.core.models import User
from test_checkout_support import add_to_cart, card_form, order_id_from, place, review

EN = {"Accept-Language": "en"}
HTTPS = "https://portal.example"


def csp_directives(response):
    """The Content-Security-Policy as {directive: value}."""
    csp = response.headers["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in csp.split(";") if part.strip())


# ------------------------------------------------------------ CSP and friends everywhere

AUTHENTICATED_PAGES = ["/", "/subscriptions/1/change", "/subscriptions/1/licenses", "/cart",
                       "/invoices", "/activity", "/my-licenses", "/help/support"]


@pytest.mark.parametrize("path", AUTHENTICATED_PAGES)
def test_strict_csp_and_no_inline_code_on_every_page(giulia, path):
    response = giulia.get(path)
    assert response.status_code == 200
    directives = csp_directives(response)
    assert directives["default-src"] == "'self'"
    assert (directives["object-src"], directives["base-uri"], directives["frame-ancestors"]) \
        == ("'none'", "'none'", "'none'")
    # No directive may re-open inline code or styles, eval, or another origin for scripts.
    csp = response.headers["Content-Security-Policy"]
    for unsafe in ("unsafe-inline", "unsafe-eval", "unsafe-hashes", "*", "http:", "https:"):
        assert unsafe not in csp.split(), (unsafe, csp)
    assert "script-src" not in directives or directives["script-src"] == "'self'"
    assert "style-src" not in directives or directives["style-src"] == "'self'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    body = response.get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body), "inline <script>"
    assert not re.search(r"<style[\s>]", body), "inline <style>"
    assert not re.search(r"\sstyle\s*=", body), "style attribute"
    assert not re.search(r"\son[a-z]+\s*=", body), "inline event handler"
    assert "javascript:" not in body.lower()


def test_review_and_htmx_fragments_carry_the_headers_too(giulia):
    add_to_cart(1, "webinar-pro", 8, "annual")
    for response in (giulia.get("/checkout"),
                     giulia.get("/subscriptions/1/change?licenses=7", htmx=True),
                     giulia.get("/subscriptions/1/licenses?q=a", htmx=True)):
        assert response.status_code == 200
        assert "'self'" in csp_directives(response)["default-src"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_referrer_policy_keeps_the_same_origin_referer(client):
    # "same-origin" still sends the full Referer to the portal itself (flask-wtf checks it on
    # HTTPS) and sends nothing to other sites. "no-referrer" would break every HTTPS form.
    policy = client.get("/login").headers["Referrer-Policy"]
    assert policy in ("same-origin", "strict-origin-when-cross-origin", "strict-origin")


def test_csrf_referer_check_over_https(make_app):
    app = make_app(PREFERRED_URL_SCHEME="https")
    browser = Browser(app.test_client())
    token_page = browser.client.get("/login", base_url=HTTPS)
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      token_page.get_data(as_text=True)).group(1)
    form = {"email": GIULIA, "password": PASSWORD, "csrf_token": token}
    # Without a Referer (what "no-referrer" would cause) the form is refused ...
    refused = browser.client.post("/login", data=form, base_url=HTTPS, headers=EN)
    assert refused.status_code == 400
    assert "This form has expired" in refused.get_data(as_text=True)
    # ... and with another site's Referer too; the portal's own Referer works.
    evil = browser.client.post("/login", data=form, base_url=HTTPS,
                               headers={"Referer": "https://evil.example/login"})
    assert evil.status_code == 400
    ok = browser.client.post("/login", data=form, base_url=HTTPS,
                             headers={"Referer": HTTPS + "/login"})
    assert ok.status_code == 303


# ------------------------------------------------------------ TLS, HSTS and the proxy


def test_hsts_only_over_tls(client):
    assert "Strict-Transport-Security" not in client.get("/login").headers
    hsts = client.get("/login", base_url=HTTPS).headers["Strict-Transport-Security"]
    assert int(re.search(r"max-age=(\d+)", hsts).group(1)) >= 15552000  # at least 180 days


def test_forwarded_proto_is_ignored_without_proxy_fix(client):
    response = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers


def test_forwarded_proto_is_trusted_with_proxy_fix(make_app):
    client = make_app(PROXY_FIX=1).test_client()
    response = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" in response.headers


def _login_attempts(client, count, forwarded_for):
    """POST ``count`` failed logins claiming to come from ``forwarded_for``; the statuses."""
    statuses = []
    for i in range(count):
        response = client.post("/login", data={"email": "nobody@example.com", "password": "x"},
                               headers={"X-Forwarded-For": forwarded_for(i)})
        statuses.append(response.status_code)
    return statuses


def test_spoofed_forwarded_for_does_not_escape_the_login_limit(make_app):
    client = make_app(RATELIMIT_ENABLED=True).test_client()
    statuses = _login_attempts(client, 12, lambda i: f"203.0.113.{i}")
    assert statuses[-1] == 429 and statuses.count(429) == 2, statuses


def test_forwarded_for_names_the_client_behind_a_trusted_proxy(make_app):
    client = make_app(RATELIMIT_ENABLED=True, PROXY_FIX=1).test_client()
    statuses = _login_attempts(client, 11, lambda i: "198.51.100.7")
    assert statuses[-1] == 429
    # Another client behind the same proxy is not blocked by the first one's failures.
    other = _login_attempts(client, 1, lambda i: "198.51.100.8")
    assert other == [400]  # no CSRF token: refused, but not rate limited


# ------------------------------------------------------------ cookies and sessions


def _set_cookie_headers(response):
    return [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")]


def test_session_cookie_flags_in_development(browser):
    browser.refresh_token()
    response = browser.client.post("/login", data={"email": GIULIA, "password": PASSWORD,
                                                    "csrf_token": browser.token})
    [cookie] = _set_cookie_headers(response)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http in development


def test_session_cookie_is_secure_when_configured(make_app):
    app = make_app(SESSION_COOKIE_SECURE=True)
    client = app.test_client()
    page = client.get("/login", base_url=HTTPS).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"email": GIULIA, "password": PASSWORD,
                                           "csrf_token": token},
                                   base_url=HTTPS, headers={"Referer": HTTPS + "/login"})
    assert response.status_code == 303
    [cookie] = _set_cookie_headers(response)
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_secure_cookies_are_the_production_default(make_app):
    app = make_app(seed=False, ENV_NAME="production", SECRET_KEY="a-long-production-secret-0123456789-abcdefghij")
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    assert "Secure" in app.test_client().get("/login").headers["Set-Cookie"]


def test_production_can_switch_secure_cookies_off_explicitly(make_app):
    # A deliberate setting (e.g. a private network without TLS) wins over the default.
    app = make_app(seed=False, ENV_NAME="production", SECRET_KEY="a-long-production-secret-0123456789-abcdefghij",
                   SESSION_COOKIE_SECURE=False)
    assert app.config["SESSION_COOKIE_SECURE"] is False


def test_login_issues_a_new_session_cookie(app, browser):
    browser.refresh_token()
    anonymous = browser.client.get_cookie("session").value
    browser.login(GIULIA)
    assert browser.client.get_cookie("session").value != anonymous
    replay = app.test_client()
    replay.set_cookie("session", anonymous)
    assert replay.get("/").status_code == 302


def test_logout_rotates_the_session_token(app, giulia):
    with db.connection_context():
        before = User.get(User.email == GIULIA).session_token
    copied = giulia.client.get_cookie("session").value
    giulia.post("/logout")
    with db.connection_context():
        assert User.get(User.email == GIULIA).session_token != before
    thief = app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/").status_code == 302
    assert thief.get("/invoices").status_code == 302


def test_a_password_change_ends_every_existing_session(app, giulia):
    copied = giulia.client.get_cookie("session").value
    with db.connection_context():
        user = User.get(User.email == GIULIA)
        user.set_password("a-brand-new-password")
        user.save()
    thief = app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/").status_code == 302
    assert giulia.get("/").status_code == 302  # the owner logs in again, with the new one
    again = Browser(app.test_client())
    again.login(GIULIA, "a-brand-new-password")
    assert again.get("/").status_code == 200


def test_logout_in_one_browser_ends_the_session_in_another(app, giulia):
    # The same user logged in twice shares the session token: logout is "everywhere".
    other = Browser(app.test_client())
    other.login(GIULIA)
    giulia.post("/logout")
    assert other.get("/").status_code == 302


# ------------------------------------------------------------ no-store on money pages


def test_review_payment_and_invoice_pages_are_not_stored(giulia):
    add_to_cart(1, "webinar-pro", 8, "annual")
    assert giulia.get("/checkout").headers["Cache-Control"] == "no-store"
    assert giulia.get("/checkout", htmx=True).headers["Cache-Control"] == "no-store"
    # A refused payment answers the review again: not stored either.
    _, fields = review(giulia)
    declined = place(giulia, fields, card_form(number="4000 0000 0000 0002"))
    assert declined.status_code == 402
    assert declined.headers["Cache-Control"] == "no-store"
    _, fields = review(giulia)
    order_id = order_id_from(place(giulia, fields))
    from portal.core.models import Invoice
    with db.connection_context():
        invoice_id = Invoice.get(Invoice.order == order_id).id
    for path in (f"/orders/{order_id}", "/invoices", f"/invoices/{invoice_id}"):
        response = giulia.get(path)
        assert response.status_code == 200, path
        assert "no-store" in response.headers["Cache-Control"], path


def test_request_size_is_limited(giulia):
    response = giulia.post("/billing-details", {"vat_number": "1" * (2 * 1024 * 1024)},
                           headers=EN)
    assert response.status_code == 413
    assert "Request too large" in response.get_data(as_text=True)


def test_session_cookies_are_flask_s_own(app, giulia):
    # The portal signs sessions with less work per request, but the cookie is the one
    # Flask's default interface writes and reads: an upgrade logs nobody out.
    from flask.sessions import SecureCookieSessionInterface
    flask_s = SecureCookieSessionInterface().get_signing_serializer(app)
    ours = app.session_interface.get_signing_serializer(app)
    cookie = giulia.client.get_cookie("session").value
    assert flask_s.loads(cookie) == ours.loads(cookie)
    written = flask_s.dumps({"_user_id": "x"})
    assert ours.loads(written) == {"_user_id": "x"}
    assert flask_s.loads(ours.dumps({"locale": "en"})) == {"locale": "en"}
    # a cookie signed with another key is refused
    other = SecureCookieSessionInterface().get_signing_serializer(
        type("App", (), {"secret_key": "another-key", "config": {"SECRET_KEY_FALLBACKS": []}})())
    forged = app.test_client()
    forged.set_cookie("session", other.dumps(flask_s.loads(cookie)))
    assert forged.get("/").status_code == 302


def test_a_rotated_secret_key_keeps_sessions_signed_with_the_fallback(make_app):
    old = make_app(SECRET_KEY="the-old-key-0123456789-abcdefghijklmnop")
    cookie = old.session_interface.get_signing_serializer(old).dumps({"locale": "en"})
    new = make_app(seed=False, SECRET_KEY="the-new-key-0123456789-abcdefghijklmnop",
                   SECRET_KEY_FALLBACKS=["the-old-key-0123456789-abcdefghijklmnop"])
    assert new.session_interface.get_signing_serializer(new).loads(cookie) == {"locale": "en"}
    alone = make_app(seed=False, SECRET_KEY="the-new-key-0123456789-abcdefghijklmnop")
    from itsdangerous import BadSignature
    with pytest.raises(BadSignature):
        alone.session_interface.get_signing_serializer(alone).loads(cookie)
