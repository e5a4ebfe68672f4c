"""Operator commands: ``flask --app portal <group> <command>``."""
import click
from flask import current_app
from flask.cli import AppGroup

from .db import db
from .models import Account, User

db_cli = AppGroup("db", help="Create, upgrade and back up the database.")
catalog_cli = AppGroup("catalog", help="Load the product catalog.")
demo_cli = AppGroup("demo", help="Demo data.")
users_cli = AppGroup("users", help="Manage users.")
accounts_cli = AppGroup("accounts", help="Inspect accounts.")


@db_cli.command("upgrade")
def db_upgrade():
    """Create the schema, or upgrade an existing database to the newest version."""
    from .migrations import LATEST, upgrade
    applied = upgrade()
    if applied:
        click.echo(f"Applied migrations: {', '.join(map(str, applied))}")
    click.echo(f"Database at schema version {LATEST}.")


@catalog_cli.command("load")
@click.argument("path", required=False, type=click.Path(exists=True, dir_okay=False))
def catalog_load(path):
    """Load (or update) products and plans from PATH (default: CATALOG_PATH)."""
    from .catalog import CatalogError, load_catalog
    path = path or current_app.config["CATALOG_PATH"]
    try:
        with db.connection_context():
            products, plans = load_catalog(path)
    except CatalogError as exc:
        raise click.ClickException(f"{path}: {exc}")
    click.echo(f"Loaded {products} products and {plans} plans from {path}.")


@demo_cli.command("seed")
@click.option("--if-empty", is_flag=True, help="Do nothing when accounts already exist.")
def demo_seed(if_empty):
    """Seed the demo accounts of the specification."""
    from .clock import today_in
    from .seed import DEMO_LOGINS, DEMO_PASSWORD, seed_demo
    with db.connection_context():
        if Account.select().exists():
            if if_empty:
                click.echo("Accounts exist already: demo data not seeded.")
                return
            raise click.ClickException("The database already holds accounts.")
        seed_demo(today_in())
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
    from .auth import normalize_email
    from .seed import make_user
    if len(password) < 8:
        raise click.ClickException("The password must be at least 8 characters long.")
    with db.connection_context():
        account = Account.get_or_none(Account.name == account_name)
        if account is None:
            raise click.ClickException(f"No account named {account_name!r}.")
        if User.select().where(User.email == normalize_email(email)).exists():
            raise click.ClickException(f"A user with email {email!r} exists already.")
        make_user(account, email, name, role=role, password=password)
    click.echo(f"Created {role} {normalize_email(email)} in {account_name}.")


@accounts_cli.command("list")
def accounts_list():
    """List accounts with their kind, country, balance and users."""
    from peewee import fn
    with db.connection_context():
        rows = (Account.select(Account, fn.COUNT(User.id).alias("users"))
                .join(User, on=(User.account == Account.id), join_type="LEFT OUTER")
                .group_by(Account.id).order_by(Account.name))
        for account in rows:
            click.echo(f"{account.id:>5}  {account.name:30} {account.kind:13} {account.country}  "
                       f"balance {account.balance_cents / 100:>10.2f}  users {account.users}")


def init_app(app):
    """Register the command groups."""
    for group in (db_cli, catalog_cli, demo_cli, users_cli, accounts_cli):
        app.cli.add_command(group)
