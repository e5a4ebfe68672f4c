"""Licenze: which of the account's users have a subscription's product enabled.

The rule "never more users than licenses" is enforced by the transaction that writes the
assignment (``set_license``), not by the page that shows the counter.
"""
from dataclasses import dataclass

from flask import Blueprint, current_app, flash, make_response, redirect, request, url_for
from flask_babel import gettext as _, ngettext
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_blocks
from peewee import JOIN

from portal.billing import HAS_ACCESS, assignment_refusal
from portal.core.access import (account_subscription, billing_contact_required, billing_contacts,
                                refusal_page, self_service_subscription)
from portal.core.clock import today_in
from portal.core.db import for_update, write_transaction
from portal.core.forms import first_errors
from portal.core.http import error_page, is_htmx, render, see_other
from portal.core.models import LicenseAssignment, MemberInvitation, Plan, Product, Subscription, User, audit
from portal.core.pagination import page_number, paginate
from portal.licenses.forms import LicenseSwitchForm, NewMemberForm
from portal.mail import messages as mail
from portal.subscriptions.quotes import assigned_count

bp = Blueprint("licenses", __name__)

SEARCH_MAX = 100
TEMPLATE = "licenses/index.html"


@dataclass(frozen=True)
class LicenseRow:
    """One user of the account and whether the subscription's product is enabled for them."""

    id: int
    name: str
    email: str
    role: str
    enabled: bool


def search_term(raw):
    """``?q=`` trimmed and bounded, so a pasted novel does not become a query."""
    return (raw or "").strip()[:SEARCH_MAX]


def users_page(subscription, q, page, size):
    """One page of the account's users (by name) with their assignment, and the pagination.

    Two queries whatever the size of the account: a COUNT of the account's users (an index
    range), then the page itself LEFT JOINed with this subscription's assignments.
    """
    condition = User.account == subscription.account_id
    if q:
        # contains() escapes % and _ and is case-insensitive (ILIKE; LIKE on SQLite).
        condition &= User.name.contains(q) | User.email.contains(q.lower())
    query = (User.select(User.id, User.name, User.email, User.role,
                         LicenseAssignment.id.alias("assignment_id"))
             .join(LicenseAssignment, JOIN.LEFT_OUTER,
                   on=((LicenseAssignment.user == User.id)
                       & (LicenseAssignment.subscription == subscription.id)))
             .where(condition).order_by(User.name, User.id).dicts())
    # The LEFT JOIN matches at most one assignment per user (unique per subscription and
    # user): the users alone give the same count, without a join per user.
    found, pagination = paginate(query, page, size,
                                 count_query=User.select(User.id).where(condition))
    rows = [LicenseRow(r["id"], r["name"], r["email"], r["role"], r["assignment_id"] is not None)
            for r in found]
    return rows, pagination


def set_license(subscription_id, user, enable, actor):
    """Enable or disable the product for ``user``: (outcome, assigned after, licenses).

    outcome: "enabled", "disabled", "unchanged" (already so: toggles are idempotent),
    "full" (no license left) or "unavailable" (the subscription has no licenses to assign).
    The subscription row is locked (PostgreSQL) or the database write-locked (SQLite) before
    counting, so two billing contacts enabling at once cannot both take the last license.
    """
    with write_transaction():
        subscription = for_update(
            Subscription.select(Subscription.id, Subscription.account, Subscription.product,
                                Subscription.licenses, Subscription.status)
            .where(Subscription.id == subscription_id)).get()
        if subscription.status not in HAS_ACCESS:
            return "unavailable", None, subscription.licenses
        existing = LicenseAssignment.get_or_none(
            (LicenseAssignment.subscription == subscription_id)
            & (LicenseAssignment.user == user.id))
        assigned = assigned_count(subscription_id)
        if enable == (existing is not None):
            return "unchanged", assigned, subscription.licenses
        if enable and assigned >= subscription.licenses:
            return "full", assigned, subscription.licenses
        if enable:
            LicenseAssignment.create(subscription=subscription_id, user=user.id)
            assigned += 1
        else:
            existing.delete_instance()
            assigned -= 1
        action = "license.enabled" if enable else "license.disabled"
        audit(subscription.account_id, actor.id, action, subscription=subscription_id,
              product=subscription.product_id, user_id=user.id, email=user.email,
              assigned=assigned, licenses=subscription.licenses)
        return ("enabled" if enable else "disabled"), assigned, subscription.licenses


def page_url(subscription_id, q="", page=1):
    """The license page, keeping the search and the page (none when they are the default)."""
    return url_for("licenses.index", subscription_id=subscription_id, q=q or None,
                   page=page if page > 1 else None)


def refusal_kind(subscription):
    """Why the assignments cannot change ("corporate_account", "no_licenses") or None."""
    problem = assignment_refusal(subscription.account.kind, subscription.status)
    return problem.code if problem else None


def refusal(subscription):
    """The answer to a change on a corporate or license-less subscription, else None."""
    problem = assignment_refusal(subscription.account.kind, subscription.status)
    return refusal_page(problem, subscription.product.name) if problem else None


def page_context(subscription, q, page):
    """Everything the license page shows about ``subscription``."""
    rows, pagination = users_page(subscription, q, page,
                                  current_app.config["LICENSES_PAGE_SIZE"])
    return dict(subscription=subscription, account=subscription.account, rows=rows,
                pagination=pagination, q=q, assigned=assigned_count(subscription.id),
                page=pagination.page, refused_because=refusal_kind(subscription))


@bp.route("/subscriptions/<int:subscription_id>/licenses")
@billing_contact_required
def index(subscription_id):
    """The account's users, a page at a time, with a switch each (htmx: the list only)."""
    subscription = account_subscription(subscription_id)
    q = search_term(request.args.get("q"))
    context = page_context(subscription, q, page_number(request.args.get("page")))
    return render(TEMPLATE, block="license_list", form={}, errors={}, **context)


def toggle_message(outcome, product, name, licenses):
    """The sentence that tells what a toggle did (or why it did not)."""
    if outcome == "full":
        return ngettext("No license left for %(name)s: the only license of %(product)s is "
                        "already assigned. Disable it for someone else or buy more licenses.",
                        "No license left for %(name)s: all %(num)s licenses of %(product)s "
                        "are already assigned. Disable one for someone else or buy more "
                        "licenses.", licenses, name=name, product=product)
    if outcome == "enabled":
        return _("%(product)s enabled for %(name)s.", product=product, name=name)
    return _("%(product)s disabled for %(name)s.", product=product, name=name)


@bp.route("/subscriptions/<int:subscription_id>/licenses/<int:user_id>", methods=["POST"])
@billing_contact_required
def toggle(subscription_id, user_id):
    """Switch the product on or off for one user; htmx gets the row, counter and message."""
    subscription = account_subscription(subscription_id)
    refused = refusal(subscription)
    if refused:
        return refused
    user = User.get_or_none((User.id == user_id) & (User.account == subscription.account_id))
    form = LicenseSwitchForm()
    if user is None:
        return error_page(404, _("Page not found"),
                          _("This user does not exist or is not in your account."))
    if not form.validate():
        return error_page(422, _("Nothing was changed"),
                          _("Choose whether the product is enabled or disabled."))
    enable = form.enabled.data == "1"
    outcome, assigned, subscription.licenses = set_license(
        subscription.id, user, enable, current_user)
    if outcome == "unavailable":
        return refusal(account_subscription(subscription_id))
    if outcome == "unchanged":
        outcome = "enabled" if enable else "disabled"
    return toggle_answer(subscription, user, outcome, assigned,
                         search_term(form.q.data), page_number(form.page.data))


def toggle_answer(subscription, user, outcome, assigned, q, page):
    """htmx: the row, the counter and the message (422 when refused); else flash and 303."""
    message = toggle_message(outcome, subscription.product.name, user.name,
                             subscription.licenses)
    if not is_htmx():
        flash(message, "warning" if outcome == "full" else "success")
        return redirect(page_url(subscription.id, q, page), 303)
    row = LicenseRow(user.id, user.name, user.email, user.role, outcome == "enabled")
    body = render_blocks(TEMPLATE, ["user_row", "license_counter", "license_message"],
                         subscription=subscription, row=row, assigned=assigned, q=q,
                         page=page, refused_because=None, message=message,
                         refused=outcome == "full", oob=True)
    return make_response(body, 422 if outcome == "full" else 200)


def invite_member(account, name, email, actor, today):
    """Record that ``actor`` asked to add ``email`` to the account, and email the address a
    link to join (7 days). Inviting the address again sends a fresh link, once a day.

    Nothing here depends on whether the address has a user in another account, so the
    answer cannot tell; the invitation becomes a member when the address owner follows the
    link and sets a password (or the operator runs ``flask users accept-invitation``).
    """
    with write_transaction():
        invitation, created = MemberInvitation.get_or_create(
            account=account.id, email=email, defaults={"name": name, "invited_by": actor.id})
        if created:
            audit(account.id, actor.id, "user.invited", email=email)
        mail.invitation(invitation, actor, account, today)
    return invitation


@bp.route("/subscriptions/<int:subscription_id>/users", methods=["POST"])
@billing_contact_required
def add_user(subscription_id):
    """Invite someone to the account by name and email; the same answer for any address."""
    subscription, refusal = self_service_subscription(subscription_id)
    if refusal:
        return refusal
    form = NewMemberForm()
    errors = {} if form.validate() else first_errors(form)
    if not errors and User.select().where(
            (User.email == form.email.data)
            & (User.account == subscription.account_id)).exists():
        # Only the account's own users: the billing contact sees them in the list anyway.
        errors = {"email": _("This address already belongs to a user of your account.")}
    if errors:
        context = page_context(subscription, "", 1)
        return render(TEMPLATE, block="add_user", status=422, form=form.kept(), errors=errors,
                      **context)
    invite_member(subscription.account, form.name.data, form.email.data, current_user,
                  today_in(subscription.account.timezone))
    flash(_("We have sent %(email)s an invitation to join your account: the user appears "
            "in this list after setting a password with the link in the email.",
            email=form.email.data), "success")
    return see_other(page_url(subscription.id))


@bp.route("/my-licenses")
@login_required
def mine():
    """Which of the account's products are enabled for the logged-in user."""
    subscriptions = (Subscription.select(Subscription, Product, Plan)
                     .join(Product).switch(Subscription).join(Plan)
                     .where(Subscription.account == current_user.account_id)
                     .order_by(Product.position, Product.name))
    enabled = {sid for (sid,) in LicenseAssignment.select(LicenseAssignment.subscription)
               .where(LicenseAssignment.user == current_user.id).tuples()}
    # A suspended subscription's product is off for everyone until it is paid.
    products = [(s, s.id in enabled and s.status in HAS_ACCESS) for s in subscriptions]
    contacts = [] if current_user.is_billing_contact else billing_contacts(
        current_user.account_id)
    return render("licenses/mine.html", products=products, contacts=contacts)
