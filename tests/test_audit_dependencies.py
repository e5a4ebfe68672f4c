"""The dependency audit of ``make test``: a known vulnerability fails, no connection warns."""
import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "audit_dependencies.py"
spec = importlib.util.spec_from_file_location("audit_dependencies", SCRIPT)
audit_dependencies = importlib.util.module_from_spec(spec)
spec.loader.exec_module(audit_dependencies)


def run_with(monkeypatch, report):
    """``main`` with pip-audit answering ``report`` for every lock file."""
    monkeypatch.setattr(audit_dependencies, "audit", lambda lock: report)
    return audit_dependencies.main(["requirements.txt"])


def test_a_known_vulnerability_fails(monkeypatch, capsys):
    report = {"dependencies": [
        {"name": "flask", "version": "3.1.3", "vulns": []},
        {"name": "werkzeug", "version": "0.1", "vulns": [
            {"id": "PYSEC-0000-1", "fix_versions": ["3.0.6"]}]}]}
    assert run_with(monkeypatch, report) == 1
    assert "VULNERABLE requirements.txt: werkzeug 0.1: PYSEC-0000-1 (fixed in 3.0.6)" in \
        capsys.readouterr().out


def test_no_connection_to_the_service_is_a_warning(monkeypatch, capsys):
    report = {"dependencies": [{"name": "flask", "skip_reason": "Dependency not found on "
                                "PyPI and could not be audited: flask (3.1.3)"}]}
    assert run_with(monkeypatch, report) == 0
    assert "warning: requirements.txt: 1 of 1 packages could not be audited" in \
        capsys.readouterr().out
    assert run_with(monkeypatch, None) == 0  # pip-audit itself failed to run


def test_a_clean_report_passes(monkeypatch, capsys):
    report = {"dependencies": [{"name": "flask", "version": "3.1.3", "vulns": []}]}
    assert run_with(monkeypatch, report) == 0
    assert "no known vulnerabilities in 1 packages" in capsys.readouterr().out
