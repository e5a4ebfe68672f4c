"""Renewing the due subscriptions in several processes (``BILLING_JOBS``, ``flask billing
run --jobs N``): a run over thousands of due subscriptions is Python work (SQL built, rows
read, the receipt rendered), so on a machine with several cores it goes about as many times
faster as there are processes.

Each process is a fork of the run, with the run's application context, and renews its share
of the due list (every N-th subscription) on a connection of its own: the parent closes
every database connection before forking, so none is shared. Renewing concurrently is safe
by design (one ``Renewal`` row per subscription and period, the subscription locked while
it is renewed; ``tests/test_renewals.py`` runs four runs at once). A child tells the parent
each subscription it finished (one line per subscription, for the progress bar) and, last,
its outcomes as JSON. A child that dies renews nothing more; what it left ``charging`` is
finished by the next run (``resume_charging``), like after any crash.
"""
import json
import logging
import os
import selectors

from playhouse.pool import PooledDatabase

from portal.core.db import db

log = logging.getLogger(__name__)


def close_connections():
    """Close this process's database connections, pooled ones included, before a fork."""
    if not db.is_closed():
        db.close()
    if isinstance(db.obj, PooledDatabase):
        db.obj.close_all()


def renew_in_processes(due, jobs, renew_each, progress=None):
    """``renew_each(ids)`` → {state: [subscription ids]} over ``due`` split in ``jobs``
    forked processes; returns the outcomes of all of them, merged."""
    parts = [due[index::jobs] for index in range(jobs) if due[index::jobs]]
    close_connections()
    children = {}
    for part in parts:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: renew its part, report, and leave without cleanup
            os.close(read)
            _child(part, write, renew_each)
        os.close(write)
        children[read] = pid
    return _gather(children, len(due), progress)


def _child(part, write, renew_each):
    """Renew ``part``, writing a line per subscription done and the outcomes last."""
    code = 0
    with os.fdopen(write, "w", buffering=1) as out:
        try:
            outcomes = renew_each(part, lambda: out.write("+\n"))
            out.write(json.dumps(outcomes) + "\n")
        except BaseException:  # noqa: BLE001 (reported to the parent, which goes on)
            log.exception("billing run: a renewal process failed")
            code = 1
        finally:
            close_connections()
    os._exit(code)


def _gather(children, total, progress):
    """Read every child's lines until they end; merge their outcomes."""
    merged, done, failed = {}, 0, 0
    selector = selectors.DefaultSelector()
    buffers = {}
    for fd in children:
        selector.register(fd, selectors.EVENT_READ)
        buffers[fd] = b""
    while buffers:
        for key, _events in selector.select():
            fd = key.fd
            chunk = os.read(fd, 65536)
            if chunk:
                buffers[fd] += chunk
                *lines, buffers[fd] = buffers[fd].split(b"\n")
            else:
                lines = [buffers.pop(fd)] if buffers[fd] else []
                buffers.pop(fd, None)
                selector.unregister(fd)
                os.close(fd)
            for line in lines:
                if line == b"+":
                    done += 1
                    if progress:
                        progress(done, total)
                elif line:
                    for state, ids in json.loads(line).items():
                        merged.setdefault(state, []).extend(ids)
    selector.close()
    for pid in children.values():
        _pid, status = os.waitpid(pid, 0)
        failed += os.waitstatus_to_exitcode(status) != 0
    if failed:
        log.error("billing run: %s renewal process(es) failed; the next run finishes "
                  "their work", failed)
    return merged
