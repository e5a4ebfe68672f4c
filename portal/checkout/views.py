"""Carrello, Completa transazione (review), Effettua l'ordine and the confirmation.

Views are thin: the cart and its prices come from ``portal.quoting``; placing the order is
``portal.orders.place_order``. No figure sent by the browser is ever used.
"""

from flask import Blueprint, abort, current_app, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.checkout import charging, orders
from portal.checkout.cart import cart_count, remember_cart_count
from portal.checkout.forms import OrderForm
from portal.core.access import (billing_contact_required, current_account, request_user,
                                forget_current_account, self_service_required)
from portal.core.db import Prepared, write_transaction
from portal.core.models import (Account, CartItem, Invoice, Order, OrderLine, PaymentMethod, audit,
                     new_token, utcnow)
from portal.subscriptions.quotes import cart_entries, quote_for
from portal.core.http import error_page, hx_redirect, is_htmx, no_store, render, see_other
from portal.core.throttle import client_address
from portal.customers.details import stored_details, submit_details

bp = Blueprint("checkout", __name__)


_payment_methods = Prepared(
    lambda account_id, gateway: PaymentMethod.select()
    .where((PaymentMethod.account == account_id) & (PaymentMethod.gateway == gateway))
    .order_by(PaymentMethod.created_at.desc(), PaymentMethod.id.desc()))


def priced_cart(account):
    """(entries, quote of the valid entries or None, {subscription id: QuoteLine})."""
    entries = cart_entries(current_user, account)
    changes = [entry.change for entry in entries if entry.change is not None]
    quote = quote_for(account, changes) if changes else None
    lines = {line.subscription_id: line for line in quote.lines} if quote else {}
    return entries, quote, lines


def review_context(account, priced=None, **extra):
    """Everything the review page shows, with a fresh idempotency key for its order form
    (``priced``: ``priced_cart(account)``, when the caller has read it)."""
    entries, quote, lines = priced or priced_cart(account)
    remember_cart_count(current_user, len(entries))  # the badge, without its own query
    gateway = current_app.config.get("PAYMENT_GATEWAY") or "sandbox"
    methods = _payment_methods.rows(int(account.id), str(gateway))
    context = dict(
        account=account, entries=entries, quote=quote, lines=lines,
        has_problems=any(entry.problems for entry in entries),
        idempotency_key=new_token(), methods=methods, sandbox=gateway == "sandbox",
        versions=",".join(f"{e.subscription.id}:{e.subscription.version}" for e in entries),
        notice=None, changed=(), payment_error=None, card_errors={}, card_form={},
        details_values=stored_details(account), details_errors={})
    context.update(extra)
    return context


def render_review(status=200, **extra):
    """The review page (or its main block for htmx), never cached."""
    context = review_context(current_account(), **extra)
    return no_store(render("checkout/review.html", block="checkout_review", status=status,
                           **context))


@bp.get("/cart")
@self_service_required
def cart():
    """Carrello: the pending changes with their figures; survives logout (stored rows)."""
    account = current_account()
    entries, quote, lines = priced_cart(account)
    return render("checkout/cart.html", account=account, entries=entries, quote=quote,
                  lines=lines, has_problems=any(entry.problems for entry in entries))


@bp.post("/cart/<int:item_id>/remove")
@self_service_required
def remove_item(item_id):
    """Remove one pending change (only the current user's own)."""
    account = current_account()
    with write_transaction():
        item = CartItem.get_or_none((CartItem.id == item_id)
                                    & (CartItem.user == current_user.id))
        if item is None:
            abort(404)
        item.delete_instance()
        audit(account, current_user.id, "cart.item_removed",
              subscription_id=item.subscription_id)
    flash(_("The change was removed from your cart."), "info")
    return see_other(url_for("checkout.cart"))


@bp.get("/checkout")
@self_service_required
def review():
    """Completa transazione: periods from today, licenses, costs, credit, VAT and total due."""
    account = current_account()
    priced = priced_cart(account)
    if not priced[0]:
        flash(_("Your cart is empty: choose a change first."), "info")
        return redirect(url_for("checkout.cart"), 303)
    return no_store(render("checkout/review.html", block="checkout_review",
                           **review_context(account, priced)))  # also the badge's count


@bp.post("/checkout/order")
@self_service_required
def place_order():
    """Effettua l'ordine: idempotent per key, charged only when the review is still valid."""
    form = OrderForm()
    if "name" in request.form:  # the billing details of the order form
        details = submit_details(current_account(), current_user.id, request.form)
        if details.errors:
            return render_review(422, details_values=details.values,
                                 details_errors=details.errors,
                                 card_form=form.kept_card_fields())
        if details.saved:
            # Saved before the order: a VAT number or a country that changes the VAT makes
            # the review stale, and the review says why (``order_refused``).
            g.details_saved = True
            forget_current_account()
    try:
        placed = orders.place_order(
            current_user, form.idempotency_key.data,
            form.fingerprint.data, form.payment(), form.versions.data, client_address())
    except orders.OrderError as error:
        return order_refused(error, form.kept_card_fields(), form.idempotency_key.data)
    return see_other(url_for("checkout.confirmation", order_id=placed.order.id))


def order_refused(error, card_form, key=""):
    """The answer to an order that was not placed: nothing changed, say why."""
    forget_current_account()  # read before the order's transaction: the review needs it fresh
    if isinstance(error, orders.OrderPending):
        return see_other(url_for("checkout.pending", key=error.key))
    if isinstance(error, orders.ReviewRequired):
        flash(_("Please review your order before placing it."), "warning")
        return see_other(url_for("checkout.review"))
    if isinstance(error, orders.EmptyCart):
        flash(_("Your cart is empty: there is nothing to order."), "warning")
        return see_other(url_for("checkout.cart"))
    if isinstance(error, orders.KeyConflict):
        return error_page(409, _("This order form was already used"),
                          _("This order form was already used for a different order. "
                            "Open the review again to place a new order."))
    if isinstance(error, orders.BillingDetailsIncomplete):
        return render_review(422, details_errors=error.problems, card_form=card_form)
    if isinstance(error, orders.StaleQuote):
        if not error.changed and g.get("details_saved"):
            return render_review(409, notice="details_saved", card_form=card_form)
        return render_review(409, notice="stale", changed=error.changed)
    if isinstance(error, orders.CartProblems):
        return render_review(409, notice="problems")
    if isinstance(error, orders.OrderInFlight):
        return render_review(409, notice="in_flight", card_form=card_form)
    if isinstance(error, orders.TooManyFailedPayments):
        return render_review(429, payment_error="too_many_failed_payments",
                             card_form=card_form)
    if isinstance(error, orders.CardRejected):
        return render_review(422, card_errors=error.problems, card_form=card_form)
    if isinstance(error, orders.PaymentFailed):
        if not error.declined and orders.KEY_PATTERN.fullmatch(key or ""):
            # The gateway failed, perhaps after charging (a timeout): the retry must carry
            # the same key, which the gateway answers with the earlier charge, if any.
            return render_review(402, payment_error=error.code, card_form=card_form,
                                 idempotency_key=key)
        return render_review(402, payment_error=error.code, card_form=card_form)
    return render_review(422, payment_error="payment_required", card_form=card_form)


@bp.get("/orders/pending/<key>")
@billing_contact_required
def pending(key):
    """An order between its steps: "being processed" until it is placed or undone."""
    reservation = orders.reservation_for(current_user.account_id, key)
    if reservation is None:
        abort(404)
    if reservation.state == "completed":
        return see_other(url_for("checkout.confirmation", order_id=reservation.order_id))
    if is_htmx() and reservation.state != "reserved":  # the page's poll: it is decided
        return hx_redirect(url_for("checkout.pending", key=key))
    if (reservation.state in ("failed", "unconfirmed")
            and reservation.user_id == current_user.id and cart_count(current_user)):
        # Charged in the background and refused: the review, saying why, as the order's
        # own answer would have. After a gateway failure (perhaps after charging: a
        # timeout) the retry carries the same key, which the gateway answers with the
        # earlier charge, if any.
        kept = {"idempotency_key": key} if reservation.state == "unconfirmed" else {}
        forget_current_account()  # read with the user, perhaps before the hold was undone
        return render_review(402, payment_error=reservation.error_code or "card_declined",
                             **kept)
    age = (utcnow() - reservation.updated_at).total_seconds()
    return no_store(render("checkout/pending.html", block="order_poll",
                           reservation=reservation, poll_ms=poll_delay_ms(age),
                           retry_ms=poll_retry_ms(poll_delay_ms(age)),
                           timeout_ms=POLL_TIMEOUT_MS,
                           refresh_s=refresh_seconds(age), account=current_account()))


def poll_delay_ms(age):
    """How soon the "being processed" page asks again (htmx), ``age`` seconds after the
    order was reserved or claimed: every quarter second while a charge usually answers,
    then less often (a reservation left to reconciliation waits minutes)."""
    return 250 if age < 5 else 1000 if age < 60 else 5000


#: How long the page's poll waits for an answer before it counts as lost (a stalled
#: connection); the portal answers it in milliseconds.
POLL_TIMEOUT_MS = 10000


def poll_retry_ms(delay_ms):
    """How long after a lost ask the page's poll asks again (``static/js/portal.js``): a
    dropped or stalled connection, a phone between networks, a proxy's error page while the
    portal restarts. htmx swaps nothing then, and the page would stop following the order."""
    return max(2000, 2 * delay_ms)


def refresh_seconds(age):
    """The same without JavaScript (a whole page load each time, so less often); None after
    ten minutes, when reconciliation has decided: "Check again" stays."""
    return 2 if age < 60 else 15 if age < 600 else None


@bp.get("/orders/<int:order_id>")
@billing_contact_required
def confirmation(order_id):
    """The plan changed and the new period starts today; invoice link; license reminder."""
    order = Order.get_or_none((Order.id == order_id)
                              & (Order.account == current_user.account_id))
    if order is None:
        abort(404)
    lines = list(order.lines.order_by(OrderLine.id))
    invoice = Invoice.get_or_none(Invoice.order == order.id)
    grown = [line for line in lines if line.new_licenses > line.old_licenses]
    return no_store(render("checkout/confirmation.html", order=order, lines=lines,
                           invoice=invoice, grown=grown, account=current_account()))


def cart_badge():
    """The cart badge's count (a template global: asked only by the templates that show it)."""
    user = request_user()
    if not (user.is_authenticated and user.is_billing_contact):
        return 0
    return cart_count(user)


def init_app(app):
    """The cart badge of every page's header (``base.html`` asks ``cart_badge()``), and the
    threads that charge orders in the background (``portal.checkout.charging``)."""
    charging.init_app(app)

    app.jinja_env.globals["cart_badge"] = cart_badge
