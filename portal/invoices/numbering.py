"""Issuing an invoice: the next progressive number of the calendar year, without gaps, and
the snapshot of what it says. The one home of both, for orders and renewals alike."""
from flask import current_app
from peewee import fn

from portal.core.db import Prepared, PreparedInsert, is_postgres, send_later
from portal.core.models import Invoice, Order, OrderLine, PaymentMethod, Plan, audit
from portal.invoices.snapshot import (buyer_details, build_snapshot, document_kind,
                                      seller_details)


# Their SQL built once: a billing run issues thousands of invoices, each under the write lock.
_last_sequence = Prepared(lambda year: Invoice.select(fn.MAX(Invoice.sequence))
                          .where(Invoice.year == year), row=tuple)
_order_lines = Prepared(
    lambda order_id: OrderLine.select(OrderLine, Plan)
    .join(Plan, on=(OrderLine.new_plan == Plan.id), attr="new_plan")
    .where(OrderLine.order == order_id).order_by(OrderLine.id), related=(OrderLine.new_plan,))
_card = Prepared(lambda method_id: PaymentMethod.select(PaymentMethod.brand, PaymentMethod.last4)
                 .where(PaymentMethod.id == method_id).limit(1), row=tuple)
_new_invoice = PreparedInsert(Invoice)


def issue_invoice(order, account, today, lines=None):
    """The invoice (or credit note) of ``order`` with the next number of ``today``'s year
    (2026/000001, ...) and the snapshot of seller, buyer, lines, VAT and totals as they are
    now. Called inside the transaction that writes the order and its lines, as late as
    possible: numbers are unique and gapless because one issuer runs at a time (SQLite's
    write lock; on PostgreSQL a table lock that other issuers wait for until the commit), so
    what the snapshot reads is read, and the snapshot built, before that lock is taken.

    ``lines``: the order's (``order_lines``), when the caller reads them for its receipt too.
    """
    lines = order_lines(order.id) if lines is None else lines
    corrects = (corrected_invoice(account.id, order, lines)
                if document_kind(order) == "credit_note" else None)
    snapshot = build_snapshot(
        number=None, issued_on=today, order=order, lines=lines, currency=account.currency,
        seller=seller_details(current_app.config), buyer=buyer_details(account),
        card=charged_card(order), corrects=corrects)
    if is_postgres():  # taken with the next statement, which reads the last number
        send_later("LOCK TABLE invoice IN SHARE ROW EXCLUSIVE MODE")
    year = today.year
    last = _last_sequence.first(year)[0] or 0
    sequence = last + 1
    number = snapshot["number"] = f"{year}/{sequence:06d}"
    invoice = _new_invoice.create(
        order=order, account=account, year=year, sequence=sequence, number=number,
        issued_on=today, buyer_name=account.name, buyer_address=account.address,
        buyer_country=account.country, buyer_vat_number=account.vat_number,
        kind=snapshot["kind"], snapshot=snapshot)
    audit(account, order.user_id, "invoice.issued", invoice_id=invoice.id,
          number=invoice.number, order_id=order.id, kind=invoice.kind,
          total_cents=snapshot["total_cents"])
    return invoice


def order_lines(order_id):
    """The order's lines with their new plan, in order."""
    return _order_lines.rows(order_id)


def charged_card(order):
    """(brand, last4) of the card the order was charged to, or None."""
    if not order.due_cents or not order.payment_method_id:
        return None
    return _card.first(order.payment_method_id)


def corrected_invoice(account_id, order, lines):
    """{"number", "issued_on"} of the latest earlier invoice for a subscription of the
    order, which a credit note corrects; None when there is none (a seeded subscription)."""
    subscriptions = [line.subscription_id for line in lines]
    earlier = (Invoice.select(Invoice.number, Invoice.issued_on)
               .join(Order).join(OrderLine)
               .where((Invoice.account == account_id) & (Order.id != order.id)
                      & (Invoice.kind == "invoice")
                      & (OrderLine.subscription.in_(subscriptions)))
               .order_by(Invoice.year.desc(), Invoice.sequence.desc()).first())
    if earlier is None:
        return None
    return {"number": earlier.number, "issued_on": earlier.issued_on.isoformat()}


def invoice_document(invoice, order=None):
    """What ``invoice`` says: its snapshot, or for an invoice issued before snapshots
    existed, the same document drawn from its order's rows and its buyer columns."""
    if invoice.snapshot is not None:
        return invoice.snapshot
    order = order or Order.get_by_id(invoice.order_id)
    buyer = {key: None for key in buyer_details_keys()}
    buyer.update(name=invoice.buyer_name, address=invoice.buyer_address or "",
                 country=invoice.buyer_country, vat_number=invoice.buyer_vat_number)
    return build_snapshot(
        number=invoice.number, issued_on=invoice.issued_on, order=order,
        lines=order_lines(order.id), currency=order.account.currency,
        seller=seller_details(current_app.config), buyer=buyer, card=charged_card(order))


def buyer_details_keys():
    """The keys of a snapshot's buyer."""
    return ("name", "address", "street", "postal_code", "city", "province", "country",
            "vat_number", "codice_fiscale", "sdi_code", "pec", "vies_status", "vies_name")


def issued_since(day):
    """Invoices issued on or after ``day``, in number order (for the export command)."""
    return list(Invoice.select().where(Invoice.issued_on >= day)
                .order_by(Invoice.year, Invoice.sequence))

