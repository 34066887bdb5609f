"""JSON documents (jsondoc.py): a chunk of documents is anonymized as each value would be on its
own, and free text inside a document loses the real names of its own object."""
from __future__ import annotations

import json
import random

import pytest

from datamig.anonymize.engine import Engine
from datamig.anonymize.keyed import Keys
from datamig.anonymize.rules import load_rules
from datamig.anonymize.taken import DIGITS_DOMAIN, normalized

GUARDIANS = json.dumps({"by_key": True, "paths": [
    {"path": "$.guardians[*].name", "strategy": "faker", "provider": "name", "domain": "person.full_name"},
    {"path": "$.guardians[*].phone", "strategy": "mask_format", "domain": "phone", "keep_country_code": True},
    {"path": "$.guardians[*].email", "strategy": "faker", "provider": "email", "domain": "email"}]})


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_rules(), Keys("json-documents-test-salt-0123"))


def test_notes_lose_the_real_name_a_path_replaced(engine):
    doc = {"guardians": [{"name": "Zebulon Quixote", "notes": "Zebulon Quixote called about Quixote's form"}]}
    out = json.loads(engine.docs.anonymize_text(json.dumps(doc), GUARDIANS))["guardians"][0]
    assert out["name"] == engine.fakes.apply("faker", "Zebulon Quixote", "name", "person.full_name")
    assert out["notes"] == "[NAME] [NAME] called about [NAME]'s form"


@pytest.mark.parametrize("doc,notes", [
    ({"first_name": "Zelda", "last_name": "Quill", "visits": [{"notes": "Zelda Quill had a fever"}]},
     "[NAME] [NAME] had a fever"),                                             # a parent object's name
    ({"student": {"first_name": "Zelda"}, "notes": "Zelda was absent"}, "[NAME] was absent"),  # a child's
    ({"first_name": ["Zelda"], "notes": "Zelda was absent"}, "[NAME] was absent"),           # in a list
    ({"guardians": [{"name": "Ann Lee"}, {"name": "Bo Ray", "notes": "Ann Lee and Bo called"}]},
     "[NAME] [NAME] and [NAME] called"),                                      # a sibling's, by path
])
def test_free_text_loses_every_real_name_of_its_document(engine, doc, notes):
    out = engine.docs.anonymize_text(json.dumps(doc), GUARDIANS)
    assert f'"notes":"{notes}"' in out                     # (a fake name elsewhere may be anything)


def test_values_in_nested_and_mixed_lists_get_their_keys_rule(engine):
    doc = {"phones": [["555-123-4567", "555-987-6543"]], "emails": [["ann.lee@gmail.com"]],
           "mobile": ["555-123-4567", {"type": "home"}], "tags": [["a"], "b"]}
    out = json.loads(engine.docs.anonymize_text(json.dumps(doc), "{}"))
    phone = lambda v: engine.fakes.apply("mask_format", v, None, "phone", keep_country_code=True)
    assert out["phones"] == [[phone("555-123-4567"), phone("555-987-6543")]]
    assert out["emails"] == [[engine.fakes.apply("faker", "ann.lee@gmail.com", "email", "email")]]
    assert out["mobile"] == [phone("555-123-4567"), {"type": "home"}]
    assert out["tags"] == [["a"], "b"]                                        # no rule: as they were


def _guardian(rng: random.Random, phones: list[str]) -> dict:
    first, last = rng.choice(["Ana", "José", "Li", "Zoë", "Ann-Marie"]), rng.choice(["García", "O'Brien", "Ng"])
    guardian = {"name": f"{first} {last}", "phone": rng.choice(phones), "relationship": "aunt",
                "email": f"{first.lower()}.{rng.randint(1, 40)}@x.org", "home_phone": rng.choice(phones + [None, "", 5551234567]),
                "emails": [rng.choice(["a@x.org", "B@x.org ", None, ""]) for _ in range(rng.randint(0, 3))],
                "notes": f"{first} called from {rng.choice(phones)}"}
    for key in rng.sample(list(guardian), rng.randint(0, 3)):
        del guardian[key]
    return guardian


def _expected(engine: Engine, text: str | None, taken) -> str | None:
    """What each value of a document becomes on its own (Fakes.apply), for GUARDIANS' paths and
    the rules' keys `home_phone` (a phone, text or number), `emails` (element-wise) and `notes`
    (free text, which loses every real name of the document)."""
    if text is None or not text.strip(" "):
        return text
    doc, fakes = json.loads(text), engine.fakes
    guardians = doc.get("guardians", []) if isinstance(doc, dict) else []
    names = list(dict.fromkeys(g["name"] for g in guardians if "name" in g))  # the document's, in order
    for g in guardians:
        if "name" in g:
            g["name"] = fakes.apply("faker", g["name"], "name", "person.full_name", taken)
        if "phone" in g:
            g["phone"] = fakes.apply("mask_format", g["phone"], None, "phone", taken, keep_country_code=True)
        if "email" in g:
            g["email"] = fakes.apply("faker", g["email"], "email", "email", taken)
        if "home_phone" in g:
            g["home_phone"] = fakes.apply("mask_format", g["home_phone"], None, "phone", taken, keep_country_code=True)
        if "emails" in g:
            g["emails"] = fakes.apply("faker", g["emails"], "email", "email", taken, elementwise=True)
        if "notes" in g:
            g["notes"] = fakes.scrub_text(g["notes"], names)
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def test_a_chunk_of_documents_equals_each_value_faked_on_its_own(engine):
    rng = random.Random(3)
    phones = [f"{rng.randint(200, 999)}-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}" for _ in range(60)]
    phones += ["+1 (555) 010-0000", "", "  ", "n/a"]
    texts = [None, "", "  ", "{}", "[]"] + [
        json.dumps({"guardians": [_guardian(rng, phones) for _ in range(rng.randint(0, 3))]}, ensure_ascii=rng.random() < 0.5)
        for _ in range(400)]
    # some fakes are real phones of the slice: those walk on, in a chunk as one by one
    first = [engine.fakes.apply("mask_format", p, None, "phone", keep_country_code=True) for p in phones[:20]]
    state = {"phone": frozenset(engine.permuter.transform_one(normalized("phone", v), DIGITS_DOMAIN)
                                for v in phones[:30] + first)}
    engine.taken.add("documents#1", state)
    taken = engine.taken.get("documents#1")
    got = engine.docs.anonymize_texts(texts, GUARDIANS, taken)
    assert got == [_expected(engine, t, taken) for t in texts]
    assert got[:5] == [None, "", "  ", "{}", "[]"]
    out_phones = {normalized("phone", g["phone"]) for d in got[5:] for g in json.loads(d)["guardians"] if "phone" in g}
    real = {normalized("phone", v) for v in phones[:30] + first} - {""}
    assert len(out_phones) > 30 and not out_phones & real   # no fake is a real phone of the slice


def test_a_login_gets_its_user_name_fake_alone_or_in_a_list(engine):
    out = json.loads(engine.docs.anonymize_text(json.dumps({"user_name": "ann.lee", "screen_name": ["ann.lee", "ANN.LEE"]}), "{}"))
    fake = engine.fakes.apply("faker", "ann.lee", "user_name", "user_name")
    assert out == {"user_name": fake, "screen_name": [fake, fake]}


def test_a_value_a_path_reaches_in_a_list_is_faked_once_whatever_its_chunk(engine):
    """$.phones[*] hashes each phone; the key's own rule (a phone) must not fake the hash again,
    alone or after a document that makes the key rule's treatment come first."""
    spec = json.dumps({"paths": [{"path": "$.phones[*]", "strategy": "hash", "domain": "d"}]})
    doc = json.dumps({"phones": ["555-123-4567"]})
    want = json.dumps({"phones": [engine.fakes.apply("hash", "555-123-4567", None, "d")]}, separators=(",", ":"))
    assert engine.docs.anonymize_texts([doc], spec) == [want]
    assert engine.docs.anonymize_texts([json.dumps({"other": {"phone": "555-000-1111"}}), doc], spec)[1] == want


def test_equal_but_different_values_get_their_own_fakes(engine):
    """True == 1 == 1.0 and 0.0 == -0.0 in Python, but their texts differ, and so do their fakes."""
    values = [1, True, 1.0, 0.0, -0.0, "1", 0.0]
    spec = json.dumps({"paths": [{"path": "$.v[*]", "strategy": "hash", "domain": "d"}], "by_key": False})
    out = json.loads(engine.docs.anonymize_text(json.dumps({"v": values}), spec))["v"]
    assert out == [engine.fakes.apply("hash", v, None, "d") for v in values]
    assert len(set(out)) == 5                                  # "1" and 1 are one text


def test_row_names_must_come_one_per_document(engine):
    with pytest.raises(ValueError):
        engine.docs.anonymize_texts(['{"a": 1}', '{"b": 2}'], "{}", None, [["Ann"]])


def test_a_path_can_set_a_constant(engine):
    spec = json.dumps({"paths": [{"path": "$.pin", "strategy": "constant", "value": "0000"}], "by_key": False})
    assert json.loads(engine.docs.anonymize_text('{"pin": "4821", "x": 1}', spec)) == {"pin": "0000", "x": 1}
