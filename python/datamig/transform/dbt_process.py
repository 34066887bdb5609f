"""dbt in this process: what every in-process dbt call of datamig shares (the transform's build,
validate-migration's parse and tests). Its working directory and environment for the length of
one call, its partial parse kept between runs, its modules loaded ahead of time, and the first
line of its error."""
from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from ..cache import cache_dir
from ..errors import DatamigError

log = logging.getLogger("datamig.transform")

PARTIAL_PARSE = "partial_parse.msgpack"
# Nothing on the console: `--quiet` still printed each failing test's lines (ANSI colours and
# all), and on Ctrl-C a traceback, amid datamig's own output, which reports every test and
# error already; dbt's log file under the run's dbt/logs keeps everything.
SILENT = ["--log-level", "none", "--log-level-file", "debug"]


def silent_runner(**kwargs):
    """dbt's programmatic runner, printing nothing before it has read SILENT either: dbt_common
    adds a console logger when imported, which dbt replaces only once its flags are read, so a
    Ctrl-C (or an error) while it read them printed "Encountered an error" and a traceback on
    the user's terminal. What dbt fires before its set-up now goes nowhere; the exception still
    comes back in the result, which the caller reports in one line. One dbt runs at a time."""
    from dbt.cli.main import dbtRunner
    from dbt_common.events.event_manager_client import cleanup_event_logger

    cleanup_event_logger()
    return dbtRunner(**kwargs)


def preload() -> threading.Thread:
    """Import dbt and its DuckDB adapter in a background thread: ~2.5 s of CPU that otherwise
    opens the transform, spent instead while the extract waits on the servers. The first dbt
    call simply finds the modules loaded (or waits on Python's import lock for the rest)."""
    def load() -> None:
        try:
            import dbt.adapters.duckdb  # noqa: F401
            import dbt.cli.main  # noqa: F401
            import dbt.parser.manifest  # noqa: F401
            import dbt.task.build  # noqa: F401
        except Exception:  # noqa: BLE001 - the real call reports any import error itself
            pass

    thread = threading.Thread(target=load, name="datamig-dbt-preload", daemon=True)
    thread.start()
    return thread


@contextmanager
def partial_parse_cache(root: Path, district: int, target: str, target_dir: Path) -> Iterator[None]:
    """dbt's partial parse of the last run of this checkout, district and target put into
    `target_dir` before dbt runs, and the new one kept after (one per checkout, district and
    target: their files, vars and profiles differ, and each would make dbt discard another's)."""
    checkout = hashlib.sha256(str(root).encode()).hexdigest()[:16]
    cache = cache_dir("dbt-parse", f"{checkout}-{target}-d{district}-{PARTIAL_PARSE}")
    _copy_quietly(cache, target_dir / PARTIAL_PARSE)
    try:
        yield
    finally:
        _copy_quietly(target_dir / PARTIAL_PARSE, cache)


def _copy_quietly(src: Path, dst: Path) -> None:
    """Copy through a temporary name, so a concurrent run reads a whole file or none; a cache
    that cannot be read or written only costs a full parse."""
    if not src.is_file():
        return
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, tmp)
        tmp.replace(dst)
    except OSError as exc:
        log.debug("dbt parse cache %s -> %s: %s", src, dst, type(exc).__name__)
        tmp.unlink(missing_ok=True)


# dbt's headings over the real message: "Database Error\n  Runtime Error\n    datamig.dbt_plugin: ..."
_DBT_HEADING = re.compile(r"[A-Z][A-Za-z ]* Error")


def reraise_interrupt(result) -> None:
    """dbt's runner hands Ctrl-C back as the result's exception: raise it again, so the caller
    stops as interrupted rather than as failed ("unknown error")."""
    exc = getattr(result, "exception", None)
    if isinstance(exc, KeyboardInterrupt):
        raise exc.with_traceback(None)  # the same one: a SIGTERM's Terminated keeps its signal


def why_not_run(exc: BaseException | None, secret: str = "") -> str:
    """One line saying why dbt stopped before building: the DatamigError under dbt's exception
    if any (what the plugin raised: the cause, already one line), else the first line of dbt's
    message that is not a heading. Never `secret`."""
    cause = _datamig_cause(exc)
    lines = [x.strip() for x in str(cause or exc or "unknown error").splitlines() if x.strip()]
    line = next((x for x in lines if not _DBT_HEADING.fullmatch(x)), lines[0] if lines else "unknown error")
    line = line.replace(secret, "***") if secret else line
    return line if len(line) <= 400 else line[:397] + "..."


def _datamig_cause(exc: BaseException | None) -> DatamigError | None:
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, DatamigError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__  # dbt re-raises, sometimes `from None`: the context still holds it
    return None


@contextmanager
def working_dir(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


@contextmanager
def environ(values: Mapping[str, str]) -> Iterator[None]:
    before = {k: os.environ.get(k) for k in values}
    os.environ.update({k: v for k, v in values.items() if v is not None})
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
