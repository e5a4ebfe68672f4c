"""Centro fatturazione: the account's subscriptions at a glance."""
from flask import Blueprint
from flask_login import current_user, login_required
from peewee import fn

from portal.billing import renewal_net
from portal.core.access import billing_contacts, current_account
from portal.core.db import Prepared
from portal.core.http import render
from portal.core.models import LicenseAssignment, Plan, Product, Subscription
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


@bp.route("/")
@login_required
def index():
    """One card per subscription, the credit balance and the cart badge."""
    account = current_account()
    subscriptions = _subscriptions.rows(account.id)
    counts = dict(_assigned_counts.rows(account.id)) if subscriptions else {}
    cards = [{"subscription": s, "assigned": counts.get(s.id, 0),
              "renewal": renewal_net(plan_price(s.plan), s.licenses, s.frequency)}
             for s in subscriptions]
    contacts = [] if current_user.is_billing_contact else billing_contacts(account.id)
    return render("dashboard/index.html", account=account, cards=cards, contacts=contacts)
