"""Anonymize one JSON document: configured paths first, then (by_key) every object key classified
by the same rules as a column name, so `{"guardians": [{"firstName": ...}]}` is covered without a
path per field. A value a path already replaced is not replaced again (a fake of a fake would
break the same-value-same-fake promise).
"""
from __future__ import annotations

import json
from typing import Any, Mapping

from . import jsonpath
from .fakes import Fakes
from .rules import RuleSet
from .taken import TakenValues

_NAME_PROVIDERS = {"first_name", "last_name", "name"}
_SKIP = {"preserve", "jsonb"}
_TREATMENT = ("path", "strategy", "provider", "domain")  # a path's keys that are not strategy options
# what json.dumps(ensure_ascii=False, separators=(",", ":")) builds on every call (~1 us a document)
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _family(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "numeric"
    return "text"


class DocAnonymizer:
    def __init__(self, fakes: Fakes, ruleset: RuleSet):
        self.fakes, self.ruleset = fakes, ruleset
        self._specs: dict[str, tuple[list, bool]] = {}  # spec -> ([(steps, treatment, options)], by_key)
        self._rules: dict[tuple[str, str], Any] = {}

    def _classify(self, key: str, family: str):
        """ruleset.classify, memoized: documents repeat the same few keys, and matching a key
        against every rule was most of a document's cost."""
        try:
            return self._rules[key, family]
        except KeyError:
            if len(self._rules) > 100_000:
                self._rules.clear()
            rule = self._rules[key, family] = self.ruleset.classify(key, family)
            return rule

    def _spec(self, spec_json: str) -> tuple[list, bool]:
        """Parsed once per distinct spec string (the macro passes a constant)."""
        if spec_json not in self._specs:
            spec = json.loads(spec_json) if spec_json else {}
            paths = [(jsonpath.parse(p["path"]), p, {k: v for k, v in p.items() if k not in _TREATMENT})
                     for p in spec.get("paths", ())]
            self._specs[spec_json] = (paths, bool(spec.get("by_key", True)))
        return self._specs[spec_json]

    def anonymize_text(self, text: str | None, spec_json: str, taken: TakenValues | None = None) -> str | None:
        if text is None or text.strip(" ") == "":
            return text
        doc = json.loads(text)
        paths, by_key = self._spec(spec_json)
        done: set[tuple[int, Any]] = set()
        for steps, treatment, opts in paths:
            doc = self._apply_path(doc, steps, treatment, opts, done, taken)
        if by_key:
            self._walk(doc, done, taken)
        return _ENCODER.encode(doc)

    def _apply_path(self, doc: Any, steps, treatment: Mapping[str, Any], opts: Mapping[str, Any], done: set,
                    taken: TakenValues | None) -> Any:
        def fn(value):
            return self.fakes.apply(treatment["strategy"], value, treatment.get("provider"),
                                    treatment.get("domain"), taken, **opts)
        jsonpath.apply(doc, steps, fn, done)
        return doc

    def _walk(self, node: Any, done: set, taken: TakenValues | None) -> None:
        if isinstance(node, list):
            for item in node:
                self._walk(item, done, taken)
            return
        if not isinstance(node, dict):
            return
        names = [v for k, v in node.items()
                 if isinstance(v, str) and (r := self._classify(k, "text")) and r.provider in _NAME_PROVIDERS]
        for key, value in list(node.items()):
            if (id(node), key) in done:
                continue
            if isinstance(value, dict) or (isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value)):
                self._walk(value, done, taken)
                continue
            is_list = isinstance(value, list)
            rule = self._classify(key, "text[]" if is_list else _family(value))
            if value is None or rule is None or rule.strategy in _SKIP:
                continue
            opts = dict(rule.options, elementwise=is_list)
            if rule.strategy == "scrub_text":
                opts["names"] = names
            node[key] = self.fakes.apply(rule.strategy, value, rule.provider, rule.domain, taken, **opts)
