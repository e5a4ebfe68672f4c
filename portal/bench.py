"""Benchmark baseline: a bare route, registered only when ``BENCHMARK_MODE`` is on.

``make bench`` divides every endpoint's throughput by this route's, measured in the same run,
so the figures say what the portal's own work costs on top of gunicorn, Flask and the
request hooks (which do nothing here: no session is read, no database is touched).
"""
from flask import Blueprint, Response

bp = Blueprint("bench", __name__)

_BODY = b"ok\n"


@bp.route("/_bench/baseline")
def baseline():
    """A constant small body: no session, database or template work."""
    return Response(_BODY, mimetype="text/plain")
