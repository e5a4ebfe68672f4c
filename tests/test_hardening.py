"""Issue 20's smaller findings: no-store on every authenticated answer, Allow on 405, a
clear 400 for a form that is not UTF-8, no stray Retry-After."""
import re

import pytest

from conftest import MARCO, Browser

EN = {"Accept-Language": "en"}
SKIP = {"/logout"}  # ends the session the walk needs; it is tested on its own below


def concrete_paths(app, method):
    """Every rule of the URL map that answers ``method``, with 1 for each argument."""
    adapter = app.url_map.bind("localhost")
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or method not in rule.methods:
            continue
        path = adapter.build(rule.endpoint, {name: 1 for name in rule.arguments})
        if path not in SKIP:
            yield path


@pytest.mark.parametrize("email", ["giulia.rossi@example.it", MARCO])
def test_every_authenticated_answer_is_no_store(app, email):
    browser = Browser(app.test_client())
    browser.login(email)
    checked = 0
    for method in ("GET", "POST"):
        for path in concrete_paths(app, method):
            for htmx in (False, True):
                if method == "GET":
                    response = browser.get(path, htmx=htmx)
                else:
                    response = browser.post(path, {}, htmx=htmx)
                assert response.headers.get("Cache-Control") == "no-store", (
                    method, path, htmx, response.status_code)
                checked += 1
    assert checked > 40
    logout = browser.post("/logout")
    assert logout.status_code == 303


def test_static_files_may_be_cached(app, giulia):
    css = next(rule.rule for rule in app.url_map.iter_rules() if rule.endpoint == "static")
    assert css == "/static/<path:filename>"
    response = giulia.get("/static/htmx.min.js")
    assert response.headers.get("Cache-Control") != "no-store"


def test_a_405_says_which_methods_are_allowed(giulia):
    response = giulia.client.put("/login")
    assert response.status_code == 405
    assert set(re.split(r",\s*", response.headers["Allow"])) >= {"GET", "POST"}
    assert giulia.get("/logout").headers["Allow"].split(", ") == ["OPTIONS", "POST"]


@pytest.mark.parametrize("body", [b"email=a%FF%FE&password=x", b"email=a\xff\xfe&password=x"])
def test_a_form_that_is_not_utf8_is_a_bad_request(browser, body):
    token = browser.refresh_token("/login")
    response = browser.client.post(
        "/login", data=body + b"&csrf_token=" + token.encode(),
        content_type="application/x-www-form-urlencoded", headers=EN)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Bad request" in html and "could not be read" in html
    assert "expired" not in html


def test_a_utf8_form_still_works(browser):
    token = browser.refresh_token("/login")
    response = browser.client.post(
        "/login", data="email=caf%C3%A9@example.it&password=x&csrf_token=".encode() + token.encode(),
        content_type="application/x-www-form-urlencoded", headers=EN)
    assert response.status_code == 401


def test_only_waiting_answers_carry_retry_after(make_app):
    app = make_app(RATELIMIT_ENABLED=True)
    browser = Browser(app.test_client())
    browser.refresh_token("/login")
    answers = [browser.post("/login", {"email": "x@example.com", "password": "y"})
               for _ in range(11)]
    assert [a.status_code for a in answers] == [401] * 10 + [429]
    assert all("Retry-After" not in a.headers for a in answers[:10])
    assert int(answers[-1].headers["Retry-After"]) > 0


def test_the_500_page_has_no_retry_after(make_app, monkeypatch):
    app = make_app(RATELIMIT_ENABLED=True, TESTING=False)
    monkeypatch.setattr("portal.accounts.views.authenticate",
                        lambda *args: 1 / 0)
    browser = Browser(app.test_client())
    browser.refresh_token("/login")
    response = browser.post("/login", {"email": "x@example.com", "password": "y"})
    assert response.status_code == 500
    assert "Retry-After" not in response.headers
