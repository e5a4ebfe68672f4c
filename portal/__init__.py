"""Centro fatturazione: a self-hostable billing portal for SaaS subscriptions."""
import os

from flask import Flask

from . import config as defaults

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ConfigurationError(RuntimeError):
    """The configuration would make the portal unsafe or unable to run."""


#: What the portal reads from the top level of its checkout.
RESOURCES = ("templates", "static", "translations", "catalog.toml")


def create_app(test_config=None):
    """Application factory: defaults, then ``instance/config.py``, then the environment."""
    missing = [name for name in RESOURCES if not os.path.exists(os.path.join(ROOT, name))]
    if missing:
        raise ConfigurationError(
            f"Centro fatturazione runs from a checkout of its repository, and {ROOT} lacks "
            f"{', '.join(missing)}: install it with `make run` (an editable install) instead "
            "of `pip install .`.")
    app = Flask(
        __name__,
        instance_path=os.environ.get("PORTAL_INSTANCE_PATH", os.path.join(ROOT, "instance")),
        instance_relative_config=True,
        template_folder=os.path.join(ROOT, "templates"),
        static_folder=os.path.join(ROOT, "static"),
    )
    app.config.from_mapping(defaults.DEFAULTS)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.update(defaults.from_environment())
    else:
        app.config.update(test_config)
    _finish_config(app)

    from . import db, faults, i18n, security, throttle, web
    db.init_app(app)
    i18n.init_app(app)
    throttle.init_app(app)  # before CSRF, so that every attempt counts
    security.init_app(app)
    web.init_app(app)
    faults.init_app(app)  # a busy database answers 503 "try again", not a 500

    from . import audit, auth, change, checkout, cli, dashboard, invoices, licenses, pages
    for area in (auth, dashboard, change, checkout, licenses, invoices, audit, pages):
        if hasattr(area, "init_app"):
            area.init_app(app)
        app.register_blueprint(area.bp)
    cli.init_app(app)
    if app.config.get("BENCHMARK_MODE"):
        from . import bench
        app.register_blueprint(bench.bp)
    return app


def _finish_config(app):
    """Derive defaults that depend on other settings and refuse unsafe ones."""
    cfg = app.config
    if not cfg.get("DATABASE_URL"):
        cfg["DATABASE_URL"] = "sqlite:///" + os.path.join(app.instance_path, "portal.sqlite3")
    if not cfg.get("CATALOG_PATH"):
        cfg["CATALOG_PATH"] = os.path.join(ROOT, "catalog.toml")
    production = cfg["ENV_NAME"] == "production"
    secret = cfg.get("SECRET_KEY") or ""
    if production and (secret == defaults.DEV_SECRET_KEY or len(secret) < 32):
        raise ConfigurationError(
            "Refusing to start in production with the development SECRET_KEY or a short "
            "one: set SECRET_KEY (or PORTAL_SECRET_KEY) to a long random value "
            "(at least 32 characters).")
    if cfg.get("SESSION_COOKIE_SECURE") is None:
        cfg["SESSION_COOKIE_SECURE"] = production
    cfg["REMEMBER_COOKIE_SECURE"] = cfg["SESSION_COOKIE_SECURE"]
