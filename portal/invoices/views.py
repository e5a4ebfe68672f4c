"""Fatture: the account's invoices, each as a page, a PDF and a FatturaPA file."""
from flask import Blueprint, abort, make_response
from flask_login import current_user

from portal.core.access import billing_contact_required
from portal.core.http import no_store, render
from portal.core.models import Account, Invoice, Order
from portal.invoices.fatturapa import file_name, render_xml
from portal.invoices.numbering import invoice_document
from portal.invoices.pdf import pdf_bytes, pdf_name

bp = Blueprint("invoices", __name__)


@bp.get("/invoices")
@billing_contact_required
def index():
    """The account's invoices, newest first (scoped by account at the query)."""
    invoices = list(Invoice.select(Invoice, Order).join(Order)
                    .where(Invoice.account == current_user.account_id)
                    .order_by(Invoice.year.desc(), Invoice.sequence.desc()))
    account = Account.get_by_id(current_user.account_id)
    documents = {invoice.id: invoice_document(invoice, invoice.order) for invoice in invoices}
    return no_store(render("invoices/index.html", invoices=invoices, documents=documents,
                           account=account))


def account_invoice(invoice_id):
    """The current account's invoice ``invoice_id`` with its order (404 for any other)."""
    invoice = (Invoice.select(Invoice, Order).join(Order)
               .where((Invoice.id == invoice_id)
                      & (Invoice.account == current_user.account_id)).first())
    if invoice is None:
        abort(404)
    return invoice


@bp.get("/invoices/<int:invoice_id>")
@billing_contact_required
def show(invoice_id):
    """One invoice as issued: seller, buyer, lines, VAT and legal notes, totals, payment."""
    invoice = account_invoice(invoice_id)
    return no_store(render("invoices/show.html", invoice=invoice,
                           doc=invoice_document(invoice, invoice.order)))


def download(body, name, mimetype):
    """An attachment that is never cached."""
    response = make_response(body)
    response.mimetype = mimetype
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return no_store(response)


@bp.get("/invoices/<int:invoice_id>.pdf")
@billing_contact_required
def pdf(invoice_id):
    """Scarica PDF."""
    invoice = account_invoice(invoice_id)
    return download(pdf_bytes(invoice), pdf_name(invoice), "application/pdf")


@bp.get("/invoices/<int:invoice_id>.xml")
@billing_contact_required
def xml(invoice_id):
    """Scarica XML (FatturaPA): validated against the official schema before it is sent."""
    invoice = account_invoice(invoice_id)
    doc = invoice_document(invoice, invoice.order)
    return download(render_xml(doc, invoice.year, invoice.sequence),
                    file_name(doc, invoice.year, invoice.sequence), "application/xml")
