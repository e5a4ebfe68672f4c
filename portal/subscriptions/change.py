"""Modifica sottoscrizione: plan, licenses, frequency and the live order summary."""

from flask import Blueprint, current_app, request, url_for
from peewee import EXCLUDED, JOIN, fn

from portal.billing import MAX_LICENSES, change_refusals, plan_problem
from portal.core.access import (account_subscription, billing_contact_required,
                                current_account, refusal_page, request_user)
from portal.catalog.store import plan_by_id, plans_by_product, products_by_id
from portal.core.db import Attach, Prepared, PreparedWrite, write_transaction
from portal.core.models import (CartItem, LicenseAssignment, Subscription, User, audit,
                                utcnow)
from portal.core.security import load_user_with, user_query
from portal.subscriptions.forms import ChangeForm
from portal.subscriptions.quotes import product_plans, quote_for, validate_request
from portal.core.http import is_htmx, render, see_other
from portal.core.templating import cached_macro

bp = Blueprint("change", __name__)

TEMPLATE = "change/edit.html"
#: What the summary request gets: the template's block that renders, with one context, the
#: summary itself, then out-of-band the parts of the form that depend on the choice (the
#: short status line screen readers announce, prices for the frequency, messages, the
#: action bar).
SUMMARY_FRAGMENT = "summary_fragment"
#: The macros of the summary's remembered parts (``render_part``).
PARTS = "change/_parts.html"


def plan_cards(subscription, current, choice):
    """Every plan of the product, with what the selector shows and allows for each.

    ``current`` is the engine's view of the subscription; whether a plan can be chosen is
    ``portal.billing.plan_problem``, the rule the order asks too.
    """
    is_new = current.status != "active"
    prices = product_plans(subscription.product_id)
    cards = []
    for plan in plans_by_product().get(subscription.product_id, []):
        price = prices[plan.code]
        problem = plan_problem(current.product_code, current.status, current.plan, price)
        cards.append({
            "plan": plan, "price": price,
            "current": not is_new and plan.id == subscription.plan_id,
            "selectable": problem is None,
            "downgrade": problem is not None and problem.code == "plan_downgrade",
            "contact_us": not plan.self_service,
            "checked": plan.code == choice["plan"],
        })
    return cards


def plan_prices(subscription):
    """The prices of the product's plans, in the order of ``plan_cards`` (what the summary
    needs of the cards: their price boxes)."""
    prices = product_plans(subscription.product_id)
    return tuple(prices[plan.code]
                 for plan in plans_by_product().get(subscription.product_id, []))


#: The user's pending change for a subscription, put in the cart or replacing the one there
#: (one per user and subscription: the unique index decides, in one statement).
_put_in_cart = PreparedWrite(lambda arg: CartItem.insert(
    user=arg("user", CartItem.user), subscription=arg("subscription", CartItem.subscription),
    plan=arg("plan", CartItem.plan), licenses=arg("licenses", CartItem.licenses),
    frequency=arg("frequency", CartItem.frequency), created_at=arg("now", CartItem.created_at))
    .on_conflict(conflict_target=[CartItem.user, CartItem.subscription],
                 update={CartItem.plan: EXCLUDED.plan_id, CartItem.licenses: EXCLUDED.licenses,
                         CartItem.frequency: EXCLUDED.frequency}))


def _summary_counts(subscription_id, user_id):
    """The summary's two counts as scalar subqueries: users assigned to the subscription;
    the user's pending changes for other subscriptions (``subscription_id`` and
    ``user_id``: values, or the columns of an outer query's rows)."""
    assigned = (LicenseAssignment.select(fn.COUNT(LicenseAssignment.id))
                .where(LicenseAssignment.subscription == subscription_id))
    others = (CartItem.select(fn.COUNT(CartItem.id))
              .where((CartItem.user == user_id) & (CartItem.subscription != subscription_id)))
    return assigned.alias("assigned_count"), others.alias("other_items")


def _change_subscription_query(subscription_id, account_id, user_id):
    """The account's subscription and the summary's two counts, in one statement. Its plan
    and product come from the request's catalog (``changeable_subscription``), not
    joined."""
    return (Subscription.select(Subscription, *_summary_counts(subscription_id, user_id))
            .where((Subscription.id == subscription_id) & (Subscription.account == account_id))
            .limit(1))


_change_subscription = Prepared(_change_subscription_query)

#: Where ``_user_with_subscription`` attaches the subscription to the user.
TO_CHANGE = "subscription_to_change"


def _user_with_subscription_query(token, subscription_id):
    """The request's user (``user_query``) with the subscription to change when it is the
    user's account's, and the summary's counts: the summary is asked for on every click,
    and its reads are one statement. The counts are the joined row's: none when the
    subscription is another account's (or missing)."""
    return (user_query(token).select_extend(Subscription,
                                            *_summary_counts(Subscription.id, User.id))
            .switch(User)
            .join(Subscription, JOIN.LEFT_OUTER, attr=TO_CHANGE,
                  on=(Subscription.id == subscription_id)
                  & (Subscription.account == User.account)))


_user_with_subscription = Prepared(_user_with_subscription_query,
                                   related=(User.account, Attach(User, TO_CHANGE, Subscription)))
load_user_with("change.edit", "subscription_id", _user_with_subscription)


def summary_context(subscription, choice):
    """Validate and quote the choice; everything the page and its fragments show."""
    account = subscription.account
    assigned, other_items = subscription.assigned_count, subscription.other_items
    current, change, problems = validate_request(
        subscription, account, choice["plan"], choice["licenses"], choice["frequency"],
        assigned=assigned)
    quote = quote_for(account, [change]) if change else None
    unchanged = any(p.code == "no_change" for p in problems)
    return {
        "subscription": subscription, "account": account, "current": current,
        "choice": choice, "problems": problems, "quote": quote,
        "line": quote.lines[0] if quote else None,
        "errors": {p.field: p for p in problems if p.code != "no_change"},
        "unchanged": unchanged, "prices": plan_prices(subscription),
        "wanted_plan": product_plans(subscription.product_id).get(choice["plan"]),
        "max_licenses": MAX_LICENSES, "other_items": other_items,
        "is_new": subscription.status != "active",
    }


def render_part(name, *args, cache=True):
    """Macro ``name`` of ``templates/change/_parts.html``, rendered once per arguments and
    locale (``portal.core.templating.cached_macro``: the arguments must be hashable and be
    all the macro depends on); ``cache=False`` renders it every time."""
    if not cache:
        module = current_app.jinja_env.get_template(PARTS).module
        return getattr(module, name)(*args)
    return cached_macro(current_app.jinja_env, PARTS, name, *args)


def price_box(price, frequency, oob=False):
    """A plan's price box: the same on every click, and the summary swaps all of them."""
    # the macro only tells annual from anything else: keep arbitrary input out of the cache
    return render_part("price_box", price, "annual" if frequency == "annual" else "monthly",
                       bool(oob))


def price_boxes(prices, frequency):
    """Every plan's price box (``prices``: ``plan_prices``), out of band: the summary swaps
    them all on every click."""
    return render_part("price_boxes", prices,
                       "annual" if frequency == "annual" else "monthly")


def field_errors(errors, subscription_id):
    """The three fields' messages, out of band (the same empty ones while nothing is wrong;
    a message may link to the subscription's pages)."""
    if not errors:
        return render_part("field_errors", (), None)
    return render_part("field_errors", errors, subscription_id, cache=False)


def feature_items(features):
    """A plan's features as ``<li>`` items (a dozen translated labels per page)."""
    return render_part("feature_items", tuple(features))


def init_app(app):
    """Templates call ``price_box``, ``price_boxes``, ``field_errors`` and ``feature_items``
    (see above)."""
    app.jinja_env.globals.update(price_box=price_box, price_boxes=price_boxes,
                                 field_errors=field_errors, feature_items=feature_items)


def changeable_subscription(subscription_id):
    """The account's subscription (with the summary's counts) when it may be changed here;
    otherwise an error response. Scoped at the query: another account's id is a 404."""
    user = request_user()
    subscription = getattr(user, TO_CHANGE, None)  # read with the user (``load_user``)
    if subscription is not None and subscription.id == subscription_id:
        subscription.assigned_count = user.assigned_count
        subscription.other_items = user.other_items
        subscription.account = current_account()
    else:  # not the account's (a 404), or the user was loaded without it
        subscription = account_subscription(subscription_id, _change_subscription,
                                            int(user.id))
    # the plan and product of the request's catalog (the quote's prices come from it too):
    # two models fewer to build per click; one the catalog lacks is read as peewee reads it
    plan = plan_by_id(subscription.plan_id)
    if plan is not None:
        subscription.plan = plan
    product = products_by_id().get(subscription.product_id)
    if product is not None:
        subscription.product = product
    refusals = change_refusals(subscription.account.kind, subscription.status)
    return subscription, refusal_page(refusals[0]) if refusals else None


@bp.route("/subscriptions/<int:subscription_id>/change", methods=["GET", "POST"])
@billing_contact_required
def edit(subscription_id):
    """The change page; an htmx request gets only the summary and what depends on it."""
    subscription, refusal = changeable_subscription(subscription_id)
    if refusal:
        return refusal
    form = ChangeForm.for_subscription(
        request.form if request.method == "POST" else request.args, subscription)
    context = summary_context(subscription, form.choice())
    if request.method == "POST" or not is_htmx():  # the whole page: its plan cards too
        context["cards"] = plan_cards(subscription, context["current"], context["choice"])
    invalid = bool(context["errors"])
    if request.method == "POST" and form.intent == "add":
        if invalid or context["unchanged"]:
            return render(TEMPLATE, status=422, oob=False, **context)
        return add_to_cart(subscription, context["quote"].lines[0])
    # htmx gets the summary plus out-of-band updates of the parts of the form it changes;
    # the fragment uses nothing the context processors add (tests/test_change.py compares)
    return render(TEMPLATE, block=SUMMARY_FRAGMENT, status=422 if invalid else 200,
                  oob=is_htmx(), processors=False, **context)


def add_to_cart(subscription, line):
    """Keep the change in the user's cart (replacing an earlier one for the subscription)."""
    plan_id = next(p.id for p in plans_by_product()[subscription.product_id]
                   if p.code == line.new_plan.code)
    # Nothing here is read back: on PostgreSQL the change and its audit row travel with the
    # COMMIT, one message for the whole transaction.
    user_id = request_user().id
    with write_transaction():
        _put_in_cart.later(user=user_id, subscription=subscription.id, plan=plan_id,
                           licenses=line.new_licenses, frequency=line.new_frequency,
                           now=utcnow())
        audit(subscription.account_id, user_id, "cart.add",
              subscription=subscription.id, plan=line.new_plan.code,
              licenses=line.new_licenses, frequency=line.new_frequency)
    # the user's changes for other subscriptions, counted with the subscription
    others = subscription.other_items
    return see_other(url_for("checkout.cart") if others else url_for("checkout.review"))
