"""Helpers shared by the checkout, order, invoice and payment tests (no tests here).

Cart items are created directly (as the change page's "add" does) so that the checkout can be
tested on its own; one end-to-end test per area goes through the change page too.
"""
import datetime as dt
import re

from conftest import GIULIA
from portal.core.db import db
from portal.core.models import (Account, AuditEvent, CartItem, Invoice, LedgerEntry, Order,
                           OrderLine, PaymentAttempt, PaymentMethod, Plan, Subscription, User,
                           ledger_sum)

GOOD_CARD = "4242 4242 4242 4242"
CVC = "731"  # distinctive, so a leak of it can be searched for
EXPIRY = "12/30"

_FIELD = r'name="{}" value="([^"]*)"'
_CENTS = re.compile(r'id="([a-z0-9-]+)"[^>]*?data-cents="(-?\d+)"')


def add_to_cart(subscription_id, plan_code, licenses, frequency, email=GIULIA):
    """Put (or replace) a pending change in a user's cart, as the change page does."""
    with db.connection_context():
        user = User.get(User.email == email)
        plan = Plan.get(Plan.code == plan_code)
        item = CartItem.get_or_none((CartItem.user == user.id)
                                    & (CartItem.subscription == subscription_id))
        item = item or CartItem(user=user, subscription=subscription_id)
        item.plan, item.licenses, item.frequency = plan, licenses, frequency
        item.save()
        return item.id


def form_fields(html):
    """The hidden fields of the review's order form."""
    fields = {}
    for name in ("idempotency_key", "fingerprint", "versions"):
        match = re.search(_FIELD.format(name), html)
        if match:
            fields[name] = match.group(1)
    return fields


def review(browser, status=200):
    """GET the review page; (html, order-form fields)."""
    response = browser.get("/checkout")
    html = response.get_data(as_text=True)
    assert response.status_code == status, html[:2000]
    return html, form_fields(html)


def figures(html):
    """{element id: cents} of every figure the page marks with ``data-cents``."""
    return {name: int(value) for name, value in _CENTS.findall(html)}


def card_form(number=GOOD_CARD, expiry=EXPIRY, cvc=CVC, holder="Giulia Rossi"):
    """The new-card fields of the order form."""
    return {"payment_method": "new", "card_number": number, "card_expiry": expiry,
            "card_cvc": cvc, "card_holder": holder}


def place(browser, fields, payment=None, **extra):
    """POST the order form with the review's fields and a payment choice."""
    data = dict(fields)
    data.update(payment if payment is not None else card_form())
    data.update(extra)
    return browser.post("/checkout/order", data)


def rows(model, *where):
    """All rows of ``model`` (optionally filtered), read outside any request."""
    with db.connection_context():
        query = model.select()
        if where:
            query = query.where(*where)
        return list(query)


def subscription(subscription_id=1):
    """A subscription as stored now."""
    with db.connection_context():
        return Subscription.get_by_id(subscription_id)


def account(name="Rossi Eventi S.r.l."):
    """An account as stored now, with its ledger sum."""
    with db.connection_context():
        row = Account.get(Account.name == name)
        row.ledger = ledger_sum(row.id)
        return row


def set_account(name="Rossi Eventi S.r.l.", **values):
    """Change an account directly (country, VAT number) to set up a case."""
    with db.connection_context():
        Account.update(**values).where(Account.name == name).execute()


def set_balance(cents, name="Rossi Eventi S.r.l."):
    """Move the credit balance to ``cents`` with a ledger adjustment (keeps the invariant)."""
    with db.connection_context():
        row = Account.get(Account.name == name)
        LedgerEntry.create(account=row, amount_cents=cents - row.balance_cents,
                           kind="adjustment")
        Account.update(balance_cents=cents).where(Account.id == row.id).execute()


def set_subscription(subscription_id=1, **values):
    """Change a subscription directly (period, frequency) to set up a case."""
    with db.connection_context():
        Subscription.update(**values).where(Subscription.id == subscription_id).execute()


def counts():
    """How many orders, invoices, ledger entries, attempts, cards and cart items exist."""
    with db.connection_context():
        return {model.__name__: model.select().count()
                for model in (Order, OrderLine, Invoice, LedgerEntry, PaymentAttempt,
                              PaymentMethod, CartItem, AuditEvent)}


def audit_actions():
    """The audit actions recorded so far, oldest first."""
    with db.connection_context():
        return [e.action for e in AuditEvent.select().order_by(AuditEvent.id)]


def order_id_from(response):
    """The order id of a redirect to its confirmation page."""
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    match = re.fullmatch(r".*/orders/(\d+)", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1))


def date(text):
    """An ISO date."""
    return dt.date.fromisoformat(text)
