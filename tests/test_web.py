"""Cross-cutting web behaviour: security headers, Vary, htmx redirects, error pages."""
import re

import pytest

from portal.core.http import safe_next

EN = {"Accept-Language": "en"}


# --- security headers and Vary -----------------------------------------------------------------

PAGES = ["/login", "/help/support", "/help/corporate", "/no-such-page"]


@pytest.mark.parametrize("path", PAGES)
def test_security_headers_on_every_response(client, path):
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert directives["form-action"] == "'self'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response.headers  # plain http


def test_security_headers_on_the_dashboard_and_redirects(giulia, client):
    assert "Content-Security-Policy" in giulia.get("/").headers
    redirect = giulia.post("/logout")
    assert redirect.status_code == 303
    assert redirect.headers["X-Frame-Options"] == "DENY"


def test_hsts_over_https(client):
    response = client.get("/login", base_url="https://portal.example")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


@pytest.mark.parametrize("path", PAGES + ["/"])
def test_vary_hx_request(client, path):
    response = client.get(path)
    assert "HX-Request" in response.headers.get_all("Vary")[0]


def test_vary_hx_request_on_htmx_answers(giulia):
    response = giulia.get("/", htmx=True)
    assert "HX-Request" in response.headers["Vary"]


def test_session_cookie_flags(giulia):
    cookie = giulia.client.get_cookie("session")
    assert cookie.http_only
    assert cookie.same_site == "Lax"
    assert not cookie.secure  # development over plain http


def test_session_cookie_is_secure_in_production(make_app):
    app = make_app(seed=False, ENV_NAME="production", SECRET_KEY="prod-secret-value-0123456789abcdef")
    response = app.test_client().get("/login")
    assert "Secure" in response.headers["Set-Cookie"]


def test_pages_have_no_inline_script_or_style(giulia):
    for path in ("/", "/login", "/help/support", "/help/corporate"):
        body = giulia.get(path).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body), path
        assert " style=" not in body, path
        assert re.search(r"\son[a-z]+=", body) is None, path


def test_htmx_csrf_token_is_on_body(giulia):
    body = giulia.get("/").get_data(as_text=True)
    assert re.search(r'<body hx-headers=\'\{"X-CSRFToken": "[^"]+"\}\'>', body)


# --- htmx and login --------------------------------------------------------------------------

def test_htmx_request_to_a_login_required_page_redirects_the_whole_page(client):
    response = client.get("/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/login?next=/"
    assert response.get_data(as_text=True) == ""
    assert "Location" not in response.headers


def test_plain_request_to_a_login_required_page_redirects(client):
    response = client.get("/", headers=EN)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/"
    login = client.get("/login?next=/", headers=EN)
    assert "Please log in to continue." in login.get_data(as_text=True)


def test_htmx_history_restore_gets_a_full_page(giulia):
    response = giulia.get("/", htmx=True, headers={"HX-History-Restore-Request": "true"})
    assert response.get_data(as_text=True).lstrip().startswith("<!doctype html>")


def test_expired_session_on_htmx_redirects_to_login(app, giulia):
    from portal.core.db import db
    from portal.core.models import User
    with db.connection_context():
        User.get(User.email == "giulia.rossi@example.it").rotate_session()
    response = giulia.get("/", htmx=True)
    assert response.headers["HX-Redirect"] == "/login?next=/"


# --- error pages -------------------------------------------------------------------------------

def test_404_page_is_localized(client):
    response = client.get("/no-such-page", headers=EN)
    assert response.status_code == 404
    body = response.get_data(as_text=True)
    assert "<h1>Page not found</h1>" in body
    assert '<html lang="en"' in body
    italian = client.get("/no-such-page")
    assert '<html lang="it"' in italian.get_data(as_text=True)


def test_404_fragment_for_htmx(client):
    response = client.get("/no-such-page", headers={"HX-Request": "true", **EN})
    assert response.status_code == 404
    body = response.get_data(as_text=True)
    assert "<html" not in body
    assert "Page not found" in body
    assert response.headers["HX-Retarget"] == "#flash-messages"


def test_405_page(client):
    response = client.put("/login", headers=EN)
    assert response.status_code == 405
    assert "Action not allowed" in response.get_data(as_text=True)


def test_too_large_request(browser):
    browser.refresh_token()
    response = browser.post("/login", {"email": "x" * (2 * 1024 * 1024), "password": "p"},
                            headers=EN)
    assert response.status_code == 413
    assert "Request too large" in response.get_data(as_text=True)


# --- safe next ---------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["/", "/help/support", "/subscriptions/1/change?plan=x#y",
                                    "/a/b/../c"])
def test_safe_next_keeps_same_site_paths(target):
    assert safe_next(target) == target


@pytest.mark.parametrize("target", [
    None, "", "//evil.com", "https://evil.com", "http://evil.com/path", "/\\evil.com",
    "\\\\evil.com", "javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,x",
    "evil.com", "///evil.com", "http:/evil.com", " //evil.com", "\t//evil.com",
    "/\t/evil.com", "/\n/evil.com", "/%09/evil.com/\x00", 42, ["/"],
])
def test_safe_next_refuses_other_sites(target):
    assert safe_next(target) is None
    assert safe_next(target, "/") == "/"
