"""`.datamig/services.env`: connection settings written by `services up`, read by every command.

Variables already in the process environment win, so pointing datamig at a real estate is
just a matter of exporting PROD_*/CERT_* variables.
"""
from __future__ import annotations

import functools
import os
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote

from ..errors import ConfigError
from ..folders import check_folder
from ..runfiles import write_text_atomic

SECRET_MARKERS = ("PASSWORD", "SALT", "SECRET", "TOKEN")


def state_dir(project_root: Path) -> Path:
    """`.datamig/` of the checkout; DATAMIG_STATE_DIR moves it (tests run their own estate)."""
    override = os.environ.get("DATAMIG_STATE_DIR")
    path = Path(override) if override else project_root / ".datamig"
    check_folder(path, "DATAMIG_STATE_DIR" if override else "the services' state folder")
    return path


def env_path(project_root: Path) -> Path:
    return state_dir(project_root) / "services.env"


def read_env_file(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    values = {}
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the settings file ({type(exc).__name__})") from None
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            parts = shlex.split(raw)
        except ValueError as exc:  # an unclosed quote: name the line, never show it (it may hold a password)
            raise ConfigError(f"{path}:{number}: {key.strip()}: {exc} (rewrite it, or run `datamig services up`)") from None
        values[key.strip()] = parts[0] if parts else ""
    return values


def write_env_file(path: Path, values: Mapping[str, str]) -> None:
    """Written 0600 and atomically: it holds passwords."""
    body = "# written by `datamig services up`; holds passwords, keep private\n"
    body += "".join(f"{k}={shlex.quote(v)}\n" for k, v in sorted(values.items()))
    write_text_atomic(path, body, mode=0o600)


def server_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a server datamig starts (PostgreSQL, Neo4j): the caller's, less what
    may hold a secret (the salt, passwords, store URLs with theirs). A server's environment is
    readable in /proc as long as it runs, and `services up` with DATAMIG_SALT exported left the
    salt in both servers'."""
    env = os.environ if env is None else env
    return {k: v for k, v in env.items()
            if not (any(m in k.upper() for m in SECRET_MARKERS) or k.upper().endswith("_URL"))}


def load_env(project_root: Path | None = None) -> dict[str, str]:
    """services.env overlaid by the real environment."""
    root = project_root or find_project_root()
    merged = read_env_file(env_path(root))
    merged.update(os.environ)
    return merged


def find_project_root(start: Path | None = None) -> Path:
    """The nearest folder holding dbt_project.yml (the checkout), else the working directory."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dbt_project.yml").exists():
            return folder
    return here


# a password inside a connection setting: scheme://user:password@host, or libpq's key=value form
# (password=secret, password = 'se cret'); the variable holding it is named *_URL, not *PASSWORD*
URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)[^@\s/]+@")  # user may be empty
# in a URL's query a value ends at '&' (?password=x&sslmode=require)
KEYWORD_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?:'(?:[^'\\]|\\.)*'|[^\s'&][^\s&]*)", re.IGNORECASE)


def redact(text: str, env: Mapping[str, str]) -> str:
    """Remove every secret of `env` from `text` (for logs, error messages and reports): the values
    of variables named *PASSWORD*, *SALT*, *SECRET*, *TOKEN*, and passwords written inside
    connection settings (including ones a message shows apart from their setting)."""
    for key, value in env.items():
        if value and len(value) >= _shortest_secret(key) and any(m in key.upper() for m in SECRET_MARKERS):
            text = text.replace(value, "***")
        elif value and ("://" in value or "=" in value):
            for secret in _setting_passwords(value):
                text = text.replace(secret, "***")
    text = URL_PASSWORD.sub(r"\g<head>***@", text)
    return KEYWORD_PASSWORD.sub(r"\g<head>***", text)


def _shortest_secret(key: str) -> int:
    """A shorter value is no secret to hide: it would blank ordinary words. A salt shorter than
    the engine takes is refused before it keys anything, so no output can carry it ("DATAMIG_SALT
    is too short" with the salt 'short' read "is too ***")."""
    if "SALT" not in key.upper():
        return 4
    from ..anonymize.keyed import MIN_SALT_CHARS

    return MIN_SALT_CHARS


@functools.lru_cache(maxsize=256)  # redact() runs on every string of a report or tool result
def _setting_passwords(value: str) -> tuple[str, ...]:
    """The password a connection setting holds, and its form as written (quoted, percent-encoded)."""
    found = [m.group(0)[len(m.group("head")):] for m in KEYWORD_PASSWORD.finditer(value)]
    found += [m.group(0)[len(m.group("head")):-1] for m in URL_PASSWORD.finditer(value)]
    plain = [unquote(f.strip("'")) for f in found]
    return tuple(s for s in dict.fromkeys(found + plain) if len(s) >= 4)  # a short one would blank ordinary words
