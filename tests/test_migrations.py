"""Schema creation and upgrading an existing database without losing data."""
import pytest
from peewee import IntegrityError

from conftest import Browser, GIULIA, PASSWORD
from portal import create_app
from portal.core.db import db, is_sqlite
from portal.core.migrations import LATEST, MIGRATIONS, SchemaVersion, current_version, upgrade
from portal.core.models import (ALL_MODELS, AuditEvent, CartItem, LicenseAssignment, Order, Plan,
                           Subscription, User, audit)


@pytest.fixture
def empty_app(database_url):
    return create_app({"TESTING": True, "DATABASE_URL": database_url,
                       "SECRET_KEY": "test-secret", "FIXED_TODAY": "2026-11-26"})


def columns(table):
    with db.connection_context():
        return {c.name for c in db.get_columns(table)}


def versions():
    with db.connection_context():
        return [row.version for row in SchemaVersion.select().order_by(SchemaVersion.version)]


def test_migrations_are_numbered_in_order():
    numbers = [number for number, _, _ in MIGRATIONS]
    assert numbers == list(range(1, len(numbers) + 1))
    assert LATEST == numbers[-1]


def test_upgrade_creates_a_new_database_at_the_latest_version(empty_app):
    assert upgrade() == [number for number, _, _ in MIGRATIONS]
    assert versions() == [number for number, _, _ in MIGRATIONS]
    with db.connection_context():
        assert current_version() == LATEST
        assert all(model.table_exists() for model in ALL_MODELS)
    assert upgrade() == []
    assert versions() == [number for number, _, _ in MIGRATIONS]


def test_current_version_of_an_empty_database(empty_app):
    with db.connection_context():
        assert current_version() == 0


def make_version_1(app):
    """The demo database as it was before migration 2 (no login-throttling columns)."""
    with db.connection_context():
        db.execute_sql('ALTER TABLE "user" DROP COLUMN failed_logins')
        db.execute_sql('ALTER TABLE "user" DROP COLUMN locked_until')
        SchemaVersion.delete().where(SchemaVersion.version > 1).execute()
    assert "failed_logins" not in columns("user")
    assert versions() == [1]


def add_version_1_data():
    """Rows that point at users, written the way version 1 could: raw SQL, no new columns."""
    with db.connection_context():
        giulia = User.select(User.id, User.account).where(User.email == GIULIA).get()
        subscription = Subscription.get_by_id(1)
        plan = Plan.get(Plan.code == "webinar-pro")
        db.execute_sql(
            'INSERT INTO cart_item (user_id, subscription_id, plan_id, licenses, frequency, '
            "created_at) VALUES ({p}, {p}, {p}, 6, 'monthly', '2026-11-20 10:00:00')".format(p=db.param),
            (giulia.id, subscription.id, plan.id))
        db.execute_sql(
            'INSERT INTO "order" (account_id, user_id, idempotency_key, fingerprint, '
            "subtotal_cents, vat_rate, vat_reason, vat_cents, total_cents, applied_cents, "
            "due_cents, credit_added_cents, created_at) VALUES ({p}, {p}, 'key-1', 'fp', 1000, "
            "'0.22', 'it_vat', 220, 1220, 0, 1220, 0, '2026-11-20 10:00:00')".format(p=db.param),
            (giulia.account_id, giulia.id))
        db.execute_sql(
            "INSERT INTO audit_event (account_id, user_id, action, details, created_at) "
            "VALUES ({p}, {p}, 'order.placed', '{{}}', '2026-11-20 10:00:00')".format(p=db.param),
            (giulia.account_id, giulia.id))


def snapshot():
    """What must survive the upgrade, row by row."""
    with db.connection_context():
        return {
            "users": sorted(User.select(User.id, User.email, User.name, User.password_hash,
                                        User.session_token, User.account)
                            .tuples()),
            "assignments": sorted(LicenseAssignment.select(LicenseAssignment.subscription,
                                                           LicenseAssignment.user).tuples()),
            "cart": sorted(CartItem.select(CartItem.user, CartItem.licenses).tuples()),
            "orders": sorted(Order.select(Order.user, Order.total_cents).tuples()),
            "audit": sorted(AuditEvent.select(AuditEvent.user, AuditEvent.action).tuples()),
        }


def test_cli_upgrade_of_a_version_1_database_keeps_the_data(app):
    make_version_1(app)
    add_version_1_data()
    before = snapshot()
    assert len(before["users"]) == 8 and len(before["assignments"]) == 4
    assert before["cart"] and before["orders"] and before["audit"]

    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, (result.output, result.exc_info)
    assert "Applied migrations: 2" in result.output
    assert f"Database at schema version {LATEST}." in result.output

    assert {"failed_logins", "locked_until"} <= columns("user")
    assert versions() == [1, 2]
    assert snapshot() == before
    with db.connection_context():
        assert {(u.failed_logins, u.locked_until) for u in User.select()} == {(0, None)}


def test_upgraded_database_keeps_constraints_and_works(app):
    make_version_1(app)
    app.test_cli_runner().invoke(args=["db", "upgrade"])
    with db.connection_context():
        giulia = User.get(User.email == GIULIA)
        with pytest.raises(IntegrityError), db.atomic():
            User.create(email=GIULIA, name="Copy", password_hash="x", account=giulia.account)
        with pytest.raises(IntegrityError), db.atomic():
            User.create(email="x@example.it", name="Bad role", password_hash="x",
                        account=giulia.account, role="admin")
        User.create(email="n@example.it", name="N", password_hash="x", account=giulia.account)
        assert User.get(User.email == "n@example.it").failed_logins == 0
        if is_sqlite():
            assert db.execute_sql("PRAGMA foreign_key_check").fetchall() == []
            assert db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
        audit(giulia.account, giulia, "test.after_upgrade")
    browser = Browser(app.test_client())
    browser.login(GIULIA, PASSWORD)
    assert browser.get("/").status_code == 200


def test_upgrade_of_a_version_1_database_that_has_no_users(empty_app):
    from portal.core.migrations import _initial
    with db.connection_context():
        db.create_tables([SchemaVersion])
        _initial(None)
        SchemaVersion.create(version=1)
        db.execute_sql('ALTER TABLE "user" DROP COLUMN failed_logins')
        db.execute_sql('ALTER TABLE "user" DROP COLUMN locked_until')
    assert upgrade() == [2]
    assert {"failed_logins", "locked_until"} <= columns("user")


def test_a_database_without_version_stamps_is_upgraded_in_place(app):
    """A database created before versioning: tables exist, nothing is stamped."""
    with db.connection_context():
        SchemaVersion.delete().execute()
    before = snapshot()
    assert upgrade() == [1, 2]
    assert snapshot() == before
