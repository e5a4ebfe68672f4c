"""The worker's periodic jobs, with huey: ``billing run`` every ``BILLING_RUN_MINUTES``, the
email outbox delivered every ``MAIL_SEND_MINUTES`` (one by default), and once a day (03:17 UTC)
the content of emails written more than ``MAIL_KEEP_DAYS`` days ago and since sent emptied.

huey keeps its schedule in a SQLite file beside the portal's data (``HUEY_SQLITE_PATH``,
default ``instance/huey.sqlite3``), or in Redis when ``HUEY_REDIS_URL`` is set (several
machines). ``worker.py`` at the top level builds it for ``huey_consumer worker.huey``. The
jobs are idempotent, so a missed, doubled or overlapping run does no harm.
"""
import logging
import os

from huey import RedisHuey, SqliteHuey, crontab

from portal.core.db import db
from portal.core.migrations import LATEST, current_version
from portal.lifecycle.renewals import run_billing
from portal.mail.delivery import deliver_pending
from portal.mail.outbox import prune_bodies

log = logging.getLogger(__name__)


def schema_is_current(job):
    """Whether the database has at least the schema this code needs (a newer one is what a
    deployment has while the worker waits for its restart); if not (the worker started
    before ``flask db upgrade``, or on the wrong database), one line says so and ``job``
    is skipped until it has."""
    version = current_version()
    if version >= LATEST:
        return True
    log.warning("%s skipped: the database schema is at version %s and this code needs %s "
                "(run `flask db upgrade`)", job, version, LATEST)
    return False


def create_huey(app):
    """The huey instance of ``app``, with the billing and email jobs registered."""
    redis_url = app.config.get("HUEY_REDIS_URL")
    if redis_url:
        huey = RedisHuey("centro-fatturazione", url=redis_url)
    else:
        path = app.config.get("HUEY_SQLITE_PATH") or os.path.join(app.instance_path,
                                                                  "huey.sqlite3")
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        huey = SqliteHuey("centro-fatturazione", filename=path)
    minutes = int(app.config.get("BILLING_RUN_MINUTES", 10))

    @huey.periodic_task(crontab(minute=f"*/{minutes}"), name="billing_run")
    def billing_run():
        """Renewals, dunning retries, trial ends and expiries that are due."""
        with app.app_context(), db.connection_context():
            if not schema_is_current("billing run"):
                return None
            # One process: the consumer has threads of its own, and forking a threaded
            # process is unsafe; BILLING_JOBS is for ``flask billing run`` (cron, by hand).
            report = run_billing(jobs=1)
        log.info("billing run: %s", ", ".join(report.lines()))
        return report.lines()

    mail_minutes = int(app.config.get("MAIL_SEND_MINUTES", 1))

    @huey.periodic_task(crontab(minute=f"*/{mail_minutes}"), name="mail_send")
    def mail_send():
        """Deliver the emails that are due (the outbox)."""
        with app.app_context(), db.connection_context():
            if not schema_is_current("mail send"):
                return None
            outcomes = deliver_pending()
        if any(outcomes.values()):
            log.info("mail: %s", outcomes)
        return outcomes

    @huey.periodic_task(crontab(minute="17", hour="3"), name="mail_prune")
    def mail_prune():
        """Empty the emails written more than ``MAIL_KEEP_DAYS`` days ago and since sent or
        refused (the rows stay)."""
        with app.app_context(), db.connection_context():
            if not schema_is_current("mail prune"):
                return None
            count = prune_bodies()
        if count:
            log.info("mail: %s old messages emptied", count)
        return count

    huey.billing_run = billing_run
    huey.mail_send = mail_send
    huey.mail_prune = mail_prune
    return huey
