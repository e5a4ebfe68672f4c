"""Issuing an invoice: the next progressive number of the calendar year, without gaps."""
from peewee import fn

from portal.core.db import db, is_postgres
from portal.core.models import Invoice, audit


def issue_invoice(order, account, today):
    """The invoice of ``order`` with the next number of ``today``'s year (2026/000001, ...),
    with a snapshot of the buyer as it is now. Called inside the transaction that writes the
    order: numbers are unique and gapless because one issuer runs at a time (SQLite's write
    lock; on PostgreSQL a table lock that other issuers wait for)."""
    if is_postgres():
        db.execute_sql("LOCK TABLE invoice IN SHARE ROW EXCLUSIVE MODE")
    year = today.year
    last = Invoice.select(fn.MAX(Invoice.sequence)).where(Invoice.year == year).scalar() or 0
    sequence = last + 1
    invoice = Invoice.create(
        order=order, account=account, year=year, sequence=sequence,
        number=f"{year}/{sequence:06d}", issued_on=today, buyer_name=account.name,
        buyer_address=account.address, buyer_country=account.country,
        buyer_vat_number=account.vat_number)
    audit(account, order.user_id, "invoice.issued", invoice_id=invoice.id,
          number=invoice.number, order_id=order.id)
    return invoice
