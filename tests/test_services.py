"""`datamig services`: up twice is harmless, status shows every store reachable without a
password, and the settings file is private."""
from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from datamig.services import envfile, manager

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / ".venv/bin/datamig"), *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"}, timeout=300)


def test_up_twice_is_harmless(services, cfg):
    again = manager.up(ROOT, cfg)
    for key in ("DATAMIG_PG_ADMIN_URL", "PROD_IDS_URL", "CERT_IDS_URL", "PROD_SP_URL", "CERT_SP_URL"):
        assert again[key] == services[key]


def test_status_shows_ten_reachable_stores_and_no_password(services):
    proc = _cli("services", "status")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("reachable") == 10 and "unreachable" not in proc.stdout
    for key, value in services.items():
        if "PASSWORD" in key:
            assert value not in proc.stdout + proc.stderr


def test_settings_file_is_private(services):
    path = envfile.env_path(ROOT)
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert envfile.read_env_file(path)["PROD_IDS_URL"] == services["PROD_IDS_URL"]


def test_status_names_an_unreachable_store(services, tmp_path):
    env = {**os.environ, "PROD_HCP2_URL": "postgresql://nobody:secret-pw-123@127.0.0.1:1/hcp2", "COLUMNS": "200"}
    proc = subprocess.run([str(ROOT / ".venv/bin/datamig"), "services", "status"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert "unreachable" in proc.stdout and "127.0.0.1:1" in proc.stdout
    assert "secret-pw-123" not in proc.stdout + proc.stderr


def test_redact_removes_secrets():
    env = {"X_PASSWORD": "hunter22", "DATAMIG_SALT": "salty-salt-12345", "PLAIN": "visible"}
    text = envfile.redact("pw hunter22 salt salty-salt-12345 visible", env)
    assert "hunter22" not in text and "salty-salt-12345" not in text and "visible" in text


def test_a_salt_too_short_to_be_used_blanks_no_words():
    """A review's DATAMIG_SALT=short got "DATAMIG_SALT is too ***": a salt the engine refuses
    keys nothing, so no output can carry it."""
    message = "DATAMIG_SALT is too short: use a secret of at least 16 characters"
    assert envfile.redact(message, {"DATAMIG_SALT": "short"}) == message
    assert envfile.redact(message, {"DATAMIG_SALT": "too short: use a"}) != message  # 16: a real salt


def test_a_server_datamig_starts_keeps_no_secret_of_its_caller_in_its_environment(tmp_path, monkeypatch):
    """`services up` with DATAMIG_SALT exported (or a store URL with its password) passed the
    whole environment to PostgreSQL and Neo4j, where /proc/<pid>/environ shows it for as long as
    the server runs. A real cluster is started here with both planted."""
    from datamig.services import postgres_cluster
    from datamig.services.ports import free_port

    planted = {"DATAMIG_SALT": "planted-salt-7f3e9a0c1b2d", "PROD_IDS_URL": "postgresql://u:planted-url-pw-55@h/ids",
               "SOME_API_TOKEN": "planted-token-8d1c"}
    for key, value in planted.items():
        monkeypatch.setenv(key, value)
    cluster = postgres_cluster.Cluster(postgres_cluster.choose_data_dir(tmp_path / "state"), free_port(), "pw-12345678")
    postgres_cluster.initdb(cluster.data_dir, cluster.password)
    try:
        postgres_cluster.start(cluster)
        postmaster = int((cluster.data_dir / "postmaster.pid").read_text().split()[0])
        environ = Path(f"/proc/{postmaster}/environ").read_bytes().decode(errors="replace")
        assert "PATH=" in environ  # what the server needs is still there
        for key, value in planted.items():
            assert key not in environ and value not in environ
        assert envfile.server_environment({**planted, "HOME": "/root", "NEO4J_LAUNCHER_PASSWORD": "x"}) == {
            "HOME": "/root"}
    finally:
        postgres_cluster.remove(cluster)
