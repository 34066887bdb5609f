"""What a JSON document's key is, for the rules: its own rule as a column name, or read with the
object around it. A key no rule names takes its parent key's context (FHIR {"name": [{"family":
...}]} is a family_name, address.line a street) or, for a value key, a sibling label's
({"label": "Home phone", "value": ...}). The document anonymizer (jsondoc.py) and the PII scan of
documents (pii_scan.document_values) both ask here, so the scan reports exactly what by_key keeps.
"""
from __future__ import annotations

import re
from typing import Any

from .pii_scan import compile_shapes
from .rules import RuleSet, tokens

SKIP = frozenset({"preserve", "jsonb"})  # strategies that leave a value as it is
NAME_PROVIDERS = frozenset({"first_name", "last_name", "name"})

_MEMO_MAX = 100_000  # a memo of keys (or labels) is emptied past this: documents could name keys without end

# Keys named for holding a value, not for what it is: a sibling label says what it is, as a column
# name would ({"label": "Home phone", "value": ...}, FHIR {"system": "phone", "value": ...},
# an audit {"field": "email", "old": ..., "new": ...}).
_VALUE_KEYS = frozenset({"value", "val", "answer", "response", "old", "new",
                         "valueString", "valueDate", "valueDateTime", "valueInteger", "valueDecimal"})
# The siblings that may say it, the most telling first (`type` and `text` say it least often).
_LABEL_KEYS = ("label", "question", "prompt", "field", "title", "name", "key", "system", "type", "text")
_LABEL_MAX = 80       # longer is a sentence, whose words would match rules at random
_LABEL_WORDS = 6      # more words (numbers aside) make a sentence too; "Emergency Contact Home Phone Number" is a label
# a yes/no or how-many question names no field: "Do you have a phone?", "Is the address correct?"
# ("Mother's name?" and "What is your phone number?" do)
_YES_NO = frozenset({"do", "does", "did", "is", "are", "was", "were", "has", "have", "had", "can", "could",
                     "will", "would", "should", "how"})
_LABEL_ALIASES = {"sms": "phone", "pager": "phone"}   # FHIR ContactPoint.system codes no rule knows
_ASIDE = re.compile(r"\([^)]*\)|['\u2019]")  # "Date of birth (MM/DD/YYYY)", the ' of "Mother's name"
# Keys that hold their parent's own value or a piece of it, so the parent's rule is theirs:
# FHIR name.text (the full name), address.line (the street), {"phone": {"value": ...}}.
_PART_KEYS = _VALUE_KEYS | {"text", "line", "lines", "formatted", "display"}
# ... and the number of a parent whose values are masked: {"phones": [{"number": ...}]} is a
# phone, not the natural id a bare "number" is (the same phone would get another fake)
_NUMBER_KEYS = frozenset({"number", "num", "no", "nbr"})
# What a labelled value must look like to be taken for a phone, an email or an SSN: a label
# names a form's field, and its answer may be "yes", "Spanish" or "Granted" ("Email consent")
_PLAUSIBLE = {"phone": re.compile(r"(?:[0-9][^0-9]*){7}"), "email": re.compile("@"),
              "ssn": re.compile(r"(?:[0-9][^0-9]*){4}")}

# the pii_shape of a pseudonym domain, where the two are not named alike (phone, email, ssn are)
_SHAPE_OF_DOMAIN = {"address.street": "street_address"}

_REPLACED = 3  # _rank of a rule that replaces the whole value


def _rank(rule) -> int:
    """How much of a value a rule hides: nothing, nothing on purpose, what scrubbing sees, all."""
    if rule is None:
        return 0
    return 1 if rule.strategy in SKIP else 2 if rule.strategy == "scrub_text" else _REPLACED


class KeyRules:
    """The rules of a document's keys, memoized: documents repeat the same few keys, and matching
    a key against every rule was most of a document's cost."""

    def __init__(self, ruleset: RuleSet):
        self.ruleset = ruleset
        self._rules: dict[tuple[str, str], Any] = {}
        self._in_parents: dict[tuple[str, str, str | None], Any] = {}
        self._labels: dict[str, str] = {}
        self._shapes: dict | None = None  # pii_shapes, compiled when a document first needs one

    def classify(self, key: str, family: str):
        """ruleset.classify, memoized."""
        try:
            return self._rules[key, family]
        except KeyError:
            if len(self._rules) > _MEMO_MAX:
                self._rules.clear()
            rule = self._rules[key, family] = self.ruleset.classify(key, family)
            return rule

    def rule_in(self, key: str, family: str, node: dict, parent: str | None, value: Any = None):
        """The rule of `key` in object `node` under `parent`: the key's own, unless it has none or
        only keeps or scrubs the value and the object says more. A sibling label names a value key
        ({"label": "Home phone", "value": ...}); else the parent does (name.family is a
        family_name, address.line a street)."""
        if key in _VALUE_KEYS and (described := self._described(key, family, node, value)) is not None:
            return described
        if key in _LABEL_KEYS and self._is_label(key, node):
            return None  # {"name": "Home phone", "value": ...}: the name of a field, no person's
        try:  # memoized as _classify is: one look-up is all an ordinary key costs
            rule = self._in_parents[key, family, parent]
        except KeyError:
            if len(self._in_parents) > _MEMO_MAX:
                self._in_parents.clear()
            rule = self._in_parents[key, family, parent] = self._parent_rule(key, family, parent)
        return rule.of(value) if type(rule) is _ByShape else rule

    def _described(self, key: str, family: str, node: dict, value: Any):
        """The rule a sibling label gives value key `key`, if it hides at least as much as the
        key's own, the key's own does not replace the value already, and the value could be what
        the rule fakes (a phone's answer has digits)."""
        label = self._label_of(node)
        described = None if label is None else self.classify(label[1], family)
        own = _rank(self.classify(key, family))
        if described is None or own > _rank(described) or own >= _REPLACED:
            return None
        plausible = _PLAUSIBLE.get(described.domain)
        return described if plausible is None or plausible.search(str(value)) else None

    def _is_label(self, key: str, node: dict) -> bool:
        """`key` is the label a value key of `node` is read by, and says what that value is: no
        person's name, unless it reads as one ({"name": "Nick Jones", "value": ...} is a person)."""
        if _VALUE_KEYS.isdisjoint(node):
            return False
        label = self._label_of(node)
        if label is None or label[0] != key:
            return False
        rule = self.classify(label[1], "text")
        return rule is not None and rule.provider not in NAME_PROVIDERS

    def _parent_rule(self, key: str, family: str, parent: str | None):
        """A key as a column `<key>_<parent>` or `<parent>_<key>` would be (family_name,
        guardian_first), only for a key with no rule and only where the key changes the parent's
        verdict: use_name or address_use is just "name" or "address" again, so codes such as
        name.use, address.use, guardian.role stay as they are (phones.home: see _by_shape). A
        part key takes the parent's rule where that hides more (name.text: a full name, not free
        text to scrub)."""
        own = self.classify(key, family)
        if parent is None:
            return own
        whole = self.classify(parent, family)
        if key in _PART_KEYS and _rank(whole) > _rank(own):
            return whole
        if key in _NUMBER_KEYS and whole is not None and whole.strategy == "mask_format":
            return whole
        if own is not None:
            # a catch-all keep (a number's) yields to a phone parent's rule where the value is one:
            # {"phones": {"home": 5551234567}}
            return (self._by_shape(whole, otherwise=own) or own) if _rank(own) == 1 else own
        for column in (f"{key}_{parent}", f"{parent}_{key}"):
            rule = self.classify(column, family)
            if rule is not None and rule is not whole:
                return rule
        if whole is not None and whole.strategy == "scrub_text":
            return whole  # inside free text, free text: FHIR text.div, a narrative
        return self._by_shape(whole)

    def _by_shape(self, rule, otherwise=None) -> "_ByShape | None":
        """`rule` for the values of its pii_shape (a phone rule's: phones): under a parent that is
        a phone, a key that says nothing more ({"phones": {"home": "555-123-4567"}}) holds a
        phone only if its value is one ({"phone": {"use": "home"}} holds a code); so with
        streets ({"address": {"home": "742 Evergreen Terrace"}}), emails and SSNs."""
        if self._shapes is None:
            self._shapes = compile_shapes(self.ruleset)
        pattern = rule is not None and self._shapes.get(_SHAPE_OF_DOMAIN.get(rule.domain, rule.domain))
        return _ByShape(rule, pattern, otherwise) if pattern else None

    def _label_of(self, node: dict) -> tuple[str, str] | None:
        """The label key of `node` and the column name its label makes ("Mother's name" ->
        mothers_name), or None."""
        for label_key in _LABEL_KEYS:
            label = node.get(label_key)
            if isinstance(label, str) and 0 < len(label) <= _LABEL_MAX:
                column = self._labels.get(label)
                if column is None:
                    if len(self._labels) > _MEMO_MAX:
                        self._labels.clear()
                    column = self._labels[label] = _column_of(label)
                if column:
                    return label_key, column
        return None

    def inner(self, key: str, node: dict) -> str:
        """What the objects under `key` stand under: the key, or for an answer the question it
        answers (FHIR {"text": "Mother's name", "answer": [{"valueString": ...}]})."""
        if key not in _VALUE_KEYS:
            return key
        label = self._label_of(node)
        return label[1] if label else key


def _column_of(label: str) -> str:
    """A label as a column name, or "" where it is a yes/no question or a sentence."""
    words = tokens(_ASIDE.sub("", label))
    question = label.rstrip().endswith("?")
    if (question and words and words[0] in _YES_NO) or len([w for w in words if not w.isdigit()]) > _LABEL_WORDS:
        return ""
    column = "_".join(words)
    return _LABEL_ALIASES.get(column, column)


class _ByShape:
    """A rule that only a value of one shape takes, else `otherwise` (see KeyRules._by_shape)."""
    __slots__ = ("rule", "pattern", "otherwise")

    def __init__(self, rule, pattern, otherwise=None):
        self.rule, self.pattern, self.otherwise = rule, pattern, otherwise

    def of(self, value: Any):
        return self.rule if value is not None and self.pattern.search(str(value)) else self.otherwise
