"""``flask --app portal invoices export --since DATE DIR``: FatturaPA files for the
operator's SdI intermediary (sending them through the SdI is the intermediary's job)."""
import os

import click
from flask.cli import AppGroup

from portal.cli.progress import Progress
from portal.core.db import db
from portal.invoices.fatturapa import file_name, render_xml
from portal.invoices.numbering import invoice_document, issued_since

invoices_cli = AppGroup("invoices", help="Electronic invoices (FatturaPA).")


@invoices_cli.command("export")
@click.option("--since", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="First issue date to export (YYYY-MM-DD).")
@click.argument("directory", type=click.Path(file_okay=False, writable=True))
def export(since, directory):
    """Write the FatturaPA XML of every invoice issued on or after --since into DIRECTORY,
    each validated against the official schema, named IT<seller VAT>_<progressive>.xml.
    In a terminal a progress bar shows the count and the time left."""
    os.makedirs(directory, exist_ok=True)
    count = 0
    with db.connection_context(), Progress("FatturaPA files", summary=False) as progress:
        invoices = issued_since(since.date())
        progress(0, len(invoices))
        for invoice in invoices:
            doc = invoice_document(invoice)
            name = file_name(doc, invoice.year, invoice.sequence)
            with open(os.path.join(directory, name), "wb") as out:
                out.write(render_xml(doc, invoice.year, invoice.sequence))
            count += 1
            progress(count, len(invoices))
    click.echo(f"{count} FatturaPA file(s) written to {directory}.")


GROUPS = (invoices_cli,)
