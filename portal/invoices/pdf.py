"""An invoice as a PDF (WeasyPrint), from the page's own document template: the download
button and the receipt emails attach the same document."""
from flask import current_app, render_template
from weasyprint import HTML

from portal.invoices.numbering import invoice_document


def pdf_bytes(invoice):
    """The invoice's PDF in the current locale (``invoice.order`` is read if not joined)."""
    html = render_template("invoices/pdf.html", invoice=invoice,
                           doc=invoice_document(invoice, invoice.order))
    return HTML(string=html, base_url=current_app.static_folder + "/").write_pdf()


def pdf_name(invoice):
    """``invoice-2026-000042.pdf`` (a credit note: ``credit-note-…``)."""
    kind = "credit-note" if invoice.kind == "credit_note" else "invoice"
    return f"{kind}-{invoice.year}-{invoice.sequence:06d}.pdf"
