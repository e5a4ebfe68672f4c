"""A catalog load while the real server runs: two gunicorn workers, each with its process
cache, on the test's database (SQLite or PostgreSQL). The issue this pins: a price rise in
the catalog turned a license change into free credit, and the workers kept old prices."""
import html as htmllib
import http.cookiejar
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import GIULIA, PASSWORD, TODAY
from portal.core.config import ROOT
from test_checkout_support import account, set_subscription, subscription
from test_price_paid import STANDARD_AT_999, catalog_with, load

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
FIELD = r'name="{}" value="([^"]*)"'


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(app, tmp_path):
    """gunicorn -w 2 serving the app's database, as in production (no --preload)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update({"PORTAL_DATABASE_URL": app.config["DATABASE_URL"],
                "PORTAL_SECRET_KEY": secrets.token_hex(32), "PORTAL_ENV_NAME": "production",
                "PORTAL_SESSION_COOKIE_SECURE": "0", "PORTAL_RATELIMIT_ENABLED": "0",
                "PORTAL_FIXED_TODAY": TODAY.isoformat(),
                "PORTAL_INSTANCE_PATH": str(tmp_path)})
    log = open(tmp_path / "gunicorn.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}",
         "--graceful-timeout", "2", "wsgi:app"], cwd=ROOT, env=env, stdout=log,
        stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/login", timeout=2)
            break
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail((tmp_path / "gunicorn.log").read_text())
            time.sleep(0.1)
    yield url
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=15)
    log.close()


class Client:
    """A browser without JavaScript: cookies, CSRF tokens, no redirects followed."""

    def __init__(self, base):
        self.base = base
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar),
                                                  NoRedirect())
        self.token = None

    def get(self, path):
        with self.opener.open(self.base + path, timeout=20) as response:
            body = response.read().decode()
        found = TOKEN.search(body)
        self.token = found.group(1) if found else self.token
        return body

    def post(self, path, data):
        data = dict(data, csrf_token=self.token)
        request = urllib.request.Request(self.base + path,
                                         urllib.parse.urlencode(data).encode())
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.headers.get("Location"), response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Location"), error.read()


    def confirmed(self, pending):
        """Follow an order's "being processed" page (``pending``) until it sends the
        browser to the confirmation; that address (the order is charged in the background)."""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with self.opener.open(self.base + pending, timeout=20) as response:
                    assert 'data-state="reserved"' in response.read().decode()
            except urllib.error.HTTPError as error:
                assert error.code == 303, error.code
                return error.headers["Location"]
            time.sleep(0.1)
        pytest.fail(f"{pending} still being processed after 20 s")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_a_catalog_load_reaches_every_worker_and_credits_the_price_paid(app, server,
                                                                        tmp_path):
    set_subscription(1, licenses=7)
    browser = Client(server)
    browser.get("/login")
    status, _location, _body = browser.post("/login", {"email": GIULIA, "password": PASSWORD})
    assert status == 303
    summary = "/subscriptions/1/change?plan=webinar-standard&licenses=9&frequency=monthly"
    for _ in range(12):  # both workers answer some of these, and cache the catalog
        assert "1.071,00" in browser.get(summary)  # 9 x 119 €

    result = load(app, catalog_with(tmp_path, app, **STANDARD_AT_999))
    assert result.exit_code == 0, result.output

    credit = round(11900 * 7 * 14 / 30)
    for _ in range(12):  # every worker sees the new version on its next request
        page = htmllib.unescape(browser.get(summary)).replace("\u00a0", " ")
        assert "8.991,00 €" in page and "1.071,00" not in page
        assert f"−{credit // 100:,}".replace(",", ".") + f",{credit % 100:02d} €" in page
    status, location, _ = browser.post("/subscriptions/1/change", {
        "plan": "webinar-standard", "licenses": "9", "frequency": "monthly", "intent": "add"})
    assert status == 303 and location.endswith("/checkout")
    review = browser.get("/checkout")
    assert f'data-credit="{credit}"' in review and 'data-charge="899100"' in review
    fields = {name: re.search(FIELD.format(name), review).group(1)
              for name in ("idempotency_key", "fingerprint", "versions")}
    status, location, body = browser.post("/checkout/order", dict(
        fields, payment_method="new", card_number="4242 4242 4242 4242", card_expiry="12/30",
        card_cvc="123", card_holder="Giulia Rossi"))
    assert status == 303 and "/orders/pending/" in location, body[:500]
    assert re.fullmatch(r".*/orders/\d+", browser.confirmed(location))
    sub = subscription(1)
    assert (sub.licenses, sub.price_cents) == (9, 99900)
    rossi = account()
    assert rossi.balance_cents == rossi.ledger == 0
