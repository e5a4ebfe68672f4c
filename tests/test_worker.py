"""The worker: huey runs ``billing run`` on its schedule; ``huey_consumer worker.huey`` starts."""
import datetime as dt
import os
import signal
import subprocess
import sys
import time

from portal.core.config import ROOT
from portal.core.db import db
from portal.core.models import Invoice, OutboxMessage, PaymentMethod, Subscription, utcnow
from portal.lifecycle.tasks import create_huey
from portal.payments.gateway import CardDetails, get_gateway


def test_the_periodic_job_renews_what_is_due(make_app, tmp_path):
    app = make_app(FIXED_TODAY=dt.date(2026, 12, 10), HUEY_SQLITE_PATH=str(tmp_path / "h.db"))
    huey = create_huey(app)
    due = [task.name for task in huey.read_periodic(dt.datetime(2026, 12, 10, 9, 0))]
    assert due == ["billing_run", "mail_send"]  # billing every 10 minutes by default
    due = [task.name for task in huey.read_periodic(dt.datetime(2026, 12, 10, 9, 5))]
    assert due == ["mail_send"]  # email every minute
    with app.app_context(), db.connection_context():
        token = get_gateway().tokenize(CardDetails("4242424242424242", 12, 2035, "123", "G R"))
        PaymentMethod.create(account=1, gateway="sandbox", token=token.token, brand="visa",
                             last4="4242", exp_month=12, exp_year=2035, holder="G R",
                             is_default=True)
    lines = huey.billing_run.call_local()
    assert "renewed: 1" in lines
    with app.app_context(), db.connection_context():
        assert Invoice.select().count() == 1
        assert Subscription.get_by_id(1).period_end == dt.date(2027, 1, 10)
    assert huey.mail_send.call_local()["kept"] == 1  # the renewal receipt (development)
    with app.app_context(), db.connection_context():
        assert OutboxMessage.get().state == "sent"
    due = [task.name for task in huey.read_periodic(dt.datetime(2026, 12, 11, 3, 17))]
    assert "mail_prune" in due  # once a night
    assert huey.mail_prune.call_local() == 0  # the receipt is recent: kept whole
    with app.app_context(), db.connection_context():
        OutboxMessage.update(created_at=utcnow() - dt.timedelta(days=91)).execute()
    assert huey.mail_prune.call_local() == 1


def test_the_worker_process_starts_and_stops(tmp_path):
    env = dict(os.environ, PORTAL_INSTANCE_PATH=str(tmp_path),
               PORTAL_DATABASE_URL=f"sqlite:///{tmp_path / 'portal.sqlite3'}")
    # The schema first, as `make run` does: the consumer sends the outbox (every minute) as
    # soon as it starts, perhaps before the signal below reaches it.
    subprocess.run([os.path.join(os.path.dirname(sys.executable), "flask"), "--app", "portal",
                    "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    worker = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "huey_consumer"),
                               "worker.huey", "--workers", "1"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started, deadline = [], time.monotonic() + 60
    while time.monotonic() < deadline and worker.poll() is None:
        line = worker.stdout.readline()
        started.append(line)
        if "billing_run" in line:  # the consumer lists its periodic tasks once it runs
            break
    assert worker.poll() is None, "".join(started) + worker.stdout.read()
    worker.send_signal(signal.SIGTERM)
    output, _ = worker.communicate(timeout=20)
    output = "".join(started) + output
    assert "billing_run" in output and "Traceback" not in output, output


def test_a_worker_on_a_database_without_its_schema_says_so_and_skips(tmp_path, caplog):
    """Started before ``flask db upgrade``: one line per skipped job, no traceback, nothing
    run; once the schema is there, the jobs run."""
    from portal import create_app
    from portal.core.migrations import LATEST, upgrade
    from conftest import BASE_CONFIG
    app = create_app(dict(BASE_CONFIG, DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}",
                          HUEY_SQLITE_PATH=str(tmp_path / "h.db")))
    huey = create_huey(app)
    with caplog.at_level("WARNING", logger="portal.lifecycle.tasks"):
        assert huey.mail_send.call_local() is None
        assert huey.billing_run.call_local() is None
        assert huey.mail_prune.call_local() is None
    lines = [record.getMessage() for record in caplog.records
             if record.name == "portal.lifecycle.tasks"]
    assert lines == [f"{job} skipped: the database schema is at version 0 and this code "
                     f"needs {LATEST} (run `flask db upgrade`)"
                     for job in ("mail send", "billing run", "mail prune")]
    assert not any(record.exc_info for record in caplog.records)
    with app.app_context():
        upgrade()
    assert huey.mail_send.call_local() is not None  # ran: nothing to send
    assert huey.billing_run.call_local() is not None
    db.close_idle()  # the file's pooled connection
