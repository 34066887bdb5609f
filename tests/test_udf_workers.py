"""The UDF worker processes (udf_workers.py) for dm_scrub_names, dm_jsonb and dm_mask_format: the
same output as in process, whichever way a chunk goes, the in-process fallback when a worker dies
or rejects a chunk, and no secret in a worker's arguments or environment."""
from __future__ import annotations

import json
import os
import random

import pyarrow as pa
import pytest

from datamig.anonymize import udf_workers
from datamig.anonymize.engine import Engine
from datamig.anonymize.keyed import Keys
from datamig.anonymize.names import NameScrubber
from datamig.anonymize.rules import DEFAULT_RULES_PATH, load_rules
from datamig.anonymize.taken import DIGITS_DOMAIN, normalized
from datamig.anonymize.udf_workers import (MIN_MASK_ROWS, MIN_ROWS, WorkerPool, docs_in_process, mask_in_process,
                                           scrub_in_process)

PLACEHOLDER = "[NAME]"
SALT = "udf-worker-test-salt-0123456789"
SPEC = json.dumps({"by_key": True, "paths": [
    {"path": "$.guardians[*].name", "strategy": "faker", "provider": "name", "domain": "person.full_name"},
    {"path": "$.guardians[*].phone", "strategy": "mask_format", "domain": "phone", "keep_country_code": True},
    {"path": "$.guardians[*].email", "strategy": "faker", "provider": "email", "domain": "email"}]})


def _chunk(rows: int, seed: int = 5) -> tuple[pa.Array, pa.Array]:
    rng = random.Random(seed)
    first = ["Ann", "José", "Zoë", "王芳", "Σοφία", "Lee", "O'Brien", None, "İrem"]
    words = ["called", "Ann", "ANN's", "josé", "Annual", "mother", "王芳的", "σοφία", "Lee,", "irem", "\u212aim"]
    texts = [None if rng.random() < 0.05 else " ".join(rng.choice(words) for _ in range(rng.randint(0, 12)))
             for _ in range(rows)]
    names = [None if rng.random() < 0.02 else [rng.choice(first), f"{rng.choice(first)} {rng.choice(first)}"]
             for _ in range(rows)]
    return pa.array(texts, pa.string()), pa.array(names, pa.list_(pa.string()))


def _docs(rows: int, seed: int = 3) -> pa.Array:
    rng = random.Random(seed)
    docs = []
    for i in range(rows):
        guardians = [{"name": rng.choice(["Ana García", "Lee", "王芳"]), "phone": f"555-{rng.randint(100, 999)}-{i % 10000:04d}",
                      "email": f"g{i}@example.org", "relationship": "mother"} for _ in range(rng.randint(0, 2))]
        doc = {"guardians": guardians, "ssn": f"{i % 900 + 100}-45-6789", "temp_c": 36.6, "mobilePhone": "555 010 0199",
               "notes": f"Kid{i % 7} Row was seen; {rng.choice(['Ana', 'Lee', 'nobody'])} called"}
        docs.append(None if i % 17 == 0 else json.dumps(doc))
    return pa.array(docs, pa.string())


def _names(docs: pa.Array) -> pa.Array:
    """Each document's row names (the notes name the row's kid), NULL lists and NULLs among them."""
    return pa.array([None if i % 11 == 0 else [f"Kid{i % 7} Row", None] for i in range(len(docs))],
                    pa.list_(pa.string()))


@pytest.fixture
def pool():
    found = WorkerPool(2)
    yield found
    found.close()


@pytest.fixture
def engine():
    return Engine(load_rules(DEFAULT_RULES_PATH), Keys(SALT))


def test_workers_scrub_exactly_as_in_process(pool):
    texts, names = _chunk(3000)
    expected = scrub_in_process(NameScrubber(PLACEHOLDER), texts, names)
    got = pool.scrub_names(PLACEHOLDER, texts, names)
    assert got.equals(expected)
    assert pool._workers[0] is not None and not pool.broken           # it went to a worker
    assert sum(v is not None and PLACEHOLDER in v for v in got.to_pylist()) > 500   # names were found
    assert got.null_count > texts.null_count                        # and some rows left to SQL


def test_workers_anonymize_documents_exactly_as_in_process(pool, engine):
    docs = _docs(1500)
    plain = docs_in_process(engine, docs, _names(docs), SPEC, None)
    # say every first fake is a real phone of the slice: each must walk on, in the worker too
    fakes = [g["phone"] for d in plain.to_pylist() if d for g in json.loads(d)["guardians"]]
    engine.taken.add("slice#1", {"phone": frozenset(engine.permuter.transform_one(normalized("phone", p), DIGITS_DOMAIN)
                                                    for p in fakes)})
    expected = docs_in_process(engine, docs, _names(docs), SPEC, "slice#1")
    got = pool.anonymize_docs(engine, docs, _names(docs), SPEC, "slice#1")
    assert got.equals(expected)
    assert not pool.broken and pool._workers[0].known == {("engine", engine.worker_id),
                                                           ("taken", engine.worker_id, "slice#1")}
    walked = [g["phone"] for d in got.to_pylist() if d for g in json.loads(d)["guardians"]]
    assert len(walked) == len(fakes) > 500 and not set(walked) & set(fakes)
    assert all(g["email"].endswith("@" + engine.settings.email_domain)
               for d in got.to_pylist() if d for g in json.loads(d)["guardians"])
    notes = {i: json.loads(d)["notes"] for i, d in enumerate(got.to_pylist()) if d}
    assert not any("Kid" in n for i, n in notes.items() if i % 11)             # the row's names went
    assert all("Kid" in n for i, n in notes.items() if not i % 11)             # (a NULL list: none)
    assert sum("[NAME] called" in n for n in notes.values()) > 300             # and the document's


def test_workers_mask_exactly_as_in_process(pool, engine):
    """Phones (country codes kept, NULLs among them) and letter-permuted ids; every 5th plain
    fake phone is planted as a real value of the slice, so it must walk on in the worker too."""
    rng = random.Random(8)
    phones = pa.array([None if i % 23 == 0 else f"{rng.choice(['', '+1 ', '+44 '])}{rng.randint(200, 999)}-{i % 1000:03d}-{i:04d}"
                       for i in range(MIN_MASK_ROWS + 500)], pa.string())
    ids = pa.array([f"MRN-{rng.choice('ABCXYZ')}{i:06d}" for i in range(MIN_MASK_ROWS)], pa.string())
    plain = mask_in_process(engine, phones, "phone", True, False, None)
    planted = [normalized("phone", v) for v in plain.to_pylist()[::5] if v]
    engine.taken.add("slice#2", {"phone": frozenset(engine.permuter.transform_one(v, DIGITS_DOMAIN) for v in planted)})
    for values, options in ((phones, ("phone", True, False)), (ids, ("mrn", False, True))):
        expected = mask_in_process(engine, values, *options, "slice#2")
        assert pool.mask_format(engine, values, *options, "slice#2").equals(expected)
    assert not pool.broken and ("taken", engine.worker_id, "slice#2") in pool._workers[0].known
    walked = mask_in_process(engine, phones, "phone", True, False, "slice#2").to_pylist()
    moved = sum(a != b for a, b in zip(plain.to_pylist(), walked))
    assert moved == len(planted) > 200 and not {normalized("phone", v) for v in walked if v} & set(planted)


def test_warming_starts_every_worker_with_the_engine(pool, engine, monkeypatch):
    pool.warm(engine).join(timeout=60)
    assert [w.known for w in pool._workers] == [{("engine", engine.worker_id)}] * 2
    sent = []
    monkeypatch.setattr(udf_workers, "_send", lambda stream, message, send=udf_workers._send:
                        (sent.append(message[0]), send(stream, message)))
    phones = pa.array([f"555-{i % 1000:03d}-{i:04d}" for i in range(MIN_MASK_ROWS)], pa.string())
    expected = mask_in_process(engine, phones, "phone", False, False, None)
    # a worker without the engine would reject the chunk, and the pool would mask it here
    monkeypatch.setattr(udf_workers, "mask_in_process", lambda *a: pytest.fail("the chunk ran in process"))
    assert pool.mask_format(engine, phones, "phone", False, False, None).equals(expected)
    assert sent == ["mask"]                                 # the worker had the engine already


def test_a_worker_keeps_the_engines_its_pool_thinks_it_has(pool, monkeypatch):
    engines = [Engine(load_rules(DEFAULT_RULES_PATH), Keys(f"{SALT}-{i}")) for i in range(udf_workers.KEPT_ENGINES + 2)]
    docs = _docs(MIN_ROWS)
    expected = {e.worker_id: docs_in_process(e, docs, _names(docs), SPEC, None) for e in engines}
    monkeypatch.setattr(udf_workers, "docs_in_process", lambda *a: pytest.fail("a chunk ran in process"))
    for e in engines + engines[:2]:  # by then the worker forgot the first two: they are sent again
        assert pool.anonymize_docs(e, docs, _names(docs), SPEC, None).equals(expected[e.worker_id])
    assert len(pool._workers[0].known) == udf_workers.KEPT_ENGINES


def test_a_chunk_a_worker_rejects_raises_in_process(pool, engine):
    docs = pa.array(["{\"name\": \"Ana\"}"] * MIN_ROWS + ["{not json"], pa.string())
    with pytest.raises(json.JSONDecodeError):
        pool.anonymize_docs(engine, docs, _names(docs), SPEC, None)
    assert not pool.broken                                           # the worker stays in use
    good = _docs(MIN_ROWS)
    expected = docs_in_process(engine, good, _names(good), SPEC, None)
    assert pool.anonymize_docs(engine, good, _names(good), SPEC, None).equals(expected)


def test_small_chunks_stay_in_process(pool):
    texts, names = _chunk(MIN_ROWS - 1)
    assert pool.scrub_names(PLACEHOLDER, texts, names).equals(scrub_in_process(NameScrubber(PLACEHOLDER), texts, names))
    assert pool._workers == [None, None]


def test_a_dead_worker_makes_the_pool_scrub_in_process(pool, caplog):
    texts, names = _chunk(1000, seed=9)
    expected = pool.scrub_names(PLACEHOLDER, texts, names)
    worker = pool._workers[0]
    worker.proc.kill()
    worker.proc.wait()
    assert pool.scrub_names(PLACEHOLDER, texts, names).equals(expected)
    assert pool.broken
    assert "running the UDFs in process" in caplog.text


def test_a_worker_gets_no_secret_in_its_arguments_or_environment(pool, monkeypatch):
    salt = "worker-must-not-see-this-salt"
    monkeypatch.setenv("DATAMIG_SALT", salt)
    monkeypatch.setenv("PGPASSWORD", "worker-must-not-see-this-password")
    engine = Engine(load_rules(DEFAULT_RULES_PATH), Keys(salt))
    docs = _docs(MIN_ROWS)
    pool.anonymize_docs(engine, docs, _names(docs), SPEC, None)      # it got the keys, down its pipe
    pid = pool._workers[0].proc.pid
    environ, cmdline = (open(f"/proc/{pid}/{f}", "rb").read() for f in ("environ", "cmdline"))
    for secret in (b"worker-must-not-see", Keys(salt)._hex.encode()):  # the salt, the master key
        assert secret not in environ and secret not in cmdline
    assert b"PATH=" in environ


def test_the_pool_size_comes_from_the_environment(monkeypatch, caplog):
    monkeypatch.setenv(udf_workers.WORKERS_ENV, "0")
    assert udf_workers._pool_size() == 0
    off = WorkerPool(0)
    texts, names = _chunk(MIN_ROWS * 2)
    assert off.scrub_names(PLACEHOLDER, texts, names).equals(scrub_in_process(NameScrubber(PLACEHOLDER), texts, names))
    assert off._workers == []
    monkeypatch.setenv(udf_workers.WORKERS_ENV, "many")
    assert udf_workers._pool_size() == 0
    assert "DATAMIG_UDF_WORKERS='many' is not a number" in caplog.text
    monkeypatch.delenv(udf_workers.WORKERS_ENV)
    assert udf_workers._pool_size() == min(2, os.cpu_count() or 1)


def _loads_pandas(pid: int) -> bool:
    with open(f"/proc/{pid}/maps") as maps:
        return "/pandas/_libs/" in maps.read()


def test_a_worker_answers_without_importing_pandas(pool, engine, monkeypatch):
    """pyarrow imports pandas the first time a process converts a list to Arrow or Arrow to
    numpy (~0.5 s of CPU a worker, on the chunk a model waits for): a worker's names, documents
    and masks, keyed and checked against the slice's real values, never do."""
    docs = _docs(MIN_ROWS * 2)
    engine.taken.add("slice#3", {"phone": frozenset(["5550100199", "2125550100"])})
    phones = pa.array([None if i % 9 == 0 else f"+1 212-555-{i:04d}" for i in range(MIN_MASK_ROWS)], pa.string())
    for local in ("scrub_in_process", "docs_in_process", "mask_in_process"):
        monkeypatch.setattr(udf_workers, local, lambda *a: pytest.fail("a chunk ran in process"))
    pool.scrub_names(PLACEHOLDER, *_chunk(MIN_ROWS * 2))
    pool.anonymize_docs(engine, docs, _names(docs), SPEC, "slice#3")
    pool.mask_format(engine, phones, "phone", True, False, "slice#3")
    worker = next(w for w in pool._workers if w is not None)   # this thread's: all three chunks went there
    assert not pool.broken and ("taken", engine.worker_id, "slice#3") in worker.known
    assert not _loads_pandas(worker.proc.pid)
    assert _loads_pandas(os.getpid()) == ("pandas" in __import__("sys").modules)   # the check reads maps right


def test_closing_the_pool_ends_every_worker_before_waiting_on_any(pool, monkeypatch):
    """At exit the dbt process waited for each worker to wind down in turn (~0.2-0.7 s with
    two); every worker is now told first, and each leaves as soon as its input ends."""
    workers = [pool._start(i) for i in range(pool.size)]
    closed_at_reap = []
    reap = udf_workers._Worker.reap

    def recording_reap(self):
        closed_at_reap.append([w.proc.stdin.closed for w in workers])
        reap(self)

    monkeypatch.setattr(udf_workers._Worker, "reap", recording_reap)
    pool.close()
    assert closed_at_reap == [[True] * len(workers)] * len(workers)
    assert [w.proc.returncode for w in workers] == [0] * len(workers)
