"""The Neo4j launcher runs a real Neo4j 5.26 server: Bolt with auth, constraints, durable data."""
from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from neo4j import GraphDatabase
from neo4j.exceptions import AuthError, ConstraintError

from datamig.services import neo4j_server
from datamig.services.ports import free_port

ROOT = Path(__file__).resolve().parents[1]

# A fresh ~/.m2 downloads ~125 MB of jars for the first build; a started server is ~10 s.
pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def launcher_built() -> None:
    neo4j_server.build_launcher(ROOT)


def _count_people(url: str, password: str, name: str) -> int:
    with GraphDatabase.driver(url, auth=("neo4j", password)) as driver:
        records, _, _ = driver.execute_query(
            "MATCH (p:Person {name: $name}) RETURN count(p) AS n", name=name, database_="neo4j")
        return records[0]["n"]


def test_server_auth_constraint_and_restart(launcher_built, tmp_path):
    home, log = tmp_path / "home", tmp_path / "neo4j.log"
    password = secrets.token_urlsafe(18)
    port = free_port()
    url = f"bolt://127.0.0.1:{port}"

    pid = neo4j_server.start(ROOT, home, port, password, log)
    try:
        assert neo4j_server.is_reachable(url, "neo4j", password)
        with GraphDatabase.driver(url, auth=("neo4j", password)) as driver:
            driver.execute_query(
                "CREATE CONSTRAINT person_name IF NOT EXISTS FOR (p:Person) REQUIRE p.name IS UNIQUE",
                database_="neo4j")
            driver.execute_query("CREATE (:Person {name: $name})", name="Ada", database_="neo4j")
            with pytest.raises(ConstraintError):
                driver.execute_query("CREATE (:Person {name: $name})", name="Ada", database_="neo4j")
        assert _count_people(url, password, "Ada") == 1

        with GraphDatabase.driver(url, auth=("neo4j", password + "x")) as driver:
            with pytest.raises(AuthError):
                driver.verify_connectivity()
        assert not neo4j_server.is_reachable(url, "neo4j", "wrong-password")
    finally:
        neo4j_server.stop(pid)
    assert not neo4j_server.is_reachable(url, "neo4j", password, timeout=2)
    assert password not in log.read_text(errors="replace")

    # Same home, same password: data and constraint survive, no password change is asked for.
    pid = neo4j_server.start(ROOT, home, port, password, log)
    try:
        assert _count_people(url, password, "Ada") == 1
        with GraphDatabase.driver(url, auth=("neo4j", password)) as driver:
            records, _, _ = driver.execute_query(
                "SHOW CONSTRAINTS YIELD name WHERE name = 'person_name' RETURN name", database_="neo4j")
            assert [r["name"] for r in records] == ["person_name"]
    finally:
        neo4j_server.stop(pid)
