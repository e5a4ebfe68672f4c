"""The portal's emails, one function per event; each is called inside the transaction that
writes its event, and writes one outbox row per recipient under a key naming the event.

The lifecycle's messages (renewal receipts and failures, suspensions, reminders) go to each
of the account's billing contacts (``users``, see ``portal.lifecycle.contacts.recipients``),
under the event's key and ``:to:<user id>`` (``addressed``): one key per event and recipient,
however the contacts change between two runs. A reminder written before the lifecycle told
every billing contact has the event's key alone; it counts as written for the address it
was sent to (``_remind``)."""
import secrets

from portal.accounts.links import invitation_token, reset_token
from portal.core.models import Account
from portal.invoices.numbering import order_lines
from portal.mail.outbox import (
    recipient_locale, portal_link, write_message, write_to_address, written)


def addressed(key, users):
    """(user, outbox key) for each recipient of the event ``key``."""
    return [(user, f"{key}:to:{user.id}") for user in users]


def order_receipt(order, invoice, user, account=None, lines=None, locale=None):
    """The receipt of an order to the billing contact who placed it: what changed, the new
    periods, the total charged, the invoice number and a link to the invoice (``account``,
    ``lines``: the order's, ``locale``: the user's ``recipient_locale``, when the caller has
    them at hand)."""
    account = account or Account.get_by_id(order.account_id)
    write_message(
        f"order-receipt:{order.id}", "order_receipt", user, invoice, locale=locale,
        order=order, account=account, invoice=invoice, invoice_number=invoice.number,
        lines=order_lines(order.id) if lines is None else lines,
        invoice_url=portal_link("invoices.show", invoice_id=invoice.id))


def renewal_receipt(order, invoice, renewal, product_name, users, account=None, lines=None):
    """A renewal charged: the new period, the amount charged and the invoice (``account``,
    ``lines``: the order's, when the caller has them at hand)."""
    account = account or Account.get_by_id(order.account_id)
    lines = order_lines(order.id) if lines is None else lines
    for user, key in addressed(f"renewal-receipt:{order.id}", users):
        write_message(
            key, "renewal_receipt", user, invoice, order=order,
            account=account, renewal=renewal, product_name=product_name, invoice=invoice,
            invoice_number=invoice.number, lines=lines,
            invoice_url=portal_link("invoices.show", invoice_id=invoice.id))


def renewal_failed(renewal, subscription, users, code, next_retry):
    """A declined renewal: the amount, why, the next automatic try and "Paga ora"."""
    event = f"renewal-failed:{subscription.id}:{renewal.period_start}:{renewal.attempts}"
    for user, key in addressed(event, users):
        write_message(
            key, "renewal_failed", user, account=subscription.account, renewal=renewal,
            product_name=subscription.product.name, reason=code, next_retry=next_retry,
            pay_url=portal_link("lifecycle.pay", subscription_id=subscription.id))


def subscription_suspended(renewal, subscription, users, code):
    """The last try failed: the subscription is suspended until it is paid."""
    event = f"subscription-suspended:{subscription.id}:{renewal.period_start}"
    for user, key in addressed(event, users):
        write_message(
            key, "subscription_suspended", user, account=subscription.account,
            renewal=renewal, product_name=subscription.product.name, reason=code,
            pay_url=portal_link("lifecycle.pay", subscription_id=subscription.id))


def _remind(event, kind, users, **values):
    """A reminder to each recipient, once: ``billing run`` asks again every day of its
    window, so each key is looked up before its message is prepared (with the event's key
    alone, as a reminder was written before every billing contact was told, for the
    address it went to)."""
    for user, key in addressed(event, users):
        if not written(key, legacy=(event, user.email)):
            write_message(key, kind, user, **values)


def trial_ending(subscription, users):
    """A free trial ends in a few days: what happens then, and where to choose a plan."""
    _remind(f"trial-ending:{subscription.id}:{subscription.period_end}", "trial_ending", users,
            account=subscription.account, subscription=subscription,
            product_name=subscription.product.name, trial_end=subscription.period_end,
            change_url=portal_link("change.edit", subscription_id=subscription.id))


def card_expiring(method, renewal_date, users):
    """The card renewals are charged to expires before the next renewal."""
    _remind(f"card-expiring:{method.id}:{renewal_date}", "card_expiring", users,
            account=Account.get_by_id(method.account_id), method=method, last4=method.last4,
            renewal_date=renewal_date, methods_url=portal_link("lifecycle.payment_methods"))


def subscription_expiring(subscription, users):
    """Automatic renewal is off and the period ends soon: the subscription will expire."""
    _remind(f"subscription-expiring:{subscription.id}:{subscription.period_end}",
            "subscription_expiring", users, account=subscription.account,
            subscription=subscription, product_name=subscription.product.name,
            period_end=subscription.period_end, dashboard_url=portal_link("dashboard.index"))


def invitation(invitation, inviter, account, day):
    """The invitation to join ``account``, with a link to set a password (7 days).

    One email per invitation and day: inviting the same address again sends a fresh link
    (the way to replace an expired one) without letting a double click send two."""
    token = invitation_token(invitation)
    write_to_address(
        f"invitation:{invitation.id}:{day}", "invitation", invitation.email,
        recipient_locale(inviter), account.id, invitee_name=invitation.name,
        inviter_name=inviter.name, account_name=account.name,
        accept_url=portal_link("recovery.accept_invitation", token=token))


def password_reset(user, locale):
    """A link to set a new password (24 hours, once); each request writes its own email."""
    write_message(
        f"password-reset:{user.id}:{secrets.token_hex(8)}", "password_reset", user,
        locale=locale, reset_url=portal_link("recovery.reset", token=reset_token(user)))
