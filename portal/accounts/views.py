"""Login, logout and the language switcher."""
import datetime as dt

from flask import Blueprint, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from peewee import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from portal.accounts.forms import LocaleForm, LoginForm
from portal.accounts.users import normalize_email
from portal.core.db import db
from portal.core.models import LoginLock, User, password_hash_method, utcnow
from portal.core.security import csrf
from portal.core.throttle import LOGIN_LIMIT, client_address, limiter
from portal.core.http import render, safe_next, see_other
from portal.core.i18n import PSEUDO_LOCALE

bp = Blueprint("auth", __name__)

#: Failed attempts from one client before that client is locked out of the account, and
#: the lock's growth.
LOCK_AFTER = 5
LOCK_SECONDS = 60

# Checked against when the email is unknown, so that every failure costs one hash check;
# one per hash method (the tests use a cheap one).
_dummy_hashes = {}


def dummy_hash():
    """A hash of a password nobody has, made with the configured method."""
    method = password_hash_method()
    if method not in _dummy_hashes:
        _dummy_hashes[method] = generate_password_hash("not-a-real-password", method=method)
    return _dummy_hashes[method]


def lock_for(failures):
    """A lock that doubles with every failure past the threshold, capped at one hour."""
    if failures < LOCK_AFTER:
        return None
    return dt.timedelta(seconds=min(3600, LOCK_SECONDS * 2 ** (failures - LOCK_AFTER)))


def record_failure(user, client, now):
    """Count a failed login of ``user`` from ``client`` and lock that pair when due."""
    with db.atomic():
        lock = LoginLock.get_or_none((LoginLock.user == user.id) & (LoginLock.client == client))
        if lock is None:
            try:
                with db.atomic():
                    lock = LoginLock.create(user=user.id, client=client, failures=0)
            except IntegrityError:  # another request of the same client created it
                lock = LoginLock.get((LoginLock.user == user.id) & (LoginLock.client == client))
        failures = lock.failures + 1
        until = lock_for(failures)
        (LoginLock.update(failures=LoginLock.failures + 1, updated_at=now,
                          locked_until=(now + until) if until else None)
         .where(LoginLock.id == lock.id).execute())


def authenticate(email, password, client="unknown"):
    """The user for these credentials, or None; counts failures per user and client.

    Every attempt checks one password hash, whatever the outcome (unknown email, inactive or
    locked account), so that the time of the answer tells nothing about the account.
    """
    user = User.get_or_none(User.email == normalize_email(email))
    if user is None:
        check_password_hash(dummy_hash(), password or "")
        return None
    now = utcnow()
    lock = LoginLock.get_or_none((LoginLock.user == user.id) & (LoginLock.client == client))
    locked = lock is not None and lock.locked_until is not None and lock.locked_until > now
    correct = user.check_password(password or "")
    if locked or not correct or not user.active:
        if not locked:
            record_failure(user, client, now)
        return None
    if lock is not None:
        LoginLock.delete().where(LoginLock.id == lock.id).execute()
    return user


def fresh_session():
    """Log out whoever is logged in, and empty the session but for the chosen language."""
    if current_user.is_authenticated:
        logout_user()
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale


@bp.route("/login", methods=["GET", "POST"])
@csrf.exempt  # checked below, after the rate limit, so that every attempt counts
@limiter.limit(LOGIN_LIMIT, methods=["POST"])
def login():
    """The login form; a generic message for any failure."""
    if request.method == "POST":
        csrf.protect()
    next_url = safe_next(request.values.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url or url_for("dashboard.index"))
    error = None
    form = LoginForm()
    if form.is_submitted():
        user = authenticate(form.email.data, form.password.data, client_address())
        if user is None:
            error = _("Email or password is not correct, or the account is temporarily "
                      "locked after too many attempts.")
        else:
            fresh_session()  # a new session at login: nothing from before survives
            login_user(user)
            return see_other(next_url or url_for("dashboard.index"))
    email = form.email.data if form.is_submitted() else request.args.get("email", "")[:254]
    return render("auth/login.html", error=error, email=email, next_url=next_url,
                  status=401 if error else 200)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """End the session here and everywhere this cookie was copied to."""
    current_user.rotate_session()
    fresh_session()
    flash(_("You have logged out."), "info")
    return see_other(url_for("auth.login"))


@bp.route("/locale", methods=["POST"])
def set_locale():
    """Switch language; saved on the user when logged in."""
    form = LocaleForm()
    if form.validate():
        session["locale"] = form.locale.data
        if current_user.is_authenticated and form.locale.data != PSEUDO_LOCALE:
            with db.atomic():
                User.update(locale=form.locale.data).where(User.id == current_user.id).execute()
    return see_other(safe_next(form.next.data, url_for("dashboard.index")))
