"""Centro fatturazione: the account's subscriptions at a glance."""
from flask import Blueprint, g
from flask_login import current_user, login_required
from peewee import fn

from .access import billing_contacts
from .db import Prepared
from .models import Account, CartItem, LicenseAssignment, Plan, Product, Subscription
from .web import render

bp = Blueprint("dashboard", __name__)


# The dashboard's queries, built once (peewee spends more time building SQL than SQLite
# spends answering these): see ``portal.db.Prepared``.
_account = Prepared(lambda account_id: Account.select().where(Account.id == account_id)
                    .limit(1))
_subscriptions = Prepared(
    lambda account_id: Subscription.select(Subscription, Plan, Product)
    .join(Plan).switch(Subscription).join(Product)
    .where(Subscription.account == account_id)
    .order_by(Product.position, Product.name))
_assigned_counts = Prepared(  # {subscription id: users assigned}, for the whole account
    lambda account_id: LicenseAssignment
    .select(LicenseAssignment.subscription, fn.COUNT(LicenseAssignment.id))
    .join(Subscription)
    .where(Subscription.account == account_id)
    .group_by(LicenseAssignment.subscription).tuples())
_cart_count = Prepared(lambda user_id: CartItem.select(fn.COUNT(CartItem.id))
                       .where(CartItem.user == user_id).tuples())


def cart_count(user):
    """How many pending changes the user's cart holds (the badge).

    Remembered for the request: the dashboard and the badge of ``base.html`` both ask. No
    view writes to the cart and then renders a page showing the badge (they redirect); one
    that does must ``g.pop("cart_counts", None)`` after the write.
    """
    counts = g.setdefault("cart_counts", {})
    if user.id not in counts:
        counts[user.id] = _cart_count.first(int(user.id))[0]
    return counts[user.id]


def renewal_amount(subscription):
    """Net amount of the next period at the current plan, licenses and frequency."""
    plan = subscription.plan
    price = plan.monthly_cents if subscription.frequency == "monthly" else plan.annual_cents
    return None if price is None else price * subscription.licenses


@bp.route("/")
@login_required
def index():
    """One card per subscription, the credit balance and the cart badge."""
    account = _account.first(int(current_user.account_id))
    subscriptions = _subscriptions.rows(account.id)
    counts = dict(_assigned_counts.rows(account.id)) if subscriptions else {}
    cards = [{"subscription": s, "assigned": counts.get(s.id, 0),
              "renewal": renewal_amount(s)} for s in subscriptions]
    contacts = [] if current_user.is_billing_contact else billing_contacts(account.id)
    return render("dashboard/index.html", account=account, cards=cards, contacts=contacts,
                  cart_count=cart_count(current_user))
