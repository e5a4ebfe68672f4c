"""``flask --app portal mail send``: deliver the pending emails once; ``mail prune``: empty
the messages written more than ``MAIL_KEEP_DAYS`` days ago and since sent or refused (both
also the worker's jobs)."""
import click
from flask.cli import AppGroup

from portal.core.db import db
from portal.mail.delivery import deliver_pending
from portal.mail.outbox import prune_bodies

mail_cli = AppGroup("mail", help="The outbox of emails.")


@mail_cli.command("send")
def send():
    """Deliver every email that is due, once."""
    with db.connection_context():
        outcomes = deliver_pending()
    for outcome, count in outcomes.items():
        click.echo(f"{outcome}: {count}")


@mail_cli.command("prune")
@click.option("--days", type=int, default=None,
              help="Keep the content of the last DAYS days (default: MAIL_KEEP_DAYS).")
def prune(days):
    """Empty the emails written more than MAIL_KEEP_DAYS days ago and since sent (or refused)."""
    with db.connection_context():
        count = prune_bodies(keep_days=days)
    click.echo(f"emptied: {count}")


GROUPS = (mail_cli,)
