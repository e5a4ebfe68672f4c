"""flaskr-style fixtures: a temp-file database per test, seeded with the demo data."""
import datetime as dt
import os
import re

import pytest

from portal import create_app
from portal.db import db

TODAY = dt.date(2026, 11, 26)
PASSWORD = "demo1234"
GIULIA = "giulia.rossi@example.it"
MARCO = "marco.verdi@example.it"
ANNA = "anna.bianchi@example.com"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _reset_postgres(url):
    """Start a test on an empty PostgreSQL schema."""
    from peewee import PostgresqlDatabase
    from playhouse.db_url import connect
    database = connect(url)
    assert isinstance(database, PostgresqlDatabase)
    with database.connection_context():
        database.execute_sql("DROP SCHEMA IF EXISTS public CASCADE")
        database.execute_sql("CREATE SCHEMA public")
    database.close()


@pytest.fixture
def database_url(tmp_path):
    """SQLite in a temp file, or the PostgreSQL server named by TEST_DATABASE_URL."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        _reset_postgres(url)
        return url
    return f"sqlite:///{tmp_path / 'portal.sqlite3'}"


@pytest.fixture
def make_app(database_url, tmp_path):
    """Build an app; ``seed=False`` leaves the database empty (schema and catalog only)."""
    def factory(seed=True, **config):
        settings = {"TESTING": True, "DATABASE_URL": database_url, "FIXED_TODAY": TODAY,
                    "SECRET_KEY": "test-secret", "RATELIMIT_ENABLED": False}
        settings.update(config)
        app = create_app(settings)
        from portal.catalog import invalidate, load_catalog
        from portal.migrations import upgrade
        from portal.seed import seed_demo
        upgrade()
        invalidate()
        with db.connection_context():
            load_catalog(app.config["CATALOG_PATH"])
            if seed:
                seed_demo(TODAY)
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
        headers = kwargs.pop("headers", {})
        if htmx:
            headers["HX-Request"] = "true"
        return self.client.get(path, headers=headers, **kwargs)

    def post(self, path, data=None, htmx=False, csrf=True, **kwargs):
        data = dict(data or {})
        headers = kwargs.pop("headers", {})
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


class QueryCounter:
    """Counts the SQL statements peewee sends while active."""

    def __init__(self):
        self.queries = []

    def __enter__(self):
        import logging
        self._logger = logging.getLogger("peewee")
        self._level = self._logger.level
        self._logger.setLevel(logging.DEBUG)
        self._logger.addHandler(self)
        return self

    def __exit__(self, *exc):
        self._logger.removeHandler(self)
        self._logger.setLevel(self._level)

    # logging.Handler protocol, minimal
    level = 0

    def handle(self, record):
        self.queries.append(record.getMessage())

    @property
    def count(self):
        return len(self.queries)


@pytest.fixture
def count_queries():
    """``with count_queries() as q: ...; q.count``"""
    return QueryCounter
