"""Configuration: defaults, instance file, environment variables, unsafe settings refused."""
import pytest

from portal import ConfigurationError, create_app
from portal.core.config import DEV_SECRET_KEY, environment_settings

ENV_NAMES = ["SECRET_KEY", "DATABASE_URL", "ENV_NAME", "CORPORATE_PORTAL_URL", "SUPPORT_EMAIL",
             "SUPPORT_PHONE", "SALES_EMAIL", "SELLER_NAME", "SELLER_ADDRESS",
             "SELLER_VAT_NUMBER", "PAYMENT_GATEWAY", "FIXED_TODAY", "CATALOG_PATH",
             "PROXY_FIX", "RATELIMIT_STORAGE_URI", "SESSION_COOKIE_SECURE", ]


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A clean environment and an empty instance folder, so only what a test sets counts."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv("PORTAL_" + name, raising=False)
    instance = tmp_path / "instance"
    instance.mkdir()
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(instance))
    return monkeypatch


def test_development_defaults(env, tmp_path):
    app = create_app()
    assert app.config["ENV_NAME"] == "development"
    assert app.config["DATABASE_URL"] == (
        "sqlite:///" + str(tmp_path / "instance" / "portal.sqlite3"))
    assert app.config["CATALOG_PATH"].endswith("catalog.toml")
    assert app.config["BABEL_DEFAULT_LOCALE"] == "it"
    assert app.config["SESSION_COOKIE_SECURE"] is False
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_production_refuses_the_development_secret_key(env):
    env.setenv("PORTAL_ENV_NAME", "production")
    with pytest.raises(ConfigurationError, match="development SECRET_KEY"):
        create_app()


def test_production_refuses_the_development_secret_key_in_test_config(tmp_path):
    with pytest.raises(ConfigurationError):
        create_app({"ENV_NAME": "production", "SECRET_KEY": DEV_SECRET_KEY,
                    "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"})


def test_production_with_a_real_secret_key_starts_with_secure_cookies(env):
    env.setenv("PORTAL_ENV_NAME", "production")
    env.setenv("PORTAL_SECRET_KEY", "a-long-random-production-secret-value")
    app = create_app()
    assert app.config["SECRET_KEY"] == "a-long-random-production-secret-value"
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SECURE"] is True


def test_configuration_from_environment_variables(env, tmp_path):
    url = f"sqlite:///{tmp_path / 'from-env.sqlite3'}"
    env.setenv("PORTAL_DATABASE_URL", url)
    env.setenv("PORTAL_SECRET_KEY", "from-env")
    env.setenv("PORTAL_CORPORATE_PORTAL_URL", "https://corp.example")
    env.setenv("PORTAL_SUPPORT_EMAIL", "help@example.org")
    env.setenv("PORTAL_FIXED_TODAY", "2026-01-31")
    env.setenv("PORTAL_CATALOG_PATH", str(tmp_path / "my-catalog.toml"))
    app = create_app()
    assert app.config["DATABASE_URL"] == url
    assert app.config["SECRET_KEY"] == "from-env"
    assert app.config["CORPORATE_PORTAL_URL"] == "https://corp.example"
    assert app.config["SUPPORT_EMAIL"] == "help@example.org"
    assert app.config["CATALOG_PATH"] == str(tmp_path / "my-catalog.toml")
    from portal.core.db import db
    assert db.obj.database == str(tmp_path / "from-env.sqlite3")
    with app.app_context():
        from portal.core.clock import today_in
        assert today_in().isoformat() == "2026-01-31"


def test_environment_overrides_the_instance_file(env, tmp_path):
    (tmp_path / "instance" / "config.py").write_text(
        "SUPPORT_PHONE = '+39 06 1111'\nSALES_EMAIL = 'file@example.it'\n")
    env.setenv("PORTAL_SALES_EMAIL", "env@example.it")
    app = create_app()
    assert app.config["SUPPORT_PHONE"] == "+39 06 1111"
    assert app.config["SALES_EMAIL"] == "env@example.it"


def test_instance_file_secret_key_counts_in_production(env, tmp_path):
    (tmp_path / "instance" / "config.py").write_text(
        "SECRET_KEY = 'instance-file-secret-0123456789abcdef'\nENV_NAME = 'production'\n")
    app = create_app()
    assert app.config["SECRET_KEY"] == "instance-file-secret-0123456789abcdef"
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_short_secret_key_is_refused_in_production(env, tmp_path):
    (tmp_path / "instance" / "config.py").write_text(
        "SECRET_KEY = 'short'\nENV_NAME = 'production'\n")
    with pytest.raises(ConfigurationError, match="at least 32 characters"):
        create_app()


@pytest.mark.parametrize("raw, expected", [("1", True), ("true", True), ("Yes", True),
                                           ("on", True), ("0", False), ("false", False),
                                           ("no", False)])
def test_boolean_environment_values(env, raw, expected):
    env.setenv("PORTAL_SESSION_COOKIE_SECURE", raw)
    assert create_app().config["SESSION_COOKIE_SECURE"] is expected


def test_environment_conversions_and_precedence(env):
    for name, value in {
        "PORTAL_PROXY_FIX": "2",
        "PORTAL_DATABASE_URL": "postgresql://portal@db/portal",
        "DATABASE_URL": "sqlite:///ignored.sqlite3",  # the prefixed name wins
        "SECRET_KEY": "plain-name",                   # a plain name is read too
        "PORTAL_SUPPORT_PHONE": "",                   # empty means unset
        "SALES_EMAIL": "",                            # for a plain name too
        "PORTAL_SELLER_VAT_NUMBER": "10215",          # documented settings stay text
        "PORTAL_LICENSES_PAGE_SIZE": "50",            # any other setting: JSON, as Flask reads
        "PORTAL_SUPPORT_HOURS": "9-18",               # ... or text
        "UNKNOWN_SETTING": "x",                       # only documented plain names count
    }.items():
        env.setenv(name, value)
    settings = environment_settings()
    assert {name: settings[name] for name in settings if name != "INSTANCE_PATH"} == {
        "PROXY_FIX": 2, "DATABASE_URL": "postgresql://portal@db/portal",
        "SECRET_KEY": "plain-name", "SELLER_VAT_NUMBER": "10215", "LICENSES_PAGE_SIZE": 50,
        "SUPPORT_HOURS": "9-18"}


def test_session_cookie_secure_can_be_forced_in_development(env):
    env.setenv("PORTAL_SESSION_COOKIE_SECURE", "true")
    app = create_app()
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SECURE"] is True


def test_proxy_fix_trusts_forwarded_headers(env, tmp_path):
    env.setenv("PORTAL_PROXY_FIX", "1")
    env.setenv("PORTAL_DATABASE_URL", f"sqlite:///{tmp_path / 'p.sqlite3'}")
    app = create_app()
    response = app.test_client().get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" in response.headers


def test_without_proxy_fix_forwarded_headers_are_ignored(env, tmp_path):
    env.setenv("PORTAL_DATABASE_URL", f"sqlite:///{tmp_path / 'p.sqlite3'}")
    app = create_app()
    response = app.test_client().get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers


@pytest.mark.parametrize("raw", ["Production", "PRODUCTION", " production "])
def test_production_env_name_is_recognised_in_any_case(env, raw):
    env.setenv("PORTAL_ENV_NAME", raw)
    with pytest.raises(ConfigurationError):
        create_app()
