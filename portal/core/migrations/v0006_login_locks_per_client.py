"""Version 6: login locks per user and client, member invitations, shared rate-limit
counters, and the client address of payment attempts (issue 20).

- ``login_lock``: failed logins counted per user *and* client address, replacing the
  per-user ``failed_logins`` / ``locked_until`` columns, which let anyone keep any account
  locked. Existing per-user counters are dropped: at worst a guesser starts over.
- ``member_invitation``: an address a billing contact asked to add; the operator accepts it.
- ``rate_limit_counter``: Flask-Limiter's counters in the database, so that every gunicorn
  worker enforces one limit.
- ``payment_attempt.client`` and two indexes: failed payments are limited per account and
  per client.
"""
from peewee import (
    BigIntegerField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
)
from playhouse.migrate import migrate

description = "login locks per user and client, invitations, rate-limit counters"


class Version4Model(Model):
    class Meta:
        legacy_table_names = False


class Account(Version4Model):
    """Only what the foreign keys need (frozen)."""

    class Meta:
        table_name = "account"


class User(Version4Model):
    """Only what the foreign keys need (frozen)."""

    class Meta:
        table_name = "user"


class LoginLock(Version4Model):
    user = ForeignKeyField(User, backref="+", on_delete="CASCADE")
    client = CharField(max_length=64)
    failures = IntegerField()
    locked_until = DateTimeField(null=True)
    updated_at = DateTimeField()

    class Meta:
        table_name = "login_lock"
        indexes = ((("user", "client"), True),)


class MemberInvitation(Version4Model):
    account = ForeignKeyField(Account, backref="+", on_delete="CASCADE")
    email = CharField(max_length=254)
    name = CharField(max_length=200)
    invited_by = ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")
    created_at = DateTimeField()

    class Meta:
        table_name = "member_invitation"
        indexes = ((("account", "email"), True),)


class RateLimitCounter(Version4Model):
    key = CharField(max_length=255, primary_key=True)
    count = IntegerField()
    expires_ms = BigIntegerField()

    class Meta:
        table_name = "rate_limit_counter"


def upgrade(db, migrator):
    """Create the tables, add the column and its indexes, drop the per-user counters."""
    models = [LoginLock, MemberInvitation, RateLimitCounter]
    with db.bind_ctx(models + [Account, User]):
        db.create_tables(models)
    migrate(migrator.add_column("payment_attempt", "client",
                                CharField(max_length=64, null=True)),
            migrator.add_index("payment_attempt", ("account_id", "created_at"), False),
            migrator.add_index("payment_attempt", ("client", "created_at"), False))
    # Plain DROP COLUMN (SQLite >= 3.35, PostgreSQL): playhouse would rebuild "user" on
    # SQLite, and dropping the old table cascades to the rows that point at it.
    db.execute_sql('ALTER TABLE "user" DROP COLUMN "failed_logins"')
    db.execute_sql('ALTER TABLE "user" DROP COLUMN "locked_until"')
