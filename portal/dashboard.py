"""Centro fatturazione: the account's subscriptions at a glance."""
from flask import Blueprint
from flask_login import current_user, login_required
from peewee import fn

from .access import billing_contacts
from .models import Account, CartItem, LicenseAssignment, Plan, Product, Subscription
from .web import render

bp = Blueprint("dashboard", __name__)


def assigned_counts(subscription_ids):
    """{subscription_id: users assigned}, in one query."""
    if not subscription_ids:
        return {}
    rows = (LicenseAssignment
            .select(LicenseAssignment.subscription, fn.COUNT(LicenseAssignment.id))
            .where(LicenseAssignment.subscription.in_(subscription_ids))
            .group_by(LicenseAssignment.subscription).tuples())
    return dict(rows)


def cart_count(user):
    """How many pending changes the user's cart holds (the badge)."""
    return CartItem.select().where(CartItem.user == user.id).count()


def renewal_amount(subscription):
    """Net amount of the next period at the current plan, licenses and frequency."""
    plan = subscription.plan
    price = plan.monthly_cents if subscription.frequency == "monthly" else plan.annual_cents
    return None if price is None else price * subscription.licenses


@bp.route("/")
@login_required
def index():
    """One card per subscription, the credit balance and the cart badge."""
    account = Account.get_by_id(current_user.account_id)
    subscriptions = list(
        Subscription.select(Subscription, Plan, Product)
        .join(Plan).switch(Subscription).join(Product)
        .where(Subscription.account == account.id)
        .order_by(Product.position, Product.name))
    counts = assigned_counts([s.id for s in subscriptions])
    cards = [{"subscription": s, "assigned": counts.get(s.id, 0),
              "renewal": renewal_amount(s)} for s in subscriptions]
    contacts = [] if current_user.is_billing_contact else billing_contacts(account.id)
    return render("dashboard/index.html", account=account, cards=cards, contacts=contacts,
                  cart_count=cart_count(current_user))
