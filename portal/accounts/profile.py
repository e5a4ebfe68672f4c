"""Profilo: every user's own name, language and password."""
from flask import Blueprint, flash, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user

from portal.accounts.forms import ChangePasswordForm, ProfileForm
from portal.core.db import write_transaction
from portal.core.forms import first_errors
from portal.core.http import no_store, render, see_other
from portal.core.i18n import speaking
from portal.core.models import User, audit

bp = Blueprint("profile", __name__)


def page(details=None, password=None, status=200):
    """The profile page, with the errors of the form that was sent."""
    return no_store(render("profile/index.html", details_errors=details or {},
                           password_errors=password or {}, status=status))


@bp.get("/profile")
@login_required
def show():
    """Name, language, and the password form."""
    return page()


@bp.post("/profile")
@login_required
def save():
    """Save the name and the language (the pages switch to it at once)."""
    form = ProfileForm()
    if not form.validate():
        return page(details=first_errors(form), status=422)
    with write_transaction():
        (User.update(name=form.name.data, locale=form.locale.data)
         .where(User.id == current_user.id).execute())
    session["locale"] = form.locale.data
    with speaking(form.locale.data):  # the next page speaks it already
        flash(_("Your profile has been saved."), "success")
    return see_other(url_for("profile.show"))


@bp.post("/profile/password")
@login_required
def change_password():
    """A new password, with the current one: every other session ends, this one goes on."""
    form = ChangePasswordForm()
    valid = form.validate()
    errors = first_errors(form)
    with write_transaction():
        user = User.get_by_id(current_user.id)
        if not user.check_password(form.current.data or ""):
            errors = {"current": _("The current password is not correct."), **errors}
        elif valid:
            user.replace_password(form.password.data)
            audit(user.account_id, user.id, "user.password_changed")
    if errors:
        return page(password=errors, status=422)
    login_user(user)  # this session, under the new session token
    flash(_("Your password has been changed. Every other session of your account has been "
            "logged out."), "success")
    return see_other(url_for("profile.show"))
