"""Who may do what: account scoping and the billing-contact rule."""
import functools

from flask import abort, make_response, render_template
from flask_login import current_user, login_required

from .db import Prepared
from .models import Account, Plan, Product, Subscription, User


def billing_contacts(account_id):
    """The account's billing contacts, to name them to members."""
    return list(User.select(User.name, User.email)
                .where((User.account == account_id) & (User.role == "billing_contact"))
                .order_by(User.name))


def forbidden_for_member():
    """The 403 page that names the account's billing contacts."""
    from .web import is_htmx
    template = ("errors/billing_contact_only_fragment.html" if is_htmx()
                else "errors/billing_contact_only.html")
    response = make_response(render_template(
        template, contacts=billing_contacts(current_user.account_id)), 403)
    if is_htmx():
        response.headers["HX-Retarget"] = "#flash-messages"
        response.headers["HX-Reswap"] = "innerHTML"
    return response


def billing_contact_required(view):
    """Only logged-in billing contacts get through; members get the explanation (403)."""
    @functools.wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not current_user.is_billing_contact:
            return forbidden_for_member()
        return view(*args, **kwargs)
    return wrapped


#: The change and license pages (and every summary click) start here: SQL built once.
_subscription_of_account = Prepared(
    lambda subscription_id, account_id: Subscription.select(Subscription, Plan, Product, Account)
    .join(Plan).switch(Subscription).join(Product)
    .switch(Subscription).join(Account)
    .where((Subscription.id == subscription_id) & (Subscription.account == account_id))
    .limit(1))


def account_subscription(subscription_id):
    """The current user's account's subscription with its plan, product and account, or 404.

    Scoped at the query: another account's id is indistinguishable from a missing one.
    """
    subscription = _subscription_of_account.first(int(subscription_id),
                                                  int(current_user.account_id))
    if subscription is None:
        abort(404)
    return subscription
