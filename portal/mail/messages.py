"""The portal's emails, one function per event; each is called inside the transaction that
writes its event, and writes one outbox row under a key naming the event."""
from portal.core.db import Prepared
from portal.core.models import Account, OrderLine, Plan
from portal.mail.outbox import portal_link, write_message

#: An order's lines with their new plan (SQL built once: a billing run writes thousands).
_order_lines = Prepared(
    lambda order_id: OrderLine.select(OrderLine, Plan)
    .join(Plan, on=(OrderLine.new_plan == Plan.id))
    .where(OrderLine.order == order_id).order_by(OrderLine.id), related=(OrderLine.new_plan,))


def _lines(order):
    """The order's lines with their new plan, for "what changed"."""
    return _order_lines.rows(order.id)


def order_receipt(order, invoice, user):
    """The receipt of an order to the billing contact who placed it: what changed, the new
    periods, the total charged, the invoice number and a link to the invoice."""
    account = Account.get_by_id(order.account_id)
    write_message(
        f"order-receipt:{order.id}", "order_receipt", user, order=order, account=account,
        invoice=invoice, invoice_number=invoice.number, lines=_lines(order),
        invoice_url=portal_link("invoices.show", invoice_id=invoice.id))


def renewal_receipt(order, invoice, renewal, product_name, user, account=None):
    """A renewal charged: the new period, the amount charged and the invoice (``account``:
    the order's, when the caller has it at hand)."""
    account = account or Account.get_by_id(order.account_id)
    write_message(
        f"renewal-receipt:{order.id}", "renewal_receipt", user, order=order,
        account=account, renewal=renewal, product_name=product_name, invoice=invoice,
        invoice_number=invoice.number, lines=_lines(order),
        invoice_url=portal_link("invoices.show", invoice_id=invoice.id))


def renewal_failed(renewal, subscription, user, code, next_retry):
    """A declined renewal: the amount, why, the next automatic try and "Paga ora"."""
    write_message(
        f"renewal-failed:{subscription.id}:{renewal.period_start}:{renewal.attempts}", "renewal_failed", user,
        account=subscription.account, renewal=renewal, product_name=subscription.product.name,
        reason=code, next_retry=next_retry,
        pay_url=portal_link("lifecycle.pay", subscription_id=subscription.id))


def subscription_suspended(renewal, subscription, user, code):
    """The last try failed: the subscription is suspended until it is paid."""
    write_message(
        f"subscription-suspended:{subscription.id}:{renewal.period_start}", "subscription_suspended", user,
        account=subscription.account, renewal=renewal, product_name=subscription.product.name,
        reason=code, pay_url=portal_link("lifecycle.pay", subscription_id=subscription.id))
