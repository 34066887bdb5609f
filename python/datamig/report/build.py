"""`build_report(cfg, run_id)`: the final report of a run as data/reports/<run_id>.json, .md
and .html, from whatever its run folder holds (a run that stopped early gets a report too).

A report never carries a secret or a PII value: it is built from counts, names, statuses,
timings and sample keys only, and every string is scrubbed of the secret values of the
environment before anything is written.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from ..config import Config
from ..errors import NotFound
from ..extract.runs import checked_run_id
from ..runfiles import write_text_atomic
from ..services import envfile
from . import html, markdown, scrub
from .artifacts import read_run
from .compose import compose

def reports_dir_of(cfg: Config) -> Path:
    """Reports sit beside the runs: data/runs -> data/reports (a run folder elsewhere keeps its
    reports with it)."""
    return Path(cfg.out_dir).parent / "reports"


def report_paths(run_id: str, reports_dir: Path) -> dict[str, Path]:
    base = Path(reports_dir)
    return {"json": base / f"{run_id}.json", "md": base / f"{run_id}.md", "html": base / f"{run_id}.html"}


def build(cfg: Config, run_id: str, root: Path | None = None, env: Mapping[str, str] | None = None,
          paths: Mapping[str, Path] | None = None) -> dict:
    """The report dict (scrubbed), without writing anything."""
    checked_run_id(run_id)
    run_dir = Path(cfg.out_dir) / run_id
    if not run_dir.is_dir():
        raise NotFound(f"run {run_id} not found under {cfg.out_dir}")
    root = Path(root) if root is not None else envfile.find_project_root()
    env = env if env is not None else envfile.load_env(root)
    report = compose(read_run(cfg.out_dir, run_id), root, dict(paths) if paths else None)
    return scrub.deep(report, env)


def build_report(cfg: Config, run_id: str, reports_dir: Path | None = None, root: Path | None = None,
                 env: Mapping[str, str] | None = None) -> dict[str, Path]:
    """Write the JSON, Markdown and HTML reports of `run_id`; returns their paths."""
    paths = report_paths(run_id, reports_dir or reports_dir_of(cfg))
    root = Path(root) if root is not None else envfile.find_project_root()
    env = env if env is not None else envfile.load_env(root)
    report = build(cfg, run_id, root, env, paths)
    texts = {"json": json.dumps(report, indent=2, default=str) + "\n",
             "md": markdown.render(report) + "\n",
             "html": html.render(report)}
    for kind, text in texts.items():
        _write(paths[kind], scrub.text(text, env))
    return paths


def _write(path: Path, text: str) -> None:
    write_text_atomic(path, text)
