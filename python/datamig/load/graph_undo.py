"""Undo one run's changes to CERT Neo4j from its ledger nodes: used by rollback (after the
decision) and by compensation (a load that failed after Neo4j had committed).

Every step is idempotent (delete what still exists, set what the before-image says), so an
undo that dies half-way is simply run again by the next recovery. Order: relationships the
run created go first, then relationships and nodes it changed get their old properties
back, then the nodes it created go, and the ledger last of all.

Before reading the ledger, the undo waits on the run's fence (GraphStore.fence): a batch a
killed loader had already sent COMMIT for is still running on the server, and its nodes and
ledger entry must be in what the undo reads.
"""
from __future__ import annotations

from collections import Counter, defaultdict

from .graph import BATCH, UNZERO, GraphStore, now, props_differ, q, zeros


def _chunks(items: list, size: int = BATCH):
    for i in range(0, len(items), size):
        yield items[i:i + size]


class RunLedger:
    """One run's ledger entries and before-images, read once: a rollback's refusal checks and
    its undo work from one reading (the run is committed then: no batch of it adds to them).
    entries(kind): [{"p": entry properties}]; befores(kind): [{"m": DATAMIG_BEFORE's, "p": image}]."""

    def __init__(self, graph: GraphStore, run_id: str):
        self.run_id = run_id
        self._entries: dict[str, list[dict]] = defaultdict(list)
        self._befores: dict[str, list[dict]] = defaultdict(list)
        for r in graph.read(lambda tx: tx.run("MATCH (l:DatamigLedger {run_id: $run}) RETURN properties(l) AS p",
                                              run=run_id).data(), doing=f"reading the ledger of run {run_id}"):
            self._entries[r["p"]["kind"]].append(r)
        for b in graph.read(lambda tx: tx.run(
                "MATCH (:DatamigRun {run_id: $run})-[m:DATAMIG_BEFORE]->(b:DatamigBefore) "
                "RETURN properties(m) AS m, properties(b) AS p", run=run_id).data(),
                doing=f"reading the before-images of run {run_id}"):
            self._befores[b["m"]["kind"]].append(b)

    def entries(self, kind: str) -> list[dict]:
        return self._entries.get(kind, [])

    def befores(self, kind: str) -> list[dict]:
        return self._befores.get(kind, [])


def _rel_pattern(m: dict) -> str:
    return (f"(a:{q(m['start_label'])} {{{q(m['start_prop'])}: row.s}})-[x:{q(m['type'])}]->"
            f"(b:{q(m['end_label'])} {{{q(m['end_prop'])}: row.e}})")


def _deleted(graph: GraphStore, query: str, rows: list, doing: str) -> tuple[int, int]:
    """(nodes, relationships) the query deleted, run over `rows` in chunks: by Neo4j's own
    counters, as a row whose node or relationship CERT no longer holds deletes nothing."""
    nodes = rels = 0
    for chunk in _chunks(rows):
        c = graph.write(lambda tx, chunk=chunk: tx.run(query, rows=chunk).consume().counters, doing=doing)
        nodes, rels = nodes + c.nodes_deleted, rels + c.relationships_deleted
    return nodes, rels


def _restored(graph: GraphStore, query: str, rows: list, doing: str) -> list[bool]:
    """Per image whose node or relationship CERT still holds: whether putting it back changed a
    value (an upsert images what it rewrites, with the values it held too)."""
    out = []
    rows = [{**r, "z": zeros(r["p"])} for r in rows]
    for chunk in _chunks(rows):
        out += graph.write(lambda tx, chunk=chunk: [r["changed"] for r in tx.run(query, rows=chunk)], doing=doing)
    return out


# The image set back, saying whether that changed the node or relationship `x`.
_SET_IMAGE = f"WITH row, x, {props_differ('x', 'row.p')} AS changed {UNZERO}SET x = row.p RETURN changed"


def _tally(counts: dict, kind: str, rows: list, changed: list[bool]) -> None:
    counts[f"{kind}_restored"] += sum(changed)
    counts[f"{kind}_unchanged"] += len(changed) - sum(changed)
    counts[f"{kind}_already_gone"] += len(rows) - len(changed)


def _delete_created_rels(graph: GraphStore, m: dict, doing: str) -> tuple[int, int]:
    """The relationships of one 'rel' entry, each by the elementId its batch recorded, and only
    while its type and ends are still the entry's: a parallel relationship of the same type
    drawn between the same ends since (by CERT or a later run) stays. A ledger older than
    rel_ids names none: the first such relationship between the ends goes, as it always did.
    Returns (deleted, already gone); a pair or id the entry names twice is one relationship."""
    ids = m.get("rel_ids")
    if ids is None:
        rows = list({(s, e): {"s": s, "e": e} for s, e in zip(m["start_keys"], m["end_keys"])}.values())
        query = f"UNWIND $rows AS row MATCH {_rel_pattern(m)} WITH row, head(collect(x)) AS x DELETE x"
    else:
        rows = list({i: {"s": s, "e": e, "id": i} for s, e, i in zip(m["start_keys"], m["end_keys"], ids)}.values())
        query = f"UNWIND $rows AS row MATCH {_rel_pattern(m)} WHERE elementId(x) = row.id DELETE x"
    deleted = _deleted(graph, query, rows, doing)[1]
    return deleted, len(rows) - deleted


def _undo_created_rels(graph: GraphStore, ledger: RunLedger, counts: dict, doing: str) -> None:
    for entry in ledger.entries("rel"):
        deleted, gone = _delete_created_rels(graph, entry["p"], doing)
        counts["relationships_deleted"] += deleted
        counts["relationships_already_gone"] += gone


def _restore_rels(graph: GraphStore, ledger: RunLedger, counts: dict, doing: str) -> None:
    groups = defaultdict(list)
    for b in ledger.befores("rel"):
        m = b["m"]
        key = (m["type"], m["start_label"], m["start_prop"], m["end_label"], m["end_prop"])
        groups[key].append({"s": m["start_key"], "e": m["end_key"], "p": b["p"], "id": m.get("rel_id")})
    for (rtype, sl, sp, el, ep), rows in groups.items():
        m = {"type": rtype, "start_label": sl, "start_prop": sp, "end_label": el, "end_prop": ep}
        # The very relationship the run rewrote (of parallel ones); a ledger older than rel_id
        # names none, and gets the first between the ends, as its load rewrote.
        changed = _restored(graph, f"UNWIND $rows AS row MATCH {_rel_pattern(m)} WHERE elementId(x) = row.id "
                                   f"{_SET_IMAGE}", [r for r in rows if r["id"] is not None], doing)
        changed += _restored(graph, f"UNWIND $rows AS row MATCH {_rel_pattern(m)} WITH row, head(collect(x)) AS x "
                                    f"{_SET_IMAGE}", [r for r in rows if r["id"] is None], doing)
        _tally(counts, "relationships", rows, changed)


def _restore_nodes(graph: GraphStore, ledger: RunLedger, counts: dict, doing: str) -> None:
    """Properties as imaged, and off again the labels the run added (`added`; none in a ledger
    older than labels travelling): the node has exactly its labels from before. One statement
    per set of labels taken off, as labels are names in the query's text."""
    groups = defaultdict(list)
    for b in ledger.befores("node"):
        m = b["m"]
        added = tuple(sorted(m.get("added") or ()))
        groups[(m["label"], m["key_prop"], added)].append({"k": m["key"], "p": b["p"]})
    for (label, prop, added), rows in groups.items():
        changed = _restored(graph, f"UNWIND $rows AS row MATCH (x:{q(label)} {{{q(prop)}: row.k}}) "
                                   f"{_unlabel(added)}", rows, doing)
        _tally(counts, "nodes", rows, changed)


def _unlabel(added: tuple[str, ...]) -> str:
    """_SET_IMAGE that also takes `added` off, counting a node that still had one as changed back."""
    if not added:
        return _SET_IMAGE
    spliced = "".join(":" + q(lb) for lb in added)
    return (f"WITH row, x, {props_differ('x', 'row.p')} OR x:{'|'.join(q(lb) for lb in added)} AS changed "
            f"{UNZERO}SET x = row.p REMOVE x{spliced} RETURN changed")


def _delete_created_nodes(graph: GraphStore, ledger: RunLedger, counts: dict, doing: str) -> None:
    for entry in ledger.entries("node"):
        m = entry["p"]
        keys = list(dict.fromkeys(m["keys"]))  # a key the final named twice is one node (MERGE)
        nodes, rels = _deleted(graph, f"UNWIND $rows AS k MATCH (x:{q(m['label'])} {{{q(m['key_prop'])}: k}}) "
                                      f"DETACH DELETE x", keys, doing)
        counts["nodes_deleted"] += nodes
        counts["nodes_already_gone"] += len(keys) - nodes
        counts["relationships_deleted"] += rels  # any the node still had (none, after a rollback's checks)


def undo(graph: GraphStore, run_id: str, final_status: str, ledger: RunLedger | None = None) -> dict:
    """`ledger`: the one a rollback's refusal checks read (of a committed run); else it is read
    here, once the fence has let every batch still open end. Counts what the undo did in CERT:
    deleted, restored (an image that changed values back), unchanged (an image of the values
    still held), already gone (named by the ledger, no longer in CERT: nothing to do)."""
    counts = {f"{kind}_{what}": 0 for kind in ("relationships", "nodes")
              for what in ("deleted", "restored", "unchanged", "already_gone")}
    doing = f"undoing run {run_id}"
    graph.fence(run_id)
    ledger = ledger or RunLedger(graph, run_id)
    _undo_created_rels(graph, ledger, counts, doing)
    _restore_rels(graph, ledger, counts, doing)
    _restore_nodes(graph, ledger, counts, doing)
    _delete_created_nodes(graph, ledger, counts, doing)
    _drop_ledger(graph, run_id, doing)
    release_constraints(graph, run_id, doing)
    graph.set_status(run_id, final_status, **({"rolled_back_at": now()} if final_status == "rolled_back" else {}))
    return counts


def release_constraints(graph: GraphStore, run_id: str, doing: str) -> None:
    """The uniqueness constraints the run's load created (its run node's `constraints`) go as
    CERT did not have them, unless another run is still loaded or applying: its MERGE needs
    them too, so they become that run's, and go with the last. Idempotent, as the undo is."""
    names = list((graph.run_state(run_id) or {}).get("constraints") or [])
    if not names:
        return
    heirs = graph.read(lambda tx: [r["id"] for r in tx.run(
        "MATCH (o:DatamigRun) WHERE o.run_id <> $run AND o.status IN ['applying', 'applied', 'committed'] "
        "RETURN o.run_id AS id ORDER BY o.started_at DESC LIMIT 1", run=run_id).data()], doing=doing)
    if heirs:
        graph.write(lambda tx: tx.run("MATCH (o:DatamigRun {run_id: $heir}) "
                                      "SET o.constraints = coalesce(o.constraints, []) + $names",
                                      heir=heirs[0], names=names).consume(), doing=doing)
    else:
        drop_constraints(graph, names, doing)
    graph.write(lambda tx: tx.run("MATCH (r:DatamigRun {run_id: $run}) SET r.constraints = []",
                                  run=run_id).consume(), doing=doing)


def drop_constraints(graph: GraphStore, names: list[str], doing: str) -> None:
    for name in dict.fromkeys(names):
        graph.run(f"DROP CONSTRAINT {q(name)} IF EXISTS", doing)


def _drop_ledger(graph: GraphStore, run_id: str, doing: str) -> None:
    while True:
        n = graph.write(lambda tx: tx.run(
            "MATCH (:DatamigRun {run_id: $run})-[m:DATAMIG_BEFORE]->(b:DatamigBefore) WITH m, b LIMIT $n "
            "DELETE m, b RETURN count(*) AS n", run=run_id, n=BATCH).single()["n"], doing=doing)
        if n == 0:
            break
    graph.write(lambda tx: tx.run("MATCH (l:DatamigLedger {run_id: $run}) DELETE l", run=run_id).consume(),
                doing=doing)


def run_keys(ledger: RunLedger, kept: bool = False) -> set[tuple]:
    """Everything a run created or changed (and, with `kept`, found unchanged), as comparable
    tuples."""
    keys: set[tuple] = set()
    for kind in ("node", "node_kept") if kept else ("node",):
        for entry in ledger.entries(kind):
            m = entry["p"]
            keys |= {("node", m["label"], k) for k in m["keys"]}
    for kind in ("rel", "rel_kept") if kept else ("rel",):
        for entry in ledger.entries(kind):
            m = entry["p"]
            keys |= {("rel", m["type"], m["start_label"], s, m["end_label"], e)
                     for s, e in zip(m["start_keys"], m["end_keys"])}
    for kind in ("node", "rel"):
        for b in ledger.befores(kind):
            m = b["m"]
            keys.add(("node", m["label"], m["key"]) if kind == "node"
                     else ("rel", m["type"], m["start_label"], m["start_key"], m["end_label"], m["end_key"]))
    return keys


def later_overlap(graph: GraphStore, ledger: RunLedger, loaded_at: str | None) -> tuple[str, tuple] | None:
    """(later run, first shared key) when a run committed after the ledger's run loaded (wrote,
    or found unchanged) a key that run created or changed."""
    run_id = ledger.run_id
    later = graph.read(lambda tx: [r["id"] for r in tx.run(
        "MATCH (o:DatamigRun) WHERE o.status = 'committed' AND o.run_id <> $run AND o.loaded_at > $at "
        "RETURN o.run_id AS id ORDER BY o.loaded_at", run=run_id, at=loaded_at or "").data()],
        doing="reading the run ledger")
    if not later:
        return None
    mine = run_keys(ledger)
    for other in later:
        shared = mine & run_keys(RunLedger(graph, other), kept=True)
        if shared:
            return other, sorted(shared, key=repr)[0]
    return None


def foreign_link(graph: GraphStore, ledger: RunLedger) -> tuple[str, object, list[str]] | None:
    """(label, key, relationship types) of a node `run_id` created that also has relationships
    the run did not create (drawn in CERT since), or None. The undo's DETACH DELETE would take
    them without a word, where PostgreSQL refuses to delete a row CERT's own rows reference."""
    run_id = ledger.run_id
    expected: dict[tuple, Counter] = defaultdict(Counter)
    for entry in ledger.entries("rel"):
        m = entry["p"]
        for s, e in zip(m["start_keys"], m["end_keys"]):
            expected[(m["start_label"], s)][m["type"]] += 1
            expected[(m["end_label"], e)][m["type"]] += 1
    for entry in ledger.entries("node"):
        m = entry["p"]
        # Each direction on its own: a self-loop counts once as outgoing and once as incoming,
        # as it does in the ledger (start and end).
        query = (f"UNWIND $keys AS k MATCH (x:{q(m['label'])} {{{q(m['key_prop'])}: k}}) "
                 f"CALL {{ WITH x MATCH (x)-[r]->() RETURN type(r) AS t "
                 f"UNION ALL WITH x MATCH (x)<-[r]-() RETURN type(r) AS t }} "
                 f"RETURN k, t, count(*) AS n")
        for chunk in _chunks(m["keys"]):
            rows = graph.read(lambda tx, chunk=chunk: tx.run(query, keys=chunk).data(),
                              doing=f"reading the relationships of run {run_id}'s {m['label']} nodes")
            found: dict[object, Counter] = defaultdict(Counter)
            for r in rows:
                found[r["k"]][r["t"]] = r["n"]
            for key, types in found.items():
                extra = types - expected.get((m["label"], key), Counter())
                if extra:
                    return m["label"], key, sorted(extra)
    return None


def link_owners(graph: GraphStore, run_id: str, label: str, key, types: list[str]) -> list[str]:
    """The other runs still loaded whose ledgers say they created a relationship of `types` at
    the node (label, key): what foreign_link found is theirs, to roll back, not CERT's."""
    query = ("MATCH (l:DatamigLedger {kind: 'rel'}) WHERE l.run_id <> $run AND l.type IN $types "
             "AND ((l.start_label = $label AND $key IN l.start_keys) OR (l.end_label = $label AND $key IN l.end_keys)) "
             "MATCH (o:DatamigRun {run_id: l.run_id, status: 'committed'}) "
             "RETURN DISTINCT o.run_id AS id, o.loaded_at AS at ORDER BY at DESC")
    return [r["id"] for r in graph.read(lambda tx: tx.run(query, run=run_id, types=types, label=label, key=key).data(),
                                        doing="reading the run ledger")]
