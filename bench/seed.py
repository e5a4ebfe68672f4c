"""Seed the benchmark database: 1,000 accounts, 50,000 users, every plan of the catalog.

Bulk inserts (``insert_many``) in one transaction, and one password hash computed once and
reused for every user: hashing 50,000 passwords with scrypt would take longer than the whole
benchmark. Run on its own with ``.venv/bin/python bench/seed.py PATH``.

Layout (the ids the benchmark relies on are returned by ``seed``):
- account 1 "big": 5,000 users, Webinar Pro annual with 6,000 licenses, 4,000 assigned
  (the license page of an account with 5,000 users);
- accounts 2-21: one per buyer of the order loads, Webinar Standard monthly, a saved card;
- account 22: the read account (like the demo's Rossi Eventi: Webinar Standard 5 licenses
  monthly started 16 days ago, an expired Meeting trial, a pending change in the cart);
- account 23: places one order in-process to count the order's SQL queries;
- every other account: 45 users or so, Webinar on Lite/Standard/Pro (Enterprise for the
  corporate ones, every 10th), Meeting Professional/Business active, trialing or expired.
"""
import datetime as dt
import os
import sys
import time

from dateutil.relativedelta import relativedelta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

TODAY = dt.date(2026, 11, 26)
PASSWORD = "bench-password-1234"
ACCOUNTS = 1000
USERS = 50_000
BIG_USERS = 5_000
ORDER_ACCOUNTS = 20  # one per buyer of the order loads (run.py uses 10, orders_latency.py 20)
READ_ACCOUNT = 2 + ORDER_ACCOUNTS  # then the account that counts the order's queries
FIRST_NAMES = ["Giulia", "Marco", "Laura", "Paolo", "Sara", "Luca", "Anna", "Piero", "Elena",
               "Davide", "Chiara", "Matteo", "Francesca", "Andrea", "Marta", "Stefano"]
LAST_NAMES = ["Rossi", "Verdi", "Neri", "Gallo", "Conti", "Ferri", "Bianchi", "Russo",
              "Romano", "Colombo", "Ricci", "Marino", "Greco", "Bruno", "Costa", "Fontana"]


def owner_email(account_index):
    """The billing contact of bench account ``account_index`` (1-based)."""
    return f"owner{account_index:04d}@bench.example"


def _chunks(rows, size=900):
    """Slices small enough for SQLite's variable limit."""
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def _insert(model, rows):
    """Bulk insert ``rows`` (dicts) into ``model``."""
    for chunk in _chunks(rows):
        model.insert_many(chunk).execute()


def seed(path):
    """Create the database at ``path`` (replacing it); returns the ids the bench uses."""
    from werkzeug.security import generate_password_hash

    from portal import create_app
    from portal.catalog.store import invalidate, load_catalog
    from portal.core.db import db
    from portal.core.migrations import upgrade
    from portal.core.models import (Account, CartItem, LedgerEntry, LicenseAssignment,
                               PaymentMethod, Plan, Subscription, User, new_token, utcnow)

    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    started = time.monotonic()
    app = create_app({"SECRET_KEY": "bench-seed", "DATABASE_URL": f"sqlite:///{path}",
                      "FIXED_TODAY": TODAY})
    password_hash = generate_password_hash(PASSWORD, method="scrypt")  # once, reused
    now = utcnow()
    with app.app_context():
        upgrade()
        invalidate()
        with db.connection_context():
            load_catalog(app.config["CATALOG_PATH"])
            plans = {p.code: p for p in Plan.select()}
            with db.atomic():
                ids = _seed_rows(plans, password_hash, now, Account, User, Subscription,
                                 LicenseAssignment, PaymentMethod, LedgerEntry, CartItem,
                                 new_token)
            db.execute_sql("ANALYZE")
            db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    ids["seconds"] = round(time.monotonic() - started, 1)
    return ids


def _users_per_account():
    """How many users each account gets: 5,000 for the big one, the rest spread evenly."""
    others = ACCOUNTS - 1
    base, extra = divmod(USERS - BIG_USERS, others)
    return [BIG_USERS] + [base + (1 if i < extra else 0) for i in range(others)]


def _seed_rows(plans, password_hash, now, Account, User, Subscription, LicenseAssignment,
               PaymentMethod, LedgerEntry, CartItem, new_token):
    """Every row of the benchmark data set; returns the ids the benchmark uses."""
    counts = _users_per_account()
    accounts = []
    for i in range(1, ACCOUNTS + 1):
        corporate = i > READ_ACCOUNT + 1 and i % 10 == 0
        balance = 5000 if i <= READ_ACCOUNT + 1 else (i * 137) % 20000 if i % 3 else 0
        accounts.append({
            "name": "Bench Big S.p.A." if i == 1 else f"Bench {i:04d} S.r.l.",
            "kind": "corporate" if corporate else "self_service", "country": "IT",
            "vat_number": f"IT{i:011d}", "address": f"Via Bench {i}\n20121 Milano MI",
            "currency": "EUR", "timezone": "Europe/Rome", "balance_cents": balance,
            "created_at": now})
    _insert(Account, accounts)
    account_ids = [a.id for a in Account.select(Account.id).order_by(Account.id)]
    balances = {account_ids[i]: row["balance_cents"] for i, row in enumerate(accounts)}

    users = []
    for index, (account_id, count) in enumerate(zip(account_ids, counts), start=1):
        for j in range(count):
            first = FIRST_NAMES[(index + j) % len(FIRST_NAMES)]
            last = LAST_NAMES[(index * 7 + j // len(FIRST_NAMES)) % len(LAST_NAMES)]
            users.append({
                "email": owner_email(index) if j == 0 else f"u{index:04d}.{j:05d}@bench.example",
                "name": f"{first} {last} {j:05d}", "password_hash": password_hash,
                "account": account_id, "role": "billing_contact" if j == 0 else "member",
                "locale": None, "session_token": new_token(), "active": True,
                "created_at": now})
    _insert(User, users)
    user_ids = {}
    for row in User.select(User.id, User.account).order_by(User.id).tuples():
        user_ids.setdefault(row[1], []).append(row[0])

    subscriptions, assigned = [], {}
    webinar_cycle = ["webinar-lite", "webinar-standard", "webinar-pro"]
    meeting_cycle = [("meeting-professional", "active"), ("meeting-business", "active"),
                     ("meeting-professional", "trialing"),
                     ("meeting-professional", "trial_expired")]
    for index, account_id in enumerate(account_ids, start=1):
        row = accounts[index - 1]
        if index == 1:
            web = ("webinar-pro", 6000, "annual", TODAY - dt.timedelta(days=100), "active")
            assigned[(account_id, "webinar")] = 4000
        elif index <= READ_ACCOUNT + 1:
            web = ("webinar-standard", 20 if index < READ_ACCOUNT else 5, "monthly",
                   TODAY - dt.timedelta(days=16), "active")
            assigned[(account_id, "webinar")] = 10 if index < READ_ACCOUNT else 4
        elif row["kind"] == "corporate":
            web = ("webinar-enterprise", 200, "annual", TODAY - relativedelta(months=4), "active")
            assigned[(account_id, "webinar")] = counts[index - 1] // 2
        else:
            frequency = "annual" if index % 4 == 0 else "monthly"
            start = TODAY - dt.timedelta(days=index % (300 if frequency == "annual" else 28))
            web = (webinar_cycle[index % 3], 50, frequency, start, "active")
            assigned[(account_id, "webinar")] = min(50, counts[index - 1]) // 2
        meeting_code, meeting_status = meeting_cycle[index % 4]
        if index == 12:
            meeting_code, meeting_status = "meeting-professional", "trial_expired"
        for code, licenses, frequency, start, status in (
                web, (meeting_code, 10, "monthly", TODAY - dt.timedelta(days=33 - index % 20),
                      meeting_status)):
            end = start + (relativedelta(months=1) if frequency == "monthly"
                           else relativedelta(years=1))
            if status == "trial_expired":
                end = TODAY - dt.timedelta(days=3)
            plan = plans[code]
            subscriptions.append({
                "account": account_id, "product": plan.product_id, "plan": plan.id,
                "licenses": licenses, "frequency": frequency, "period_start": start,
                "period_end": end, "status": status, "version": 1, "updated_at": now})
    _insert(Subscription, subscriptions)
    subs = {}
    for sub_id, account_id, product_id in (Subscription.select(
            Subscription.id, Subscription.account, Subscription.product).tuples()):
        subs[(account_id, product_id)] = sub_id
    webinar_product = plans["webinar-standard"].product_id

    assignments = []
    for (account_id, _product), count in assigned.items():
        sub_id = subs[(account_id, webinar_product)]
        assignments += [{"subscription": sub_id, "user": user_id, "created_at": now}
                        for user_id in user_ids[account_id][:count]]
    _insert(LicenseAssignment, assignments)

    _insert(PaymentMethod, [
        {"account": account_id, "gateway": "sandbox", "token": f"sandbox_tok_bench_{i}",
         "brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030,
         "holder": f"Bench {i}", "created_at": now}
        for i, account_id in enumerate(account_ids, start=1)])
    _insert(LedgerEntry, [
        {"account": account_id, "amount_cents": balance, "kind": "opening", "order": None,
         "created_at": now} for account_id, balance in balances.items() if balance])

    read_account = account_ids[READ_ACCOUNT - 1]
    read_owner = user_ids[read_account][0]
    read_webinar = subs[(read_account, webinar_product)]
    CartItem.create(user=read_owner, subscription=read_webinar, plan=plans["webinar-pro"].id,
                    licenses=8, frequency="annual")
    big = account_ids[0]
    return {
        "accounts": len(account_ids), "users": len(users),
        "subscriptions": len(subscriptions), "assignments": len(assignments),
        "read_email": owner_email(READ_ACCOUNT), "read_subscription": read_webinar,
        "big_email": owner_email(1), "big_subscription": subs[(big, webinar_product)],
        "order_emails": [owner_email(i) for i in range(2, 2 + ORDER_ACCOUNTS)],
        "order_subscriptions": [subs[(account_ids[i - 1], webinar_product)]
                                for i in range(2, 2 + ORDER_ACCOUNTS)],
        "count_email": owner_email(READ_ACCOUNT + 1),
        "count_subscription": subs[(account_ids[READ_ACCOUNT], webinar_product)],
        "password": PASSWORD,
    }


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "bench", "bench.sqlite3")
    print(seed(os.path.abspath(target)))
