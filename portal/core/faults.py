"""Transient database faults: a busy database answers "try again", never a bare 500.

SQLite lets one writer at a time; a writer waits ``busy_timeout`` (portal/core/db.py) and then gets
``database is locked``. PostgreSQL may abort a transaction on a deadlock, a serialization
failure or a lock timeout. None of these leave anything half-written (the transaction is
rolled back by ``db.atomic``), so the honest answer is 503 with ``Retry-After`` and a page
that says nothing was changed. Any other ``OperationalError`` is a real fault and goes on to
the ordinary 500 handling.
"""
import logging

from flask_babel import gettext as _
from peewee import OperationalError
from werkzeug.routing import IntegerConverter

from portal.core.http import error_page

log = logging.getLogger(__name__)

#: Seconds a client should wait before trying again.
RETRY_AFTER = 2

# Lower-case fragments of the engines' messages for faults that go away on their own.
_TRANSIENT = (
    "database is locked",          # SQLite: another writer held the lock past busy_timeout
    "database table is locked",    # SQLite: shared-cache table lock
    "deadlock detected",           # PostgreSQL 40P01
    "could not serialize access",  # PostgreSQL 40001
    "lock timeout",                # PostgreSQL 55P03 (lock_timeout)
    "could not obtain lock",       # PostgreSQL 55P03 (NOWAIT)
)


#: The largest id any table can hold on every engine (PostgreSQL ``serial`` is 32-bit).
MAX_ID = 2 ** 31 - 1


class BoundedIntegerConverter(IntegerConverter):
    """``<int:...>`` that stops at ``MAX_ID``: a bigger id is simply not found (404).

    Without the bound ``/orders/99999999999999999999`` reached the database and failed
    there (SQLite: OverflowError; PostgreSQL: "integer out of range"), a 500.
    """

    def __init__(self, map, fixed_digits=0, min=None, max=MAX_ID, signed=False):
        """As werkzeug's converter, with ``max`` defaulting to ``MAX_ID``."""
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def is_transient(error):
    """True when ``error`` is a lock or serialization failure worth retrying."""
    text = str(error).lower()
    return any(fragment in text for fragment in _TRANSIENT)


def busy_response():
    """The localized "busy" page (or fragment for htmx), 503 with ``Retry-After``."""
    response = error_page(503, _("The portal is busy, please try again"),
                          _("Nothing was changed. Please try again in a few seconds."))
    response.headers["Retry-After"] = str(RETRY_AFTER)
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app):
    """Bound ``<int:>`` ids; answer transient database faults with the busy page.

    Called before the blueprints are registered, so that every route's ``<int:>`` uses the
    bounded converter.
    """
    app.url_map.converters["int"] = BoundedIntegerConverter

    @app.errorhandler(OperationalError)
    def _operational(error):
        if not is_transient(error):
            raise error  # a real fault: the 500 handler (or the test runner) sees it
        log.warning("transient database fault answered with 503: %s", error)
        return busy_response()
