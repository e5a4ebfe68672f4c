"""Centro fatturazione: the account's subscriptions at a glance."""
from flask import Blueprint, current_app
from flask_login import current_user, login_required
from peewee import fn

from portal.billing import card_lapses_before, renewal_net, upcoming_price
from portal.core.access import billing_contacts, current_account
from portal.core.db import Prepared
from portal.core.http import render
from portal.core.models import LicenseAssignment, Plan, Product, Subscription
from portal.lifecycle.contacts import default_method
from portal.lifecycle.renewals import outstanding
from portal.subscriptions.quotes import plan_price

bp = Blueprint("dashboard", __name__)


# The dashboard's queries, built once (peewee spends more time building SQL than SQLite
# spends answering these): see ``portal.core.db.Prepared``.
_subscriptions = Prepared(
    lambda account_id: Subscription.select(Subscription, Plan, Product)
    .join(Plan).switch(Subscription).join(Product)
    .where(Subscription.account == account_id)
    .order_by(Product.position, Product.name),
    related=(Subscription.plan, Subscription.product))
_assigned_counts = Prepared(  # {subscription id: users assigned}, for the whole account
    lambda account_id: LicenseAssignment
    .select(LicenseAssignment.subscription, fn.COUNT(LicenseAssignment.id))
    .join(Subscription)
    .where(Subscription.account == account_id)
    .group_by(LicenseAssignment.subscription), row=tuple)


def renewal_card(subscription, assigned):
    """What a subscription's card shows: its users, the next renewal's net amount, and the
    new price per license from that renewal when the catalog changed it."""
    plan = plan_price(subscription.plan)
    paid = subscription.price_cents
    return {"subscription": subscription, "assigned": assigned, "retired": plan.retired,
            "renewal": renewal_net(plan, subscription.licenses, subscription.frequency, paid),
            "new_price": upcoming_price(plan, subscription.frequency, paid),
            "overdue": outstanding(subscription)
            if subscription.status == "past_due" else None}


@bp.route("/")
@login_required
def index():
    """One card per subscription, the credit balance and the cart badge."""
    account = current_account()
    subscriptions = _subscriptions.rows(account.id)
    counts = dict(_assigned_counts.rows(account.id)) if subscriptions else {}
    cards = [renewal_card(s, counts.get(s.id, 0)) for s in subscriptions]
    contacts = [] if current_user.is_billing_contact else billing_contacts(account.id)
    return render("dashboard/index.html", account=account, cards=cards, contacts=contacts,
                  expiring=expiring_card(account.id, subscriptions))


def expiring_card(account_id, subscriptions):
    """The card renewals are charged to, when it expires before the next renewal."""
    renewing = [s.period_end for s in subscriptions
                if s.status in ("active", "past_due") and s.auto_renew and s.period_end]
    if not renewing:
        return None
    method = default_method(account_id, current_app.config.get("PAYMENT_GATEWAY") or "sandbox")
    first = min(renewing)
    if method and card_lapses_before(method.exp_year, method.exp_month, first):
        return method
    return None
