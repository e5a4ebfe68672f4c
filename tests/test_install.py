"""The install is reproducible: the lock files match pyproject.toml, pin every package with
hashes, and the environment the tests run in holds exactly the locked versions."""
import importlib.util
import os
import shutil
import subprocess
import sys

import pytest

from portal import ConfigurationError, create_app
from portal.core import config
from portal.core.config import ROOT

spec = importlib.util.spec_from_file_location("lockfile", os.path.join(ROOT, "scripts",
                                                                        "lockfile.py"))
lockfile = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lockfile)


def test_the_lock_files_match_pyproject_and_the_environment():
    assert lockfile.problems(["requirements-test.txt"]) == []


def test_every_lock_line_is_pinned_with_a_hash():
    for name in lockfile.LOCKS:
        text = open(os.path.join(ROOT, name), encoding="utf-8").read()
        entries = [block for block in text.split("\n") if lockfile.PIN.match(block)]
        assert entries, name
        for entry in entries:
            assert entry.rstrip().endswith("\\"), f"{entry} has no --hash line in {name}"
        assert text.count("==") == len(entries)


def test_the_test_lock_keeps_every_runtime_pin():
    runtime, test = lockfile.pins("requirements.txt"), lockfile.pins("requirements-test.txt")
    assert {name: test.get(name) for name in runtime} == runtime


def test_a_changed_dependency_range_asks_for_make_lock(tmp_path):
    for name in ("pyproject.toml", *lockfile.LOCKS):
        shutil.copy(os.path.join(ROOT, name), tmp_path / name)
    assert lockfile.problems([], root=tmp_path) == []
    project = (tmp_path / "pyproject.toml").read_text()
    (tmp_path / "pyproject.toml").write_text(project.replace('"Flask>=3.0,<4"',
                                                             '"Flask>=3.1,<4"'))
    found = lockfile.problems([], root=tmp_path)
    assert len(found) == 2 and all("run `make lock`" in problem for problem in found)
    # A change elsewhere in pyproject.toml (the description, say) needs no new lock.
    (tmp_path / "pyproject.toml").write_text(project.replace("self-hostable", "self-hosted"))
    assert lockfile.problems([], root=tmp_path) == []


def test_the_check_command_fails_with_the_message(tmp_path):
    """What `make test` runs first, on a checkout whose pyproject.toml was edited."""
    shutil.copytree(ROOT, tmp_path / "checkout",
                    ignore=shutil.ignore_patterns(".git", ".venv", ".tools", "instance",
                                                  "*.mo", "__pycache__", "screenshots"))
    project = tmp_path / "checkout" / "pyproject.toml"
    project.write_text(project.read_text().replace('"peewee>=3.17,<4"', '"peewee>=3.18,<4"'))
    result = subprocess.run([sys.executable, "scripts/lockfile.py", "check"],
                            cwd=tmp_path / "checkout", capture_output=True, text=True)
    assert result.returncode == 1
    assert "run `make lock`" in result.stderr


def test_outside_a_checkout_the_portal_refuses_clearly(monkeypatch, tmp_path):
    """A plain `pip install .` has no templates, static files or catalogs: say so."""
    monkeypatch.setattr(config, "ROOT", str(tmp_path))
    with pytest.raises(ConfigurationError, match="runs from a checkout"):
        create_app({"TESTING": True})
