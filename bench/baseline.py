"""Benchmark baseline: the portal plus a bare route, for ``make bench`` only.

``make bench`` divides every endpoint's cost by this route's, measured in the same run, so
the figures say what the portal's own work costs on top of gunicorn, Flask and the request
hooks (which do nothing here: no session is read, no database is touched). gunicorn loads
``baseline:create_bench_app()`` with ``--pythonpath bench``; the product never has the route.
"""
from flask import Blueprint, Response

from portal import create_app

bp = Blueprint("bench", __name__)

_BODY = b"ok\n"


@bp.route("/_bench/baseline")
def baseline():
    """A constant small body: no session, database or template work."""
    return Response(_BODY, mimetype="text/plain")


def create_bench_app(test_config=None):
    """The portal as ``create_app`` builds it, with the baseline route."""
    app = create_app(test_config)
    app.register_blueprint(bp)
    return app
