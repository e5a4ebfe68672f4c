"""``flask --app portal billing run``: everything that is due, once (also the worker's job)."""
import datetime as dt

import click
from flask.cli import AppGroup

from portal.cli.progress import Progress
from portal.core.db import db
from portal.lifecycle.renewals import run_billing

billing_cli = AppGroup("billing", help="Renewals, failed payments, trial ends.")


@billing_cli.command("run")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Act as if it were this date (default: today in each account's timezone, "
                   "or FIXED_TODAY).")
@click.option("--jobs", type=click.IntRange(1, 64), default=None,
              help="Processes that renew the due subscriptions (default: BILLING_JOBS, 1).")
def billing_run(today, jobs):
    """Renew what is due, retry declined renewals, end trials and expire subscriptions."""
    day = today.date() if isinstance(today, dt.datetime) else None
    with db.connection_context(), Progress("Subscriptions due") as progress:
        report = run_billing(day, progress=progress, jobs=jobs)
    for line in report.lines():
        click.echo(line)


GROUPS = (billing_cli,)
