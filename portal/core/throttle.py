"""Per-IP request limits (Flask-Limiter) on the routes that guessing targets.

In memory by default (one server process); set ``RATELIMIT_STORAGE_URI`` (e.g.
``redis://localhost:6379``) so that every process shares the counters. The per-account
failed-login counter in the database (portal/auth.py) holds across processes in any case.
"""
from flask_babel import gettext as _
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded
from flask_limiter.util import get_remote_address

from portal.core.http import error_page

limiter = Limiter(key_func=get_remote_address, headers_enabled=True)

#: Login attempts per client address.
LOGIN_LIMIT = "10 per minute;100 per hour"


def init_app(app):
    """Configure storage and answer 429 with a localized page and ``Retry-After``."""
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter.init_app(app)

    @app.errorhandler(RateLimitExceeded)
    def _too_many(error):
        response = error_page(429, _("Too many attempts"),
                              _("Please wait a minute before trying again."))
        # Flask-Limiter's after-request hook replaces this with the exact wait.
        response.headers["Retry-After"] = "60"
        return response
