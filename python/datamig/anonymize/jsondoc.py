"""Anonymize JSON documents: configured paths first, then (by_key) every object key classified
by the same rules as a column name, so `{"guardians": [{"firstName": ...}]}` is covered without a
path per field. A value a path already replaced is not replaced again (a fake of a fake would
break the same-value-same-fake promise). A key no rule names is read with the object around it:
its parent key (FHIR {"name": [{"family": ...}]} is a family_name) or, for a value key, a sibling
label ({"label": "Home phone", "value": ...}).

A chunk of documents is anonymized in two steps: every document is read and each value to fake
is noted with its treatment, then each treatment fakes all its values at once (phones and SSNs
through the vectorized permutation, a value met twice faked once), and the fakes are put back.
Faking one value at a time was most of a document's cost (a phone alone ~20 us). Free text is
scrubbed once the whole document is read, of every real name in it (an object's, its parents',
its children's, names in lists, names a path replaces), before any name is faked.
"""
from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from . import jsonpath
from .fakes import Fakes, is_blank
from .doc_keys import NAME_PROVIDERS, SKIP, KeyRules
from .rules import RuleSet
from .taken import TakenValues

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
        self.keys = KeyRules(ruleset)

    def _spec(self, spec_json: str) -> tuple[list, bool]:
        """Parsed once per distinct spec string (the macro passes a constant)."""
        if spec_json not in self._specs:
            spec = json.loads(spec_json) if spec_json else {}
            paths = [(jsonpath.parse(p["path"]), p, {k: v for k, v in p.items() if k not in _TREATMENT})
                     for p in spec.get("paths", ())]
            self._specs[spec_json] = (paths, bool(spec.get("by_key", True)))
        return self._specs[spec_json]

    def anonymize_text(self, text: str | None, spec_json: str, taken: TakenValues | None = None,
                       names: Sequence[str | None] = ()) -> str | None:
        return self.anonymize_texts([text], spec_json, taken, [names])[0]

    def anonymize_texts(self, texts: Sequence[str | None], spec_json: str, taken: TakenValues | None = None,
                        names: Sequence[Sequence[str | None] | None] | None = None) -> list[str | None]:
        """Each document of `texts` anonymized; NULL and blank ones as they are. `names`: per
        document, its row's names, which its free text loses besides the document's own."""
        paths, by_key = self._spec(spec_json)
        batch = _Batch(self.fakes, taken)
        docs = [None if text is None or is_blank(text) else json.loads(text) for text in texts]
        for doc, row_names in zip(docs, names or [None] * len(docs), strict=True):
            if doc is not None:
                self._note(doc, paths, by_key, batch, [n for n in row_names or () if n is not None])
        batch.fake()
        return [text if doc is None else _ENCODER.encode(doc) for text, doc in zip(texts, docs)]

    def _note(self, doc: Any, paths: list, by_key: bool, batch: "_Batch", row_names: list[str]) -> None:
        """Note what `doc` needs faked; scrub its free text (with all of its names) now."""
        done: set[tuple[int, Any]] = set()
        found = _Found(row_names)
        for steps, treatment, opts in paths:
            for node, slot in jsonpath.targets(doc, steps):
                if (id(node), slot) in done:
                    continue
                done.add((id(node), slot))
                value = node[slot]
                if treatment.get("provider") in NAME_PROVIDERS or self._is_name(slot, value):
                    found.names.extend(v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str))
                if treatment["strategy"] == "scrub_text":
                    found.texts.append((node, slot, opts))
                else:
                    batch.add(node, slot, treatment["strategy"], treatment.get("provider"), treatment.get("domain"), opts)
        if by_key:
            self._walk(doc, done, batch, found)
        names = list(dict.fromkeys(found.names))
        for node, slot, opts in found.texts:
            node[slot] = self.fakes.apply("scrub_text", node[slot], None, None, batch.taken, **dict(opts, names=names))

    def _is_name(self, key: Any, value: Any) -> bool:
        return (isinstance(key, str) and isinstance(value, str)
                and (rule := self.keys.classify(key, "text")) is not None and rule.provider in NAME_PROVIDERS)

    def _walk(self, node: Any, done: set, batch: "_Batch", found: "_Found", parent: str | None = None) -> None:
        """`parent`: the key the nearest enclosing object (or list of them) stands under."""
        if isinstance(node, list):
            for item in node:
                self._walk(item, done, batch, found, parent)
            return
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            if (id(node), key) in done:
                continue
            if isinstance(value, dict):
                self._walk(value, done, batch, found, self.keys.inner(key, node))
            elif isinstance(value, list):
                self._walk_list(key, value, done, batch, found, node, parent)
            else:
                self._treat(self.keys.rule_in(key, _family(value), node, parent, value), node, key, batch, found)

    def _walk_list(self, key: str, items: list, done: set, batch: "_Batch", found: "_Found",
                   node: dict, parent: str | None) -> None:
        """A list under `key` (in object `node`): its objects are walked, and every other value in
        it, however deep in lists, gets the rule of `key` for a list (["555-123-4567", {...}] and
        [["555..."]] too), or where no rule takes a list there, the rule of a single such value:
        {"dob": ["2012-03-04"]} (a rule's types say which lists SQL can treat element by element;
        here any can be)."""
        listed = self.keys.rule_in(key, "text[]", node, parent)
        inner = None
        for i, item in enumerate(items):
            if (id(items), i) in done:  # a path's ($.phones[*]): not faked again by the key's rule
                continue
            if isinstance(item, dict):
                inner = inner or self.keys.inner(key, node)
                self._walk(item, done, batch, found, inner)
            elif isinstance(item, list):
                self._walk_list(key, item, done, batch, found, node, parent)
            else:
                self._treat(listed or self.keys.rule_in(key, _family(item), node, parent, item), items, i, batch, found)

    def _treat(self, rule, node: Any, slot: Any, batch: "_Batch", found: "_Found") -> None:
        value = node[slot]
        if value is None or rule is None or rule.strategy in SKIP:
            return
        if rule.provider in NAME_PROVIDERS and isinstance(value, str):
            found.names.append(value)
        if rule.strategy == "scrub_text":
            found.texts.append((node, slot, rule.options))  # scrubbed once every name is known
        else:
            batch.add(node, slot, rule.strategy, rule.provider, rule.domain, rule.options)


class _Found:
    """One document's real names, wherever they stand in it, and its free text to scrub of them:
    a note in a visit of a student's record loses the student's name."""

    def __init__(self, row_names: list[str]):
        self.names: list[str] = list(row_names)
        self.texts: list[tuple[Any, Any, Mapping[str, Any]]] = []


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
        if isinstance(value, (dict, list)):  # a path that stops short of the values: rare, faked now
            node[slot] = self.fakes.apply(strategy, value, provider, domain, self.taken, **opts)
            return
        key = (strategy, provider, domain, repr(sorted(opts.items())))
        self._groups.setdefault(key, (opts, []))[1].append((node, slot))

    def fake(self) -> None:
        for (strategy, provider, domain, _), (opts, slots) in self._groups.items():
            values = [node[slot] for node, slot in slots]
            for (node, slot), fake in zip(slots, self.fakes.apply_all(strategy, values, provider, domain,
                                                                      self.taken, **opts)):
                node[slot] = fake
        self._groups.clear()
