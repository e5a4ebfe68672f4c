"""Seed a benchmark database: 1,000 accounts, 50,000 users, every plan of the catalog.

``seed(target, scale=1)``: ``target`` is a SQLite file (replaced) or a ``postgresql://`` URL
(its ``public`` schema is dropped and created again). ``scale=100`` seeds 100,000 accounts and
5,000,000 users (the growth leg of ``make bench``).

Every row is written with an explicit id by the database driver's bulk path
(``executemany`` on SQLite, ``COPY`` on PostgreSQL) with the column list and the column
defaults peewee gives for a one-row ``insert`` of the model; building peewee's SQL for every
row would take longer than the whole benchmark at 100x. One password hash is computed once
and reused for every user. In a terminal a progress bar counts the rows (with an estimate);
otherwise one summary line is printed at the end. Run on its own with
``.venv/bin/python bench/seed.py [--scale N] [PATH or URL]``.

Layout (the ids the benchmark relies on are returned by ``seed``):
- account 1 "big": 5,000 users (50,000 at 100x), Webinar Pro annual with 6,000 licenses,
  4,000 assigned (the license page of an account with many users);
- accounts 2-21: one per buyer of the order loads, Webinar Standard monthly, a saved card and
  no credit on the balance (so that every order of the load is charged to the card);
- account 22: the read account (like the demo's Rossi Eventi: Webinar Standard 5 licenses
  monthly started 16 days ago, an expired Meeting trial, a pending change in the cart);
- account 23: places one order in-process to count the order's SQL queries;
- every other account: 45-50 users, Webinar on Lite/Standard/Pro (Enterprise for the
  corporate ones, every 10th), Meeting Professional/Business active, trialing or expired.
"""
import datetime as dt
import os
import re
import secrets
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
ORDER_ACCOUNTS = 20  # one per buyer of the order loads (10 for the instant gateway, 20 at 300 ms)
READ_ACCOUNT = 2 + ORDER_ACCOUNTS  # then the account that counts the order's queries
FIRST_NAMES = ["Giulia", "Marco", "Laura", "Paolo", "Sara", "Luca", "Anna", "Piero", "Elena",
               "Davide", "Chiara", "Matteo", "Francesca", "Andrea", "Marta", "Stefano"]
LAST_NAMES = ["Rossi", "Verdi", "Neri", "Gallo", "Conti", "Ferri", "Bianchi", "Russo",
              "Romano", "Colombo", "Ricci", "Marino", "Greco", "Bruno", "Costa", "Fontana"]
INSERT = re.compile(r'INSERT INTO "(\w+)" \((.*?)\) VALUES', re.S)


def owner_email(account_index):
    """The billing contact of bench account ``account_index`` (1-based)."""
    return f"owner{account_index:04d}@bench.example"


def vat_number(i):
    """A valid Italian VAT number for account ``i``: complete billing details let it order."""
    from stdnum import luhn
    digits = f"{i:07d}015"  # registration number, then the office code (Milano)
    return f"IT{digits}{luhn.calc_check_digit(digits)}"


def sizes(scale=1):
    """(accounts, users, users of the big account) at ``scale``: the big account grows ten
    times less than the data set (50,000 users at 100x)."""
    return ACCOUNTS * scale, USERS * scale, BIG_USERS * max(1, scale // 10)


def _users_per_account(scale):
    """How many users each account gets: the big one first, the rest spread evenly."""
    accounts, users, big = sizes(scale)
    others = accounts - 1
    base, extra = divmod(users - big, others)
    return [big] + [base + (1 if i < extra else 0) for i in range(others)]


class Progress:
    """Rows written: a click progress bar in a terminal, one summary line otherwise."""

    def __init__(self, total, label):
        import click
        self.total = total
        self.label = label
        self.done = 0
        self.started = time.monotonic()
        self.bar = None
        if sys.stderr.isatty():
            self.bar = click.progressbar(length=total, label=label, show_pos=True,
                                         show_eta=True, file=sys.stderr)
            self.bar.__enter__()

    def advance(self, rows):
        self.done += rows
        if self.bar is not None:
            self.bar.update(rows)

    def finish(self, extra=""):
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
        print(f"{self.label}: {self.done:,} rows in {time.monotonic() - self.started:.1f} s"
              f"{extra}", file=sys.stderr, flush=True)


class Bulk:
    """Writes many rows of a model through the driver's bulk path."""

    def __init__(self, db, postgres, progress):
        self.db = db
        self.postgres = postgres
        self.progress = progress
        self.tables = []

    def insert(self, model, rows):
        """Insert ``rows`` (an iterable of dicts keyed by field name, every row with the same
        keys, ``id`` included); columns the rows lack get the model's default."""
        rows = iter(rows)
        first = next(rows, None)
        if first is None:
            return
        sql, params = model.insert(**first).sql()
        match = INSERT.match(sql)
        table = match.group(1)
        columns = [c.strip().strip('"') for c in match.group(2).split(",")]
        keys, fixed = [], {}
        for index, column in enumerate(columns):
            key = column if column in first else column[:-3] if column.endswith("_id") else None
            if key not in first:
                fixed[index] = params[index]  # a default (constant for every row we write)
                key = None
            keys.append(key)

        def tuples():
            for row in _chain(first, rows):
                yield tuple(row[k] if k is not None else fixed[i] for i, k in enumerate(keys))

        quoted = ", ".join(f'"{c}"' for c in columns)
        if self.postgres:
            self._copy(table, quoted, tuples())
        else:
            placeholders = ", ".join("?" for _ in columns)
            cursor = self.db.connection().cursor()
            batch = []
            for values in tuples():
                batch.append(values)
                if len(batch) == 20000:
                    cursor.executemany(f'INSERT INTO "{table}" ({quoted}) VALUES '
                                       f'({placeholders})', batch)
                    self.progress.advance(len(batch))
                    batch = []
            if batch:
                cursor.executemany(f'INSERT INTO "{table}" ({quoted}) VALUES ({placeholders})',
                                   batch)
                self.progress.advance(len(batch))
        self.tables.append(table)

    def _copy(self, table, quoted, tuples):
        import io

        from portal.core.db import driver_cursor
        cursor = driver_cursor()
        buffer, count = io.StringIO(), 0

        def flush():
            buffer.seek(0)
            cursor.copy_expert(f'COPY "{table}" ({quoted}) FROM STDIN WITH (FORMAT csv)', buffer)
            buffer.seek(0)
            buffer.truncate()

        for values in tuples:
            buffer.write(",".join(_csv(v) for v in values))
            buffer.write("\n")
            count += 1
            if count == 20000:
                flush()
                self.progress.advance(count)
                count = 0
        if count:
            flush()
            self.progress.advance(count)

    def reset_sequences(self):
        """PostgreSQL: move each table's id sequence past the ids written explicitly."""
        if self.postgres:
            for table in self.tables:
                self.db.execute_sql(
                    f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                    f'(SELECT MAX(id) FROM "{table}"))')


def _chain(first, rest):
    yield first
    yield from rest


def _csv(value):
    """One value in PostgreSQL's CSV COPY format (an unquoted empty field is NULL)."""
    if value is None:
        return ""
    if value is True or value is False:
        return "t" if value else "f"
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace('"', '""') + '"'


def seed(target, scale=1):
    """Create the benchmark data in ``target`` (a SQLite path, replaced, or a PostgreSQL
    URL, emptied); returns the ids the bench uses and the seconds it took."""
    from werkzeug.security import generate_password_hash

    from portal import create_app
    from portal.catalog.store import invalidate, load_catalog
    from portal.core.db import db
    from portal.core.migrations import upgrade
    from portal.core.models import Plan, utcnow

    postgres = target.startswith("postgresql")
    url = target if postgres else f"sqlite:///{target}"
    if not postgres:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(target + suffix):
                os.remove(target + suffix)
    started = time.monotonic()
    app = create_app({"SECRET_KEY": "bench-seed", "DATABASE_URL": url, "FIXED_TODAY": TODAY})
    password_hash = generate_password_hash(PASSWORD, method="scrypt")  # once, reused
    now = utcnow()
    with app.app_context():
        if postgres:
            with db.connection_context():
                db.execute_sql("DROP SCHEMA public CASCADE")
                db.execute_sql("CREATE SCHEMA public")
        upgrade()
        invalidate()
        with db.connection_context():
            load_catalog(app.config["CATALOG_PATH"])
            plans = {p.code: p for p in Plan.select()}
            if not postgres:
                # A new file: no journal while it is written (a failed seed is deleted anyway).
                db.execute_sql("PRAGMA journal_mode = OFF")
                db.execute_sql("PRAGMA synchronous = OFF")
                db.execute_sql("PRAGMA cache_size = -400000")
            accounts, users, _big = sizes(scale)
            progress = Progress(_expected_rows(scale), f"seeding {accounts:,} accounts, "
                                                       f"{users:,} users")
            bulk = Bulk(db, postgres, progress)
            with db.atomic():
                ids = _seed_rows(bulk, plans, password_hash, now, scale)
            bulk.reset_sequences()
            # PostgreSQL: vacuumed as well as analysed, as a database in use is. Otherwise
            # autovacuum starts on the new rows a minute later (inserts count towards it
            # since PostgreSQL 13), in the middle of the reads the benchmark measures.
            db.execute_sql("VACUUM ANALYZE" if postgres else "ANALYZE")
            if not postgres:
                db.execute_sql("PRAGMA journal_mode = WAL")
    ids["seconds"] = round(time.monotonic() - started, 1)
    size = (os.path.getsize(target) if not postgres else None)
    progress.finish(f" (seed {ids['seconds']} s" + (f", {size / 2**20:,.0f} MiB)" if size
                                                     else ")"))
    ids["disk_bytes"] = size
    ids["scale"] = scale
    return ids


def _expected_rows(scale):
    """Rows ``_seed_rows`` writes (for the progress bar's estimate)."""
    accounts, users, _ = sizes(scale)
    return accounts * 3 + users + accounts * 2 + 25 * accounts


def _seed_rows(bulk, plans, password_hash, now, scale):
    """Every row of the benchmark data set; returns the ids the benchmark uses."""
    from portal.core.models import (Account, CartItem, LedgerEntry, LicenseAssignment,
                                    PaymentMethod, Subscription, User)

    n_accounts, n_users, _big = sizes(scale)
    counts = _users_per_account(scale)
    kinds, balances = {}, {}
    for i in range(1, n_accounts + 1):
        kinds[i] = "corporate" if i > READ_ACCOUNT + 1 and i % 10 == 0 else "self_service"
        if 2 <= i < 2 + ORDER_ACCOUNTS:
            balances[i] = 0  # buyers: every order of the load is paid with the card
        elif i <= READ_ACCOUNT + 1:
            balances[i] = 5000
        else:
            balances[i] = (i * 137) % 20000 if i % 3 else 0
    bulk.insert(Account, ({
        "id": i, "name": "Bench Big S.p.A." if i == 1 else f"Bench {i:04d} S.r.l.",
        "kind": kinds[i], "country": "IT", "vat_number": vat_number(i),
        "address": f"Via Bench {i}\n20121 Milano MI", "street": f"Via Bench {i}",
        "postal_code": "20121", "city": "Milano", "province": "MI", "sdi_code": "KRRH6B9",
        "currency": "EUR",
        "timezone": "Europe/Rome", "balance_cents": balances[i], "created_at": now}
        for i in range(1, n_accounts + 1)))

    first_user = {}
    next_id = 1
    for i, count in enumerate(counts, start=1):
        first_user[i] = next_id
        next_id += count
    token_prefix = secrets.token_urlsafe(12)  # unguessable, in insertion order (fast index)

    def user_rows():
        for index, count in enumerate(counts, start=1):
            start = first_user[index]
            for j in range(count):
                first = FIRST_NAMES[(index + j) % len(FIRST_NAMES)]
                last = LAST_NAMES[(index * 7 + j // len(FIRST_NAMES)) % len(LAST_NAMES)]
                yield {
                    "id": start + j,
                    "email": (owner_email(index) if j == 0
                              else f"u{index:04d}.{j:05d}@bench.example"),
                    "name": f"{first} {last} {j:05d}", "password_hash": password_hash,
                    "account": index, "role": "billing_contact" if j == 0 else "member",
                    "locale": None, "session_token": f"{token_prefix}{start + j:010d}",
                    "active": True, "created_at": now}
    bulk.insert(User, user_rows())

    subscriptions, assigned, subs = [], {}, {}
    webinar_cycle = ["webinar-lite", "webinar-standard", "webinar-pro"]
    meeting_cycle = [("meeting-professional", "active"), ("meeting-business", "active"),
                     ("meeting-professional", "trialing"),
                     ("meeting-professional", "trial_expired")]
    for index in range(1, n_accounts + 1):
        if index == 1:
            web = ("webinar-pro", 6000, "annual", TODAY - dt.timedelta(days=100), "active")
            assigned[index] = 4000
        elif index <= READ_ACCOUNT + 1:
            web = ("webinar-standard", 20 if index < READ_ACCOUNT else 5, "monthly",
                   TODAY - dt.timedelta(days=16), "active")
            assigned[index] = 10 if index < READ_ACCOUNT else 4
        elif kinds[index] == "corporate":
            web = ("webinar-enterprise", 200, "annual", TODAY - relativedelta(months=4), "active")
            assigned[index] = counts[index - 1] // 2
        else:
            frequency = "annual" if index % 4 == 0 else "monthly"
            start = TODAY - dt.timedelta(days=index % (300 if frequency == "annual" else 28))
            web = (webinar_cycle[index % 3], 50, frequency, start, "active")
            assigned[index] = min(50, counts[index - 1]) // 2
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
            sub_id = len(subscriptions) + 1
            subs[(index, plan.product_id)] = sub_id
            subscriptions.append({
                "id": sub_id, "account": index, "product": plan.product_id, "plan": plan.id,
                "licenses": licenses, "frequency": frequency, "period_start": start,
                "period_end": end, "status": status, "version": 1, "updated_at": now})
    bulk.insert(Subscription, subscriptions)
    webinar = plans["webinar-standard"].product_id

    def assignment_rows():
        next_id = 1
        for index, count in assigned.items():
            sub_id = subs[(index, webinar)]
            for user_id in range(first_user[index], first_user[index] + count):
                yield {"id": next_id, "subscription": sub_id, "user": user_id,
                       "created_at": now}
                next_id += 1
    bulk.insert(LicenseAssignment, assignment_rows())
    n_assignments = sum(assigned.values())

    bulk.insert(PaymentMethod, (
        {"id": i, "account": i, "gateway": "sandbox", "token": f"sandbox_tok_bench_{i}",
         "brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030,
         "holder": f"Bench {i}", "created_at": now} for i in range(1, n_accounts + 1)))
    bulk.insert(LedgerEntry, (
        {"id": n, "account": i, "amount_cents": balance, "kind": "opening", "order": None,
         "created_at": now}
        for n, (i, balance) in enumerate(((i, b) for i, b in balances.items() if b), start=1)))
    read_sub = subs[(READ_ACCOUNT, webinar)]
    bulk.insert(CartItem, [{"id": 1, "user": first_user[READ_ACCOUNT], "subscription": read_sub,
                            "plan": plans["webinar-pro"].id, "licenses": 8,
                            "frequency": "annual", "created_at": now}])
    return {
        "accounts": n_accounts, "users": n_users,
        "subscriptions": len(subscriptions), "assignments": n_assignments,
        "big_users": counts[0],
        "read_email": owner_email(READ_ACCOUNT), "read_subscription": read_sub,
        "big_email": owner_email(1), "big_subscription": subs[(1, webinar)],
        "order_emails": [owner_email(i) for i in range(2, 2 + ORDER_ACCOUNTS)],
        "order_subscriptions": [subs[(i, webinar)] for i in range(2, 2 + ORDER_ACCOUNTS)],
        "count_email": owner_email(READ_ACCOUNT + 1),
        "count_subscription": subs[(READ_ACCOUNT + 1, webinar)],
        "password": PASSWORD,
    }


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("target", nargs="?",
                        default=os.path.join(ROOT, "bench", "bench.sqlite3"))
    args = parser.parse_args()
    target = args.target if args.target.startswith("postgresql") else os.path.abspath(args.target)
    print(seed(target, args.scale))
