"""Fatture: the account's invoices and a printable invoice page."""
from flask import Blueprint, abort
from flask_login import current_user

from portal.core.access import billing_contact_required
from portal.core.models import Account, Invoice, Order, OrderLine, PaymentMethod, Plan
from portal.core.http import no_store, render

bp = Blueprint("invoices", __name__)

@bp.get("/invoices")
@billing_contact_required
def index():
    """The account's invoices, newest first (scoped by account at the query)."""
    invoices = list(Invoice.select(Invoice, Order).join(Order)
                    .where(Invoice.account == current_user.account_id)
                    .order_by(Invoice.year.desc(), Invoice.sequence.desc()))
    account = Account.get_by_id(current_user.account_id)
    return no_store(render("invoices/index.html", invoices=invoices, account=account))


@bp.get("/invoices/<int:invoice_id>")
@billing_contact_required
def show(invoice_id):
    """One invoice: seller, buyer, lines, VAT treatment and legal note, totals, payment."""
    invoice = (Invoice.select(Invoice, Order).join(Order)
               .where((Invoice.id == invoice_id)
                      & (Invoice.account == current_user.account_id)).first())
    if invoice is None:
        abort(404)
    order = invoice.order
    NewPlan = Plan.alias()
    lines = list(OrderLine.select(OrderLine, NewPlan)
                 .join(NewPlan, on=(OrderLine.new_plan == NewPlan.id), attr="new_plan")
                 .where(OrderLine.order == order.id).order_by(OrderLine.id))
    method = (PaymentMethod.get_or_none(PaymentMethod.id == order.payment_method_id)
              if order.payment_method_id else None)
    account = Account.get_by_id(current_user.account_id)
    return no_store(render("invoices/show.html", invoice=invoice, order=order, lines=lines,
                            method=method, account=account))
