"""Per-client request limits (Flask-Limiter) on the routes that guessing targets.

The counters live in the portal's own database by default (``portal-db://``, the
``rate_limit_counter`` table), so every gunicorn worker and every server on the database
enforces one limit: with in-memory counters each worker kept its own and two workers let
about twice the stated limit through (issue 20). ``RATELIMIT_STORAGE_URI`` may name another
storage that limits supports, such as ``redis://localhost:6379``.
"""
import random
import time

from flask import request
from flask_babel import gettext as _
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded
from limits.storage import Storage
from peewee import Case, PeeweeException

from portal.core.db import db
from portal.core.http import error_page
from portal.core.models import RateLimitCounter


def client_address():
    """The client's address as the portal sees it (the proxy's view with ``PROXY_FIX``)."""
    return request.remote_addr or "unknown"


limiter = Limiter(key_func=client_address, headers_enabled=True)

#: Login attempts per client address.
LOGIN_LIMIT = "10 per minute;100 per hour"

#: One in this many counter updates also deletes the expired counters.
CLEANUP_ONE_IN = 200


class DatabaseStorage(Storage):
    """Fixed-window counters for limits/Flask-Limiter in the portal's database.

    Each update is one ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` statement (SQLite
    3.35+, PostgreSQL), atomic on its own, so concurrent workers never lose a hit.
    """

    STORAGE_SCHEME = ["portal-db"]

    def __init__(self, uri=None, wrap_exceptions=False, **options):
        """Nothing to connect: the portal's ``db`` connects on the first query."""
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self):
        """What a failing database raises."""
        return PeeweeException

    def incr(self, key, expiry, amount=1):
        """Add ``amount`` to the window's count (a new window when the last one ended)."""
        now = int(time.time() * 1000)
        ends = now + int(expiry * 1000)
        expired = RateLimitCounter.expires_ms <= now
        query = (RateLimitCounter.insert(key=key, count=amount, expires_ms=ends)
                 .on_conflict(conflict_target=[RateLimitCounter.key], update={
                     RateLimitCounter.count: Case(None, [(expired, amount)],
                                                  RateLimitCounter.count + amount),
                     RateLimitCounter.expires_ms: Case(None, [(expired, ends)],
                                                       RateLimitCounter.expires_ms)})
                 .returning(RateLimitCounter.count).tuples())
        with db.atomic():
            [(count,)] = list(query.execute())
        if random.randrange(CLEANUP_ONE_IN) == 0:
            RateLimitCounter.delete().where(RateLimitCounter.expires_ms <= now).execute()
        return count

    def get(self, key):
        """The count of the current window, 0 when none is running."""
        now = int(time.time() * 1000)
        row = RateLimitCounter.get_or_none((RateLimitCounter.key == key)
                                           & (RateLimitCounter.expires_ms > now))
        return row.count if row else 0

    def get_expiry(self, key):
        """When the current window ends (seconds since the epoch)."""
        row = RateLimitCounter.get_or_none(RateLimitCounter.key == key)
        return (row.expires_ms / 1000) if row else time.time()

    def check(self):
        """The storage works when the database answers."""
        try:
            RateLimitCounter.select().limit(1).count()
            return True
        except PeeweeException:
            return False

    def reset(self):
        """Forget every counter; returns how many there were."""
        return RateLimitCounter.delete().execute()

    def clear(self, key):
        """Forget one counter."""
        RateLimitCounter.delete().where(RateLimitCounter.key == key).execute()


def init_app(app):
    """Configure storage and answer 429 with a localized page and ``Retry-After``."""
    app.config.setdefault("RATELIMIT_STORAGE_URI", "portal-db://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)

    # Registered before Flask-Limiter's own hook, so it runs after it: Flask-Limiter puts
    # Retry-After on every answer of a limited route, a 500 or a plain 401 included.
    @app.after_request
    def _retry_after_only_when_waiting(response):
        if response.status_code not in (429, 503):
            response.headers.pop("Retry-After", None)
        return response

    limiter.init_app(app)

    @app.errorhandler(RateLimitExceeded)
    def _too_many(error):
        response = error_page(429, _("Too many attempts"),
                              _("Please wait a minute before trying again."))
        # Flask-Limiter's after-request hook replaces this with the exact wait.
        response.headers["Retry-After"] = "60"
        return response
