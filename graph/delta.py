"""What a load changes: the rows of a run that the graph does not already hold as they are,
and what the graph holds that the run no longer states.

Every node and relationship a load writes carries a `digest`: a hash of its properties
other than `load` and `digest` (a relationship's also of its ends and key), computed from
the values the driver sends (`row_digests`). A load into a graph that holds veil nodes
reads the (key, digest) of what is there, per label and per relationship type and ends
(`existing`), and `plan_delta` keeps only the rows whose digest differs or whose key is
new, and the keys the run no longer states. Reloading the same run is a delta of 0.

A graph loaded before digests existed holds none: its first delta rewrites every row
(and deletes what is stale, as before), and the next is a true delta.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import neo4j

if TYPE_CHECKING:  # graph.load builds the steps and imports this module
    from graph.load import Shape, Step

#: A node's key, or a relationship's (start key, end key, key).
Identity = Any
#: Stamped relationships no load step writes: control results, stale once the load changes.
CONTROL_RELATIONSHIPS = ("CONTROLS", "BENEFICIAL_OWNER_OF")


def _tagged(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return {"$date": value.isoformat()}
    raise TypeError(f"no digest for a {type(value).__name__}")


def row_digests(names: list[str], columns: list[list[Any]]) -> list[str]:
    """One digest per row of `columns` (plain values, as `graph.load.plain_values` gives
    them, named `names`): stable across runs and processes. A None counts as absent, as
    `SET += {p: null}` stores nothing."""
    order = sorted(range(len(names)), key=names.__getitem__)
    ordered = [names[i] for i in order]
    out = []
    for row in zip(*(columns[i] for i in order), strict=True):
        items = [[n, v] for n, v in zip(ordered, row, strict=True) if v is not None]
        text = json.dumps(items, ensure_ascii=False, separators=(",", ":"), default=_tagged)
        out.append(hashlib.blake2b(text.encode(), digest_size=16).hexdigest())
    return out


def existing(tx: neo4j.ManagedTransaction, shape: Shape) -> dict[Identity, str | None]:
    """The digest of every node of `shape`'s label, or relationship of its type between its
    labels, by identity."""
    if shape.is_node:
        query = f"MATCH (n:{shape.label}) RETURN n.{shape.key} AS k, n.digest AS d"
        return {r["k"]: r["d"] for r in tx.run(query)}
    query = (
        f"MATCH (a:{shape.start})-[r:{shape.label}]->(b:{shape.end}) "
        f"RETURN a.{shape.start_key} AS s, b.{shape.end_key} AS e, r.key AS k, r.digest AS d"
    )
    return {(r["s"], r["e"], r["k"]): r["d"] for r in tx.run(query)}


def delete_query(shape: Shape) -> str:
    """Delete the nodes or relationships of `shape` whose identities are $rows."""
    if shape.is_node:
        return (
            f"UNWIND $rows AS row MATCH (n:{shape.label} {{{shape.key}: row.key}}) DETACH DELETE n"
        )
    return (
        f"UNWIND $rows AS row MATCH (a:{shape.start} {{{shape.start_key}: row.start}})"
        f"-[r:{shape.label} {{key: row.key}}]->(b:{shape.end} {{{shape.end_key}: row.end}}) "
        "DELETE r"
    )


@dataclass
class Delta:
    """What a load writes: `writes` are the steps over their new or changed rows only,
    `deletes` (name, query, rows) the identities the run no longer states (relationships
    first), `control_stale` the control results computed on another load."""

    writes: list[Step] = field(default_factory=list)
    deletes: list[tuple[str, str, list[dict[str, Any]]]] = field(default_factory=list)
    stale: dict[str, int] = field(default_factory=dict)
    unchanged: int = 0
    control_stale: int = 0

    @property
    def rows(self) -> int:
        written = sum(len(s.frame) for s in self.writes)
        return written + sum(len(rows) for _, _, rows in self.deletes) + self.control_stale


def plan_delta(session: neo4j.Session, steps: Iterable[Step], load_id: str) -> Delta:
    """The delta of `steps` (folded: one row per identity) against the graph."""
    delta = Delta()
    shapes: dict[Shape, dict[Identity, str | None]] = {}
    stated: dict[Shape, set[Identity]] = {}
    for step in steps:
        if step.shape not in shapes:
            shapes[step.shape] = session.execute_read(existing, step.shape)
            stated[step.shape] = set()
        there = shapes[step.shape]
        identities, digests = step.identities()
        stated[step.shape].update(identities)
        pairs = enumerate(zip(identities, digests, strict=True))
        changed = [i for i, (key, d) in pairs if there.get(key) != d]
        delta.unchanged += len(identities) - len(changed)
        if changed:
            delta.writes.append(step.restricted(changed))
    by_kind = sorted(shapes, key=lambda s: s.is_node)  # relationships first, then nodes
    for shape in by_kind:
        gone = [key for key in shapes[shape] if key not in stated[shape]]
        if not gone:
            continue
        delta.stale[shape.label] = delta.stale.get(shape.label, 0) + len(gone)
        rows = (
            [{"key": k} for k in gone]
            if shape.is_node
            else [{"start": s, "end": e, "key": k} for s, e, k in gone]
        )
        delta.deletes.append((f"stale {shape.label}", delete_query(shape), rows))
    delta.control_stale = session.execute_read(_control_stale, load_id)
    return delta


def _control_stale(tx: neo4j.ManagedTransaction, load_id: str) -> int:
    total = 0
    for rel_type in CONTROL_RELATIONSHIPS:
        query = f"MATCH ()-[r:{rel_type}]->() WHERE r.load <> $load RETURN count(r) AS n"
        total += tx.run(query, load=load_id).single(strict=True)["n"]
    return total
