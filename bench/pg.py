"""A throw-away PostgreSQL cluster for the benchmarks, as .ci/run starts one for the tests.

    from pg import cluster
    with cluster() as url:          # postgresql://postgres@127.0.0.1:<port>/postgres
        ...

``initdb`` in a temporary directory (as the unprivileged ``postgres`` user when we are root,
since PostgreSQL refuses to run as root), ``pg_ctl start`` on a free loopback port, and on
exit ``pg_ctl stop -m immediate`` and the directory removed. The cluster runs with
``fsync=off``, ``synchronous_commit=off`` and ``full_page_writes=off``: it holds nothing worth
keeping, and without them the figures would measure this machine's disk flushes rather than
the portal. A production server keeps the defaults. Binaries: ``PG_BIN`` or the newest
``/usr/lib/postgresql/*/bin``; on Debian ``apt-get install postgresql`` provides them.

``python bench/pg.py`` starts one, prints its URL and waits for Ctrl-C.
"""
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile

SETTINGS = ("-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200 -c shared_buffers=256MB")


def pg_bin():
    """The directory of initdb and pg_ctl; None when PostgreSQL is not installed."""
    if os.environ.get("PG_BIN"):
        return os.environ["PG_BIN"]
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: [int(x) for x in p.split("/")[4].split(".") if x.isdigit()])
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def available():
    """True when a cluster can be started here."""
    return pg_bin() is not None


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(args, **kwargs):
    """Run a PostgreSQL binary, as the postgres user when we are root."""
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")

        def demote():
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
        return subprocess.run(args, preexec_fn=demote, cwd="/tmp", **kwargs)
    return subprocess.run(args, **kwargs)


@contextlib.contextmanager
def cluster(port=None):
    """Start a fresh cluster; yields its URL (database ``postgres``, user ``postgres``)."""
    binaries = pg_bin()
    if binaries is None:
        raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    port = port or _free_port()
    data = tempfile.mkdtemp(prefix="bench-pg-")
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(data, user.pw_uid, user.pw_gid)
        # The postgres user must be able to reach the directory.
        parent = os.path.dirname(data)
        while parent not in ("/", ""):
            mode = os.stat(parent).st_mode
            if not mode & 0o001:
                os.chmod(parent, mode | 0o755)
            parent = os.path.dirname(parent)
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "check": True}
    started = False
    try:
        _as_postgres([os.path.join(binaries, "initdb"), "-D", data, "-A", "trust",
                      "-U", "postgres", "-E", "UTF8"], **quiet)
        options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 {SETTINGS}"
        _as_postgres([os.path.join(binaries, "pg_ctl"), "-D", data, "-o", options,
                      "-l", os.path.join(data, "server.log"), "-w", "start"], **quiet)
        started = True
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if started:
            _as_postgres([os.path.join(binaries, "pg_ctl"), "-D", data, "-m", "immediate",
                          "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         check=False)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    with cluster() as url:
        print(url, flush=True)
        try:
            sys.stdin.read() if not sys.stdin.isatty() else input("Enter stops it\n")
        except (KeyboardInterrupt, EOFError):
            pass
