"""Anonymize JSON documents: configured paths first, then (by_key) every object key classified
by the same rules as a column name, so `{"guardians": [{"firstName": ...}]}` is covered without a
path per field. A value a path already replaced is not replaced again (a fake of a fake would
break the same-value-same-fake promise).

A chunk of documents is anonymized in two steps: every document is read and each value to fake
is noted with its treatment, then each treatment fakes all its values at once (phones and SSNs
through the vectorized permutation, a value met twice faked once), and the fakes are put back.
Faking one value at a time was most of a document's cost (a phone alone ~20 us). Free text is
scrubbed while reading, with the object's names as they were: faked first, the notes next to a
name kept the real name.
"""
from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

import pyarrow as pa

from . import jsonpath
from .fakes import Fakes
from .rules import RuleSet
from .taken import TakenValues

_NAME_PROVIDERS = {"first_name", "last_name", "name"}
_SKIP = {"preserve", "jsonb"}
_TREATMENT = ("path", "strategy", "provider", "domain")  # a path's keys that are not strategy options
# what json.dumps(ensure_ascii=False, separators=(",", ":")) builds on every call (~1 us a document)
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_VECTOR_MIN = 16  # fewer texts are permuted one by one: an Arrow round trip costs more


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
        return self.anonymize_texts([text], spec_json, taken)[0]

    def anonymize_texts(self, texts: Sequence[str | None], spec_json: str,
                        taken: TakenValues | None = None) -> list[str | None]:
        """Each document of `texts` anonymized; NULL and blank ones as they are."""
        paths, by_key = self._spec(spec_json)
        batch = _Batch(self.fakes, taken)
        docs = [None if text is None or text.strip(" ") == "" else json.loads(text) for text in texts]
        for doc in docs:
            if doc is not None:
                self._note(doc, paths, by_key, batch)
        batch.fake()
        return [text if doc is None else _ENCODER.encode(doc) for text, doc in zip(texts, docs)]

    def _note(self, doc: Any, paths: list, by_key: bool, batch: "_Batch") -> None:
        done: set[tuple[int, Any]] = set()
        for steps, treatment, opts in paths:
            for node, slot in jsonpath.targets(doc, steps):
                if (id(node), slot) not in done:
                    done.add((id(node), slot))
                    batch.add(node, slot, treatment["strategy"], treatment.get("provider"),
                              treatment.get("domain"), opts)
        if by_key:
            self._walk(doc, done, batch)

    def _walk(self, node: Any, done: set, batch: "_Batch") -> None:
        if isinstance(node, list):
            for item in node:
                self._walk(item, done, batch)
            return
        if not isinstance(node, dict):
            return
        # nothing is replaced before batch.fake(): these are the real names, paths' or not
        names = [v for k, v in node.items()
                 if isinstance(v, str) and (r := self._classify(k, "text")) and r.provider in _NAME_PROVIDERS]
        for key, value in node.items():
            if (id(node), key) in done:
                continue
            if isinstance(value, dict) or (isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value)):
                self._walk(value, done, batch)
                continue
            is_list = isinstance(value, list)
            rule = self._classify(key, "text[]" if is_list else _family(value))
            if value is None or rule is None or rule.strategy in _SKIP:
                continue
            opts = dict(rule.options, names=names) if rule.strategy == "scrub_text" else rule.options
            for container, slot in ([(value, i) for i in range(len(value))] if is_list else [(node, key)]):
                batch.add(container, slot, rule.strategy, rule.provider, rule.domain, opts)


class _Batch:
    """The values a chunk's documents need faked, by treatment; fake() puts the fakes in place."""

    def __init__(self, fakes: Fakes, taken: TakenValues | None):
        self.fakes, self.taken = fakes, taken
        self._groups: dict[tuple, tuple[Mapping[str, Any], list]] = {}

    def add(self, node: Any, slot: Any, strategy: str, provider: str | None, domain: str | None,
            opts: Mapping[str, Any]) -> None:
        value = node[slot]
        if value is None:
            return  # stays NULL
        if strategy == "scrub_text" or isinstance(value, (dict, list)):
            # free text depends on its names, not only its value; a whole object or list (a path
            # that stops short of the values) is rare: both faked here and now
            node[slot] = self.fakes.apply(strategy, value, provider, domain, self.taken, **opts)
            return
        key = (strategy, provider, domain, repr(sorted(opts.items())))
        self._groups.setdefault(key, (opts, []))[1].append((node, slot))

    def fake(self) -> None:
        for (strategy, provider, domain, _), (opts, slots) in self._groups.items():
            values = [node[slot] for node, slot in slots]
            for (node, slot), fake in zip(slots, self._fakes(strategy, provider, domain, opts, values)):
                node[slot] = fake
        self._groups.clear()

    def _fakes(self, strategy: str, provider: str | None, domain: str | None, opts: Mapping[str, Any],
               values: list) -> list:
        out: list = [None] * len(values)
        permutation = _permutation(strategy, provider, opts)
        texts = [i for i, v in enumerate(values) if type(v) is str and v.strip(" ")] if permutation else []
        if len(texts) >= _VECTOR_MIN:
            keep, letters = permutation
            check = self.taken.for_domain(domain) if self.taken else None
            fakes = self.fakes.permuter.transform(pa.array([values[i] for i in texts], pa.string()), domain,
                                                  keep, letters, check).to_pylist()
            for i, fake in zip(texts, fakes):
                out[i] = fake
        else:
            texts = []
        memo: dict[tuple[type, Any], Any] = {}  # True == 1: the type is part of the key
        done = set(texts)
        for i, value in enumerate(values):
            if i not in done:
                key = (type(value), value)
                if key not in memo:
                    memo[key] = self.fakes.apply(strategy, value, provider, domain, self.taken, **opts)
                out[i] = memo[key]
        return out


def _permutation(strategy: str, provider: str | None, opts: Mapping[str, Any]) -> tuple[bool, bool] | None:
    """(keep_country_code, letters) when a text's fake is Fakes.apply's digit permutation, else None."""
    if strategy == "mask_format":
        return bool(opts.get("keep_country_code")), bool(opts.get("letters"))
    if strategy == "faker" and provider in ("phone", "ssn"):
        return provider == "phone", False
    return None
