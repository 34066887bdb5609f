"""datamig's cache on disk (DATAMIG_CACHE_DIR, default ~/.cache/datamig): things that are slow to
make and safe to lose, each checked before use (Faker dictionaries by their key, dbt's partial
parse by dbt itself). Never anything of a run's data or a secret."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    return Path(os.environ.get("DATAMIG_CACHE_DIR") or Path.home() / ".cache" / "datamig", *parts)
