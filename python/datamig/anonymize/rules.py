"""Load and validate config/anonymization-rules.yaml; classify columns; plan a table.

A rule matches column-name TOKENS (split on "_", camelCase humps and letter/digit borders), never
substrings: the old framework's substring regexes turned `capacity` into a city and
`last_login_at` into a user name. Rules are ordered and the first match wins.

Every mistake in the file is a ConfigError whose one line names the file, the line, and the rule
(or override) at fault.
"""
from __future__ import annotations

import difflib
import importlib
import json
import os
import re
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple

import jsonschema

from ..errors import ConfigError
from ..extract import pg_types
from ..re2_check import re2_problem
from .regex_nesting import SMALL, nested_repetition
from ..yaml_lines import config_error, line_of, one_line, parse_config, read_config_text
from . import jsonpath

RULES_ENV = "DATAMIG_RULES"
DEFAULT_RULES_PATH = Path(__file__).resolve().parents[3] / "config" / "anonymization-rules.yaml"

STRATEGIES = ("faker", "hash", "tokenize", "mask_format", "shift_date", "scrub_text", "jsonb",
              "constant", "nullify", "preserve")
KEYED = {"faker", "hash", "tokenize", "mask_format", "shift_date"}
# Providers the SQL macros implement; the dictionary ones must be configured under settings.
BUILTIN_PROVIDERS = {
    "first_name": ("first_name",), "last_name": ("last_name",), "name": ("first_name", "last_name"),
    "email": ("first_name", "last_name"), "user_name": ("first_name", "last_name"),
    "street": ("street",), "city": ("city",), "zip": ("zip",), "url": ("last_name",),
    "ipv4": (), "phone": (), "ssn": (),
}
UNIQUE_PROVIDERS = {"email", "user_name", "phone", "ssn"}
UNIQUE_STRATEGIES = {"hash", "tokenize", "mask_format"}
ELEMENTWISE = {"faker", "hash", "tokenize", "mask_format", "constant", "scrub_text", "nullify"}
DOMAIN_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
_OPTION_KEYS = ("value", "keep_country_code", "letters", "by_key", "paths")


# ----- column names and types ---------------------------------------------------------------
def tokens(column_name: str) -> tuple[str, ...]:
    """'guardianPhone2' -> ('guardian', 'phone', '2'); 'state_student_id' -> (state, student, id)."""
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", column_name)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    s = re.sub(r"([A-Za-z])([0-9])|([0-9])([A-Za-z])", lambda m: "_".join(g for g in m.groups() if g), s)
    return tuple(t for t in re.split(r"[^a-z0-9]+", s.lower()) if t)


_FAMILIES = [
    (r"json|jsonb", "json"),
    (r"(character varying|varchar|char|character|bpchar|text|citext|string|name|nvarchar|nchar)", "text"),
    (r"(tinyint|smallint|integer|int|bigint|hugeint|int[1248]|u?(tiny|small|big|huge)int|uinteger|"
     r"serial|bigserial|smallserial)", "integer"),
    (r"(numeric|decimal|real|double( precision)?|float[48]?|float|money)", "numeric"),
    (r"(bool|boolean)", "boolean"),
    (r"date", "date"),
    (r"(timestamp|timestamptz|datetime|timestamp with(out)? time zone|timestamp_(s|ms|ns))", "timestamp"),
    (r"(time|timetz|time with(out)? time zone)", "time"),
    (r"interval", "interval"),
    (r"uuid", "uuid"),
    (r"(inet|cidr)", "inet"),
    (r"(bytea|blob|binary|varbinary)", "binary"),
    (r"(user-defined|enum)", "enum"),
]


def type_family(data_type: str | None) -> str | None:
    """'character varying(255)' -> 'text', 'text[]' -> 'text_array', 'integer[]' -> 'array'."""
    if data_type is None:
        return None
    t = re.sub(r"\(.*?\)", "", data_type.strip().lower()).strip()
    inner = None
    if t.endswith("[]"):
        inner = t[:-2].strip()
    elif t.startswith("_"):  # PostgreSQL udt_name of arrays: _text, _varchar
        inner = t[1:]
    elif t == "array":
        return "array"
    if inner is not None:
        return "text_array" if type_family(inner) == "text" else "array"
    return next((fam for pattern, fam in _FAMILIES if re.fullmatch(pattern, t)), "other")


# ----- rules --------------------------------------------------------------------------------
# a text to look for empty matches in: words, a digit, punctuation, spaces
_SHAPE_PROBE = "Seen for a 1 x, at 9: ok - S. "


def _phrases(items: Iterable[str]) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(p.split("_")) for p in items)


def _contains(toks: tuple[str, ...], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(toks[i:i + n] == phrase for i in range(len(toks) - n + 1))


def _singular(token: str) -> str:
    """English plural -> singular, enough for column names: addresses, cities, zips, ids. Words
    that end in -ss, -us or -is (address, status, analysis) are left as they are."""
    if len(token) < 3 or not token.endswith("s") or token.endswith(("ss", "us", "is")):
        return token
    if token.endswith(("sses", "uses", "xes", "shes", "ches")):
        return token[:-2]
    if token.endswith("ies") and len(token) > 4:
        return token[:-3] + "y"
    return token[:-1]


@dataclass(frozen=True, eq=False)
class Matcher:
    any: tuple = ()
    first: tuple = ()
    last: tuple = ()
    exclude: tuple = ()
    regex: re.Pattern | None = None
    exclude_last: tuple = ()     # vetoes only as the name's last words: phone_type, not verified_phone

    def matches(self, toks: tuple[str, ...]) -> bool:
        """Also in the singular: "zips", "medicaid_ids", "previous_addresses" (list columns and
        JSON lists are named in the plural) are what "zip", "medicaid_id" and "address" are, and
        a column "observation" is what a rule's "observations" is. A trailing number does not
        count: "parent1" and "guardian_name_2" end in "parent" and "name"."""
        while len(toks) > 1 and toks[-1].isdigit():
            toks = toks[:-1]
        singular = tuple(map(_singular, toks))
        # an exclude in either form vetoes both (email_types is no more an email than email_type)
        if self._excluded(toks) or self._in_singular._excluded(singular):
            return False
        return self._matches(toks) or self._in_singular._matches(singular)

    def _excluded(self, toks: tuple[str, ...]) -> bool:
        return (any(_contains(toks, p) for p in self.exclude)
                or any(len(toks) > len(p) and toks[-len(p):] == p for p in self.exclude_last))

    @cached_property
    def _in_singular(self) -> Matcher:
        def each(phrases):
            return tuple(tuple(map(_singular, p)) for p in phrases)
        return Matcher(each(self.any), each(self.first), each(self.last), each(self.exclude), self.regex,
                       each(self.exclude_last))

    def _matches(self, toks: tuple[str, ...]) -> bool:
        return (any(_contains(toks, p) for p in self.any)
                or any(toks[:len(p)] == p for p in self.first)
                or any(len(toks) >= len(p) and toks[-len(p):] == p for p in self.last)
                or (self.regex is not None and any(self.regex.fullmatch(t) for t in toks)))


@dataclass(frozen=True, eq=False)
class Rule:
    name: str
    strategy: str
    provider: str | None = None
    domain: str | None = None
    unique: bool = False
    types: frozenset | None = None
    match: Matcher | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        what = "/".join(x for x in (self.strategy, self.provider) if x)
        return f"Rule({self.name!r}: {what}{' @' + self.domain if self.domain else ''}{' unique' if self.unique else ''})"

    def applies_to(self, toks: tuple[str, ...], family: str | None) -> bool:
        # Unknown type: treated as text, the type that can hold anything.
        if self.types is not None and (family or "text") not in self.types:
            return False
        return self.match is not None and self.match.matches(toks)

    def macro_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the `anonymize` macro that applies this rule."""
        kw = {"strategy": self.strategy, "provider": self.provider, "domain": self.domain,
              "unique": self.unique or None}
        kw.update(self.options)
        return {k: v for k, v in kw.items() if v is not None}

    def macro_call(self, column_expr: str) -> str:
        """The Jinja call for a model: {{ anonymize('"first_name"', 'faker', provider=...) }}.
        `column_expr` is SQL (quote odd identifiers yourself)."""
        kw = self.macro_kwargs()
        args = [repr(column_expr), repr(kw.pop("strategy"))] + [f"{k}={v!r}" for k, v in kw.items()]
        return "{{ anonymize(" + ", ".join(args) + ") }}"


class Planned(NamedTuple):
    rule: Rule | None
    strategy: str | None
    provider: str | None
    domain: str | None


@dataclass(frozen=True)
class Settings:
    salt_env: str
    faker_locale: str
    dictionary_seed: int
    dictionaries: Mapping[str, Mapping[str, Any]]
    date_shift_days: int
    email_domain: str
    url_domain: str = "example.org"
    ipv4_prefix: int = 10
    school_year_start_month: int = 9  # a shifted birth date stays in its school year (dates.sql)
    scrub_placeholders: Mapping[str, str] = field(default_factory=lambda: {
        "email": "[EMAIL]", "phone": "[PHONE]", "ssn": "[SSN]", "name": "[NAME]"})


@dataclass(frozen=True)
class Override:
    table: str
    column: str
    rule: Rule
    line: int


@lru_cache(maxsize=16_384)
def _classify(ruleset: RuleSet, column_name: str, data_type: str | None) -> Rule | None:
    # cached: the PII scan asks again for every key of every sampled JSON document
    toks, family = tokens(column_name), type_family(data_type)
    return next((r for r in ruleset.rules if r.applies_to(toks, family)), None)


@dataclass(frozen=True, eq=False)
class RuleSet:
    path: Path
    settings: Settings
    rules: tuple[Rule, ...]
    pii_shapes: Mapping[str, str]
    overrides: tuple[Override, ...] = ()

    def __repr__(self) -> str:
        return f"RuleSet({str(self.path)!r}: {len(self.rules)} rules, {len(self.overrides)} overrides)"

    def rule(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)

    def classify(self, column_name: str, data_type: str | None = None) -> Rule | None:
        return _classify(self, column_name, data_type)

    def overrides_for(self, table: str | None) -> dict[str, Override]:
        if not table:
            return {}
        bare = table.split(".")[-1]
        return {o.column: o for o in self.overrides if o.table in (table, bare)}

    def plan_table(self, table_columns: Mapping[str, str | None] | Iterable[tuple[str, str | None]],
                   overrides: Mapping[str, Any] | None = None, table: str | None = None) -> dict[str, Planned]:
        """{column: Planned(rule, strategy, provider, domain)}; unclassified columns get all None
        (the drift gate decides). `overrides`: {column: rule name | treatment dict | Override};
        default: this file's overrides for `table`. An override naming a missing column fails."""
        columns = dict(table_columns.items() if isinstance(table_columns, Mapping) else table_columns)
        chosen = self._resolve_overrides(columns, self.overrides_for(table) if overrides is None else overrides, table)
        plan = {}
        for column, data_type in columns.items():
            rule = chosen.get(column) or self.classify(column, data_type)
            rule = rule and _fit_to_type(rule, type_family(data_type), data_type)
            plan[column] = Planned(rule, *(rule and (rule.strategy, rule.provider, rule.domain) or (None,) * 3))
        return plan

    def check_overrides(self, catalog: Mapping[str, Iterable[str]], source: str = "the extract") -> None:
        """Whole-estate check: every override names an existing table and column (`catalog`:
        {store.table: columns} of `source`). The scaffold skips an override of an unknown table
        without a word, so a typo would leave the column to the rules."""
        for o in self.overrides:
            where = f"{self.path}:{o.line}: override {o.table}.{o.column}"
            tables = [t for t in catalog if _same_table(o.table, t)]
            if not tables:
                raise ConfigError(f"{where}: no table {o.table!r} in {source}")
            for table in tables:
                if o.column not in set(catalog[table]):
                    raise ConfigError(f"{where}: table {table} has no column {o.column!r}")

    def _resolve_overrides(self, columns, overrides, table) -> dict[str, Rule]:
        out = {}
        for column, spec in overrides.items():
            where = spec.line if isinstance(spec, Override) else "?"
            label = f"override {table + '.' if table else ''}{column}"
            if column not in columns:
                raise ConfigError(f"{self.path}:{where}: {label}: no such column (table has: "
                                  f"{', '.join(sorted(columns))[:200]})")
            if isinstance(spec, Override):
                out[column] = spec.rule
            else:
                out[column] = _override_rule(self, spec, label, str(self.path))
        return out


def _same_table(name: str, table: str) -> bool:
    """An override's table is store.table or a bare table name (then: of any store)."""
    if "." in name and "." in table:
        return name == table
    return name.split(".")[-1] == table.split(".")[-1]


def _fit_to_type(rule: Rule, family: str | None, data_type: str | None = None) -> Rule:
    """Per-column options the macro needs: element-wise for arrays, date kind for shift_date,
    no `letters` for numbers."""
    extra = {}
    if family in ("text_array", "array") and rule.strategy in ELEMENTWISE:
        extra["elementwise"] = True
    if rule.strategy == "shift_date":
        extra["kind"] = family if family in ("date", "timestamp", "integer") else "text"  # integer: yyyymmdd
        if family == "numeric" and (number := _number_type(data_type)):
            extra.update(kind="number", cast_to=number)  # yyyymmdd in a DOUBLE or DECIMAL column, kept so
    drop = {"letters"} if family in ("integer", "numeric") and "letters" in rule.options else set()
    # letters: a number as text has none to hide, and its 'e+20', 'inf' or 'nan' must stay castable
    if not extra and not drop:
        return rule
    return replace(rule, options={**{k: v for k, v in rule.options.items() if k not in drop}, **extra})


def _number_type(data_type: str | None) -> str | None:
    """The DuckDB type the extract lands a numeric PostgreSQL column in, so a shifted yyyymmdd
    goes back into it; None when that is no number (numeric(8) without scale travels as text)."""
    landed = pg_types.duckdb_type(data_type or "")
    return landed if landed.startswith(("DECIMAL", "DOUBLE", "FLOAT")) else None


# ----- loading ------------------------------------------------------------------------------
def _schema() -> dict:
    return json.loads(resources.files(__package__).joinpath("rules.schema.json").read_text())




class _Loader:
    """One load of one file: knows where each rule is, so every error can say so."""

    def __init__(self, path: Path, hint: str = ""):
        self.path = path
        self.raw, self.node = parse_config(path, read_config_text(path, "anonymization rules file", hint))

    def fail(self, keys: list[Any], what: str, message: str) -> None:
        raise config_error(self.path, self.node, keys, what, message)

    def what(self, keys: list[Any]) -> str:
        if len(keys) >= 2 and keys[0] in ("rules", "overrides") and isinstance(keys[1], int):
            item = (self.raw.get(keys[0]) or [])[keys[1]]
            item = item if isinstance(item, dict) else {}
            if keys[0] == "rules":
                return f"rule {item.get('name', '#' + str(keys[1] + 1))!r}"
            return f"override {item.get('table', '?')}.{item.get('column', '?')}"
        return ".".join(map(str, keys)) or "file"

    def validate_schema(self) -> None:
        if not isinstance(self.raw, dict):
            self.fail([], "file", "expected a mapping with version, settings, rules")
        err = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(_schema()).iter_errors(self.raw))
        if err is not None:
            keys = list(err.absolute_path)
            field_name = ".".join(map(str, keys[2:])) if keys[:1] in (["rules"], ["overrides"]) else ""
            self.fail(keys, self.what(keys), f"{field_name + ': ' if field_name else ''}{err.message}")

    def load(self) -> RuleSet:
        self.validate_schema()
        shapes = dict(self.raw.get("pii_shapes") or {})
        raw_settings = dict(self.raw["settings"])
        # every shape is scrubbed out of free text: one the file gives no placeholder gets [ITS_NAME]
        raw_settings["scrub_placeholders"] = {**Settings.__dataclass_fields__["scrub_placeholders"].default_factory(),
                                              **{shape: f"[{shape.upper()}]" for shape in shapes},
                                              **raw_settings.get("scrub_placeholders", {})}
        settings = Settings(**raw_settings)
        self.check_salt_env(settings)
        self.check_locales(settings)
        self.check_dictionary_methods(settings)
        self.check_placeholders(settings, shapes)
        for name, pattern in shapes.items():
            self.check_shape(name, self.compile(pattern, ["pii_shapes", name], f"pii_shapes.{name}"))
        self.check_duckdb_regexes(shapes)
        draft = RuleSet(self.path, settings, (), shapes)
        rules = tuple(self.rule(i, r, draft) for i, r in enumerate(self.raw["rules"]))
        names = [r.name for r in rules]
        for i, name in enumerate(names):
            if name in names[:i]:
                self.fail(["rules", i, "name"], f"rule {name!r}", "duplicate rule name")
        self.check_domains(rules)
        draft = replace(draft, rules=rules)
        overrides = tuple(self.override(i, o, draft) for i, o in enumerate(self.raw.get("overrides") or []))
        return replace(draft, overrides=overrides)

    def check_domains(self, rules: tuple[Rule, ...]) -> None:
        """Rules that permute into one pseudonym domain must permute alike: with `letters` on in
        one and off in the other, the same id in two columns would get two different fakes."""
        first: dict[str, Rule] = {}
        for i, rule in enumerate(rules):
            if rule.strategy != "mask_format" or not rule.domain:
                continue
            seen = first.setdefault(rule.domain, rule)
            if bool(seen.options.get("letters")) != bool(rule.options.get("letters")):
                self.fail(["rules", i], f"rule {rule.name!r}",
                          f"shares domain {rule.domain} with rule {seen.name!r} but not its `letters` setting "
                          f"(the same value would get two different fakes)")

    def check_salt_env(self, settings: Settings) -> None:
        """Logs, reports and the servers datamig starts hide a variable's value by its name: a salt
        in ANON_KEY would be kept in PostgreSQL's and Neo4j's environment and shown in messages."""
        from ..services.envfile import SECRET_MARKERS

        if not any(marker in settings.salt_env for marker in SECRET_MARKERS):
            self.fail(["settings", "salt_env"], "settings.salt_env",
                      f"{settings.salt_env}: the salt's variable must have {', '.join(SECRET_MARKERS[1:])} or "
                      f"{SECRET_MARKERS[0]} in its name, which datamig keeps out of logs, reports and servers "
                      "(e.g. DATAMIG_SALT)")

    def check_locales(self, settings: Settings) -> None:
        """Every Faker locale exists: Faker only says so when the dbt plugin builds the
        dictionaries, after the run has started writing."""
        found = [(["settings", "faker_locale"], settings.faker_locale)]
        for name, spec in settings.dictionaries.items():
            keys = ["settings", "dictionaries", name]
            if "locale" in spec:
                found.append((keys + ["locale"], spec["locale"]))
            found += [(keys + ["extra_locales", i], loc) for i, loc in enumerate(spec.get("extra_locales", ()))]
        for keys, locale in found:
            problem = _locale_problem(locale)
            if problem:
                self.fail(keys, ".".join(str(k) for k in keys if not isinstance(k, int)), problem)

    def check_dictionary_methods(self, settings: Settings) -> None:
        """Every dictionary's Faker method exists in each of its locales: some are one locale's
        own (ja_JP's kana_name), and the plugin would only fail on building the dictionaries."""
        for name, spec in settings.dictionaries.items():
            method = spec.get("faker", name)
            if _in_every_locale(method):
                continue
            for locale in (spec.get("locale", settings.faker_locale), *spec.get("extra_locales", ())):
                if not _faker_has(locale, method):
                    self.fail(["settings", "dictionaries", name], f"settings.dictionaries.{name}",
                              f"Faker locale {locale} has no provider {method!r}")

    def check_placeholders(self, settings: Settings, shapes: Mapping[str, str]) -> None:
        """scrub_text's placeholders are the replacement of DuckDB's regexp_replace, which reads
        \\0 as the matched text (the PII put back) and \\1..\\9 as groups (\\9: no replacement).
        A placeholder is for a pii_shape or for names: any other is a typo that would scrub nothing."""
        for kind, text in settings.scrub_placeholders.items():
            if kind != "name" and kind not in shapes:
                self.fail(["settings", "scrub_placeholders", kind], f"settings.scrub_placeholders.{kind}",
                          f"no pii_shape named {kind!r} (placeholders: name and the pii_shapes: {', '.join(shapes)})")
            if "\\" in text:
                self.fail(["settings", "scrub_placeholders", kind], f"settings.scrub_placeholders.{kind}",
                          f"{text!r}: no backslash (DuckDB's regexp_replace reads \\0 as the matched PII)")

    def check_shape(self, name: str, compiled: re.Pattern) -> None:
        """Every shape is scrubbed out of free text: one that matches nothing at all ("x|" or
        "[0-9]{0,7}") would put its placeholder between the characters of every note."""
        if compiled.fullmatch("") or any(m.start() == m.end() for m in compiled.finditer(_SHAPE_PROBE)):
            self.fail(["pii_shapes", name], f"pii_shapes.{name}",
                      "matches an empty string: free text would get its placeholder between every two characters")
        if nested_repetition(compiled.pattern):
            self.fail(["pii_shapes", name], f"pii_shapes.{name}",
                      "repeats a repetition without a bound ((?:[A-Za-z]+ ?)+): Python's regex engine can take "
                      f"exponential time on a long note; bound the outer one, e.g. {{1,{SMALL}}}")

    def check_duckdb_regexes(self, shapes: Mapping[str, str]) -> None:
        """pii_shapes are the only patterns DuckDB runs (scrub_text, the leak tests): RE2 rejects
        some that Python accepts (lookarounds, backreferences), which the dbt plugin would only
        find on connecting."""
        for name, pattern in shapes.items():
            problem = re2_problem(pattern)
            if problem:
                self.fail(["pii_shapes", name], f"pii_shapes.{name}", f"DuckDB (RE2) cannot use regex {pattern!r}: {problem}")

    def compile(self, pattern: str, keys: list[Any], what: str) -> re.Pattern:
        try:
            return re.compile(pattern)
        except re.error as exc:
            self.fail(keys, what, f"bad regex {pattern!r}: {exc}")

    def rule(self, i: int, raw: dict, ruleset: RuleSet) -> Rule:
        keys, what = ["rules", i], f"rule {raw['name']!r}"
        m = raw["match"]
        m = {"any": m} if isinstance(m, list) else m
        regex = self.compile(m["regex"], keys + ["match", "regex"], what) if "regex" in m else None
        matcher = Matcher(_phrases(m.get("any", ())), _phrases(m.get("first", ())),
                          _phrases(m.get("last", ())), _phrases(m.get("exclude", ())), regex,
                          _phrases(m.get("exclude_last", ())))
        rule = _treatment(raw, raw["name"], matcher, frozenset(raw["types"]) if "types" in raw else None)
        problem = check_treatment(rule, ruleset.settings)
        if problem:
            self.fail(keys + [problem[0]], what, problem[1])
        return rule

    def override(self, i: int, raw: dict, ruleset: RuleSet) -> Override:
        label = f"override {raw['table']}.{raw['column']}"
        rule = _override_rule(ruleset, raw, label, f"{self.path}:{line_of(self.node, ['overrides', i])}")
        return Override(raw["table"], raw["column"], rule, line_of(self.node, ["overrides", i]))


def _treatment(raw: Mapping[str, Any], name: str, matcher: Matcher | None = None, types=None) -> Rule:
    options = {k: raw[k] for k in _OPTION_KEYS if k in raw}
    return Rule(name=name, strategy=raw["strategy"], provider=raw.get("provider"), domain=raw.get("domain"),
                unique=bool(raw.get("unique", False)), types=types, match=matcher, options=options)


def _override_rule(ruleset: RuleSet, spec: Any, label: str, where: str) -> Rule:
    """An override is a rule name, or a treatment (strategy/provider/domain/options)."""
    if isinstance(spec, str):
        spec = {"rule": spec}
    if "rule" in spec:
        rule = ruleset.rule(spec["rule"])
        if rule is None:
            raise ConfigError(f"{where}: {label}: unknown rule {spec['rule']!r}")
        return rule
    if "strategy" not in spec:
        raise ConfigError(f"{where}: {label}: needs `rule` or `strategy`")
    rule = _treatment(spec, label)
    problem = check_treatment(rule, ruleset.settings)
    if problem:
        raise ConfigError(one_line(f"{where}: {label}: {problem[1]}"))
    return rule


# ----- semantic checks ----------------------------------------------------------------------
def _locale_problem(locale: str) -> str | None:
    from faker.config import AVAILABLE_LOCALES

    if locale in AVAILABLE_LOCALES:  # exactly: Faker would read en-US, the person-name lists would not
        return None
    close = difflib.get_close_matches(locale, AVAILABLE_LOCALES, n=3)
    return f"unknown Faker locale {locale!r}" + (f" (did you mean {', '.join(close)}?)" if close else "")


@lru_cache(maxsize=32)
def _faker_has(locale: str, method: str) -> bool:
    from faker import Faker
    try:
        return callable(getattr(Faker(locale), method, None))
    except AttributeError:
        return False


@lru_cache(maxsize=32)
def _in_every_locale(method: str) -> bool:
    """A method of one of Faker's base providers: every locale's Faker has it (each locale's
    provider subclasses the base), so no Faker per locale is built to ask (~30 ms each)."""
    from faker.config import PROVIDERS

    return any(callable(getattr(importlib.import_module(path).Provider, method, None)) for path in PROVIDERS)


def dictionary_providers(settings: Settings) -> set[str]:
    return set(settings.dictionaries)


def check_treatment(rule: Rule, settings: Settings) -> tuple[str, str] | None:
    """(field, problem) for the first thing wrong with a rule's treatment, else None."""
    if rule.strategy not in STRATEGIES:
        return "strategy", f"unknown strategy {rule.strategy!r} (known: {', '.join(STRATEGIES)})"
    if rule.strategy == "faker":
        problem = _check_provider(rule.provider, settings)
        if problem:
            return "provider", problem
    elif rule.provider is not None:
        return "provider", f"a provider only goes with strategy faker, not {rule.strategy}"
    if rule.strategy in KEYED and not rule.domain:
        return "domain", f"strategy {rule.strategy} needs a pseudonym domain (e.g. person.first_name)"
    if rule.domain is not None and not DOMAIN_RE.match(rule.domain):
        return "domain", f"bad domain {rule.domain!r}: lower-case words joined by '.'"
    if rule.unique and not (rule.strategy in UNIQUE_STRATEGIES or rule.provider in UNIQUE_PROVIDERS):
        return "unique", (f"{rule.strategy}{'/' + rule.provider if rule.provider else ''} cannot be unique "
                          f"(unique: mask_format, tokenize, hash, faker email/user_name/phone/ssn)")
    if rule.options.get("letters") and rule.strategy != "mask_format":
        return "letters", "letters only goes with strategy mask_format"
    if rule.strategy == "constant" and "value" not in rule.options:
        return "value", "strategy constant needs `value`"
    return _check_paths(rule, settings)


def _check_provider(provider: str | None, settings: Settings) -> str | None:
    if provider is None:
        return "strategy faker needs a provider"
    needs = BUILTIN_PROVIDERS.get(provider)
    if needs is None and provider not in settings.dictionaries:
        return (f"unknown Faker provider {provider!r} (built in: {', '.join(sorted(BUILTIN_PROVIDERS))}; "
                f"or add it under settings.dictionaries)")
    missing = [d for d in (needs or ()) if d not in settings.dictionaries]
    if missing:
        return f"provider {provider!r} needs settings.dictionaries.{missing[0]}"
    return None  # a dictionary's own Faker method is checked with the settings


def _check_paths(rule: Rule, settings: Settings) -> tuple[str, str] | None:
    if rule.strategy != "jsonb":
        return ("paths", "paths only go with strategy jsonb") if "paths" in rule.options else None
    for spec in rule.options.get("paths", ()):
        try:
            jsonpath.parse(spec["path"])
        except ValueError as exc:
            return "paths", str(exc)
        inner = _treatment(spec, rule.name)
        if inner.strategy == "jsonb":
            return "paths", f"{spec['path']}: jsonb cannot nest"
        problem = check_treatment(inner, settings)
        if problem:
            return "paths", f"{spec['path']}: {problem[1]}"
    return None


def rules_path(path: str | os.PathLike | None = None) -> Path:
    return Path(path or os.environ.get(RULES_ENV) or DEFAULT_RULES_PATH)


def load_rules(path: str | os.PathLike | None = None) -> RuleSet:
    """Load and validate a rules file (default: $DATAMIG_RULES or config/anonymization-rules.yaml)."""
    p = rules_path(path)
    try:
        mtime = p.stat().st_mtime_ns
    except OSError:  # missing or unreachable: the load says which, in one line
        mtime = 0
    return _load_cached(str(p.resolve()), mtime, _not_found_hint(path))


def _not_found_hint(path: str | os.PathLike | None) -> str:
    """How to name another rules file, said when this one is missing: DATAMIG_RULES only counts
    when no path was given (the CLI always gives one)."""
    if path:
        return ""
    return f"from {RULES_ENV}" if os.environ.get(RULES_ENV) else f"set {RULES_ENV} to use another file"


@lru_cache(maxsize=8)
def _load_cached(path: str, _mtime: int, hint: str = "") -> RuleSet:
    return _Loader(Path(path), hint).load()


def classify(column_name: str, data_type: str | None = None) -> Rule | None:
    """First matching rule of the default rules file."""
    return load_rules().classify(column_name, data_type)


def plan_table(table_columns, overrides=None, table: str | None = None) -> dict[str, Planned]:
    """plan_table of the default rules file."""
    return load_rules().plan_table(table_columns, overrides, table)
