"""Two billing contacts clicking at once can never assign more users than licenses."""
import threading
import time

import portal.licenses.views
from conftest import GIULIA, Browser
from portal.core.db import db
from portal.core.models import Account, AuditEvent, LicenseAssignment, Subscription, User
from portal.demo import make_user

SECOND_CONTACT = "second.contact@example.it"


def test_concurrent_enables_at_the_limit_let_exactly_one_through(app, monkeypatch):
    # Widen the gap between counting and inserting, so that without the lock the requests
    # would reliably all count 4 and all insert: the test must be able to fail.
    count = portal.licenses.views.assigned_count

    def slow_count(subscription_id):
        found = count(subscription_id)
        time.sleep(0.05)
        return found
    monkeypatch.setattr(portal.licenses.views, "assigned_count", slow_count)

    with db.connection_context():
        rossi = Account.get(Account.name == "Rossi Eventi S.r.l.")
        make_user(rossi, SECOND_CONTACT, "Second Contact", "billing_contact")
        User.insert_many([{"email": f"extra{i}@example.it", "name": f"Extra {i}",
                           "password_hash": "!", "account": rossi.id}
                          for i in range(6)]).execute()
        webinar = Subscription.get_by_id(1)
        assert webinar.licenses == 5
        taken = {a.user_id for a in webinar.assignments}
        assert len(taken) == 4  # exactly one license free
        candidates = [u.id for u in User.select().where(
            (User.account == rossi.id) & User.id.not_in(list(taken))
            & (User.email != SECOND_CONTACT))]
    assert len(candidates) == 8

    browsers = []
    for i in range(8):
        browser = Browser(app.test_client())
        browser.login(GIULIA if i % 2 else SECOND_CONTACT)
        browsers.append(browser)

    start = threading.Barrier(len(browsers))
    statuses = [None] * len(browsers)

    def enable(i):
        start.wait()
        response = browsers[i].post(f"/subscriptions/1/licenses/{candidates[i]}",
                                    {"enabled": "1"}, htmx=True)
        statuses[i] = response.status_code

    threads = [threading.Thread(target=enable, args=(i,)) for i in range(len(browsers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(statuses) == [200] + [422] * 7, statuses
    with db.connection_context():
        assigned = {a.user_id for a in LicenseAssignment.select().where(
            LicenseAssignment.subscription == 1)}
        events = AuditEvent.select().where(AuditEvent.action == "license.enabled").count()
    assert len(assigned) == 5 and taken < assigned
    winner = candidates[statuses.index(200)]
    assert assigned - taken == {winner}
    assert events == 1
