"""Centro fatturazione: a self-hostable billing portal for SaaS subscriptions.

``create_app`` wires the core (database, i18n, security, HTTP helpers) and registers one
blueprint per feature package; ARCHITECTURE.md maps where each page and rule lives.
"""
import os

from flask import Flask

from portal import accounts, activity, checkout, cli, customers, help, invoices, licenses
from portal.accounts import profile, recovery
from portal.lifecycle import views as lifecycle
from portal.mail import views as mail
from portal.core import config, db, faults, http, i18n, scope, security, templating, throttle
from portal.core.config import ConfigurationError
from portal.subscriptions import change, dashboard

__all__ = ["create_app", "ConfigurationError", "Portal"]


class Portal(Flask):
    """Flask, with templates compiled per message catalog (``portal.core.templating``)."""

    jinja_environment = templating.PortalEnvironment

#: Feature blueprints, in the order their routes are registered.
FEATURES = (accounts, recovery, profile, dashboard, change, checkout, lifecycle, licenses, invoices, customers,
            activity, help, mail)


def create_app(test_config=None):
    """Application factory: defaults, then ``instance/config.py``, then the environment."""
    root = config.project_root()
    app = Portal(
        __name__,
        instance_path=os.environ.get("PORTAL_INSTANCE_PATH", os.path.join(root, "instance")),
        instance_relative_config=True,
        template_folder=os.path.join(root, "templates"),
        static_folder=os.path.join(root, "static"),
    )
    config.configure(app, test_config)

    scope.init_app(app)  # first: every application context of the app gets its values
    db.init_app(app)
    i18n.init_app(app)
    templating.init_app(app)
    throttle.init_app(app)  # before CSRF, so that every attempt counts
    http.init_app(app)  # before CSRF, so that an unreadable form is a bad request
    security.init_app(app)
    faults.init_app(app)  # a busy database answers 503 "try again", not a 500

    for feature in FEATURES:
        if hasattr(feature, "init_app"):
            feature.init_app(app)
        app.register_blueprint(feature.bp)
    cli.init_app(app)
    return app
