"""Metodi di pagamento, "Paga ora" and "Disattiva/Attiva rinnovo automatico"."""
from flask import Blueprint, current_app, flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.billing import quote_renewal, renewal_unit_price
from portal.core.access import (account_subscription, billing_contact_required,
                                current_account, self_service_required,
                                self_service_subscription)
from portal.core.clock import today_in
from portal.core.db import write_transaction
from portal.core.http import error_page, no_store, render, see_other
from portal.core.i18n import date as format_date
from portal.core.models import PaymentMethod, Subscription, audit, utcnow
from portal.lifecycle.contacts import default_method, needs_default
from portal.lifecycle.renewals import PayNowError, outstanding, pay_now
from portal.lifecycle.forms import AutoRenewForm
from portal.payments.forms import NewCardForm, PayNowForm
from portal.payments.gateway import CardInvalid, get_gateway
from portal.subscriptions.quotes import plan_price

bp = Blueprint("lifecycle", __name__)

#: Statuses with a renewal ahead: their default card cannot be removed.
RENEWING = ("active", "past_due")


def gateway_name():
    """Saved cards belong to the configured gateway."""
    return current_app.config.get("PAYMENT_GATEWAY") or "sandbox"


def saved_methods(account_id):
    """The account's saved cards, the one renewals are charged to first: the default, else
    the newest (the order ``portal.lifecycle.contacts.default_method`` picks it in)."""
    return list(PaymentMethod.select()
                .where((PaymentMethod.account == account_id)
                       & (PaymentMethod.gateway == gateway_name()))
                .order_by(PaymentMethod.is_default.desc(), PaymentMethod.created_at.desc(),
                          PaymentMethod.id.desc()))


def renewals_ahead(account_id):
    """Whether a subscription of the account will be charged again."""
    return Subscription.select().where(
        (Subscription.account == account_id) & Subscription.status.in_(RENEWING)
        & (Subscription.auto_renew == True)).exists()  # noqa: E712 (SQL)


def render_methods(status=200, **extra):
    """The payment methods page."""
    account = current_account()
    methods = saved_methods(account.id)
    # The card renewals use is the one marked, even when none was chosen (a card saved
    # with an order): the default, else the newest.
    context = dict(account=account, methods=methods, form={}, errors={},
                   renewal_card_id=methods[0].id if methods else None,
                   sandbox=gateway_name() == "sandbox")
    context.update(extra)
    return no_store(render("lifecycle/payment_methods.html", status=status, **context))


@bp.get("/payment-methods")
@self_service_required
def payment_methods():
    """The saved cards: brand, last four digits, expiry, holder; which one renewals use."""
    return render_methods()


@bp.post("/payment-methods")
@self_service_required
def add_payment_method():
    """Save a new card (through the gateway: only its token and display details)."""
    account = current_account()
    form = NewCardForm()
    try:
        token = get_gateway().tokenize(form.card())
    except CardInvalid as error:
        return render_methods(422, errors={error.field: error.code}, form=form.kept())
    with write_transaction():
        default = needs_default(account.id, gateway_name()) or form.make_default.data
        if default:  # one default per gateway: the one the renewals with it use
            PaymentMethod.update(is_default=False).where(
                (PaymentMethod.account == account.id)
                & (PaymentMethod.gateway == gateway_name())).execute()
        method = PaymentMethod.create(
            account=account.id, gateway=gateway_name(), token=token.token, brand=token.brand,
            last4=token.last4, exp_month=token.exp_month, exp_year=token.exp_year,
            holder=token.holder, is_default=default)
        audit(account.id, current_user.id, "payment_method.added",
              payment_method_id=method.id, brand=method.brand, last4=method.last4)
    flash(_("The card has been saved."), "success")
    return see_other(url_for("lifecycle.payment_methods"))


def use_for_renewals(account_id, method):
    """``method`` pays the account's renewals from now on (in the caller's transaction)."""
    PaymentMethod.update(is_default=(PaymentMethod.id == method.id)).where(
        (PaymentMethod.account == account_id)
        & (PaymentMethod.gateway == method.gateway)).execute()
    audit(account_id, current_user.id, "payment_method.default",
          payment_method_id=method.id, brand=method.brand, last4=method.last4)


def account_method(account_id, method_id):
    """One of the account's saved cards (scoped at the query), or None."""
    return PaymentMethod.get_or_none((PaymentMethod.id == method_id)
                                     & (PaymentMethod.account == account_id))


@bp.post("/payment-methods/<int:method_id>/default")
@self_service_required
def make_default(method_id):
    """Renewals are charged to this card from now on."""
    account = current_account()
    with write_transaction():
        method = account_method(account.id, method_id)
        if method is None:
            return error_page(404, _("Page not found"),
                              _("The page you asked for does not exist or is not available "
                                "to your account."))
        use_for_renewals(account.id, method)
    flash(_("Renewals will be charged to this card."), "success")
    return see_other(url_for("lifecycle.payment_methods"))


@bp.post("/payment-methods/<int:method_id>/remove")
@self_service_required
def remove_payment_method(method_id):
    """Remove a card; the card renewals use stays while a subscription will renew."""
    account = current_account()
    with write_transaction():
        method = account_method(account.id, method_id)
        if method is None:
            return see_other(url_for("lifecycle.payment_methods"))  # removed already
        renewal_card = default_method(account.id, gateway_name())
        if renewal_card is not None and method.id == renewal_card.id and renewals_ahead(
                account.id):
            return render_methods(409, notice="default_in_use")
        method.delete_instance()
        audit(account.id, current_user.id, "payment_method.removed",
              payment_method_id=method.id, brand=method.brand, last4=method.last4)
    flash(_("The card has been removed."), "success")
    return see_other(url_for("lifecycle.payment_methods"))


@bp.post("/subscriptions/<int:subscription_id>/auto-renew")
@billing_contact_required
def set_auto_renew(subscription_id):
    """Disattiva / Attiva rinnovo automatico: the value is set, not toggled, so two tabs
    cannot undo each other by surprise."""
    subscription, refusal = self_service_subscription(subscription_id)
    if refusal:
        return refusal
    on = AutoRenewForm().wanted()
    if on is None or subscription.status not in RENEWING:
        return error_page(409, _("Nothing was changed"),
                          _("Automatic renewal can be changed only while the subscription "
                            "runs."))
    with write_transaction():
        changed = (Subscription.update(auto_renew=on, updated_at=utcnow())
                   .where((Subscription.id == subscription.id)
                          & (Subscription.auto_renew == (not on))).execute())
        if changed:
            audit(subscription.account_id, current_user.id,
                  "subscription.auto_renew_on" if on else "subscription.auto_renew_off",
                  subscription_id=subscription.id)
    if on:
        flash(_("Automatic renewal is on: %(product)s renews on %(date)s.",
                product=subscription.product.name,
                date=format_date(subscription.period_end)), "success")
    else:
        flash(_("Automatic renewal is off: %(product)s ends on %(date)s.",
                product=subscription.product.name,
                date=format_date(subscription.period_end)), "success")
    return see_other(url_for("dashboard.index"))


def amount_due(subscription):
    """(total, due) the customer pays now: the outstanding renewal of a past-due
    subscription, or a new period from today for a suspended one."""
    if subscription.status == "past_due":
        row = outstanding(subscription)
        return (row.total_cents, row.due_cents) if row else (None, None)
    account = subscription.account
    unit = renewal_unit_price(plan_price(subscription.plan), subscription.frequency,
                              subscription.price_cents)
    if unit is None:
        return None, None
    day = today_in(account.timezone)
    quote = quote_renewal(unit_price=unit, licenses=subscription.licenses,
                          frequency=subscription.frequency, period_start=day,
                          country=account.country, vat_number=account.taxable_vat_number,
                          balance=account.balance_cents)
    return quote.total, quote.due


def render_pay(subscription, status=200, **extra):
    """The "Paga ora" page of a past-due or suspended subscription."""
    total, due = amount_due(subscription)
    context = dict(subscription=subscription, account=subscription.account, total=total,
                   due=due, methods=saved_methods(subscription.account_id), form={},
                   errors={}, payment_error=None, sandbox=gateway_name() == "sandbox",
                   row=outstanding(subscription))
    context.update(extra)
    return no_store(render("lifecycle/pay.html", status=status, **context))


@bp.route("/subscriptions/<int:subscription_id>/pay", methods=["GET", "POST"])
@billing_contact_required
def pay(subscription_id):
    """Paga ora: the overdue renewal with a saved card or a new one."""
    subscription, refusal = self_service_subscription(subscription_id)
    if refusal:
        return refusal
    if subscription.status not in ("past_due", "suspended"):
        flash(_("%(product)s has nothing to pay.", product=subscription.product.name), "info")
        return see_other(url_for("dashboard.index"))
    if not request.method == "POST":
        return render_pay(subscription)
    form = PayNowForm()
    gateway = get_gateway()
    method_id = form.saved_method_id()
    if method_id is not None:
        method = account_method(subscription.account_id, method_id)
        if method is None:
            return render_pay(subscription, 422, payment_error="payment_required")
    elif form.payment_method.data == "new":
        try:
            token = gateway.tokenize(form.card())
        except CardInvalid as error:
            return render_pay(subscription, 422, errors={error.field: error.code},
                              form=dict(form.kept(), payment_method="new"))
        with write_transaction():
            default = needs_default(subscription.account_id, gateway.name)
            method = PaymentMethod.create(
                account=subscription.account_id, gateway=gateway.name, token=token.token,
                brand=token.brand, last4=token.last4, exp_month=token.exp_month,
                exp_year=token.exp_year, holder=token.holder, is_default=default)
            audit(subscription.account_id, current_user.id, "payment_method.added",
                  payment_method_id=method.id, brand=method.brand, last4=method.last4)
    else:
        return render_pay(subscription, 422, payment_error="payment_required")
    try:
        state = pay_now(subscription.id, method, gateway)
    except PayNowError as error:
        if error.code == "nothing_due":
            flash(_("%(product)s has nothing to pay.", product=subscription.product.name),
                  "info")
            return see_other(url_for("dashboard.index"))
        return render_pay(subscription, 409, payment_error=error.code)
    if state == "completed":
        flash(_("Thank you: %(product)s is paid and active.", product=subscription.product.name),
              "success")
        if not method.is_default:
            # The renewal card was just declined: the card that paid pays the next ones.
            with write_transaction():
                use_for_renewals(subscription.account_id, method)
            flash(_("Renewals will be charged to this card."), "success")
        return see_other(url_for("dashboard.index"))
    subscription = account_subscription(subscription_id)
    row = outstanding(subscription)
    code = (row.error_code if row and row.error_code else
            "processing_error" if state == "pending" else "card_declined")
    return render_pay(subscription, 402, payment_error=code)
