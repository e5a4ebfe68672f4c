"""Login sessions, CSRF, security headers and proxy trust."""
import hashlib

from flask import flash, has_request_context, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import LoginManager, user_logged_in, user_logged_out
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from portal.core.access import (catalog_version_column, remember_account, remember_user,
                                request_user)
from portal.core.db import Prepared
from portal.core.http import hx_redirect, is_htmx, safe_next
from portal.core.models import Account, User

csrf = CSRFProtect()
login_manager = LoginManager()

CSP = ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
       "frame-ancestors 'none'; form-action 'self'")
#: Every response's headers, unless the view set its own.
HEADERS = (("Content-Security-Policy", CSP), ("X-Content-Type-Options", "nosniff"),
           ("Referrer-Policy", "same-origin"), ("X-Frame-Options", "DENY"))
#: Over HTTPS, also HSTS.
SECURE_HEADERS = HEADERS + (
    ("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),)


def user_query(token):
    """The user whose session token is ``token``, with its account and the catalog version in
    force: every authenticated request reads it (most pages need all three: one round trip
    instead of three). A view may extend it with its own first read (``load_user_with``)."""
    return (User.select(User, Account, catalog_version_column()).join(Account)
            .where(User.session_token == token).limit(1))


_user_by_token = Prepared(user_query, related=(User.account,))  # the SQL is built once

#: {endpoint: (the view argument, the ``Prepared`` query)} of ``load_user_with``
_user_queries = {}


def load_user_with(endpoint, argument, query):
    """Requests to ``endpoint`` load their user with ``query``: a ``Prepared`` of
    ``user_query`` extended with what the view reads first, taking the session token and
    the view's (integer) argument ``argument``. The user and the view's first row then
    cost one round trip instead of two; the view finds its row where the query attached it
    to the user, and reads it itself when it is not there (another account's or a missing
    id, which it answers with a 404, or a user loaded otherwise)."""
    _user_queries[endpoint] = (argument, query)


@login_manager.user_loader
def load_user(session_token):
    """Flask-Login stores the rotating session token, not the user id."""
    found = _user_queries.get(request.endpoint) if has_request_context() else None
    value = (request.view_args or {}).get(found[0]) if found is not None else None
    if type(value) is int:
        user = found[1].first(session_token, value)
    else:
        user = _user_by_token.first(session_token)
    if user is not None:
        remember_account(user.account, user.catalog_version)
        remember_user(user)  # Flask-Login makes it the request's user (``request_user``)
    return user


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, the same cookies, with less work per request.

    - The signature is HMAC-SHA1 as Flask's, through the hash function itself
      (``hashlib.sha1``), which lets ``hmac`` use OpenSSL's HMAC. Flask's default is a Python
      function wrapping it (for builds that lack SHA-1 at import time), which makes ``hmac``
      fall back to its pure-Python implementation.
    - The serializer is built once per set of keys, not on every request: it holds nothing
      but its settings.
    """

    digest_method = staticmethod(hashlib.sha1)

    def __init__(self):
        self._serializers = {}

    def get_signing_serializer(self, app):
        """The serializer of the app's current key and fallbacks (rotating the key in the
        configuration gives a new one; two threads building the first one at once keep
        either, they are the same)."""
        key = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        found = self._serializers.get(key)
        if found is None and app.secret_key:
            found = self._serializers.setdefault(key, super().get_signing_serializer(app))
        return found


def _logged_in(app, user, **extra):
    remember_user(user)


def _logged_out(app, user, **extra):
    remember_user(None)


def init_app(app):
    """Register CSRF protection, Flask-Login, the session cookies and the response headers."""
    app.session_interface = SessionInterface()
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "basic"
    # ``request_user`` follows the user Flask-Login holds when it changes within a request
    user_logged_in.connect(_logged_in, app)
    user_logged_out.connect(_logged_out, app)
    if app.config.get("PROXY_FIX"):
        hops = int(app.config["PROXY_FIX"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    @login_manager.unauthorized_handler
    def _unauthorized():
        target = url_for("auth.login", next=safe_next(request.full_path.rstrip("?")))
        if is_htmx():
            return hx_redirect(target)
        flash(_("Please log in to continue."), "info")
        return redirect(target)

    @app.after_request
    def _headers(response):
        headers = response.headers
        # the response's own names, once (``Headers.setdefault`` looks each name up by
        # raising and catching an exception when it is missing, as it always is here)
        present = {name.lower() for name, _value in headers.items()}
        for name, value in (SECURE_HEADERS if request.is_secure else HEADERS):
            if name.lower() not in present:
                headers.add(name, value)
        # Everything a logged-in user sees is account data (balances, cards, VAT numbers):
        # no browser or proxy keeps it. Static files are the same for everyone.
        if request.endpoint != "static" and request_user().is_authenticated:
            headers["Cache-Control"] = "no-store"
        return response
