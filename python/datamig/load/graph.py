"""The CERT Neo4j store as the loader drives it: connection, errors naming the store, the
uniqueness constraints on business keys, and the per-run ledger nodes.

Neo4j has no two-phase commit, so its part of a run is applied in batches, each batch
committing its data together with the ledger that undoes it:

  (:DatamigRun {run_id, status, district, started_at, loaded_at})
      status: applying -> applied -> committed; compensated / rolled_back once undone
  (:DatamigLedger {run_id, kind: 'node', label, key_prop, keys: [...]})   nodes the run created
  (:DatamigLedger {run_id, kind: 'rel', type, start_label, start_prop, end_label, end_prop,
                   start_keys: [...], end_keys: [...], rel_ids: [...]})     relationships it created
      rel_ids (elementId, aligned with the keys) names exactly the relationship the run
      created, of parallel ones of its type between its ends; a ledger older than it lacks it
  (:DatamigLedger {run_id, kind: 'node_kept' | 'rel_kept', ...the same})   what it found unchanged
      (a merge): not undone, but an earlier run's rollback must not take them from this run
  (:DatamigRun)-[:DATAMIG_BEFORE {kind: 'node', label, key_prop, key, labels, added}]->(:DatamigBefore {...})
      labels: the node's labels before the run; added: those the run put on it (taken off again)
  (:DatamigRun)-[:DATAMIG_BEFORE {kind: 'rel', type, start_label, start_prop, start_key,
                                  end_label, end_prop, end_key, rel_id}]->(:DatamigBefore {...})
      the properties of a node or relationship as they were before the run changed them,
      copied property by property so every type (dates, lists, ...) comes back exactly;
      rel_id (elementId) names which of parallel relationships the run rewrote.

The run node is also the fence between a run's batches and its undo. Every batch writes the
run node first (an exclusive lock held until that batch commits or rolls back) and goes on
only while the run is `applying`; an undo first writes the run node in a transaction of its
own (`fence`). A batch whose COMMIT was already on the wire when its loader was killed
therefore commits before the undo reads the ledger, never after it: without the fence the
undo (recovery) read a ledger without that batch, and the batch's nodes survived it.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone
from urllib.parse import urlsplit

import neo4j
from neo4j.exceptions import DriverError, Neo4jError, ServiceUnavailable, SessionExpired

from ..analyze.neo4j_introspect import open_driver
from ..config import StoreConfig, check_neo4j_url
from ..errors import ConfigError, ConnectionFailed, DatamigError, MigrationFailed
from ..quoting import cypher_ident as q
from ..services.envfile import redact

BATCH = 10_000
FENCE_TIMEOUT_S = 300  # a dead loader's transaction ends when Neo4j sees its connection close
# "label does not exist yet" and the like are expected on a first load: do not ask for them.
_QUIET = {"notifications_min_severity": "OFF"}
LEDGER_LABELS = ("DatamigRun", "DatamigLedger", "DatamigBefore")
_CONSTRAINT_FAILED = "Neo.ClientError.Schema.ConstraintValidationFailed"
# "Node(0) already exists with label `Staff` and property `email` = '<value>'" (or
# "properties `a` = 1, `b` = ..."): the label or type and the first property name, anchored
# at the start, the match ending before the value.
_CONFLICT = re.compile(r"(Node|Relationship)\(\d+\) already exists with (?:label|type) `((?:[^`]|``)+)` "
                       r"and propert(?:y|ies) `((?:[^`]|``)+)` = ")


# Before a property map is set: Neo4j skips writing a value equal to the one held, and 0.0 =
# -0.0, so a zero of the other sign never landed. `row.z` takes the map's float zeros off first.
UNZERO = "SET x += coalesce(row.z, {}) "


def zeros(props: dict) -> dict | None:
    """The float zeros of a property map, each as None (UNZERO's `row.z`), or None if it has none."""
    found = {k: None for k, v in props.items() if isinstance(v, float) and v == 0.0}
    return found or None


def value_differs(a: str, b: str) -> str:
    """Cypher: whether b would change the value a. Not `a <> b`: NaN <> NaN is true (a NaN
    counted as changed on every load), 1 = 1.0 and 0.0 = -0.0 are true (a merge left CERT's
    integer or unsigned zero where the final has a float or -0.0). So the type must match and
    a float its text (Java's shortest exact form: -0.0 and NaN as such); lists element-wise."""
    def scalar(u: str, v: str) -> str:
        return (f"(valueType({u}) <> valueType({v}) OR CASE WHEN valueType({u}) STARTS WITH 'FLOAT' "
                f"THEN toString({u}) <> toString({v}) ELSE {u} <> {v} END)")
    return (f"CASE WHEN valueType({a}) STARTS WITH 'LIST' AND valueType({b}) STARTS WITH 'LIST' "
            f"THEN size({a}) <> size({b}) OR any(i IN range(0, size({a}) - 1) WHERE {scalar(f'{a}[i]', f'{b}[i]')}) "
            f"ELSE {scalar(a, b)} END")


def props_differ(x: str, m: str) -> str:
    """Cypher: whether setting map `m` as the whole property map of `x` changes any value
    (value_differs for each, so a NaN held is no change and 0.0 to -0.0 is one)."""
    return (f"(any(p IN keys({m}) WHERE {x}[p] IS NULL OR {value_differs(f'{x}[p]', f'{m}[p]')}) "
            f"OR any(p IN keys({x}) WHERE {m}[p] IS NULL))")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def cert_login(store: StoreConfig, env: Mapping[str, str]) -> tuple[str, str, str]:
    """(url, user, password) of the CERT graph, its URL set and with a Bolt scheme."""
    url_var, user_var, pw_var = store.env_names("cert")
    url = env.get(url_var)
    if not url:
        raise ConfigError(f"store {store.name}: environment variable {url_var} is not set (the CERT Neo4j URL)")
    check_neo4j_url(f"{store.name} (CERT)", url, url_var)
    return url, env.get(user_var) or "neo4j", env.get(pw_var) or ""


def connect(store: StoreConfig, env: Mapping[str, str]) -> "GraphStore":
    return GraphStore(store, *cert_login(store, env), env)


class GraphStore:
    def __init__(self, store: StoreConfig, url: str, user: str, password: str, env: Mapping[str, str]):
        self.store = store
        self.name = store.name
        self.env = env
        self._secrets = [s for s in (password, url) if s]
        try:
            parts = urlsplit(url)
            self.where = f"{parts.hostname or 'localhost'}:{parts.port or 7687}"
        except ValueError:
            self.where = "(unparsable URL)"
        self.driver = open_driver(store, url, user, password)

    def close(self) -> None:
        self.driver.close()

    # --- errors ----------------------------------------------------------------------------

    def error(self, exc: BaseException, doing: str) -> DatamigError:
        if isinstance(exc, DatamigError):
            return exc
        if isinstance(exc, (ServiceUnavailable, SessionExpired, OSError)):
            return ConnectionFailed(f"store {self.name}: lost the connection to Neo4j at {self.where} while {doing}")
        if getattr(exc, "code", None) == _CONSTRAINT_FAILED:
            message = self._constraint_message(exc.message or "")
        else:
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        text = f"store {self.name}: {doing}: {message}"
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return MigrationFailed(redact(" ".join(text.split()), self.env))

    def _constraint_message(self, server_message: str) -> str:
        """The server's message quotes the (anonymized, still personal) value a constraint
        refused: only the names before it are read, and the constraint is named from CERT's
        schema. Nothing after the first ` = ` is ever used."""
        found = _CONFLICT.match(server_message)
        if not found:
            return f"a constraint of CERT's graph refused the write ({_CONSTRAINT_FAILED}; its message is not " \
                   f"repeated: it quotes values)"
        kind, name, prop = found.group(1), found.group(2).replace("``", "`"), found.group(3).replace("``", "`")
        try:
            names = [r["name"] for r in self.run(
                "SHOW CONSTRAINTS YIELD name, labelsOrTypes, properties WHERE $name IN labelsOrTypes "
                "AND $prop IN properties RETURN name ORDER BY name", "reading constraints", name=name, prop=prop)]
        except DatamigError:
            names = []
        which = "constraint " + ", ".join(names) if names else "a uniqueness constraint"
        what = "label" if kind == "Node" else "type"
        return (f"{which} on {what} {name}, property {prop}, refused the write: another {kind.lower()} already "
                f"holds the value written ({_CONSTRAINT_FAILED})")

    def read(self, fn, *args, doing: str):
        try:
            with self.driver.session(default_access_mode=neo4j.READ_ACCESS, **_QUIET) as session:
                return session.execute_read(fn, *args)
        except (Neo4jError, DriverError, OSError) as exc:
            raise self.error(exc, doing) from None

    def write(self, fn, *args, doing: str):
        """One transaction (retried by the driver on transient errors: `fn` must be pure)."""
        try:
            with self.driver.session(default_access_mode=neo4j.WRITE_ACCESS, **_QUIET) as session:
                return session.execute_write(fn, *args)
        except (Neo4jError, DriverError, OSError) as exc:
            raise self.error(exc, doing) from None
        except MigrationFailed as exc:  # raised by `fn` itself: name the store too
            if str(exc).startswith("store "):
                raise
            raise MigrationFailed(f"store {self.name}: {exc}") from None

    def run(self, query: str, doing: str, **params) -> list[dict]:
        """An auto-commit query (schema commands must run outside explicit transactions)."""
        try:
            with self.driver.session(**_QUIET) as session:
                return session.run(query, **params).data()
        except (Neo4jError, DriverError, OSError) as exc:
            raise self.error(exc, doing) from None

    # --- schema --------------------------------------------------------------------------

    def ensure_constraints(self, keys: Mapping[str, str]) -> tuple[list[str], list[str]]:
        """A uniqueness constraint per label business key (MERGE needs it to be both correct and
        indexed), plus the ledger's own. Idempotent; an equivalent constraint under another
        name satisfies it. Returns the names of the label constraints it created (CERT did not
        have them, and the run's undo drops them again: graph_undo.release_constraints) and of
        those it takes on: one of datamig's names that no run records is a killed load's (or a
        run's loaded before runs recorded theirs), and goes with this run's undo, which hands it
        to a run still loaded. A load that fails before its run node drops the created only."""
        existing = {(tuple(c.get("labelsOrTypes") or ()), tuple(c.get("properties") or ())): c["name"]
                    for c in self.run("SHOW CONSTRAINTS YIELD name, labelsOrTypes, properties, type "
                                      "WHERE type IN ['UNIQUENESS', 'NODE_KEY', 'NODE_PROPERTY_UNIQUENESS'] "
                                      "RETURN name, labelsOrTypes, properties", "reading constraints")}
        recorded = {r["n"] for r in self.run("MATCH (r:DatamigRun) UNWIND coalesce(r.constraints, []) AS n "
                                             "RETURN DISTINCT n", "reading the constraints runs recorded")}
        wanted = dict(keys) | {"DatamigRun": "run_id"}
        created, taken = [], []
        for label, prop in sorted(wanted.items()):
            name = "datamig_" + "".join(ch if ch.isalnum() else "_" for ch in f"{label}_{prop}")
            if ((label,), (prop,)) in existing:
                if existing[(label,), (prop,)] == name and name not in recorded and label != "DatamigRun":
                    taken.append(name)
                continue
            self.run(f"CREATE CONSTRAINT {q(name)} IF NOT EXISTS FOR (n:{q(label)}) REQUIRE n.{q(prop)} IS UNIQUE",
                     f"creating the uniqueness constraint on {label}.{prop}")
            if label != "DatamigRun":  # the ledger's own stays, as the ledger's history does
                created.append(name)
        self.run("CREATE INDEX datamig_ledger_run IF NOT EXISTS FOR (l:DatamigLedger) ON (l.run_id)",
                 "creating the ledger index")
        return created, taken

    # --- run nodes -------------------------------------------------------------------------

    def run_state(self, run_id: str) -> dict | None:
        rows = self.read(lambda tx: tx.run("MATCH (r:DatamigRun {run_id: $run}) RETURN properties(r) AS p",
                                           run=run_id).data(), doing="reading the run ledger")
        return rows[0]["p"] if rows else None

    def runs_in(self, statuses: list[str]) -> list[dict]:
        return self.read(lambda tx: [r["p"] for r in tx.run(
            "MATCH (r:DatamigRun) WHERE r.status IN $s RETURN properties(r) AS p ORDER BY r.run_id",
            s=statuses).data()], doing="reading the run ledger")

    def set_status(self, run_id: str, status: str, **extra) -> None:
        self.write(lambda tx: tx.run("MATCH (r:DatamigRun {run_id: $run}) SET r.status = $status, r += $extra",
                                     run=run_id, status=status, extra=extra).consume(),
                   doing=f"marking run {run_id} {status}")

    def fence(self, run_id: str) -> str | None:
        """Wait until no batch of `run_id` is still open on the server (a batch holds the run
        node's lock until it ends, even one whose loader was killed after sending COMMIT), and
        return the run's status as committed by then; None if there is no run node."""
        def fn(tx):
            tx.run("MATCH (r:DatamigRun {run_id: $run}) SET r.fenced_at = $now", run=run_id, now=now()).consume()
            rows = tx.run("MATCH (r:DatamigRun {run_id: $run}) RETURN r.status AS s", run=run_id).data()
            return rows[0]["s"] if rows else None
        return self.write(neo4j.unit_of_work(timeout=FENCE_TIMEOUT_S)(fn),
                          doing=f"waiting for the open transactions of run {run_id}")

    def start_run(self, run_id: str, district: int | None, constraints: list[str] = ()) -> None:
        """Written before the first batch: recovery finds a run that died half-applied.
        constraints: those the load created (ensure_constraints), for its undo to drop."""
        self.write(lambda tx: tx.run(
            "MERGE (r:DatamigRun {run_id: $run}) SET r.status = 'applying', r.district = $district, "
            "r.started_at = $now, r.loaded_at = null, r.rolled_back_at = null, r.constraints = $constraints",
            run=run_id, district=district, now=now(), constraints=list(constraints)).consume(),
            doing=f"recording run {run_id}")
