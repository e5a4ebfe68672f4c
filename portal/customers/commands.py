"""``flask --app portal vat recheck``: ask VIES again about VAT numbers accepted while it was
unavailable (the worker's billing run can call ``recheck_unchecked`` too)."""
import click
from flask.cli import AppGroup

from portal.core.db import db
from portal.customers.details import recheck_unchecked

vat_cli = AppGroup("vat", help="EU VAT numbers (VIES).")


@vat_cli.command("recheck")
def recheck():
    """Check every provisionally accepted VAT number with VIES again."""
    with db.connection_context():
        done = recheck_unchecked()
    for account_id, status in done:
        click.echo(f"account {account_id}: {status}")
    click.echo(f"{len(done)} VAT number(s) checked.")


GROUPS = (vat_cli,)
