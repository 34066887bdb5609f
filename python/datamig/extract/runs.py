"""Run ids and run folders: `mig-YYYYMMDD-HHMMSS-d<district>` under config `extract.out_dir`."""
from __future__ import annotations

import logging
import re
from datetime import datetime, timezone
from pathlib import Path

from ..errors import NotFound

RUN_ID = re.compile(r"^mig-[0-9]{8}-[0-9]{6}-d[0-9]+(-[a-z0-9]+)?$")  # \d would take ٤٢ too


# a district id is a PostgreSQL bigint: a larger one names no district (and broke the extract's SQL)
MAX_DISTRICT = 2**63 - 1
# as written: int() also reads '42_0' (as 420), ' 42', '+42' and '٤٢', and YAML's integers '42_0' and '0x2a'
DISTRICT_ID = re.compile(r"[1-9][0-9]*")


def district_problem(text: str) -> str | None:
    """Why `text`, a district id as the user wrote it, is none; None when it is one."""
    if DISTRICT_ID.fullmatch(text) and int(text) <= MAX_DISTRICT:
        return None
    return f"{text!r} is not a district id (a positive whole number): digits 0-9 only"


def checked_run_id(run_id: str) -> str:
    """`run_id` when it is one: a run id names a folder under out_dir, so `../x` must not reach
    outside it."""
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
        raise NotFound(f"{run_id!r} is not a run id (mig-YYYYMMDD-HHMMSS-d<district>)")
    return run_id


def loaded_run_refusal(run_dir: Path) -> str | None:
    """Why the run's final/ may not be built again, or None: CERT holds it as loaded, and
    validate-migration and the report compare CERT with final/ (a rebuild under edited rules
    or another salt would leave them comparing CERT with data it never received)."""
    from ..report.artifacts import read_cert_state

    state = read_cert_state(Path(run_dir))
    if not state or state["status"] != "LOADED":
        return None
    name = Path(run_dir).resolve().name  # not latest-d<N>, the link dbt's profile names
    return (f"run {name} is loaded into CERT: building it again would replace the final/ that CERT holds; "
            f"extract a new run (`datamig extract --district {district_of(name)}`) or roll this one back "
            f"first (`datamig rollback {name}`)")


def district_of(run_id: str) -> int:
    """The district a run id names (its `-d<district>` part)."""
    return int(re.search(r"-d(\d+)", checked_run_id(run_id)).group(1))


def new_run_id(district: int, now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return f"mig-{now:%Y%m%d-%H%M%S}-d{district}"


def attach_run_log(run_dir: Path) -> logging.Handler:
    """Everything datamig logs during the run also goes to <run>/run.log (no secrets are logged)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(run_dir / "run.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("datamig")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return handler


def detach_run_log(handler: logging.Handler) -> None:
    logging.getLogger("datamig").removeHandler(handler)
    handler.close()
