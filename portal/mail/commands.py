"""``flask --app portal mail send``: deliver the pending emails once (also the worker's job)."""
import click
from flask.cli import AppGroup

from portal.core.db import db
from portal.mail.delivery import deliver_pending

mail_cli = AppGroup("mail", help="The outbox of emails.")


@mail_cli.command("send")
def send():
    """Deliver every email that is due, once."""
    with db.connection_context():
        outcomes = deliver_pending()
    for outcome, count in outcomes.items():
        click.echo(f"{outcome}: {count}")


GROUPS = (mail_cli,)
