"""Operator commands: ``flask --app portal db|catalog|demo|users|accounts|orders ...``."""
import datetime as dt
from decimal import Decimal

import click
from flask import current_app
from flask.cli import AppGroup
from peewee import JOIN, fn

from portal.accounts.forms import PASSWORD_MIN
from portal.accounts.members import InvitationUnusable, accept_invitation
from portal.accounts.users import normalize_email, valid_email
from portal.catalog.store import CatalogError, load_catalog
from portal.checkout.orders import RESERVATION_TIMEOUT, reconcile_pending_orders
from portal.core.clock import today_in
from portal.core.db import backup_sqlite, db, is_sqlite
from portal.core.migrations import LATEST, upgrade
from portal.core.models import Account, LoginLock, MemberInvitation, User, audit
from portal.demo import DEMO_LOGINS, DEMO_PASSWORD, make_user, seed_demo

db_cli = AppGroup("db", help="Create, upgrade and back up the database.")
catalog_cli = AppGroup("catalog", help="Load the product catalog.")
demo_cli = AppGroup("demo", help="Demo data.")
users_cli = AppGroup("users", help="Manage users.")
accounts_cli = AppGroup("accounts", help="Inspect accounts.")
orders_cli = AppGroup("orders", help="Orders between their steps.")

@orders_cli.command("reconcile")
@click.option("--older-than", "minutes", type=click.IntRange(min=0),
              default=int(RESERVATION_TIMEOUT.total_seconds() // 60), show_default=True,
              help="Minutes after which an order between its steps is finished or undone.")
def orders_reconcile(minutes):
    """Complete paid orders left between their steps; release the unpaid ones."""
    outcomes = reconcile_pending_orders(timeout=dt.timedelta(minutes=minutes))
    click.echo(", ".join(f"{name}: {count}" for name, count in outcomes.items()))


@db_cli.command("upgrade")
def db_upgrade():
    """Create the schema, or upgrade an existing database to the newest version."""
    applied = upgrade()
    if applied:
        click.echo(f"Applied migrations: {', '.join(map(str, applied))}")
    click.echo(f"Database at schema version {LATEST}.")


@db_cli.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
def db_backup(path):
    """Copy a live SQLite database to PATH, consistently (SQLite's online backup API)."""
    if not is_sqlite():
        raise click.ClickException(
            "db backup copies SQLite databases; for PostgreSQL use pg_dump (see README).")
    pages = backup_sqlite(path)
    click.echo(f"Backed up {pages} pages to {path}.")


@catalog_cli.command("load")
@click.argument("path", required=False, type=click.Path(exists=True, dir_okay=False))
def catalog_load(path):
    """Load (or update) products and plans from PATH (default: CATALOG_PATH)."""
    path = path or current_app.config["CATALOG_PATH"]
    try:
        with db.connection_context():
            result = load_catalog(path)
    except (CatalogError, ValueError) as exc:
        # ValueError covers TOML syntax errors and a file that is not UTF-8.
        raise click.ClickException(f"{path}: {exc}")
    for change in result.changes:
        click.echo("  " + describe_change(change))
    if result.changes:
        click.echo(f"Catalog version {result.version} is in force: new prices apply to orders "
                   "at once and to existing subscriptions from their next renewal.")
    else:
        click.echo(f"No changes: catalog version {result.version} stays in force.")
    click.echo(f"Loaded {result.products} products and {result.plans} plans from {path}.")


def describe_change(change):
    """One line of ``catalog load``'s report."""
    if change["kind"] == "product":
        return f"{change['product']}: product name or position changed"
    plan = change["plan"]
    if change["kind"] == "price":
        def amount(cents):
            return "none" if cents is None else f"{Decimal(cents) / 100:.2f} {change['currency']}"
        return (f"{plan}: {change['frequency']} price {amount(change['old'])} -> "
                f"{amount(change['new'])}")
    return {"added": f"{plan}: added", "retired": f"{plan}: retired (no longer sold)",
            "restored": f"{plan}: on sale again",
            "details": f"{plan}: name, tier or features changed",
            "moved": f"{plan}: moved to product {change.get('product')}"}[change["kind"]]


@demo_cli.command("seed")
@click.option("--if-empty", is_flag=True, help="Do nothing when accounts already exist.")
def demo_seed(if_empty):
    """Seed the demo accounts of the specification."""
    with db.connection_context():
        if Account.select().exists():
            if if_empty:
                click.echo("Accounts exist already: demo data not seeded.")
                return
            raise click.ClickException("The database already holds accounts.")
        try:
            seed_demo(today_in())
        except RuntimeError as exc:  # the catalog is not loaded yet
            raise click.ClickException(str(exc))
    click.echo("Demo data seeded. Logins (password %s):" % DEMO_PASSWORD)
    for email, what in DEMO_LOGINS:
        click.echo(f"  {email:28} {what}")


@users_cli.command("create")
@click.option("--email", prompt=True)
@click.option("--name", prompt=True)
@click.option("--account", "account_name", prompt="Account name")
@click.option("--role", type=click.Choice(["billing_contact", "member"]), default="member",
              show_default=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def users_create(email, name, account_name, role, password):
    """Create a user in an existing account (prompts for the password)."""
    if not valid_email(normalize_email(email)):
        raise click.ClickException(f"{email!r} is not a valid email address.")
    if len(password) < PASSWORD_MIN:
        raise click.ClickException(
            f"The password must be at least {PASSWORD_MIN} characters long.")
    with db.connection_context():
        account = Account.get_or_none(Account.name == account_name)
        if account is None:
            raise click.ClickException(f"No account named {account_name!r}.")
        if User.select().where(User.email == normalize_email(email)).exists():
            raise click.ClickException(f"A user with email {email!r} exists already.")
        make_user(account, email, name, role=role, password=password)
    click.echo(f"Created {role} {normalize_email(email)} in {account_name}.")


@users_cli.command("set-password")
@click.option("--email", prompt=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def users_set_password(email, password):
    """Set a user's password (users added from the license page have none they know)."""
    if len(password) < PASSWORD_MIN:
        raise click.ClickException(
            f"The password must be at least {PASSWORD_MIN} characters long.")
    with db.connection_context():
        user = User.get_or_none(User.email == normalize_email(email))
        if user is None:
            raise click.ClickException(f"No user with email {email!r}.")
        with db.atomic():
            user.replace_password(password)  # old cookies and login locks end
    click.echo(f"Password set for {normalize_email(email)}.")


@users_cli.command("unlock")
@click.argument("email")
def users_unlock(email):
    """End every login lock of a user (from every client address)."""
    with db.connection_context():
        user = User.get_or_none(User.email == normalize_email(email))
        if user is None:
            raise click.ClickException(f"No user with email {email!r}.")
        ended = LoginLock.delete().where(LoginLock.user == user.id).execute()
    click.echo(f"Unlocked {normalize_email(email)} ({ended} client address(es) had failed "
               "logins).")


@users_cli.command("invitations")
def users_invitations():
    """List the addresses billing contacts asked to add, oldest first."""
    with db.connection_context():
        rows = (MemberInvitation.select(MemberInvitation, Account)
                .join(Account).order_by(MemberInvitation.created_at, MemberInvitation.id))
        for invitation in rows:
            taken = User.select().where(User.email == invitation.email).exists()
            click.echo(f"{invitation.created_at:%Y-%m-%d %H:%M}  {invitation.email:40} "
                       f"{invitation.name:30} {invitation.account.name}"
                       + ("  (address already has a user)" if taken else ""))


@users_cli.command("accept-invitation")
@click.argument("email")
@click.option("--account", "account_name", prompt="Account name")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def users_accept_invitation(email, account_name, password):
    """Make an invitation a member of its account, once the address owner agreed."""
    if len(password) < PASSWORD_MIN:
        raise click.ClickException(
            f"The password must be at least {PASSWORD_MIN} characters long.")
    email = normalize_email(email)
    with db.connection_context(), db.atomic():
        invitation = (MemberInvitation.select().join(Account)
                      .where((MemberInvitation.email == email) & (Account.name == account_name))
                      .first())
        if invitation is None:
            raise click.ClickException(f"No invitation of {email!r} to {account_name!r}.")
        try:
            accept_invitation(invitation, password)
        except InvitationUnusable:
            raise click.ClickException(
                f"{email!r} already has a user (one address, one account): the invitation "
                "stays until the address owner settles which account it belongs to.") from None
    click.echo(f"Added member {email} to {account_name}.")


@accounts_cli.command("list")
def accounts_list():
    """List accounts with their kind, country, balance and users."""
    with db.connection_context():
        rows = (Account.select(Account, fn.COUNT(User.id).alias("user_count"))
                .join(User, JOIN.LEFT_OUTER, on=(User.account == Account.id))
                .group_by(Account.id).order_by(Account.name))
        for account in rows:
            click.echo(f"{account.id:>5}  {account.name:30} {account.kind:13} {account.country}  "
                       f"balance {Decimal(account.balance_cents) / 100:>10.2f}  "
                       f"users {account.user_count}")


GROUPS = (db_cli, catalog_cli, demo_cli, users_cli, accounts_cli, orders_cli)
