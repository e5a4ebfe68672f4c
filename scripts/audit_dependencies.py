"""Audit the lock files for known vulnerabilities with pip-audit (``make test`` runs it).

A known vulnerability fails (exit 1). When the vulnerability service cannot be reached
(offline machine, proxy), pip-audit cannot audit the packages: that is a warning, and the
tests still run.

Usage: python scripts/audit_dependencies.py [LOCK ...]   (default: both lock files)
"""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOCKS = ("requirements.txt", "requirements-test.txt")
PIP_AUDIT = os.path.join(os.path.dirname(sys.executable), "pip-audit")


def audit(lock):
    """pip-audit's JSON report of ``lock``, or None when pip-audit could not run."""
    with tempfile.TemporaryDirectory() as workdir:
        report = os.path.join(workdir, "report.json")
        try:
            result = subprocess.run(
                [PIP_AUDIT, "--requirement", os.path.join(ROOT, lock), "--require-hashes",
                 "--disable-pip", "--progress-spinner", "off", "--format", "json",
                 "--output", report],
                capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as error:
            print(f"warning: pip-audit did not run on {lock}: {error}")
            return None
        if not os.path.exists(report):
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:]
            print(f"warning: pip-audit could not audit {lock}: {' '.join(tail)}")
            return None
        with open(report) as handle:
            return json.load(handle)


def main(locks):
    """0 when nothing known is vulnerable (or nothing could be checked), 1 otherwise."""
    failed = False
    for lock in locks:
        report = audit(lock)
        if report is None:
            continue
        dependencies = report.get("dependencies", [])
        vulnerable = [d for d in dependencies if d.get("vulns")]
        skipped = [d for d in dependencies if d.get("skip_reason")]
        for dependency in vulnerable:
            ids = ", ".join(v["id"] + (f" (fixed in {', '.join(v['fix_versions'])})"
                                       if v.get("fix_versions") else "")
                            for v in dependency["vulns"])
            print(f"VULNERABLE {lock}: {dependency['name']} {dependency.get('version', '')}: "
                  f"{ids}")
        if vulnerable:
            failed = True
        elif skipped:
            print(f"warning: {lock}: {len(skipped)} of {len(dependencies)} packages could not "
                  "be audited (is the vulnerability service at pypi.org reachable?), e.g. "
                  f"{skipped[0]['skip_reason']}")
        else:
            print(f"{lock}: no known vulnerabilities in {len(dependencies)} packages")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or LOCKS))
