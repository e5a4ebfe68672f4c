"""Operator commands: db upgrade, catalog load, demo seed, users create, accounts list, and
the progress of long ones."""
import datetime as dt
import io

import pytest

from conftest import Browser, GIULIA, PASSWORD
from portal import create_app
from portal.cli.progress import Progress
from portal.core.db import db
from portal.core.migrations import LATEST
from portal.core.models import Account, Plan, Product, Subscription, User

BROKEN_TOML = 'products = [\n  { code = "webinar", name = \n'


@pytest.fixture
def empty_app(database_url):
    """An app on a database nothing has been created in yet."""
    return create_app({"TESTING": True, "DATABASE_URL": database_url,
                       "SECRET_KEY": "test-secret", "FIXED_TODAY": "2026-11-26"})


def invoke(app, *args, input=None):
    """Run ``flask <args>`` against ``app``."""
    return app.test_cli_runner().invoke(args=list(args), input=input)


def count(model, *where):
    with db.connection_context():
        query = model.select()
        return (query.where(*where) if where else query).count()


def assert_clean_error(result, text):
    """The command failed with a one-line message, not a traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in result.output
    assert text in result.output


# --- db upgrade --------------------------------------------------------------------------------

def test_db_upgrade_creates_the_schema(empty_app):
    result = invoke(empty_app, "db", "upgrade")
    assert result.exit_code == 0, result.output
    assert f"Applied migrations: {', '.join(map(str, range(1, LATEST + 1)))}\n" in result.output
    assert f"Database at schema version {LATEST}." in result.output
    with db.connection_context():
        assert {"account", "user", "subscription", "schema_version"} <= set(db.get_tables())


def test_db_upgrade_twice_applies_nothing(empty_app):
    invoke(empty_app, "db", "upgrade")
    result = invoke(empty_app, "db", "upgrade")
    assert result.exit_code == 0
    assert "Applied" not in result.output
    assert f"Database at schema version {LATEST}." in result.output


# --- catalog load ------------------------------------------------------------------------------

def test_catalog_load_default_file(empty_app):
    invoke(empty_app, "db", "upgrade")
    result = invoke(empty_app, "catalog", "load")
    assert result.exit_code == 0, result.output
    assert "Loaded 2 products and 6 plans from" in result.output
    with db.connection_context():
        standard = Plan.get(Plan.code == "webinar-standard")
        assert (standard.monthly_cents, standard.annual_cents, standard.tier) == (11900, 118800, 2)
        enterprise = Plan.get(Plan.code == "webinar-enterprise")
        assert enterprise.self_service is False and enterprise.monthly_cents is None


def test_catalog_load_again_updates_in_place(app, tmp_path):
    path = tmp_path / "catalog.toml"
    text = open(app.config["CATALOG_PATH"], encoding="utf-8").read()
    path.write_text(text.replace("monthly_cents = 11900", "monthly_cents = 12900"))
    result = invoke(app, "catalog", "load", str(path))
    assert result.exit_code == 0, result.output
    assert count(Plan) == 6 and count(Product) == 2
    with db.connection_context():
        assert Plan.get(Plan.code == "webinar-standard").monthly_cents == 12900
        # Subscriptions still point at the same plan rows.
        assert Subscription.get_by_id(1).plan.code == "webinar-standard"


@pytest.mark.parametrize("content, message", [
    (BROKEN_TOML, "catalog.toml"),
    ("title = 'no products'\n", "the catalog has no [[products]]"),
    ('[[products]]\ncode = "x"\nname = "X"\n[[products.plans]]\ncode = "x1"\nname = "X1"\n'
     'tier = "one"\nmonthly_cents = 1\nannual_cents = 1\n', "tier must be an integer"),
    ('[[products]]\ncode = "x"\nname = "X"\n[[products.plans]]\ncode = "x1"\nname = "X1"\n'
     'tier = 1\nmonthly_cents = 1.5\nannual_cents = 1\n', "monthly_cents must be a whole number"),
    ('[[products]]\ncode = "x"\nname = "X"\n[[products.plans]]\ncode = "x1"\nname = "X1"\n'
     'tier = 1\nmonthly_cents = 1\nannual_cents = 1\nfeatures = ["teleport"]\n',
     "unknown feature 'teleport'"),
    ("\xff\xfe not utf-8", "catalog.toml"),
])
def test_catalog_load_broken_file_gives_a_clear_error(app, tmp_path, content, message):
    path = tmp_path / "catalog.toml"
    path.write_bytes(content.encode("latin-1") if content.startswith("\xff") else
                     content.encode("utf-8"))
    result = invoke(app, "catalog", "load", str(path))
    assert_clean_error(result, message)
    assert f"Error: {path}:" in result.output
    assert count(Plan) == 6  # nothing changed


def test_catalog_load_missing_file(app, tmp_path):
    result = invoke(app, "catalog", "load", str(tmp_path / "nope.toml"))
    assert result.exit_code == 2
    assert "does not exist" in result.output


# --- demo seed ---------------------------------------------------------------------------------

def test_demo_seed_into_an_empty_database(make_app):
    app = make_app(seed=False)
    result = invoke(app, "demo", "seed")
    assert result.exit_code == 0, result.output
    assert "Demo data seeded. Logins (password demo1234):" in result.output
    assert GIULIA in result.output
    # SPEC §5: Rossi Eventi and Globex, and the lifecycle's Marino and Costa
    assert count(Account) == 4 and count(User) == 10 and count(Subscription) == 5
    browser = Browser(app.test_client())
    browser.login(GIULIA, PASSWORD)


def test_demo_seed_refuses_a_database_with_accounts(app):
    result = invoke(app, "demo", "seed")
    assert_clean_error(result, "The database already holds accounts.")
    assert count(Account) == 2


def test_demo_seed_if_empty_does_nothing_when_accounts_exist(app):
    result = invoke(app, "demo", "seed", "--if-empty")
    assert result.exit_code == 0
    assert "Accounts exist already: demo data not seeded." in result.output
    assert count(Account) == 2 and count(User) == 8


def test_demo_seed_if_empty_seeds_an_empty_database(make_app):
    app = make_app(seed=False)
    result = invoke(app, "demo", "seed", "--if-empty")
    assert result.exit_code == 0, result.output
    assert count(Account) == 4


def test_demo_seed_without_a_catalog_says_what_to_do(empty_app):
    invoke(empty_app, "db", "upgrade")
    result = invoke(empty_app, "demo", "seed")
    assert_clean_error(result, "load the catalog first")
    assert count(Account) == 0


# --- users create ------------------------------------------------------------------------------

def test_users_create_with_options(app):
    result = invoke(app, "users", "create", "--email", " New.User@Example.IT ",
                    "--name", "New User", "--account", "Rossi Eventi S.r.l.",
                    "--role", "billing_contact", "--password", "s3cret-pass")
    assert result.exit_code == 0, result.output
    assert "Created billing_contact new.user@example.it in Rossi Eventi S.r.l." in result.output
    with db.connection_context():
        created = User.get(User.email == "new.user@example.it")
        assert created.role == "billing_contact" and created.account.name == "Rossi Eventi S.r.l."
        assert created.password_hash != "s3cret-pass"
    browser = Browser(app.test_client())
    browser.login("new.user@example.it", "s3cret-pass")


def test_users_create_with_prompts(app):
    result = invoke(app, "users", "create",
                    input="p@example.it\nPia Prompt\nGlobex Italia S.p.A.\nlong-enough\n"
                          "long-enough\n")
    assert result.exit_code == 0, result.output
    assert "Email:" in result.output and "Account name:" in result.output
    assert "Repeat for confirmation:" in result.output
    assert "long-enough" not in result.output  # the password is not echoed
    with db.connection_context():
        created = User.get(User.email == "p@example.it")
        assert (created.name, created.role, created.account.kind) == (
            "Pia Prompt", "member", "corporate")


def test_users_create_password_confirmation_must_match(app):
    result = invoke(app, "users", "create", "--email", "q@example.it", "--name", "Q",
                    "--account", "Rossi Eventi S.r.l.",
                    input="first-password\nother-password\nfirst-password\nfirst-password\n")
    assert result.exit_code == 0, result.output
    assert "Error: The two entered values do not match." in result.output


@pytest.mark.parametrize("email", [GIULIA, "GIULIA.ROSSI@example.it", " giulia.rossi@EXAMPLE.it"])
def test_users_create_refuses_a_duplicate_email(app, email):
    result = invoke(app, "users", "create", "--email", email, "--name", "Giulia Two",
                    "--account", "Rossi Eventi S.r.l.", "--password", "long-enough")
    assert_clean_error(result, "exists already")
    assert count(User) == 8


def test_users_create_refuses_a_short_password(app):
    result = invoke(app, "users", "create", "--email", "s@example.it", "--name", "S",
                    "--account", "Rossi Eventi S.r.l.", "--password", "short")
    assert_clean_error(result, "The password must be at least 8 characters long.")
    assert count(User, User.email == "s@example.it") == 0


def test_users_create_refuses_an_unknown_account(app):
    result = invoke(app, "users", "create", "--email", "s@example.it", "--name", "S",
                    "--account", "Nobody Ltd", "--password", "long-enough")
    assert_clean_error(result, "No account named 'Nobody Ltd'.")


def test_users_create_refuses_an_unknown_role(app):
    result = invoke(app, "users", "create", "--email", "s@example.it", "--name", "S",
                    "--account", "Rossi Eventi S.r.l.", "--role", "admin",
                    "--password", "long-enough")
    assert result.exit_code == 2
    assert count(User, User.email == "s@example.it") == 0


def test_users_create_refuses_an_invalid_email(app):
    result = invoke(app, "users", "create", "--email", "not-an-email", "--name", "S",
                    "--account", "Rossi Eventi S.r.l.", "--password", "long-enough")
    assert_clean_error(result, "not a valid email address")
    assert count(User) == 8


# --- accounts list -----------------------------------------------------------------------------

def test_accounts_list(app):
    result = invoke(app, "accounts", "list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 2
    globex, rossi = lines  # sorted by name
    assert "Globex Italia S.p.A." in globex and "corporate" in globex and "users 2" in globex
    assert "balance       0.00" in globex
    assert "Rossi Eventi S.r.l." in rossi and "self_service" in rossi and " IT " in rossi
    assert "balance      50.00" in rossi and "users 6" in rossi


def test_accounts_list_shows_an_account_without_users(app):
    with db.connection_context():
        Account.create(name="Zeta Empty", kind="self_service", country="DE")
    last = invoke(app, "accounts", "list").output.splitlines()[-1]
    assert "Zeta Empty" in last and "users 0" in last


def test_orders_reconcile_command_reports_what_it_did(runner):
    result = runner.invoke(args=["orders", "reconcile"])
    assert result.exit_code == 0, result.output
    assert "completed: 0, released: 0, refund_due: 0, skipped: 0" in result.output


# --- progress of long work (billing run, invoices export) --------------------------------------

class Terminal(io.StringIO):
    """Output that says it is a terminal, as a shell's is."""

    def isatty(self):
        return True


def ticking(step=0.5):
    """A clock that moves ``step`` seconds each time it is read."""
    now = iter(range(10_000))
    return lambda: next(now) * step


def test_progress_in_a_terminal_is_a_bar_with_count_and_estimate():
    screen = Terminal()
    with Progress("Subscriptions due", file=screen) as progress:
        assert progress.interactive
        for done in range(0, 4):
            progress(done, 3)
    shown = screen.getvalue()
    assert "Subscriptions due" in shown and "3/3" in shown and "\r" in shown
    assert "Subscriptions due:" not in shown  # no summary line under the bar


def test_progress_elsewhere_is_one_summary_line():
    log = io.StringIO()
    with Progress("Subscriptions due", file=log, clock=ticking()) as progress:
        assert not progress.interactive
        for done in range(0, 4):
            progress(done, 3)
    assert log.getvalue() == "Subscriptions due: 3 of 3 in 0.5 s, 6.0/s\n"


def test_the_tty_decision_can_be_made_by_the_caller():
    screen = Terminal()
    with Progress("Work", file=screen, interactive=False, clock=ticking()) as progress:
        progress(0, 0)
    assert screen.getvalue() == "Work: 0 of 0 in 0.5 s\n"
    log = io.StringIO()
    with Progress("Work", file=log, interactive=True, summary=False) as progress:
        progress(0, 2)
        progress(2, 2)
    assert "Work:" not in log.getvalue()


def test_billing_run_hears_progress_per_due_subscription(app):
    from portal.lifecycle.renewals import run_billing
    calls = []
    with app.app_context(), db.connection_context():
        run_billing(dt.date(2026, 12, 10), progress=lambda done, total: calls.append(
            (done, total)))
    assert calls == [(0, 1), (1, 1)]  # the demo's Webinar subscription is due that day


def test_billing_run_not_in_a_terminal_writes_one_progress_line(app):
    result = invoke(app, "billing", "run", "--today", "2026-12-10")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    progress = [line for line in lines if line.startswith("Subscriptions due:")]
    assert len(progress) == 1 and progress[0].startswith("Subscriptions due: 1 of 1 in ")
    assert "renewed: 0" in lines and "failed: 1" in lines  # no card saved: it failed
    assert "\r" not in result.output


def test_invoices_export_not_in_a_terminal_writes_one_line(app, tmp_path):
    result = invoke(app, "invoices", "export", "--since", "2026-01-01", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert result.output == f"0 FatturaPA file(s) written to {tmp_path / 'out'}.\n"


def test_db_backup_on_postgresql_points_to_pg_dump(tmp_path):
    """``db backup`` copies SQLite files; on PostgreSQL it refuses and says what to use
    (nothing is connected to: the URL's engine decides). Runs on both test engines; the
    copy itself is tests/test_backup.py's, SQLite only."""
    app = create_app({"TESTING": True, "SECRET_KEY": "test-secret",
                      "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/nothing"})
    result = app.test_cli_runner().invoke(args=["db", "backup", str(tmp_path / "copy.db")])
    assert result.exit_code == 1
    assert "for PostgreSQL use pg_dump" in result.output
    assert not (tmp_path / "copy.db").exists()
