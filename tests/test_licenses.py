"""License assignment: the page, the switches (htmx and plain), the limit, access, search."""
import re

import pytest

from conftest import ANNA, GIULIA, MARCO, Browser, statements
from portal.core.db import db
from portal.core.models import Account, AuditEvent, LicenseAssignment, Subscription, User

PAGE = "/subscriptions/1/licenses"


def en():
    """English, as a fresh dict: the Browser helper adds htmx headers to the dict it gets."""
    return {"Accept-Language": "en"}
_ROW = re.compile(r'<tr id="user-(\d+)" data-enabled="([01])"[^>]*>')


def rows(html):
    """{user id: enabled} of the rows the page shows, in order."""
    return {int(uid): flag == "1" for uid, flag in _ROW.findall(html)}


def user_id(email):
    """The id of the user with ``email``."""
    with db.connection_context():
        return User.get(User.email == email).id


def assigned_ids(subscription_id=1):
    """Ids of the users the subscription's product is enabled for."""
    with db.connection_context():
        return {a.user_id for a in LicenseAssignment.select().where(
            LicenseAssignment.subscription == subscription_id)}


def audit_actions(action):
    """The details of every audit event named ``action``."""
    with db.connection_context():
        return [e.details for e in AuditEvent.select().where(AuditEvent.action == action)]


def toggle_url(uid, subscription_id=1):
    """Where the switch of user ``uid`` posts."""
    return f"/subscriptions/{subscription_id}/licenses/{uid}"


def counter(html):
    """(assigned, licenses) as the counter shows them."""
    match = re.search(r'id="license-counter"[^>]*data-assigned="(\d+)" data-licenses="(\d+)"',
                      html)
    return (int(match.group(1)), int(match.group(2))) if match else None


def test_page_lists_the_accounts_users_with_a_switch_each(giulia):
    response = giulia.get(PAGE, headers=en())
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    listed = rows(html)
    with db.connection_context():
        rossi = {u.id: u.email for u in User.select().join(Account)
                 .where(Account.name == "Rossi Eventi S.r.l.")}
    assert set(listed) == set(rossi)
    assert {uid for uid, on in listed.items() if on} == assigned_ids() and len(assigned_ids()) == 4
    assert "anna.bianchi" not in html and "piero.russo" not in html
    assert counter(html) == (4, 5)
    assert "4 of 5 licenses assigned" in html
    # sorted by name, each switch a real form whose accessible name carries the user's name
    names = re.findall(r'<th scope="row"[^>]*>([^<]+)', html)
    assert names == sorted(names) and names[0].strip() == "Giulia Rossi"
    marco = user_id(MARCO)
    row = re.search(r'<tr id="user-%d".*?</tr>' % marco, html, re.S).group(0)
    assert f'action="{toggle_url(marco)}"' in row and 'method="post"' in row
    assert f'hx-post="{toggle_url(marco)}"' in row and f'hx-target="#user-{marco}"' in row
    assert 'hx-swap="outerHTML"' in row and 'name="csrf_token"' in row
    assert 'role="switch" aria-checked="true"' in row and 'name="enabled" value="0"' in row
    assert "Webinar for Marco Verdi" in row


def test_enable_with_htmx_swaps_the_row_and_the_counter(giulia):
    sara = user_id("sara.conti@example.it")
    response = giulia.post(toggle_url(sara), {"enabled": "1"}, htmx=True, headers=en())
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in body
    assert body.lstrip().startswith(f'<tr id="user-{sara}" data-enabled="1"')
    assert 'aria-checked="true"' in body and 'name="enabled" value="0"' in body
    assert re.search(r'<div id="license-counter"[^>]*hx-swap-oob="true"', body)
    assert counter(body) == (5, 5) and "5 of 5 licenses assigned" in body
    assert re.search(r'<div id="license-message"[^>]*hx-swap-oob=', body)
    assert "Webinar enabled for Sara Conti." in body
    assert sara in assigned_ids()
    [event] = audit_actions("license.enabled")
    assert event["user_id"] == sara and event["subscription"] == 1 and event["assigned"] == 5


def test_disable_without_javascript_redirects_back_keeping_search_and_page(giulia):
    marco = user_id(MARCO)
    response = giulia.post(toggle_url(marco), {"enabled": "0", "q": "verdi", "page": "2"},
                           headers=en())  # the flash is worded when it is made
    assert response.status_code == 303
    assert response.headers["Location"] == PAGE + "?q=verdi&page=2"
    assert marco not in assigned_ids()
    [event] = audit_actions("license.disabled")
    assert event["user_id"] == marco and event["assigned"] == 3
    page = giulia.get(PAGE + "?q=verdi", headers=en()).get_data(as_text=True)
    assert "Webinar disabled for Marco Verdi." in page
    assert rows(page) == {marco: False} and counter(page) == (3, 5)


def test_toggles_are_idempotent(giulia):
    marco, sara = user_id(MARCO), user_id("sara.conti@example.it")
    assert giulia.post(toggle_url(marco), {"enabled": "1"}, htmx=True).status_code == 200
    assert giulia.post(toggle_url(sara), {"enabled": "0"}).status_code == 303
    assert assigned_ids() == {user_id(GIULIA), marco, user_id("laura.neri@example.it"),
                              user_id("paolo.gallo@example.it")}
    assert audit_actions("license.enabled") == [] and audit_actions("license.disabled") == []


def test_enabling_beyond_the_licenses_is_refused_with_a_way_to_buy_more(giulia):
    sara, luca = user_id("sara.conti@example.it"), user_id("luca.ferri@example.it")
    assert giulia.post(toggle_url(sara), {"enabled": "1"}, htmx=True).status_code == 200
    response = giulia.post(toggle_url(luca), {"enabled": "1"}, htmx=True, headers=en())
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    # the row comes back unchanged, the message out of band with the way to buy more
    assert body.lstrip().startswith(f'<tr id="user-{luca}" data-enabled="0"')
    assert 'aria-checked="false"' in body
    message = re.search(r'<div id="license-message".*?</div>', body, re.S).group(0)
    assert "No license left for Luca Ferri" in message
    assert 'href="/subscriptions/1/change"' in message and "Change subscription" in message
    assert counter(body) == (5, 5)
    assert luca not in assigned_ids() and len(assigned_ids()) == 5
    assert len(audit_actions("license.enabled")) == 1


def test_limit_without_javascript_flashes_and_returns_to_the_page(giulia):
    sara, luca = user_id("sara.conti@example.it"), user_id("luca.ferri@example.it")
    giulia.post(toggle_url(sara), {"enabled": "1"})
    response = giulia.post(toggle_url(luca), {"enabled": "1", "q": "ferri"}, headers=en())
    assert response.status_code == 303 and response.headers["Location"] == PAGE + "?q=ferri"
    page = giulia.get(response.headers["Location"], headers=en()).get_data(as_text=True)
    assert "No license left for Luca Ferri" in page
    assert 'id="license-full"' in page and 'href="/subscriptions/1/change"' in page
    assert rows(page) == {luca: False}
    assert luca not in assigned_ids()


def test_the_limit_follows_the_licenses_of_the_moment(giulia):
    """Reading the limit inside the transaction: fewer licenses, no more room."""
    with db.connection_context():
        Subscription.update(licenses=4).where(Subscription.id == 1).execute()
    sara = user_id("sara.conti@example.it")
    assert giulia.post(toggle_url(sara), {"enabled": "1"}, htmx=True).status_code == 422
    assert sara not in assigned_ids()


@pytest.mark.parametrize("value", ["", "2", "true", "on"])
def test_the_switch_value_must_be_0_or_1(giulia, value):
    sara = user_id("sara.conti@example.it")
    assert giulia.post(toggle_url(sara), {"enabled": value}).status_code == 422
    assert sara not in assigned_ids()


def test_toggle_needs_the_csrf_token(giulia):
    sara = user_id("sara.conti@example.it")
    assert giulia.post(toggle_url(sara), {"enabled": "1"}, csrf=False).status_code == 400
    assert sara not in assigned_ids()


@pytest.mark.parametrize("q, expected", [
    ("neri", {"laura.neri@example.it"}),
    ("NERI", {"laura.neri@example.it"}),
    ("Paolo.Gallo@", {"paolo.gallo@example.it"}),
    ("  verdi  ", {"marco.verdi@example.it"}),
    ("example.it", {"giulia.rossi@example.it", "marco.verdi@example.it",
                    "laura.neri@example.it", "paolo.gallo@example.it",
                    "sara.conti@example.it", "luca.ferri@example.it"}),
    ("bianchi", set()),  # a user of another account is never found
    ("example.com", set()),
    ("%", set()),  # LIKE wildcards are searched for literally
    ("_", set()),
    ("<b>x</b>", set()),
])
def test_search_by_name_or_email(giulia, q, expected):
    response = giulia.get(PAGE, query_string={"q": q})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert set(rows(html)) == {user_id(e) for e in expected}
    assert "<b>x</b>" not in html  # the search is shown back escaped


def test_search_with_htmx_answers_the_list_only(giulia):
    response = giulia.get(PAGE + "?q=neri", htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert body.lstrip().startswith('<div id="license-list"')
    assert set(rows(body)) == {user_id("laura.neri@example.it")}
    # the switches keep the search for the no-JavaScript redirect
    assert 'name="q" value="neri"' in body
    assert "HX-Request" in response.headers["Vary"]


def test_pagination(make_app):
    app = make_app(LICENSES_PAGE_SIZE=2)
    browser = Browser(app.test_client())
    browser.login(GIULIA)
    with db.connection_context():
        by_name = [u.id for u in User.select().join(Account)
                   .where(Account.name == "Rossi Eventi S.r.l.").order_by(User.name, User.id)]
    seen = []
    for page in (1, 2, 3):
        html = browser.get(f"{PAGE}?page={page}", headers=en()).get_data(as_text=True)
        assert f"Page {page} of 3" in html
        seen += list(rows(html))
        assert ('rel="prev"' in html) == (page > 1) and ('rel="next"' in html) == (page < 3)
    assert seen == by_name
    page2 = browser.get(PAGE + "?page=2", headers=en()).get_data(as_text=True)
    assert f'href="{PAGE}?page=3"' in page2 and f'href="{PAGE}"' in page2
    assert 'name="page" value="2"' in page2  # the switches come back to this page
    # out-of-range and garbage page numbers land on a real page
    assert list(rows(browser.get(PAGE + "?page=99").get_data(as_text=True))) == by_name[4:]
    assert list(rows(browser.get(PAGE + "?page=abc").get_data(as_text=True))) == by_name[:2]
    assert list(rows(browser.get(PAGE + "?page=-3").get_data(as_text=True))) == by_name[:2]


class FetchCounter:
    """Wraps the database's cursors and counts the rows read from them."""

    def __init__(self, monkeypatch):
        self.rows = 0
        database = db.obj
        original = database.cursor
        counter = self

        class Cursor:
            def __init__(self, cursor):
                self._cursor = cursor

            def fetchone(self):
                row = self._cursor.fetchone()
                counter.rows += row is not None
                return row

            def fetchall(self):
                found = self._cursor.fetchall()
                counter.rows += len(found)
                return found

            def fetchmany(self, *args):
                found = self._cursor.fetchmany(*args)
                counter.rows += len(found)
                return found

            def __iter__(self):
                for row in self._cursor:
                    counter.rows += 1
                    yield row

            def __getattr__(self, name):
                return getattr(self._cursor, name)

        monkeypatch.setattr(database, "cursor", lambda *a, **k: Cursor(original(*a, **k)))


def test_an_account_of_5000_users_is_read_a_page_at_a_time(giulia, count_queries,
                                                           monkeypatch):
    with db.connection_context():
        rossi = Account.get(Account.name == "Rossi Eventi S.r.l.")
        people = [{"email": f"user{i:05d}@example.it", "name": f"User {i:05d}",
                   "password_hash": "!", "account": rossi.id, "role": "member"}
                  for i in range(5000)]
        with db.atomic():
            for start in range(0, len(people), 500):
                User.insert_many(people[start:start + 500]).execute()
        assert User.select().where(User.account == rossi.id).count() == 5006
    fetched = FetchCounter(monkeypatch)
    with count_queries() as queries:
        response = giulia.get(PAGE, headers=en())
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert queries.count <= 8, statements(queries)
    assert fetched.rows <= 25 + 10  # the page itself, plus a few single-row lookups
    assert len(rows(html)) == 25
    assert "Users 1–25 of 5,006" in html and "Page 1 of 201" in html
    assert any("LIMIT" in sql for sql in statements(queries))
    # The page count counts the account's users (an index range), not the users joined to
    # the assignments one by one: 50,000 users made that join cost 54 ms (bench/README.md).
    counts = [sql for sql in statements(queries) if "COUNT" in sql and '"user"' in sql]
    assert counts and not any("license_assignment" in sql for sql in counts), counts

    fetched.rows = 0
    with count_queries() as queries:
        last = giulia.get(PAGE + "?page=201", headers=en()).get_data(as_text=True)
    assert queries.count <= 8 and fetched.rows <= 6 + 10
    assert len(rows(last)) == 6 and "Users 5,001–5,006 of 5,006" in last


def test_members_cannot_see_or_change_assignments(browser):
    browser.login(MARCO)
    page = browser.get(PAGE, headers=en())
    assert page.status_code == 403
    html = page.get_data(as_text=True)
    assert "giulia.rossi@example.it" in html  # names the billing contact
    assert 'id="user-' not in html
    sara = user_id("sara.conti@example.it")
    assert browser.post(toggle_url(sara), {"enabled": "1"}).status_code == 403
    refused = browser.post(toggle_url(user_id(MARCO)), {"enabled": "0"}, htmx=True)
    assert refused.status_code == 403 and refused.headers["HX-Retarget"] == "#flash-messages"
    new_user = browser.post("/subscriptions/1/users", {"name": "X", "email": "x@example.it"})
    assert new_user.status_code == 403
    assert len(assigned_ids()) == 4 and user_id(MARCO) in assigned_ids()
    with db.connection_context():
        assert not User.select().where(User.email == "x@example.it").exists()


def test_logged_out_visitors_go_to_login(client):
    response = client.get(PAGE)
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.get(PAGE, headers={"HX-Request": "true"}).headers["HX-Redirect"].startswith(
        "/login")


def test_other_accounts_subscriptions_and_users_are_404(giulia):
    piero = user_id("piero.russo@example.com")
    assert giulia.get("/subscriptions/3/licenses").status_code == 404
    assert giulia.get("/subscriptions/999/licenses").status_code == 404
    assert giulia.post(toggle_url(piero, 3), {"enabled": "1"}).status_code == 404
    # Rossi's subscription, Globex's user: as unknown as a missing one
    assert giulia.post(toggle_url(piero), {"enabled": "1"}).status_code == 404
    assert giulia.post(toggle_url(99999), {"enabled": "1"}).status_code == 404
    assert giulia.post("/subscriptions/3/users",
                       {"name": "Y", "email": "y@example.it"}).status_code == 404
    assert piero not in assigned_ids() and not assigned_ids(3)


def test_corporate_accounts_see_assignments_read_only(browser):
    browser.login(ANNA)
    page = browser.get("/subscriptions/3/licenses", headers=en())
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'id="corporate-note"' in html and "Corporate Billing Portal" in html
    assert 'role="switch"' not in html and "<form method=\"post\" action=\"/subscriptions/3" \
        not in html
    assert set(rows(html)) == {user_id(ANNA), user_id("piero.russo@example.com")}
    assert 'id="add-user"' not in html
    refused = browser.post(toggle_url(user_id(ANNA), 3), {"enabled": "1"}, headers=en())
    assert refused.status_code == 403 and "Corporate Billing Portal" in refused.get_data(
        as_text=True)
    assert browser.post("/subscriptions/3/users",
                        {"name": "Z", "email": "z@example.com"}).status_code == 403
    assert not assigned_ids(3)
    with db.connection_context():
        assert not User.select().where(User.email == "z@example.com").exists()


def test_expired_trial_has_no_licenses_to_assign(giulia):
    page = giulia.get("/subscriptions/2/licenses", headers=en())
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'id="no-licenses"' in html and 'role="switch"' not in html
    assert 'href="/subscriptions/2/change"' in html and "Subscribe now" in html
    refused = giulia.post(toggle_url(user_id(MARCO), 2), {"enabled": "1"})
    assert refused.status_code == 409
    assert not assigned_ids(2)


def test_canceled_subscription_refuses_toggles(giulia):
    with db.connection_context():
        Subscription.update(status="canceled").where(Subscription.id == 1).execute()
    html = giulia.get(PAGE).get_data(as_text=True)
    assert 'id="no-licenses"' in html and 'role="switch"' not in html
    sara = user_id("sara.conti@example.it")
    assert giulia.post(toggle_url(sara), {"enabled": "1"}, htmx=True).status_code == 409
    assert sara not in assigned_ids()


def test_dashboard_and_change_page_agree_with_the_assignments(giulia):
    sara = user_id("sara.conti@example.it")
    giulia.post(toggle_url(sara), {"enabled": "1"}, htmx=True)
    dashboard = giulia.get("/", headers=en()).get_data(as_text=True)
    card = re.search(r'id="subscription-1".*?</article>', dashboard, re.S).group(0)
    assert "5 of 5 licenses assigned" in card
    assert f'href="{PAGE}"' in card  # "Assign licenses" in the Options menu
    change = giulia.get("/subscriptions/1/change", headers=en()).get_data(as_text=True)
    assert "5 users have Webinar enabled, so you need at least 5 licenses" in change
    assert 'href="/subscriptions/1/licenses"' in change
    # the floor the change page enforces is the number of assignments
    assert giulia.get("/subscriptions/1/change?licenses=4").status_code == 422
    for email in (MARCO, "laura.neri@example.it"):
        giulia.post(toggle_url(user_id(email)), {"enabled": "0"})
    dashboard = giulia.get("/", headers=en()).get_data(as_text=True)
    card = re.search(r'id="subscription-1".*?</article>', dashboard, re.S).group(0)
    assert "3 of 5 licenses assigned" in card
    assert giulia.get("/subscriptions/1/change?licenses=3").status_code == 200
    assert counter(giulia.get(PAGE).get_data(as_text=True)) == (3, 5)


def test_my_licenses_shows_each_user_their_products(browser):
    browser.login("sara.conti@example.it")
    html = browser.get("/my-licenses").get_data(as_text=True)
    assert re.findall(r'id="my-license-(\d+)" data-enabled="([01])"', html) == [
        ("1", "0"), ("2", "0")]
    assert "giulia.rossi@example.it" in html  # who to ask
    assert "Enterprise" not in html  # another account's subscription
    browser.client.post("/logout", data={"csrf_token": browser.token})
    browser.login(MARCO)
    html = browser.get("/my-licenses").get_data(as_text=True)
    assert re.findall(r'id="my-license-(\d+)" data-enabled="([01])"', html) == [
        ("1", "1"), ("2", "0")]


def test_my_licenses_needs_a_login(client):
    assert client.get("/my-licenses").status_code == 302
