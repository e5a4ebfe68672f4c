"""Reminders written by ``billing run`` before anything is due (SPEC §3.4): a free trial
that ends in 3 days, automatic renewal off and the subscription expiring in 7 days, and the
card renewals are charged to expiring before the next renewal (written 30 days before it).

Each reminder goes to each of the account's billing contacts, once: its outbox key names the
subscription (or card), the date it is about and the recipient (``portal.mail.messages``), so
a later run, or two runs at once, write nothing more; a new period or a new card is a new
reminder. Only subscriptions whose date falls in the window are read, so a run over many
accounts reads few rows.
"""
import datetime as dt

from flask import current_app

from portal.billing import card_lapses_before
from portal.core.clock import today_in
from portal.core.db import write_transaction
from portal.core.models import Account, Product, Subscription
from portal.lifecycle.contacts import billing_contacts, default_method, recipients
from portal.mail import messages as mail

TRIAL_NOTICE = dt.timedelta(days=3)
EXPIRY_NOTICE = dt.timedelta(days=7)
CARD_NOTICE = dt.timedelta(days=30)


def write_notices(today=None):
    """Write the reminders that are due; returns {kind: subscriptions or cards reminded}."""
    written = {"trial_ending": 0, "subscription_expiring": 0, "card_expiring": 0}
    # Every account's today lies within a day of this one, whatever its timezone.
    around = today or today_in("UTC")
    window = (around - dt.timedelta(days=1), around + CARD_NOTICE + dt.timedelta(days=1))
    rows = (Subscription.select(Subscription, Account, Product)
            .join(Account).switch(Subscription).join(Product)
            .where((Account.kind == "self_service")
                   & Subscription.period_end.between(*window)
                   & Subscription.status.in_(("trialing", "active", "past_due")))
            .order_by(Subscription.account, Subscription.period_end, Subscription.id))
    first_renewal = {}  # account id: its first subscription that renews, for the card
    for subscription in rows:
        day = today or today_in(subscription.account.timezone)
        left = subscription.period_end - day
        if left <= dt.timedelta(0):
            continue
        if subscription.status == "trialing":
            if left <= TRIAL_NOTICE:
                written["trial_ending"] += remind(mail.trial_ending, subscription)
        elif not subscription.auto_renew:
            if subscription.status == "active" and left <= EXPIRY_NOTICE:
                written["subscription_expiring"] += remind(mail.subscription_expiring,
                                                           subscription)
        elif left <= CARD_NOTICE:
            first_renewal.setdefault(subscription.account_id, subscription)
    gateway = current_app.config.get("PAYMENT_GATEWAY") or "sandbox"
    for account_id, subscription in first_renewal.items():
        method = default_method(account_id, gateway)
        if method and card_lapses_before(method.exp_year, method.exp_month,
                                         subscription.period_end):
            contacts = billing_contacts(account_id)
            if contacts:
                with write_transaction():
                    mail.card_expiring(method, subscription.period_end, recipients(contacts))
                written["card_expiring"] += 1
    return written


def remind(message, subscription):
    """Write one reminder to each of the account's billing contacts; 1 when it has any."""
    contacts = billing_contacts(subscription.account_id)
    if not contacts:
        return 0
    with write_transaction():
        message(subscription, recipients(contacts))
    return 1
