"""Centro fatturazione: a self-hostable billing portal for SaaS subscriptions."""
import os

from flask import Flask

from . import config as defaults

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ConfigurationError(RuntimeError):
    """The configuration would make the portal unsafe or unable to run."""


def create_app(test_config=None):
    """Application factory: defaults, then ``instance/config.py``, then the environment."""
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

    from . import db, i18n, security, throttle, web
    db.init_app(app)
    i18n.init_app(app)
    throttle.init_app(app)  # before CSRF, so that every attempt counts
    security.init_app(app)
    web.init_app(app)

    from . import auth, cli, dashboard, pages
    app.register_blueprint(auth.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(pages.bp)
    for name in ("change", "checkout", "licenses", "invoices", "audit"):
        _register_optional(app, name)
    cli.init_app(app)
    return app


def _register_optional(app, name):
    """Register the blueprint of an area of the product when its module is present."""
    import importlib
    try:
        module = importlib.import_module(f"portal.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"portal.{name}":
            raise
        return
    if hasattr(module, "init_app"):
        module.init_app(app)
    app.register_blueprint(module.bp)


def _finish_config(app):
    """Derive defaults that depend on other settings and refuse unsafe ones."""
    cfg = app.config
    if not cfg.get("DATABASE_URL"):
        cfg["DATABASE_URL"] = "sqlite:///" + os.path.join(app.instance_path, "portal.sqlite3")
    if not cfg.get("CATALOG_PATH"):
        cfg["CATALOG_PATH"] = os.path.join(ROOT, "catalog.toml")
    production = cfg["ENV_NAME"] == "production"
    if production and cfg["SECRET_KEY"] == defaults.DEV_SECRET_KEY:
        raise ConfigurationError(
            "Refusing to start in production with the development SECRET_KEY: "
            "set SECRET_KEY (or PORTAL_SECRET_KEY) to a long random value.")
    if cfg.get("SESSION_COOKIE_SECURE") is None:
        cfg["SESSION_COOKIE_SECURE"] = production
    cfg["REMEMBER_COOKIE_SECURE"] = cfg["SESSION_COOKIE_SECURE"]
