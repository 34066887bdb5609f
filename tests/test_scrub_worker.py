"""dm_scrub_names' worker processes (scrub_worker.py): the same output as in process, whichever
way a chunk goes, the in-process fallback when a worker dies, and no secret in a worker."""
from __future__ import annotations

import os
import random

import pyarrow as pa
import pytest

from datamig.anonymize import scrub_worker
from datamig.anonymize.names import NameScrubber
from datamig.anonymize.scrub_worker import MIN_ROWS, ScrubPool, scrub_in_process

PLACEHOLDER = "[NAME]"


def _chunk(rows: int, seed: int = 5) -> tuple[pa.Array, pa.Array]:
    rng = random.Random(seed)
    first = ["Ann", "José", "Zoë", "王芳", "Σοφία", "Lee", "O'Brien", None, "İrem"]
    words = ["called", "Ann", "ANN's", "josé", "Annual", "mother", "王芳的", "σοφία", "Lee,", "irem", "\u212aim"]
    texts = [None if rng.random() < 0.05 else " ".join(rng.choice(words) for _ in range(rng.randint(0, 12)))
             for _ in range(rows)]
    names = [None if rng.random() < 0.02 else [rng.choice(first), f"{rng.choice(first)} {rng.choice(first)}"]
             for _ in range(rows)]
    return pa.array(texts, pa.string()), pa.array(names, pa.list_(pa.string()))


@pytest.fixture
def pool():
    found = ScrubPool(PLACEHOLDER, 2)
    yield found
    found.close()


def test_workers_scrub_exactly_as_in_process(pool):
    texts, names = _chunk(3000)
    expected = scrub_in_process(NameScrubber(PLACEHOLDER), texts, names)
    got = pool(texts, names)
    assert got.equals(expected)
    assert pool._workers[0] is not None and not pool.broken           # it went to a worker
    assert sum(v is not None and PLACEHOLDER in v for v in got.to_pylist()) > 500   # names were found
    assert got.null_count > texts.null_count                        # and some rows left to SQL


def test_small_chunks_stay_in_process(pool):
    texts, names = _chunk(MIN_ROWS - 1)
    assert pool(texts, names).equals(scrub_in_process(NameScrubber(PLACEHOLDER), texts, names))
    assert pool._workers == [None, None]


def test_a_dead_worker_makes_the_pool_scrub_in_process(pool, caplog):
    texts, names = _chunk(1000, seed=9)
    expected = pool(texts, names)
    worker = pool._workers[0]
    worker.proc.kill()
    worker.proc.wait()
    assert pool(texts, names).equals(expected)
    assert pool.broken
    assert "scrubbing in process" in caplog.text


def test_a_worker_gets_no_secret(pool, monkeypatch):
    monkeypatch.setenv("DATAMIG_SALT", "worker-must-not-see-this-salt")
    monkeypatch.setenv("PGPASSWORD", "worker-must-not-see-this-password")
    pool(*_chunk(MIN_ROWS))
    environ = open(f"/proc/{pool._workers[0].proc.pid}/environ", "rb").read()
    assert b"worker-must-not-see" not in environ
    assert b"PATH=" in environ


def test_the_pool_size_comes_from_the_environment(monkeypatch, caplog):
    monkeypatch.setenv(scrub_worker.WORKERS_ENV, "0")
    assert scrub_worker._pool_size() == 0
    off = ScrubPool(PLACEHOLDER, 0)
    texts, names = _chunk(MIN_ROWS * 2)
    assert off(texts, names).equals(scrub_in_process(NameScrubber(PLACEHOLDER), texts, names))
    assert off._workers == []
    monkeypatch.setenv(scrub_worker.WORKERS_ENV, "many")
    assert scrub_worker._pool_size() == 0
    assert "DATAMIG_SCRUB_WORKERS='many' is not a number" in caplog.text
    monkeypatch.delenv(scrub_worker.WORKERS_ENV)
    assert scrub_worker._pool_size() == min(2, os.cpu_count() or 1)
