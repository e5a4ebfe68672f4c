"""flaskr-style fixtures: a temp-file database per test, seeded with the demo data."""
import asyncio
import datetime as dt
import email
import email.policy
import logging
import http.server
import json
import os
import re
import socket
import threading
import time

import pytest
from aiosmtpd.controller import Controller
from playhouse.test_utils import count_queries as playhouse_count_queries

import portal.core.db
from portal import create_app
from portal.core.db import db

# On PostgreSQL the suite runs the server-prepared statements of production (a pooled
# database prepares them; the tests' databases are not pooled).
if os.environ.get("TEST_DATABASE_URL"):
    portal.core.db.SERVER_PREPARE = True

TODAY = dt.date(2026, 11, 26)
PASSWORD = "demo1234"
GIULIA = "giulia.rossi@example.it"
MARCO = "marco.verdi@example.it"
ANNA = "anna.bianchi@example.com"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
#: Values that differ on every render: the CSRF token carries the second it was signed at,
#: and every review gets a fresh idempotency key.
_VOLATILE = re.compile(r'((?:name="(?:csrf_token|idempotency_key)" value=)|'
                       r'(?:"X-CSRFToken": ))"[^"]*"')


def without_tokens(html):
    """``html`` with its CSRF tokens and idempotency keys blanked, to compare two renders."""
    return _VOLATILE.sub(r"\1-", html)


#: Test-only settings: a cheap password hash keeps logins fast; production uses scrypt.
BASE_CONFIG = {"TESTING": True, "SECRET_KEY": "test-secret",
               "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
               # Never the real VIES: nothing listens there (tests that need answers use the
               # ``vies`` fixture, a local fake service).
               "VIES_URL": "http://127.0.0.1:9/vies", "VIES_TIMEOUT": 0.5,
               # Orders charged in the request: one request, one outcome
               # (tests/test_background_charges.py covers the threads).
               "ORDER_CHARGE_THREADS": 0}


# Per process, so that two test runs on one PostgreSQL server do not collide.
TEMPLATE_DB = f"portal_template_{os.getpid()}"
TEST_DB = f"portal_test_{os.getpid()}"


def _postgres_admin(url):
    """A connection to the server's maintenance database, for CREATE/DROP DATABASE."""
    from playhouse.db_url import connect
    database = connect(url)
    database.connect()
    database.connection().autocommit = True
    return database


def _database_named(url, name):
    """``url`` with its database name replaced."""
    return url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def postgres_template():
    """On PostgreSQL: a seeded template database; each test is created from it."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        return None
    admin = _postgres_admin(url)
    admin.execute_sql(f"DROP DATABASE IF EXISTS {TEMPLATE_DB}")
    admin.execute_sql(f"CREATE DATABASE {TEMPLATE_DB}")
    admin.close()
    template_url = _database_named(url, TEMPLATE_DB)
    app = create_app(dict(BASE_CONFIG, DATABASE_URL=template_url))
    _prepare(app, seed=True)
    if not db.is_closed():
        db.close()
    return template_url


@pytest.fixture
def database_url(tmp_path, postgres_template):
    """SQLite in a temp file, or a fresh database on the PostgreSQL server named by
    TEST_DATABASE_URL."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        admin = _postgres_admin(url)
        admin.execute_sql(f"DROP DATABASE IF EXISTS {TEST_DB}")
        admin.execute_sql(f"CREATE DATABASE {TEST_DB}")
        admin.close()
        return _database_named(url, TEST_DB)
    return f"sqlite:///{tmp_path / 'portal.sqlite3'}"


def _prepare(app, seed):
    """Schema, catalog and (optionally) the demo data, as an operator's commands would."""
    from portal.catalog.store import invalidate, load_catalog
    from portal.core.migrations import upgrade
    from portal.demo import seed_demo
    upgrade()
    invalidate()
    with db.connection_context():
        load_catalog(app.config["CATALOG_PATH"])
        if seed:
            seed_demo(TODAY, lifecycle=False)  # the lifecycle demo: tests/test_demo.py


@pytest.fixture(scope="session")
def seeded_sqlite_template(tmp_path_factory):
    """A seeded SQLite file built once; each test starts from a copy (hashing the demo
    passwords with scrypt for every test would dominate the suite's time)."""
    path = tmp_path_factory.mktemp("template") / "seeded.sqlite3"
    app = create_app(dict(BASE_CONFIG, DATABASE_URL=f"sqlite:///{path}"))
    _prepare(app, seed=True)
    db.close() if not db.is_closed() else None
    import sqlite3
    with sqlite3.connect(path) as conn:  # fold the WAL into the file before copying it
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture
def make_app(database_url, request, postgres_template):
    """Build an app; ``seed=False`` leaves the database empty (schema and catalog only)."""
    def postgres_template_url():
        return postgres_template

    def factory(seed=True, **config):
        settings = dict(BASE_CONFIG, DATABASE_URL=database_url, FIXED_TODAY=TODAY,
                        RATELIMIT_ENABLED=False)
        settings.update(config)
        url = settings["DATABASE_URL"]
        template = postgres_template_url()
        if seed and template and not url.startswith("sqlite"):
            if not db.is_closed():
                db.close()
            admin = _postgres_admin(os.environ["TEST_DATABASE_URL"])
            name = url.rsplit("/", 1)[1]
            admin.execute_sql(f"DROP DATABASE IF EXISTS {name}")
            admin.execute_sql(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}")
            admin.close()
            app = create_app(settings)
            from portal.catalog.store import invalidate
            invalidate()
            return app
        if seed and url.startswith("sqlite:///"):
            import shutil
            template = request.getfixturevalue("seeded_sqlite_template")
            shutil.copyfile(template, url[len("sqlite:///"):])
            app = create_app(settings)
            from portal.catalog.store import invalidate
            invalidate()
            return app
        app = create_app(settings)
        _prepare(app, seed)
        return app
    return factory


@pytest.fixture
def app(make_app):
    """The portal with the demo data, today pinned to 2026-11-26."""
    app = make_app()
    yield app
    if not db.is_closed():
        db.close()


class Browser:
    """A test client that logs in, keeps the CSRF token and speaks htmx when asked."""

    def __init__(self, client):
        self.client = client
        self.token = None

    def refresh_token(self, path="/login"):
        response = self.client.get(path)
        match = _TOKEN.search(response.get_data(as_text=True))
        self.token = match.group(1) if match else None
        return self.token

    def login(self, email=GIULIA, password=PASSWORD):
        self.refresh_token("/login")
        response = self.client.post("/login", data={"email": email, "password": password,
                                                    "csrf_token": self.token})
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        self.refresh_token("/")
        return response

    def get(self, path, htmx=False, **kwargs):
        headers = dict(kwargs.pop("headers", None) or {})
        if htmx:
            headers["HX-Request"] = "true"
        return self.client.get(path, headers=headers, **kwargs)

    def post(self, path, data=None, htmx=False, csrf=True, **kwargs):
        data = dict(data or {})
        headers = dict(kwargs.pop("headers", None) or {})
        if csrf and "csrf_token" not in data:
            if htmx:
                headers["X-CSRFToken"] = self.token
            else:
                data["csrf_token"] = self.token
        if htmx:
            headers["HX-Request"] = "true"
        return self.client.post(path, data=data, headers=headers, **kwargs)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def browser(client):
    """A logged-out browser; call ``browser.login(email)``."""
    return Browser(client)


@pytest.fixture
def giulia(browser):
    """The demo billing contact, logged in."""
    browser.login(GIULIA)
    return browser


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def statements(counter):
    """The SQL text of what a ``count_queries()`` block ran (for assertion messages)."""
    return [record.getMessage() for record in counter.get_queries()]


@pytest.fixture
def count_queries():
    """``with count_queries() as q: ...; q.count`` (peewee's ``playhouse.test_utils``); the
    peewee logger's level, which it raises to DEBUG, is put back afterwards."""
    logger = logging.getLogger("peewee")
    level = logger.level
    yield playhouse_count_queries
    logger.setLevel(level)


#: What the fake VIES answers per number: valid (with a name), invalid, unavailable, slow.
VIES_ANSWERS = {
    "DE136695976": {"isValid": True, "userError": "VALID", "name": "ACME GMBH",
                    "address": "HAUPTSTR. 1, 10115 BERLIN"},
    "FR40303265045": {"isValid": False, "userError": "INVALID"},
    "ATU13585627": {"isValid": False, "userError": "MS_UNAVAILABLE"},
    "NL004495445B01": "slow",
}


class FakeVies(http.server.BaseHTTPRequestHandler):
    """GET /vies/ms/<country>/vat/<number> as the Commission's REST service answers it."""

    answers = VIES_ANSWERS
    delay = 2.0

    def do_GET(self):
        """Answer from ``answers`` (unknown numbers are invalid)."""
        parts = self.path.strip("/").split("/")
        number = parts[-3] + parts[-1] if len(parts) >= 4 else ""
        answer = self.answers.get(number, {"isValid": False, "userError": "INVALID"})
        if answer == "slow":
            time.sleep(self.delay)
            answer = {"isValid": True, "userError": "VALID", "name": "TOO LATE"}
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        """Quiet."""


@pytest.fixture
def vies(app):
    """A local fake VIES the app asks (valid, invalid, unavailable and slow numbers)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeVies)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.config.update(VIES_URL=f"http://127.0.0.1:{server.server_address[1]}/vies",
                      VIES_TIMEOUT=0.5)
    yield server
    server.shutdown()
    server.server_close()


# --------------------------------------------------------------------------- email

class Inbox:
    """aiosmtpd's handler: keeps every message; refuses the addresses in ``refused``."""

    def __init__(self):
        self.messages = []
        self.refused = set()
        self.delay = 0  # seconds the server takes to accept a message (a slow server)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refused:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((envelope.rcpt_tos, message))
        return "250 Message accepted for delivery"


def free_port():
    """A TCP port nobody listens on (right now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp():
    """A real SMTP server on a free port; ``smtp.start()`` / ``smtp.stop()`` at will."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    inbox.port, inbox.controller = port, controller
    yield inbox
    try:
        controller.stop()
    except AssertionError:  # stopped by the test already
        pass


@pytest.fixture
def mail_app(make_app, smtp):
    """The portal sending to the test's SMTP server."""
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, MAIL_TIMEOUT=5,
                   MAIL_DEFAULT_SENDER="Centro fatturazione <fatturazione@example.com>",
                   PORTAL_URL="https://portal.example.com")
    yield app
    if not db.is_closed():
        db.close()
