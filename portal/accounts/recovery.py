"""The pages behind the emailed links: "Password dimenticata?", setting a new password, and
accepting an invitation (``portal/accounts/links.py`` makes and checks the tokens).

Asking for a reset answers the same page whether or not the address has a user, and is
limited per client address and per email address. A used, expired or forged link gets a
page that says which, with the way to ask for a new one.
"""
from flask import Blueprint, current_app, flash, request, url_for
from flask_babel import gettext as _

from portal.accounts.forms import ForgotPasswordForm, NewPasswordForm
from portal.accounts.links import check_invitation_token, check_reset_token
from portal.accounts.members import InvitationUnusable, accept_invitation
from portal.accounts.users import normalize_email
from portal.accounts.views import fresh_session
from portal.core.db import write_transaction
from portal.core.forms import first_errors
from portal.core.http import no_store, render, see_other
from portal.core.i18n import chosen_language
from portal.core.models import Account, User
from portal.core.throttle import limiter
from portal.mail import messages as mail

bp = Blueprint("recovery", __name__)

#: Reset requests per client address, and per email address whoever asks.
RESET_LIMIT_PER_CLIENT = "5 per minute;30 per hour"
RESET_LIMIT_PER_ADDRESS = "5 per hour"


def asked_address():
    """The rate-limit key of the address a reset is asked for."""
    return "reset-address:" + normalize_email(request.form.get("email", ""))[:254]


def page_language():
    """The language of this page's messages (``en`` for an en-GB page), when it is one of
    the portal's (not the pseudo-locale)."""
    name = chosen_language()
    return name if name in current_app.config["LANGUAGES"] else None


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(RESET_LIMIT_PER_CLIENT, methods=["POST"])
@limiter.limit(RESET_LIMIT_PER_ADDRESS, methods=["POST"], key_func=asked_address)
def forgot():
    """Ask for a link by email; the same answer for any address."""
    form = ForgotPasswordForm()
    if form.is_submitted():
        if form.email.data:
            with write_transaction():
                user = User.get_or_none((User.email == form.email.data) & (User.active == True))  # noqa: E712
                if user is not None:
                    mail.password_reset(user, page_language())
        return no_store(render("auth/forgot_sent.html", email=form.email.data))
    return no_store(render("auth/forgot.html", email=request.args.get("email", "")[:254]))


def link_problem(problem, kind):
    """The page of a link that cannot be used: expired, or used already (or not valid)."""
    return no_store(render("auth/link_problem.html", problem=problem, kind=kind, status=410
                           if problem == "expired" else 404))


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset(token):
    """Choose a new password with a reset link; it works once, for 24 hours."""
    user, problem = check_reset_token(token)
    if problem:
        return link_problem(problem, "reset")
    form = NewPasswordForm()
    errors = {}
    if form.is_submitted():
        if form.validate():
            with write_transaction():
                user, problem = check_reset_token(token)  # again, inside the transaction
                if problem:
                    return link_problem(problem, "reset")
                user.replace_password(form.password.data)
            fresh_session()  # a link opened where someone is logged in acts for nobody
            flash(_("Your password has been changed: log in with the new one. Every other "
                    "session of your account has been logged out."), "success")
            return see_other(url_for("auth.login", email=user.email))
        errors = first_errors(form)
    return no_store(render("auth/reset.html", user=user, errors=errors, token=token,
                           status=422 if errors else 200))


@bp.route("/invitation/<token>", methods=["GET", "POST"], endpoint="accept_invitation")
def accept_invitation_page(token):
    """Join the account one was invited to by choosing a password; once, for 7 days."""
    invitation, problem = check_invitation_token(token)
    if problem:
        return link_problem(problem, "invitation")
    account = Account.get_by_id(invitation.account_id)
    if User.select().where(User.email == invitation.email).exists():
        return link_problem("address_taken", "invitation")
    form = NewPasswordForm()
    errors = {}
    if form.is_submitted():
        if form.validate():
            try:
                with write_transaction():
                    invitation, problem = check_invitation_token(token)
                    if problem:
                        return link_problem(problem, "invitation")
                    user = accept_invitation(invitation, form.password.data, page_language())
            except InvitationUnusable as refusal:
                return link_problem(refusal.reason, "invitation")
            fresh_session()  # a link opened where someone is logged in acts for nobody
            flash(_("Welcome to %(account)s: log in with your new password.",
                    account=account.name), "success")
            return see_other(url_for("auth.login", email=user.email))
        errors = first_errors(form)
    return no_store(render("auth/invitation.html", invitation=invitation, account=account,
                           errors=errors, token=token, status=422 if errors else 200))
