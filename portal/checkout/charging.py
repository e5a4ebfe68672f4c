"""Orders charged in the background, so that the request placing one returns at once.

A real payment provider takes hundreds of milliseconds to answer a charge, sometimes
seconds. A web worker waiting for it serves no one else meanwhile: with the few processes
that serve pages fastest (README "Production"), a handful of orders would stall every
other page. With ``ORDER_CHARGE_THREADS`` above 0, ``place_order`` runs step 1 (reserve)
in the request and hands steps 2 and 3 (charge, complete: ``orders.charge_reservation``)
to a small pool of threads in the same process; the browser is sent to the "being
processed" page, which follows the order until it is placed or refused. With 0, the
request charges and completes the order itself (the tests' default: one request, one
outcome).

A process that dies with charges queued or under way leaves their reservations
``reserved``; reconciliation (``flask orders reconcile``, and the worker) completes each one
whose charge the gateway has and releases the others, as after any crash between the
steps. Nothing is charged twice: the reservation's key is the gateway's idempotency key.
The pool is made on first use in each process (after gunicorn forks). A process that exits
normally first finishes what it was given (``concurrent.futures`` joins its threads), unless
it is killed first (gunicorn's ``graceful_timeout``): then reconciliation finishes it.
"""
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from portal.core.db import db

log = logging.getLogger(__name__)

EXTENSION = "portal.order_charges"


class BackgroundCharges:
    """A process's pool of charging threads, for one app."""

    def __init__(self, app, threads):
        """Remember the app (the threads run in its context) and the pool's size."""
        self.app = app
        self.threads = threads
        self.lock = threading.Lock()
        self.executor = None
        self.pid = None

    def submit(self, function, *args):
        """Run ``function(*args)`` on a pool thread, in an app context; returns its future."""
        with self.lock:
            if self.executor is None or self.pid != os.getpid():
                self.executor = ThreadPoolExecutor(self.threads, thread_name_prefix="charge")
                self.pid = os.getpid()
            return self.executor.submit(self.run, function, args)

    def run(self, function, args):
        """One job: errors are logged (the reservation stays for reconciliation), and the
        thread's database connection is given back."""
        with self.app.app_context():
            try:
                function(*args)
            except Exception:
                log.exception("background charge %s%r failed; reconciliation will finish it",
                              function.__name__, args)
            finally:
                if not db.is_closed():
                    db.close()

    def join(self):
        """Wait for every job given so far (the tests use it)."""
        with self.lock:
            executor, self.executor = self.executor, None
        if executor is not None:
            executor.shutdown(wait=True)


def background_charges(app):
    """The app's pool, or None when orders are charged in the request."""
    return app.extensions.get(EXTENSION)


def init_app(app):
    """Register the pool when ``ORDER_CHARGE_THREADS`` asks for one."""
    threads = int(app.config["ORDER_CHARGE_THREADS"])
    if threads > 0:
        app.extensions[EXTENSION] = BackgroundCharges(app, threads)
