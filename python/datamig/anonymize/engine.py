"""Run-time state for one salt and one rules file, and how it is put on a DuckDB connection.

What a connection gets (all UDFs, registered once by configure(); every cursor of the connection,
i.e. every dbt thread, sees them with no per-cursor set-up):
- `dm_domain_key(domain)` -> K_d (see keyed.py): the only key material SQL sees; the salt and the
  master key stay in this process's memory;
- `dm_taken(relation)` -> a token for the slice's real values (taken.py), which permuted phones and
  SSNs must not be;
- `dm_dict_size(provider)` -> UBIGINT, and the dictionaries as the table
  `dm_lib.main.dictionaries(name, entries)` (a pick is a list index);
- `dm_setting(name)` -> VARCHAR: email_domain, url_domain, ipv4_prefix, date_shift_days,
  school_year_start_month,
  re_<shape>, ph_<shape> (settings and pii_shapes of the rules file, so the macros hard-code none);
- the Arrow UDFs of udfs.py;
- `dm_lib.*`: the DuckDB macros the dbt macros compile to (sql_library.sql), built on the above.
The lookup UDFs have no side effects and constant arguments, so DuckDB calls each once per query
and folds the result into a constant (a regex pattern among them is compiled once). An unknown
name is an error, never a silent NULL.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import replace

from ..errors import ConfigError
from . import dictionaries, udfs
from .fakes import Fakes
from .fpe import DigitPermuter
from .jsondoc import DocAnonymizer
from .keyed import MIN_SALT_CHARS, Keys
from .rules import RuleSet, load_rules
from .sql_library import create_sql_library
from .taken import TakenRegistry, kinds_by_domain
from .udf_workers import shared_pool


def read_salt(env_name: str) -> Keys:
    """Keys from the salt in `env_name`; a clear one-line error (never the value) if unusable."""
    salt = os.environ.get(env_name, "")
    if not salt.strip():
        raise ConfigError(f"{env_name} is not set or empty: export the anonymization salt (a secret of at "
                          f"least {MIN_SALT_CHARS} characters) before running; it keys every pseudonym")
    if salt != salt.strip():
        # every pseudonym is keyed by the exact bytes: a copy of the secret that lost its padding
        # (an editor, a secrets store, `$(cat file)`) would silently key other fakes
        raise ConfigError(f"{env_name} begins or ends with whitespace: remove it (the salt is used exactly as given)")
    if len("".join(salt.split())) < MIN_SALT_CHARS:  # spaces in the middle add no secrecy
        raise ConfigError(f"{env_name} is too short: use a secret of at least {MIN_SALT_CHARS} characters "
                          "(whitespace not counted)")
    return Keys(salt, env_name)


class Engine:
    def __init__(self, ruleset: RuleSet, keys: Keys, locale: str | None = None):
        settings = ruleset.settings if not locale else replace(ruleset.settings, faker_locale=locale)
        self.ruleset, self.settings, self.keys = ruleset, settings, keys
        try:
            self.dicts = dictionaries.build(settings.dictionaries, settings.faker_locale, settings.dictionary_seed)
        except (ValueError, AttributeError) as exc:
            raise ConfigError(f"{ruleset.path}: settings.dictionaries: {exc}") from None
        kinds = kinds_by_domain(ruleset)  # which domains fake phones and SSNs: kept valid, kept off real ones
        self.permuter = DigitPermuter(keys, kinds)
        self.fakes = Fakes(keys, self.dicts, settings, ruleset.pii_shapes, self.permuter)
        self.docs = DocAnonymizer(self.fakes, ruleset)
        self.taken = TakenRegistry(self.permuter, kinds)
        self.worker_id = secrets.token_hex(8)  # names this engine to the UDF worker processes

    def for_worker(self) -> tuple:
        """What a UDF worker process rebuilds this engine from (udf_workers.py): the rules with
        their effective settings, and the keys. Secret: it only ever goes down a worker's pipe."""
        return replace(self.ruleset, settings=self.settings), self.keys

    @classmethod
    def from_worker_state(cls, state: tuple) -> "Engine":
        ruleset, keys = state
        return cls(ruleset, keys)

    @classmethod
    def from_env(cls, rules_file: str | None = None, locale: str | None = None,
                 salt_env: str | None = None) -> "Engine":
        ruleset = load_rules(rules_file)
        return cls(ruleset, read_salt(salt_env or ruleset.settings.salt_env), locale)

    def settings_for_sql(self) -> dict[str, str]:
        """What dm_setting(name) returns."""
        s = self.settings
        out = {"email_domain": s.email_domain, "url_domain": s.url_domain,
               "ipv4_prefix": str(s.ipv4_prefix), "date_shift_days": str(s.date_shift_days),
               "school_year_start_month": str(s.school_year_start_month)}
        out.update({f"re_{k}": v for k, v in self.ruleset.pii_shapes.items()})
        out.update({f"ph_{k}": v for k, v in s.scrub_placeholders.items()})
        return out

    def check_regexes(self, conn) -> None:
        """pii_shapes must also compile in DuckDB's RE2 (Python `re` accepted them at load)."""
        for name, pattern in self.ruleset.pii_shapes.items():
            try:
                conn.execute("SELECT regexp_matches('', ?)", [pattern]).fetchall()
            except Exception as exc:
                msg = " ".join(str(exc).split())[:160]
                raise ConfigError(f"{self.ruleset.path}: pii_shapes.{name}: DuckDB cannot use this regex: {msg}") from None

    def warm_workers(self) -> None:
        """Start the UDF worker processes with this engine now (udf_workers.WorkerPool.warm)."""
        shared_pool().warm(self)

    def configure(self, conn) -> None:
        udfs.register(conn, self)
        self.check_regexes(conn)
        create_sql_library(conn, shapes=tuple(self.ruleset.pii_shapes))
