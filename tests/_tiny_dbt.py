"""A dbt project of a few files in a temporary folder, for tests of macros and the plugin that
need dbt itself but not the datamig project."""
from __future__ import annotations

import gc
from pathlib import Path

import yaml


def write_project(root: Path, name: str, macro_path: Path, dev: dict, models: dict | None = None) -> None:
    """dbt_project.yml and profiles.yml (one target, `dev`) in `root`, and an empty models/."""
    (root / "models").mkdir(parents=True)
    project = {"name": name, "version": "1.0", "profile": name, "macro-paths": [str(macro_path)],
               "model-paths": ["models"], **({"models": {name: models}} if models else {})}
    (root / "dbt_project.yml").write_text(yaml.safe_dump(project))
    (root / "profiles.yml").write_text(yaml.safe_dump({name: {"target": "dev", "outputs": {"dev": dev}}}))


def invoke(root: Path, *args: str, callbacks: list | None = None):
    """dbt in process on the project in `root`; its target/ and logs/ stay there too. `callbacks`
    get each of dbt's events. The datamig plugin freezes the garbage collector's objects for dbt's
    run; pytest's objects are thawed after it, as the runner's are."""
    from dbt.cli.main import dbtRunner
    try:
        return dbtRunner(callbacks=callbacks or []).invoke([*args, "--project-dir", str(root), "--profiles-dir",
                                                            str(root), "--log-path", str(root / "logs"),
                                                            "--target-path", str(root / "target")])
    finally:
        gc.unfreeze()
