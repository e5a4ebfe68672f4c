"""The bridge between stored subscriptions and the pure pricing engine.

Views never price anything themselves: they turn rows into the engine's plain values here,
ask the engine, and show what it answers.
"""
from dataclasses import dataclass
from types import MappingProxyType

from peewee import fn

from portal.billing import (
    ChangeRequest,
    CurrentSubscription,
    PlanPrice,
    quote_change,
    validate_change,
)
from portal.catalog.store import (catalog_version, plan_by_id, products_by_id,
                                  snapshot)
from portal.core.clock import today_in
from portal.core.db import Prepared, for_update
from portal.core.models import CartItem, LicenseAssignment, Plan, Product, Subscription


def plan_price(plan):
    """A ``Plan`` row as the engine's ``PlanPrice``."""
    return PlanPrice(code=plan.code, product_code=_product_code(plan.product_id),
                     name=plan.name, tier=plan.tier,
                     monthly_cents=plan.monthly_cents, annual_cents=plan.annual_cents,
                     self_service=plan.self_service, retired=plan.retired)


def _product_code(product_id):
    """A product's code, from the in-process catalog."""
    return products_by_id()[product_id].code


def plan_code_of(plan_id):
    """The code of a plan, from the in-process catalog."""
    plan = plan_by_id(plan_id)
    return plan.code if plan else None


def product_plans(product_id):
    """{plan code: PlanPrice} of one product (read-only), from the in-process catalog:
    built once per catalog version (the change page asks on every click)."""
    catalog = snapshot()
    key = ("product_plans", product_id)
    found = catalog.derived.get(key)
    if found is None:
        found = catalog.derived[key] = MappingProxyType(
            {plan.code: plan_price(plan) for plan in catalog.plans.get(product_id, [])})
    return found


def assigned_count(subscription_id):
    """How many users have the product of this subscription enabled."""
    return (LicenseAssignment.select(fn.COUNT(LicenseAssignment.id))
            .where(LicenseAssignment.subscription == subscription_id).scalar())


def current_subscription(subscription, assigned=None):
    """A ``Subscription`` row (with plan and product joined) as the engine's value."""
    if assigned is None:
        assigned = assigned_count(subscription.id)
    return CurrentSubscription(
        id=subscription.id, product_code=subscription.product.code,
        product_name=subscription.product.name, plan=plan_price(subscription.plan),
        licenses=subscription.licenses, frequency=subscription.frequency,
        period_start=subscription.period_start, period_end=subscription.period_end,
        status=subscription.status, version=subscription.version, assigned=assigned,
        price_paid=subscription.price_cents)


def validate_request(subscription, account, plan_code, licenses_raw, frequency, assigned=None):
    """Validate a wanted change of ``subscription``: (current, change or None, problems)."""
    current = current_subscription(subscription, assigned)
    change, problems = validate_change(
        current, product_plans(subscription.product_id), plan_code=plan_code,
        licenses_raw=licenses_raw, frequency=frequency, account_kind=account.kind)
    return current, change, problems


def quote_for(account, changes, today=None):
    """Price ``changes`` (ChangeRequests) for ``account`` as of its today."""
    return quote_change(changes, country=account.country, vat_number=account.taxable_vat_number,
                        balance=account.balance_cents,
                        today=today or today_in(account.timezone),
                        catalog_version=catalog_version())


@dataclass
class CartEntry:
    """A cart item with its re-validated change (None and problems when no longer valid)."""

    item: CartItem
    subscription: Subscription
    change: ChangeRequest | None
    problems: tuple


def _cart_items_query(user_id, account_id, locked=False):
    """The user's cart items with subscription, plan and product (locked on PostgreSQL), and
    each subscription's assigned users (``item.assigned``)."""
    assigned = (LicenseAssignment.select(fn.COUNT(LicenseAssignment.id))
                .where(LicenseAssignment.subscription == Subscription.id))
    query = (CartItem.select(CartItem, Subscription, Plan, Product, assigned.alias("assigned"))
             .join(Subscription).join(Plan).switch(Subscription).join(Product)
             .where((CartItem.user == user_id) & (Subscription.account == account_id))
             .order_by(Product.position, CartItem.id))
    if locked:  # the account's own rows; plans and products are everyone's
        query = for_update(query, CartItem, Subscription)
    return query


# The review, the cart and the order all start with these: SQL built once (portal.core.db.Prepared).
#: The cart item's subscription, and that subscription's plan and product, as joined.
_CART_JOINS = (CartItem.subscription, Subscription.plan, Subscription.product)
_cart_items = Prepared(_cart_items_query, related=_CART_JOINS)
_cart_items_locked = Prepared(lambda user_id, account_id: _cart_items_query(
    user_id, account_id, locked=True), related=_CART_JOINS)


def cart_entries(user, account, for_update=False):
    """The user's pending changes, each validated again against the current subscription."""
    items = (_cart_items_locked if for_update else _cart_items).rows(int(user.id),
                                                                      int(account.id))
    entries = []
    for item in items:
        wanted = plan_code_of(item.plan_id)
        _, change, problems = validate_request(
            item.subscription, account, wanted, item.licenses, item.frequency,
            assigned=item.assigned)
        entries.append(CartEntry(item=item, subscription=item.subscription, change=change,
                                 problems=problems))
    return entries
