"""The settings of tests that meet the CLI with no server running: a config whose runs land in a
test's own folder, and every store pointed at 127.0.0.1:1, where nothing listens."""
from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def work_folder(tmp_path: Path) -> Path:
    """tmp_path holding datamig.yaml (its runs in tmp_path/runs) and a state folder of its own."""
    text = (ROOT / "config" / "datamig.yaml").read_text().replace("out_dir: data/runs", f"out_dir: {tmp_path / 'runs'}")
    (tmp_path / "datamig.yaml").write_text(text)
    (tmp_path / "state").mkdir()
    return tmp_path


def unreachable_stores(url_password: str) -> dict[str, str]:
    """PROD and CERT URLs of every store, each with `url_password` in it where it can hold one."""
    stores = {f"{t}_{s}_URL": f"postgresql://datamig:{url_password}@127.0.0.1:1/{prefix}{s.lower()}"
              for t, prefix in (("PROD", ""), ("CERT", "cert_")) for s in ("IDS", "HCP1", "HCP2", "ADB")}
    stores.update({"PROD_SP_URL": "bolt://127.0.0.1:1", "CERT_SP_URL": "bolt://127.0.0.1:2"})  # CERT is not PROD
    return stores


def run_cli(env: dict, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / ".venv/bin/datamig"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def one_error_line(proc: subprocess.CompletedProcess, secrets: tuple[str, ...], *named: str) -> str:
    """The one `error: ...` line of a user error (exit 2), naming each of `named`, no secret anywhere."""
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for thing in named:
        assert thing in lines[0], (thing, lines[0])
    for secret in secrets:
        assert secret not in proc.stdout + proc.stderr
    return lines[0]
