"""Migrations: a new database gets the models' schema, and upgrading a database of every
earlier version keeps every row and leaves a portal that works."""
import ast
import datetime as dt
import json
import os
from pathlib import Path

import pytest
from peewee import IntegrityError, SqliteDatabase
from werkzeug.security import generate_password_hash

from conftest import BASE_CONFIG, GIULIA, PASSWORD, TODAY, Browser, _postgres_admin
from portal import create_app
from portal.catalog.store import invalidate, read_catalog_file
from portal.core import migrations
from portal.core.db import db, is_sqlite, make_database
from portal.core.migrations import LATEST, MIGRATIONS, SchemaVersion, current_version, upgrade
from portal.core.migrations import v0001_initial as v1
from portal.core.models import ALL_MODELS, AuditEvent, LoginLock, User, audit

MIGRATIONS_DIR = Path(migrations.__file__).parent
NEXT_FILE = f"portal/core/migrations/v{LATEST + 1:04d}_<what_it_does>.py"


@pytest.fixture
def empty_app(database_url):
    """The portal on a database nothing has been created in."""
    return create_app(dict(BASE_CONFIG, DATABASE_URL=database_url, FIXED_TODAY=TODAY,
                           RATELIMIT_ENABLED=False))


@pytest.fixture
def reference_database(tmp_path, database_url):
    """A second, empty database on the same engine, for ``create_tables(ALL_MODELS)``."""
    if database_url.startswith("sqlite"):
        database = make_database(f"sqlite:///{tmp_path / 'reference.sqlite3'}")
        yield database
        database.close()
        return
    name = f"portal_reference_{os.getpid()}"
    admin = _postgres_admin(os.environ["TEST_DATABASE_URL"])
    admin.execute_sql(f"DROP DATABASE IF EXISTS {name}")
    admin.execute_sql(f"CREATE DATABASE {name}")
    database = make_database(database_url.rsplit("/", 1)[0] + "/" + name)
    yield database
    database.close()
    admin.execute_sql(f"DROP DATABASE {name}")
    admin.close()


def versions():
    with db.connection_context():
        return [row.version for row in SchemaVersion.select().order_by(SchemaVersion.version)]


# --- the migration files ------------------------------------------------------------------------

def test_migrations_are_numbered_in_order():
    numbers = [m.version for m in MIGRATIONS]
    assert numbers == list(range(1, len(numbers) + 1))
    assert LATEST == numbers[-1]
    assert all(m.description for m in MIGRATIONS)


def test_every_migration_file_is_numbered_and_frozen():
    """A file the runner would skip is a mistake, and a migration that imports the portal
    (its models above all) changes what it does whenever they change."""
    files = sorted(p.name for p in MIGRATIONS_DIR.glob("*.py") if p.name != "__init__.py")
    assert all(migrations.FILE_NAME.match(Path(name).stem) for name in files), files
    assert len(files) == LATEST
    for name in files:
        tree = ast.parse((MIGRATIONS_DIR / name).read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                     for alias in node.names}
        assert not {m for m in imported if m and m.split(".")[0] == "portal"}, (
            f"{name} imports the portal: freeze what it needs in the file instead")


# --- a new database ------------------------------------------------------------------------------

def test_upgrade_creates_a_new_database_at_the_latest_version(empty_app):
    assert upgrade() == [m.version for m in MIGRATIONS]
    assert versions() == [m.version for m in MIGRATIONS]
    with db.connection_context():
        assert current_version() == LATEST
        assert all(model.table_exists() for model in ALL_MODELS)
    assert upgrade() == []
    assert versions() == [m.version for m in MIGRATIONS]


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"),
                    reason="PostgreSQL's schemas and search path: SQLite has neither")
def test_upgrade_in_a_schema_other_than_public(database_url):
    """A database shared with other applications keeps the portal's tables in a schema of
    their own (the connection's ``search_path``): an upgrade finds the version there (it
    applied migration 1 again, and failed, when it looked for the version table in
    ``public``), and migration 2 the columns of a first release's version 1."""
    admin = make_database(database_url)
    try:
        admin.execute_sql("CREATE SCHEMA billing_portal")
        create_app(dict(BASE_CONFIG, RATELIMIT_ENABLED=False,
                        DATABASE_URL=database_url + "?options=-csearch_path%3Dbilling_portal"))
        assert upgrade(target=2) == [1, 2]
        with db.connection_context():  # a first release's version 1 (see below)
            SchemaVersion.delete().where(SchemaVersion.version > 1).execute()
            assert current_version() == 1
        assert upgrade() == list(range(2, LATEST + 1))
        with db.connection_context():
            assert current_version() == LATEST
        assert upgrade() == []
        assert versions() == [m.version for m in MIGRATIONS]
        in_public, in_schema = admin.execute_sql(
            "SELECT to_regclass('public.schema_version'), "
            "to_regclass('billing_portal.schema_version') IS NOT NULL").fetchone()
        assert in_public is None and in_schema
    finally:
        if not db.is_closed():
            db.close()
        admin.close()


def test_current_version_of_an_empty_database(empty_app):
    with db.connection_context():
        assert current_version() == 0


def test_upgrade_stops_at_the_target_version(empty_app):
    assert upgrade(target=1) == [1]
    assert versions() == [1]
    with db.connection_context():
        assert "failed_logins" not in {c.name for c in db.get_columns("user")}
    assert upgrade() == list(range(2, LATEST + 1))


def sqlite_checks(sql):
    """The CHECK (...) clauses of a SQLite CREATE TABLE statement."""
    checks, start = set(), 0
    while (at := sql.upper().find("CHECK (", start)) >= 0:
        depth, opening = 0, at + len("CHECK ")
        for end in range(opening, len(sql)):
            depth += {"(": 1, ")": -1}.get(sql[end], 0)
            if depth == 0:
                break
        checks.add(sql[at:end + 1])
        start = end + 1
    return checks


#: PostgreSQL's pg_constraint.contype letters.
CONSTRAINT_KINDS = {"c": "check", "f": "foreign key", "p": "primary key", "u": "unique"}


def constraints_of(database, table):
    """Foreign keys with their ON DELETE, and CHECK constraints, as the engine reports them."""
    if isinstance(database, SqliteDatabase):
        keys = {("foreign key", row[3], row[2], row[4], row[6])
                for row in database.execute_sql(f'PRAGMA foreign_key_list("{table}")')}
        sql = database.execute_sql("SELECT sql FROM sqlite_master WHERE type = 'table' "
                                   "AND name = ?", (table,)).fetchone()[0]
        return keys | {("check", check) for check in sqlite_checks(sql)}
    rows = database.execute_sql(
        "SELECT contype, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass", (f'"{table}"',)).fetchall()
    return {(CONSTRAINT_KINDS.get(kind, kind), definition) for kind, definition in rows}


def schema_of(database):
    """Tables, columns, indexes and constraints: everything the application relies on."""
    schema = {}
    for table in sorted(set(database.get_tables()) - {"schema_version"}):
        schema[table] = {
            "columns": {(c.name, c.data_type.lower(), "null" if c.null else "not null",
                         c.primary_key, c.default) for c in database.get_columns(table)},
            "indexes": {(i.name, tuple(i.columns), "unique" if i.unique else "")
                        for i in database.get_indexes(table)},
            "constraints": constraints_of(database, table),
        }
    return schema


def differences(migrated, modelled):
    """Readable lines for what the two schemas do not share."""
    lines = []
    for table in sorted(set(migrated) | set(modelled)):
        if table not in migrated:
            lines.append(f"table {table!r}: only in the models")
        elif table not in modelled:
            lines.append(f"table {table!r}: only in the migrations")
        else:
            for part in ("columns", "indexes", "constraints"):
                for item in sorted(migrated[table][part] - modelled[table][part], key=repr):
                    lines.append(f"{table}.{part}: only in the migrations: {item}")
                for item in sorted(modelled[table][part] - migrated[table][part], key=repr):
                    lines.append(f"{table}.{part}: only in the models: {item}")
    return lines


def test_migrations_build_exactly_the_schema_of_the_models(empty_app, reference_database):
    upgrade()
    with reference_database.bind_ctx(ALL_MODELS):
        reference_database.create_tables(ALL_MODELS)
    with db.connection_context():
        migrated = schema_of(db.obj)
    modelled = schema_of(reference_database)
    assert "account" in migrated and migrated["user"]["constraints"]
    problems = differences(migrated, modelled)
    assert not problems, (
        "The models and the migrations build different schemas:\n  " + "\n  ".join(problems)
        + f"\nA model changed without a migration: add {NEXT_FILE} that brings an existing "
        "database to the models (see portal/core/migrations/__init__.py).")


# --- upgrading a database of every earlier version ----------------------------------------------

def fill_version_1(catalog_path):
    """What a version-1 portal stores, written through the frozen version-1 classes: every
    table gets rows, pointing at each other the way orders, invoices and licenses do."""
    created = dt.datetime(2026, 10, 1, 9, 30)
    password = generate_password_hash(PASSWORD, method=BASE_CONFIG["PASSWORD_HASH_METHOD"])
    plans = {}
    for position, item in enumerate(read_catalog_file(catalog_path)[1]):
        product = v1.Product.create(code=item["code"], name=item["name"], position=position)
        for p in item.get("plans") or []:
            plans[p["code"]] = v1.Plan.create(
                code=p["code"], product=product, name=p["name"], tier=p["tier"],
                monthly_cents=p.get("monthly_cents"), annual_cents=p.get("annual_cents"),
                features=json.dumps(p.get("features", [])),
                self_service=p.get("self_service", True))
    account = dict(country="IT", address="Via Roma 1\n20121 Milano MI", currency="EUR",
                   timezone="Europe/Rome", created_at=created)
    rossi = v1.Account.create(name="Rossi Eventi S.r.l.", kind="self_service",
                              vat_number="IT01234560124", balance_cents=4000, **account)
    globex = v1.Account.create(name="Globex Italia S.p.A.", kind="corporate", vat_number=None,
                               balance_cents=0, **account)
    user = dict(password_hash=password, active=True, created_at=created)
    giulia = v1.User.create(email=GIULIA, name="Giulia Rossi", account=rossi,
                            role="billing_contact", locale=None, session_token="tok-giulia",
                            **user)
    marco = v1.User.create(email="marco.verdi@example.it", name="Marco Verdi", account=rossi,
                           role="member", locale="en", session_token="tok-marco", **user)
    v1.User.create(email="ex@example.it", name="Former Colleague", account=rossi, role="member",
                   locale=None, session_token="tok-ex",
                   **dict(user, active=False))
    anna = v1.User.create(email="anna.bianchi@example.com", name="Anna Bianchi", account=globex,
                          role="billing_contact", locale="it", session_token="tok-anna", **user)
    period = dict(period_start=dt.date(2026, 11, 10), period_end=dt.date(2026, 12, 10))
    webinar = v1.Subscription.create(
        account=rossi, product=plans["webinar-standard"].product, plan=plans["webinar-standard"],
        licenses=5, frequency="monthly", status="active", version=2, updated_at=created,
        **period)
    v1.Subscription.create(
        account=rossi, product=plans["meeting-professional"].product,
        plan=plans["meeting-professional"], licenses=1, frequency="monthly",
        status="trial_expired", version=1, updated_at=created,
        period_start=dt.date(2026, 10, 24), period_end=dt.date(2026, 11, 23))
    v1.Subscription.create(
        account=globex, product=plans["webinar-enterprise"].product,
        plan=plans["webinar-enterprise"], licenses=200, frequency="annual", status="active",
        version=1, updated_at=created, period_start=dt.date(2026, 7, 26),
        period_end=dt.date(2027, 7, 26))
    for holder in (giulia, marco):
        v1.LicenseAssignment.create(subscription=webinar, user=holder, created_at=created)
    v1.CartItem.create(user=giulia, subscription=webinar, plan=plans["webinar-pro"], licenses=6,
                       frequency="monthly", created_at=created)
    card = v1.PaymentMethod.create(account=rossi, gateway="sandbox", token="tok_visa",
                                   brand="visa", last4="4242", exp_month=12, exp_year=2030,
                                   holder="Giulia Rossi", created_at=created)
    order = v1.Order.create(
        account=rossi, user=giulia, idempotency_key="key-1", fingerprint="fp-1",
        subtotal_cents=1000, vat_rate="0.22", vat_reason="it_vat", vat_cents=220,
        total_cents=1220, applied_cents=1000, due_cents=220, credit_added_cents=0,
        payment_method=card, payment_reference="sandbox-ch-1", created_at=created)
    v1.OrderLine.create(
        order=order, subscription=webinar, product_name="Webinar",
        old_plan=plans["webinar-standard"], old_licenses=4, old_frequency="monthly",
        new_plan=plans["webinar-standard"], new_licenses=5, new_frequency="monthly",
        unit_price_cents=1000, credit_cents=0, charge_cents=1000, unused_days=30,
        period_days=30, **period)
    v1.Invoice.create(order=order, account=rossi, year=2026, sequence=1, number="2026/000001",
                      issued_on=dt.date(2026, 11, 10), buyer_name="Rossi Eventi S.r.l.",
                      buyer_address="Via Roma 1\n20121 Milano MI", buyer_country="IT",
                      buyer_vat_number="IT01234560124", created_at=created)
    v1.PaymentAttempt.create(account=rossi, user=giulia, idempotency_key="key-1",
                             amount_cents=220, status="declined", error_code="card_declined",
                             created_at=created)
    v1.PaymentAttempt.create(account=rossi, user=giulia, idempotency_key="key-1",
                             amount_cents=220, status="succeeded", error_code=None,
                             created_at=created)
    v1.LedgerEntry.create(account=rossi, amount_cents=5000, kind="opening", order=None,
                          created_at=created)
    v1.LedgerEntry.create(account=rossi, amount_cents=-1000, kind="order_applied", order=order,
                          created_at=created)
    v1.AuditEvent.create(account=rossi, user=giulia, action="order.placed",
                         details=json.dumps({"order": order.id}), created_at=created)
    v1.AuditEvent.create(account=globex, user=anna, action="license.assigned",
                         details="{}", created_at=created)
    v1.AuditEvent.create(account=rossi, user=None, action="subscription.renewed",
                         details="{}", created_at=created)


def fill_with_version_1_models(catalog_path):
    """Version-1 data written with the version-1 classes bound to the database."""
    with db.bind_ctx(v1.MODELS):
        fill_version_1(catalog_path)


def fill_version_3(catalog_path):
    """Version 3 added the price paid (filled with defaults here) and the catalog versions."""
    fill_with_version_1_models(catalog_path)
    db.execute_sql('INSERT INTO "catalog_version" (version, loaded_at, changes) '
                   "VALUES (1, '2026-11-01 09:00:00', '[]')")
    db.execute_sql('UPDATE "subscription" SET price_cents = 11900 WHERE status = \'active\'')


def fill_version_4(catalog_path):
    """Version 4 added renewals, auto-renew and default cards: one declined renewal."""
    fill_version_3(catalog_path)
    db.execute_sql(
        'INSERT INTO "renewal" (subscription_id, period_start, period_end, state, plan_id, '
        "licenses, frequency, unit_price_cents, subtotal_cents, vat_rate, vat_reason, "
        "vat_cents, total_cents, applied_cents, due_cents, attempts, charge_key, "
        "error_code, next_retry_on, created_at, updated_at) "
        'SELECT id, period_end, period_end, \'failed\', plan_id, licenses, frequency, 5900, '
        "5900 * licenses, '0.22', 'it_vat', 0, 5900 * licenses, 0, 5900 * licenses, 1, "
        "'renewal-key', 'card_declined', period_end, '2026-11-01 09:00:00', "
        '\'2026-11-01 09:00:00\' FROM "subscription" WHERE status = \'active\'')
    db.execute_sql('UPDATE "subscription" SET status = \'past_due\' WHERE status = \'active\'')


def fill_version_5(catalog_path):
    """Version 5 added order reservations and the sandbox's state: one completed order."""
    fill_version_4(catalog_path)
    db.execute_sql(
        'INSERT INTO "order_reservation" (idempotency_key, account_id, user_id, fingerprint, '
        "state, quote, due_cents, applied_cents, currency, gateway_failed, created_at, "
        "updated_at) SELECT 'reservation-key-0000000', account_id, user_id, fingerprint, "
        "'completed', '{}', due_cents, applied_cents, 'EUR', FALSE, created_at, created_at "
        'FROM "order" ORDER BY id LIMIT 1')
    db.execute_sql('INSERT INTO "sandbox_token" (token, outcome, code, created_at) '
                   "VALUES ('sandbox_tok_demo', 'ok', NULL, '2026-11-01 09:00:00')")
    db.execute_sql('INSERT INTO "sandbox_charge" (idempotency_key, charge_id, token, '
                   "amount_cents, currency, created_at) VALUES ('reservation-key-0000000', "
                   "'sandbox_ch_demo', 'sandbox_tok_demo', 100, 'EUR', '2026-11-01 09:00:00')")


def fill_version_6(catalog_path):
    """Version 6 added login locks per client, invitations and rate-limit counters."""
    fill_version_5(catalog_path)
    db.execute_sql('INSERT INTO "login_lock" (user_id, client, failures, locked_until, '
                   "updated_at) SELECT id, '203.0.113.7', 2, NULL, '2026-11-01 09:00:00' "
                   'FROM "user" ORDER BY id LIMIT 1')
    db.execute_sql('INSERT INTO "member_invitation" (account_id, email, name, invited_by_id, '
                   "created_at) SELECT account_id, 'nuovo@example.it', 'Nuovo Collega', id, "
                   "'2026-11-01 09:00:00' FROM \"user\" ORDER BY id LIMIT 1")
    db.execute_sql('INSERT INTO "rate_limit_counter" (key, count, expires_ms) '
                   "VALUES ('LIMITS/login/203.0.113.7', 3, 1800000000000)")
    db.execute_sql('UPDATE "payment_attempt" SET client = \'203.0.113.7\'')


def fill_version_8(catalog_path):
    """Version 8 added the email outbox: one receipt waiting to be sent."""
    fill_version_6(catalog_path)
    db.execute_sql(
        'INSERT INTO "outbox_message" (key, account_id, kind, recipient, locale, subject, '
        "text_body, html_body, message_id, state, attempts, next_attempt_at, created_at) "
        "SELECT 'order-receipt:' || id, account_id, 'order_receipt', 'giulia@example.it', "
        "'it', 'Il tuo ordine', 'Testo', '<p>Testo</p>', '<receipt.1@portal.example.com>', "
        "'pending', 0, '2026-11-01 09:00:00', '2026-11-01 09:00:00' "
        'FROM "order" ORDER BY id LIMIT 1')


#: For every version below LATEST: how to fill a database of that version. A new migration
#: adds an entry for the version before it (often the previous fill plus its new columns).
FILL = {
    1: fill_with_version_1_models,
    # Version 2 only added columns with defaults: the same rows, the counters at 0.
    2: fill_with_version_1_models,
    3: fill_version_3,
    4: fill_version_4,
    5: fill_version_5,
    6: fill_version_6,
    # Version 7 added columns only (billing details, invoice snapshots), with defaults.
    7: fill_version_6,
    8: fill_version_8,
    # Version 9 added a nullable column (the invoice a receipt attaches).
    9: fill_version_8,
}

#: Columns a migration drops on purpose: (table, column) -> the version that drops it.
DROPPED = {("user", "failed_logins"): 6, ("user", "locked_until"): 6}


def kept_columns(columns, version):
    """``columns`` without those an upgrade from ``version`` drops on purpose."""
    return {table: [name for name in names
                    if not version < DROPPED.get((table, name), 0)]
            for table, names in columns.items()}


def columns_of_every_table():
    """Each table's column names (the runner's own table aside)."""
    return {table: [c.name for c in db.get_columns(table)]
            for table in sorted(set(db.get_tables()) - {"schema_version"})}


def rows_of_columns(rows, columns, kept):
    """``rows`` (of ``columns``) narrowed to the ``kept`` columns."""
    narrowed = {}
    for table, names in columns.items():
        positions = [names.index(name) for name in kept[table]]
        narrowed[table] = [tuple(row[i] for i in positions) for row in rows[table]]
    return narrowed


def rows_of(columns):
    """Those columns of those tables, as the engine returns them, in primary-key order."""
    rows = {}
    for table, names in columns.items():
        quoted = ", ".join(f'"{name}"' for name in names)
        rows[table] = db.execute_sql(f'SELECT {quoted} FROM "{table}" ORDER BY 1').fetchall()
    return rows


@pytest.mark.parametrize("version", range(1, LATEST))
def test_upgrade_from_every_version_keeps_every_row_and_the_portal_works(empty_app, version):
    assert version in FILL, (
        f"tests/test_migrations.py: FILL has no data for a version-{version} database; "
        "add it so the upgrade from that version is tested with data")
    assert upgrade(target=version) == list(range(1, version + 1))
    with db.connection_context(), db.atomic():
        FILL[version](empty_app.config["CATALOG_PATH"])
    with db.connection_context():
        columns = columns_of_every_table()
        before = rows_of(columns)
    empty = [table for table, rows in before.items() if not rows]
    assert not empty, f"FILL[{version}] leaves tables empty, so a loss there would go unseen"

    assert upgrade() == list(range(version + 1, LATEST + 1))
    assert versions() == list(range(1, LATEST + 1))
    with db.connection_context():
        kept = kept_columns(columns, version)
        assert rows_of(kept) == rows_of_columns(before, columns, kept)
        if is_sqlite():
            assert db.execute_sql("PRAGMA foreign_key_check").fetchall() == []
            assert db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1

    invalidate()
    browser = Browser(empty_app.test_client())
    browser.login(GIULIA, PASSWORD)
    page = browser.get("/")
    assert page.status_code == 200
    assert "Rossi Eventi S.r.l." in page.get_data(as_text=True)
    with db.connection_context():
        giulia = User.get(User.email == GIULIA)
        # the upgrade and the login leave no lock (FILL[6] keeps one of another client)
        assert not LoginLock.select().where(LoginLock.client != "203.0.113.7").exists()
        with pytest.raises(IntegrityError), db.atomic():
            User.create(email=GIULIA, name="Copy", password_hash="x", account=giulia.account)
        with pytest.raises(IntegrityError), db.atomic():
            User.create(email="x@example.it", name="Bad role", password_hash="x",
                        account=giulia.account, role="admin")
        audit(giulia.account, giulia, "test.after_upgrade")
        assert AuditEvent.select().count() == len(before["audit_event"]) + 1


def test_cli_upgrade_of_a_version_1_database(empty_app):
    upgrade(target=1)
    with db.connection_context(), db.atomic():
        fill_with_version_1_models(empty_app.config["CATALOG_PATH"])
    result = empty_app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, (result.output, result.exc_info)
    assert f"Applied migrations: {', '.join(map(str, range(2, LATEST + 1)))}" in result.output
    assert f"Database at schema version {LATEST}." in result.output
    with db.connection_context():
        assert User.select().count() == 4 and not LoginLock.select().exists()


def test_a_version_1_database_of_the_first_releases_is_upgraded(empty_app):
    """The first releases built version 1 from the models of the day, which already had the
    login-throttling columns: migration 2 must accept them."""
    upgrade(target=2)  # version 1 plus the throttling columns, stamped 1
    with db.connection_context():
        SchemaVersion.delete().where(SchemaVersion.version > 1).execute()
    assert upgrade() == list(range(2, LATEST + 1))
    assert versions() == list(range(1, LATEST + 1))


def test_a_database_without_version_stamps_is_upgraded_in_place(empty_app):
    """A database created before versioning: version-1 tables and rows, nothing stamped."""
    upgrade(target=1)
    fill_with_version_1_models(empty_app.config["CATALOG_PATH"])
    with db.connection_context():
        SchemaVersion.delete().execute()
        columns = columns_of_every_table()
        before = rows_of(columns)
    assert upgrade() == list(range(1, LATEST + 1))
    with db.connection_context():
        kept = kept_columns(columns, 1)
        assert rows_of(kept) == rows_of_columns(before, columns, kept)


def test_version_3_records_the_price_paid_from_the_catalog_in_force(empty_app):
    """Existing active subscriptions get the catalog's price for their frequency as the price
    paid; trials get none; a database with plans starts at catalog version 1."""
    upgrade(target=2)
    fill_with_version_1_models(empty_app.config["CATALOG_PATH"])
    assert upgrade() == list(range(3, LATEST + 1))
    with db.connection_context():
        rows = db.execute_sql(
            'SELECT s.status, s.frequency, s.price_cents, s.currency, p.monthly_cents, '
            'p.annual_cents FROM "subscription" s JOIN "plan" p ON p.id = s.plan_id').fetchall()
        assert rows
        for status, frequency, price, currency, monthly, annual in rows:
            expected = (annual if frequency == "annual" else monthly) if status == "active" \
                else None
            assert (price, currency) == (expected, "EUR"), (status, frequency)
        assert db.execute_sql('SELECT version FROM "catalog_version"').fetchall() == [(1,)]
        assert not any(retired for (retired,) in
                       db.execute_sql('SELECT retired FROM "plan"').fetchall())
