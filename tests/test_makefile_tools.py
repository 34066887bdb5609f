"""`make setup` on a fresh machine: the system packages the rest needs (Python's venv module,
a Java 17+ JDK, Maven) are checked first; without root, one line names the missing ones (a machine
without Maven failed later, deep in the Neo4j launcher's build)."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SYSTEM_PYTHON = Path("/usr/bin/python3")

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runuser") or not SYSTEM_PYTHON.exists(),
                                reason="runs make as an unprivileged user: needs root and runuser")


@pytest.fixture
def bin_dir():
    """Outside pytest's own temp folder, which only root may enter."""
    folder = Path(tempfile.mkdtemp(prefix="datamig-tools-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def _bin(folder: Path, java_version: str | None, mvn: bool) -> Path:
    """A PATH holding only what `make tools` calls, with the java and mvn asked for."""
    for name in ("bash", "sh", "grep", "id", "env"):
        (folder / name).symlink_to(shutil.which(name))
    if java_version:  # a JDK's compiler: a runtime alone (what Maven's package brings) cannot build the launcher
        (folder / "javac").write_text(f"#!/bin/sh\necho 'javac {java_version}'\n")
        (folder / "javac").chmod(0o755)
    if mvn:
        (folder / "mvn").write_text("#!/bin/sh\nexit 0\n")
        (folder / "mvn").chmod(0o755)
    return folder


def _make_tools(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", "nobody", "--", "/usr/bin/env", f"PATH={folder}", "/usr/bin/make", "-s",
                           "-C", str(ROOT), "tools", f"PY={SYSTEM_PYTHON}"],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("java_version, mvn, missing", [
    ("17.0.15", False, "maven"),
    ("11.0.2", True, "openjdk-17-jdk-headless"),
    (None, False, "openjdk-17-jdk-headless maven"),
])
def test_missing_system_packages_are_named_in_one_line_without_root(bin_dir, java_version, mvn, missing):
    proc = _make_tools(_bin(bin_dir, java_version, mvn))
    assert proc.returncode != 0
    assert (f"error: missing system packages: {missing}; install them as root: apt-get install {missing}"
            in proc.stderr.splitlines()), proc.stderr


@pytest.mark.parametrize("java_version", ["17.0.15", "21.0.4"])
def test_nothing_is_asked_for_when_everything_is_there(bin_dir, java_version):
    proc = _make_tools(_bin(bin_dir, java_version, mvn=True))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
