"""The demo data shows the lifecycle: a renewal tomorrow, a payment overdue with its banner."""
import datetime as dt
import re

from conftest import TODAY, Browser
from portal.core.db import db
from portal.core.models import Account, Invoice, Subscription
from portal.demo import DEMO_PASSWORD
from portal.lifecycle.renewals import run_billing


def test_the_lifecycle_demo(make_app):
    app = make_app(seed=False)
    result = app.test_cli_runner().invoke(args=["demo", "seed"])
    assert result.exit_code == 0, result.output
    assert "elena.marino@example.it" in result.output
    costa = Browser(app.test_client())
    costa.login("davide.costa@example.it", DEMO_PASSWORD)
    page = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", costa.get(
        "/", headers={"Accept-Language": "it"}).get_data(as_text=True))).replace("\u00a0", " ")
    assert "Non è stato possibile addebitare il rinnovo di Meeting" in page
    assert "Importo dovuto: 92,72 €." in page and "Paga ora" in page
    with app.app_context(), db.connection_context():
        marino = Account.get(Account.name == "Marino Consulenze S.a.s.")
        sub = Subscription.get(Subscription.account == marino)
        assert sub.period_end == TODAY + dt.timedelta(days=1)
        overdue = Subscription.get(Subscription.status == "past_due")
        assert run_billing(TODAY).renewed == []  # nothing is due today
        report = run_billing(TODAY + dt.timedelta(days=1))
        # tomorrow Marino renews, and Costa's card (still declining) is tried again
        assert report.renewed == [sub.id] and report.failed == [overdue.id]
        assert Invoice.select().count() == 1
