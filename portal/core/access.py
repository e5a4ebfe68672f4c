"""Who may do what: account scoping, the billing-contact rule and the refusal pages.

What is refused is decided in ``portal.billing.rules`` (pure); this module turns a refusal
into the page (or htmx fragment) that explains it.
"""
import functools

from flask import abort
from flask_babel import gettext as _
from flask_login import current_user, login_required
from peewee import fn

from portal.billing import Problem, account_refusal
from portal.core import scope
from portal.core.db import Prepared
from portal.core.http import error_page
from portal.core.models import Account, CatalogVersion, Plan, Product, Subscription, User


def billing_contacts(account_id):
    """The account's billing contacts, to name them to members."""
    return list(User.select(User.name, User.email)
                .where((User.account == account_id) & (User.role == "billing_contact"))
                .order_by(User.name))


def forbidden_for_member():
    """The 403 page that names the account's billing contacts."""
    return error_page(403, page="errors/billing_contact_only.html",
                      fragment="errors/billing_contact_only_fragment.html",
                      contacts=billing_contacts(current_user.account_id))


def request_user():
    """``current_user`` without its proxy (about ten Python calls per use): the user loaded
    for this application context (``portal.core.security.load_user`` remembers it, logging
    in replaces it, logging out forgets it), else ``current_user`` itself (nobody loaded
    yet, or nobody logged in)."""
    values = scope.current()
    user = values.get("user") if values is not None else None
    return current_user if user is None else user


def remember_user(user):
    """The user Flask-Login holds for this application context from now on (None: none)."""
    values = scope.current()
    if values is not None:
        if user is None:
            values.pop("user", None)
        else:
            values["user"] = user


def billing_contact_required(view):
    """Only logged-in billing contacts get through; members get the explanation (403)."""
    @functools.wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not request_user().is_billing_contact:
            return forbidden_for_member()
        return view(*args, **kwargs)
    return wrapped


def self_service_required(view):
    """Billing contacts of self-service accounts only; corporate accounts are refused."""
    @functools.wraps(view)
    @billing_contact_required
    def wrapped(*args, **kwargs):
        refusal = account_refusal(current_account().kind)
        if refusal:
            return refusal_page(refusal)
        return view(*args, **kwargs)
    return wrapped


def self_service_subscription(subscription_id):
    """(the account's subscription or 404, the refusal page when the account is corporate)."""
    subscription = account_subscription(subscription_id)
    problem = account_refusal(subscription.account.kind)
    return subscription, (refusal_page(problem) if problem else None)


def refusal_page(problem: Problem, product_name=""):
    """The page for a refusal of ``portal.billing.rules`` (corporate account, canceled
    subscription, nothing to assign)."""
    if problem.code == "corporate_account":
        return error_page(403, _("Managed in the Corporate Billing Portal"),
                          _("Corporate accounts are managed in the Corporate Billing Portal or "
                            "by your representative."))
    if problem.code == "subscription_canceled":
        return error_page(409, _("This subscription cannot be changed"),
                          _("This subscription has been canceled and can no longer be "
                            "changed."))
    if problem.code == "payment_overdue":
        return error_page(409, _("A payment is overdue"),
                          _("The last renewal of this subscription could not be charged. Pay "
                            "it first (\"Pay now\" on the Billing Center), then change the "
                            "subscription."))
    if problem.code == "no_licenses":
        return error_page(409, _("There are no licenses to assign"),
                          _("This subscription has no active licenses. Subscribe to assign "
                            "%(product)s to your users.", product=product_name))
    raise ValueError(f"no refusal page for {problem.code!r}")


def catalog_version_column():
    """The catalog version in force, as a column of a page's first query: the request's
    catalog snapshot (``portal.catalog.store.snapshot``) then costs no query of its own."""
    return (CatalogVersion.select(fn.COALESCE(fn.MAX(CatalogVersion.version), 0))
            .alias("catalog_version"))


_account = Prepared(lambda account_id: Account.select(Account, catalog_version_column())
                    .where(Account.id == account_id).limit(1))


def current_account():
    """The current user's account, read once per request (its balance and VAT number are
    read fresh for each request), with the user (``remember_account``) unless forgotten
    since. ``forget_current_account`` makes the next call read it again (after a write)."""
    values = scope.current()
    account = values.get("current_account") if values is not None else None
    if account is None:
        account = _account.first(int(current_user.account_id))
        if account is None:
            raise Account.DoesNotExist()
        remember_account(account, account.catalog_version)
    return account


def remember_account(account, catalog_version):
    """The request's account as just read, and the catalog version read with it (the
    request's catalog snapshot then costs no query of its own)."""
    values = scope.current()
    if values is not None:
        values["current_account"] = account
        values.setdefault("catalog_version", catalog_version)


def forget_current_account():
    """The account may have changed (an order or a VAT number was written meanwhile)."""
    values = scope.current()
    if values is not None:
        values.pop("current_account", None)


def subscription_query(subscription_id, account_id, *columns):
    """The account's subscription with its plan and product, and ``columns`` (a page's
    scalar subqueries); its account is the request's (``current_account``, read with the
    user), not joined again."""
    return (Subscription.select(Subscription, Plan, Product, *columns)
            .join(Plan).switch(Subscription).join(Product)
            .where((Subscription.id == subscription_id) & (Subscription.account == account_id))
            .limit(1))


#: The license and lifecycle pages start here (the change page adds its counts: SQL built
#: once).
_subscription_of_account = Prepared(subscription_query,
                                    related=(Subscription.plan, Subscription.product))


def account_subscription(subscription_id, query=_subscription_of_account, *args):
    """The current user's account's subscription with its plan, product and account, or 404
    (``query``: a ``Prepared`` of ``subscription_query`` taking ``args`` after the ids; a
    query that joins no plan and product leaves them to the caller, or to peewee's lazy
    loading).

    Scoped at the query: another account's id is indistinguishable from a missing one.
    """
    subscription = query.first(int(subscription_id), int(request_user().account_id),
                               *args)
    if subscription is None:
        abort(404)
    subscription.account = current_account()
    return subscription
