"""Keep the lock files honest: ``stamp`` records which dependency ranges they were made from,
``check`` fails when ``pyproject.toml`` changed since (run ``make lock``) or when the virtual
environment does not hold exactly the locked versions.

Usage: python scripts/lockfile.py stamp | check [LOCK ...]
"""
import hashlib
import json
import os
import re
import sys
import tomllib
from importlib import metadata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOCKS = ("requirements.txt", "requirements-test.txt")
STAMP = "# pyproject-dependencies-sha256: "
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def dependencies_digest(root=ROOT):
    """A digest of everything in pyproject.toml that decides what the lock holds."""
    with open(os.path.join(root, "pyproject.toml"), "rb") as handle:
        project = tomllib.load(handle)["project"]
    spec = {"requires-python": project.get("requires-python"),
            "dependencies": project.get("dependencies", []),
            "optional-dependencies": project.get("optional-dependencies", {})}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def read_lines(name, root=ROOT):
    with open(os.path.join(root, name), encoding="utf-8") as handle:
        return handle.read().splitlines()


def pins(name, root=ROOT):
    """``{normalized name: version}`` of one lock file."""
    found = {}
    for line in read_lines(name, root):
        match = PIN.match(line)
        if match:
            found[normalize(match.group(1))] = match.group(2)
    return found


def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def stamp(root=ROOT):
    """Record in each lock file the digest of the dependencies it was made from."""
    digest = dependencies_digest(root)
    for name in LOCKS:
        lines = [line for line in read_lines(name, root) if not line.startswith(STAMP)]
        with open(os.path.join(root, name), "w", encoding="utf-8") as handle:
            handle.write("\n".join([STAMP + digest] + lines) + "\n")


def problems(locks, root=ROOT):
    """What is wrong with the lock files, and with the environment against ``locks``."""
    found = []
    digest = dependencies_digest(root)
    for name in LOCKS:
        recorded = [line[len(STAMP):] for line in read_lines(name, root)
                    if line.startswith(STAMP)]
        if recorded != [digest]:
            found.append(f"{name} was not made from the dependencies in pyproject.toml: "
                         "run `make lock` and commit the lock files")
    installed = {normalize(dist.metadata["Name"]): dist.version
                 for dist in metadata.distributions()}
    for name in locks:
        for package, version in sorted(pins(name, root).items()):
            have = installed.get(package)
            if have != version:
                found.append(f"{package}=={version} is locked in {name}, but the virtual "
                             f"environment has {have or 'nothing'}: run `make clean` and "
                             "install again")
    return found


def check(locks):
    """Print every problem; exit status 1 when there is one."""
    found = problems(locks)
    for problem in found:
        print("lock:", problem, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    command, *rest = sys.argv[1:] or ["check"]
    if command == "stamp":
        stamp()
        sys.exit(0)
    if command == "check":
        sys.exit(check(rest))
    sys.exit(__doc__)
