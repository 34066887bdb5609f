"""`datamig scaffold` names a composite unique key that anonymization may make repeat: one of its
columns replaced by a rule without `unique: true` (here the shipped first_name, faker), so two
rows apart only in that column may get the same fakes and fail the key's unique test in the
transform, which names the model, not the rule. Only single-column keys were named. The PROD
estate on a throwaway PostgreSQL 15 cluster, introspected as the scaffold does."""
from __future__ import annotations

import psycopg
import pytest

import _pg_cluster
from datamig.config import load_config
from datamig.scaffold.run import live_estate, render
from test_odd_column_names import _project

TABLES = """
    CREATE TABLE districts (id int PRIMARY KEY);
    -- at risk: two kids of one district named apart may get one fake first name (one key, declared twice)
    CREATE TABLE nicknames (id int PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id),
                            first_name text NOT NULL, UNIQUE (district_id, first_name),
                            UNIQUE (first_name, district_id));
    -- every column replaced: two rows may get the same fakes in both
    CREATE TABLE namesakes (id int PRIMARY KEY, first_name text NOT NULL, last_name text NOT NULL,
                            UNIQUE (first_name, last_name));
    -- no risk: id alone tells the rows apart
    CREATE TABLE aliases (id int PRIMARY KEY, first_name text NOT NULL, UNIQUE (id, first_name));
    -- no risk: the email rule is unique
    CREATE TABLE handles (id int PRIMARY KEY, district_id int NOT NULL, email text NOT NULL,
                          UNIQUE (district_id, email));
    -- no key at all: PROD holds nothing unique (the models key it by all its columns)
    CREATE TABLE notes (first_name text, last_name text);
    -- first_name's own line says it (and its fix is the composite's)
    CREATE TABLE people (id int PRIMARY KEY, district_id int NOT NULL, first_name text NOT NULL UNIQUE,
                         UNIQUE (district_id, first_name));
"""
FIX = "fail the key's unique test; give the rule `unique: true` or the column a unique rule"


@pytest.fixture(scope="module")
def prod_url():
    cluster = _pg_cluster.start()
    try:
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute(TABLES)
        yield cluster.url()
    finally:
        _pg_cluster.stop(cluster)


def test_a_composite_key_a_rule_may_make_repeat_is_named_with_its_rule(prod_url, tmp_path):
    cfg = load_config(_project(tmp_path, []))
    env = {"PROD_IDS_URL": prod_url, "CERT_IDS_URL": prod_url, "DATAMIG_SALT": "test-salt-0123456789"}
    warnings: list[str] = []
    render(cfg, live_estate(cfg, env), tmp_path, warnings=warnings)
    assert sorted(warnings) == [
        "ids.namesakes (first_name, last_name) is unique in PROD, but rules `first_name` (faker) replacing "
        f"first_name, `last_name` (faker) replacing last_name are not: two rows may get the same fakes and {FIX}",
        "ids.nicknames (district_id, first_name) is unique in PROD, but rule `first_name` (faker) replacing "
        f"first_name is not: two rows alike in district_id may get the same fakes and {FIX}",
        "ids.people.first_name is unique in PROD, but rule `first_name` (faker) is not: its fakes may repeat and "
        "fail the column's unique test; give the rule `unique: true` or the column a unique rule",
    ]
