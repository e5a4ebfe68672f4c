"""Attività: who changed what and when, for the account's billing contacts.

Every change writes an ``AuditEvent`` (``portal.models.audit``) in the transaction that made
it; this page reads them back, newest first, and tells each one as a localized sentence.
The sentence is built from the event's stored details, so it still reads right after the
catalog or the user changed; values typed by users (emails, VAT numbers) stay plain text and
are escaped by the template like any other.
"""
import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_datetime
from flask import Blueprint, request
from flask_babel import get_locale, gettext as _, ngettext
from flask_login import current_user
from peewee import JOIN

from portal.core.access import billing_contact_required
from portal.catalog.store import plans_by_product, products_by_id
from portal.core.i18n import date, money
from portal.core.models import Account, AuditEvent, Subscription, User
from portal.core.http import render
from portal.core.pagination import page_number, paginate

bp = Blueprint("audit", __name__)

PAGE_SIZE = 25


def frequency_name(code):
    """"monthly" / "annual" in the current language."""
    return {"monthly": _("monthly"), "annual": _("annual")}.get(code, code or "")


def plan_names():
    """{plan code: plan name} from the in-process catalog."""
    return {plan.code: plan.name for plans in plans_by_product().values() for plan in plans}


def subscription_products(account_id):
    """{subscription id: product name} for the account, in one query."""
    products = products_by_id()
    rows = (Subscription.select(Subscription.id, Subscription.product)
            .where(Subscription.account == account_id).tuples())
    return {sub_id: products[product_id].name for sub_id, product_id in rows
            if product_id in products}


def choice_text(plans, plan, licenses, frequency):
    """"Pro, 8 licenses, annual" for a plan code, a count and a frequency."""
    return _("%(plan)s, %(licenses)s, %(frequency)s", plan=plans.get(plan, plan or "?"),
             licenses=ngettext("%(num)s license", "%(num)s licenses", int(licenses or 0)),
             frequency=frequency_name(frequency))


def describe(event, products, plans, currency):
    """The localized sentence that tells what ``event`` did."""
    d = event.details or {}
    sub_id = d.get("subscription_id", d.get("subscription"))
    fallback = products_by_id().get(d.get("product"))
    product = products.get(sub_id) or (fallback.name if fallback else _("a product"))
    action = event.action
    if action == "cart.add":
        return _("Added a change to the cart: %(product)s, %(choice)s.", product=product,
                 choice=choice_text(plans, d.get("plan"), d.get("licenses"),
                                    d.get("frequency")))
    if action == "cart.item_removed":
        return _("Removed the pending change to %(product)s from the cart.", product=product)
    if action == "order.placed":
        return _("Placed order %(order)s: total %(total)s, paid by card %(due)s.",
                 order=d.get("order_id"), total=money(d.get("total_cents", 0), currency),
                 due=money(d.get("due_cents", 0), currency))
    if action == "subscription.changed":
        old, new = d.get("old") or {}, d.get("new") or {}
        return _("Changed %(product)s from %(old)s to %(new)s; new billing period "
                 "%(start)s – %(end)s.", product=product,
                 old=choice_text(plans, old.get("plan"), old.get("licenses"),
                                 old.get("frequency")) if old.get("plan") else _("no plan"),
                 new=choice_text(plans, new.get("plan"), new.get("licenses"),
                                 new.get("frequency")),
                 start=date(new.get("period_start")), end=date(new.get("period_end")))
    if action == "invoice.issued":
        return _("Issued invoice %(number)s.", number=d.get("number", ""))
    if action == "payment_method.added":
        return _("Added the card %(brand)s ending in %(last4)s.",
                 brand=(d.get("brand") or "").title(), last4=d.get("last4", ""))
    if action == "account.vat_number_changed":
        if d.get("old"):
            return _("Changed the VAT number from %(old)s to %(new)s.", old=d.get("old"),
                     new=d.get("new"))
        return _("Set the VAT number to %(new)s.", new=d.get("new"))
    if action == "license.enabled":
        return _("Enabled %(product)s for %(email)s.", product=product, email=d.get("email"))
    if action == "license.disabled":
        return _("Disabled %(product)s for %(email)s.", product=product, email=d.get("email"))
    if action == "user.invited":
        return _("Invited %(email)s to join the account.", email=d.get("email"))
    if action == "payment.failed":
        return _("A card payment of %(amount)s was refused (%(code)s).",
                 amount=money(d.get("amount_cents", 0), currency), code=d.get("code", ""))
    if action == "payment.limited":
        return _("Too many refused card payments: further payments were blocked for a while.")
    if action == "user.added":
        return _("Added the user %(email)s to the account.", email=d.get("email"))
    return describe_lifecycle(action, d, product, currency)


def describe_lifecycle(action, d, product, currency):
    """Renewals, dunning, automatic renewal and saved cards, as sentences."""
    card = {"brand": (d.get("brand") or "").title(), "last4": d.get("last4", "")}
    if action == "renewal.started":
        return _("Started the renewal of %(product)s from %(date)s: %(total)s.",
                 product=product, date=date(d.get("period_start")),
                 total=money(d.get("total_cents", 0), currency))
    if action == "subscription.renewed":
        return _("Renewed %(product)s for %(start)s – %(end)s: invoice %(invoice)s, "
                 "charged %(due)s.", product=product, start=date(d.get("period_start")),
                 end=date(d.get("period_end")), invoice=d.get("invoice", ""),
                 due=money(d.get("due_cents", 0), currency))
    if action == "renewal.failed":
        return _("The renewal of %(product)s could not be charged (%(reason)s); next try "
                 "on %(date)s.", product=product, reason=d.get("reason", ""),
                 date=date(d.get("next_retry")))
    if action == "subscription.suspended":
        return _("Suspended %(product)s after its renewal could not be charged.",
                 product=product)
    if action == "subscription.expired":
        return _("%(product)s ended: automatic renewal was off.", product=product)
    if action == "subscription.trial_expired":
        return _("The free trial of %(product)s ended.", product=product)
    if action == "subscription.auto_renew_on":
        return _("Turned on automatic renewal of %(product)s.", product=product)
    if action == "subscription.auto_renew_off":
        return _("Turned off automatic renewal of %(product)s.", product=product)
    if action == "payment_method.default":
        return _("Renewals are now charged to the card %(brand)s ending in %(last4)s.",
                 **card)
    if action == "payment_method.removed":
        return _("Removed the card %(brand)s ending in %(last4)s.", **card)
    return _("Other change (%(action)s).", action=action)


def when(value, timezone):
    """A stored UTC timestamp as date and time in the account's timezone and the locale."""
    try:
        zone = ZoneInfo(timezone or "Europe/Rome")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("Europe/Rome")
    aware = value.replace(tzinfo=dt.timezone.utc)
    return format_datetime(aware, "medium", tzinfo=zone, locale=str(get_locale()))


@bp.get("/activity")
@billing_contact_required
def index():
    """The account's audit events, newest first, a page at a time."""
    account = Account.get_by_id(current_user.account_id)
    events, pagination = paginate(
        AuditEvent.select(AuditEvent, User)
        .join(User, JOIN.LEFT_OUTER, on=(AuditEvent.user == User.id))
        .where(AuditEvent.account == account.id)
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()),
        page_number(request.args.get("page")), PAGE_SIZE)
    products, plans = subscription_products(account.id), plan_names()
    rows = [{"event": e, "who": e.user.name if e.user_id else None,
             "when": when(e.created_at, account.timezone),
             "iso": e.created_at.replace(microsecond=0).isoformat() + "Z",
             "text": describe(e, products, plans, account.currency)} for e in events]
    return render("audit/index.html", block="activity_list", rows=rows,
                  pagination=pagination, account=account)

