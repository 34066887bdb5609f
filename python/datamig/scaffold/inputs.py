"""Which rules the generated models were made from: `datamig scaffold` records a digest of each
rules file's content in dbt_project/scaffold-inputs.json, and a migration or transform refuses
models made from other rules. Without it, an edited rules file (a column now nullified, a test
now an error) was ignored in silence until someone ran the scaffold again.

The digest is of the parsed YAML, so comments and layout may change freely."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..errors import ConfigError
from ..yaml_lines import parse_config, read_config_text

INPUTS_FILE = "dbt_project/scaffold-inputs.json"
RULES_FILES = {"anonymization": "config/anonymization-rules.yaml", "validation": "config/validation-rules.yaml"}


def _digest(path: Path) -> str:
    raw, _ = parse_config(path, read_config_text(path, "rules file"))
    return hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def render_inputs(rules_path: Path, validation_path: Path) -> str:
    """The file `datamig scaffold` writes beside the models it generated from these rules."""
    digests = {"anonymization": _digest(rules_path), "validation": _digest(validation_path)}
    return json.dumps({"generated_from": digests}, indent=2, sort_keys=True) + "\n"


def check_models_current(root: Path) -> None:
    """ConfigError naming the first rules file the models were not generated from."""
    recorded_path = root / INPUTS_FILE
    try:
        recorded = json.loads(recorded_path.read_text())["generated_from"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(f"{recorded_path}: missing or unreadable, so the dbt models may not follow the rules "
                          "files: run `datamig scaffold`") from None
    for kind, rel in RULES_FILES.items():
        if recorded.get(kind) != _digest(root / rel):
            raise ConfigError(f"{root / rel}: changed since the dbt models were generated from it: "
                              "run `datamig scaffold` (then review the diff) before migrating")
