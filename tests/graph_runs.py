"""Hand-built linked run directories for graph tests.

A run directory is the contract between linkage/ and graph/ (docs/ARCHITECTURE.md), so a
test may write one directly: every fact gets its own record with its own mentions, each
mention already resolved to the entity the test names. Small, exact, and independent of
how well linkage does.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from datetime import date
from pathlib import Path

import neo4j
import pyarrow as pa
import pyarrow.parquet as pq

from linkage.name_keys import company_name_keys
from loaders import rundir
from loaders.rundir import LOAD_TABLES, MANIFEST, TABLES, conform, entities_table


def cid(name: str) -> str:
    """The company entity ID a test calls `name`."""
    return "C" + hashlib.sha1(f"company:{name}".encode()).hexdigest()[:12]


def pid(name: str) -> str:
    """The person entity ID a test calls `name`."""
    return "P" + hashlib.sha1(f"person:{name}".encode()).hexdigest()[:12]


class RunBuilder:
    """Collects companies, people and facts; `write` makes the run directory."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.tables: dict[str, list[dict]] = defaultdict(list)
        self.entities: list[dict] = []
        self.companies: dict[str, dict] = {}
        self.people: dict[str, dict] = {}
        self._n = 0

    def company(
        self,
        key: str,
        name: str | None = None,
        uscc: str | None = None,
        industry: str = "F5221",
        established: date | None = None,
        status: str = "存续",
        ended: date | None = None,
        region: str | None = None,
        former_names: tuple[str, ...] = (),
    ) -> str:
        self.companies[key] = {
            "name": name or key,
            "former_names": list(former_names),
            "uscc": uscc,
            "region_code": region,
            "industry_code": industry,
            "established": established,
            "status": status,
            "ended": ended,
        }
        record = self._record("company_registry")
        self._company_mention("company_registry", record, "company", key, registry=True)
        return cid(key)

    def also_named(self, key: str, name: str, source: str = "customs_filings") -> None:
        """Another source's record naming company `key` as `name` (a customs filing's
        romanised name, say), resolved to the same entity."""
        record = self._record(source)
        self._company_mention(source, record, "company", key)
        self.tables["company_mentions"][-1].update(name=name, name_raw=name)

    def person(
        self,
        key: str,
        name: str | None = None,
        id_display: str | None = None,
        born: date | None = None,
    ) -> str:
        self.people[key] = {"name": name or key, "id_display": id_display, "born": born}
        return pid(key)

    def legal_rep(
        self,
        person: str,
        company: str,
        valid_from: date | None = None,
        valid_to: date | None = None,
        source: str = "legal_rep_changes",
        observed_on: date | None = None,
    ) -> None:
        self._role(person, company, "legal_rep", valid_from, valid_to, source, observed_on)

    def officer(
        self,
        person: str,
        company: str,
        role: str,
        valid_from: date | None = None,
        valid_to: date | None = None,
    ) -> None:
        self._role(person, company, role, valid_from, valid_to, "key_personnel")

    def holds(
        self, holder: str, company: str, ratio: float, valid_from: date | None = None
    ) -> None:
        record = self._record("shareholders")
        kind = "person" if holder in self.people else "company"
        self._company_mention("shareholders", record, "company", company)
        self._mention("shareholders", record, "holder", holder, kind)
        self.tables["shareholdings"].append(
            {
                "source": "shareholders",
                "record_id": record,
                "holder_slot": "holder",
                "holder_kind": kind,
                "company_slot": "company",
                "ratio": ratio,
                "subscribed_capital": ratio * 100,
                "valid_from": valid_from,
                "valid_to": None,
            }
        )

    def punishment(
        self,
        company: str,
        decision_number: str,
        decided: date,
        categories: list[str],
        responsible: tuple[str, ...] = (),
        legal_rep: str | None = None,
    ) -> None:
        record = decision_number
        self._company_mention("punishments", record, "party", company)
        slots = []
        for i, person in enumerate(responsible):
            slots.append(f"responsible[{i}]")
            self._mention("punishments", record, slots[-1], person, "person")
        if legal_rep:
            self._mention("punishments", record, "legal_rep", legal_rep, "person")
        self.tables["punishments"].append(
            {
                "source": "punishments",
                "record_id": record,
                "decision_number": decision_number,
                "party_slot": "party",
                "party_kind": "company",
                "responsible_slots": slots,
                "categories": categories,
                "category_raw": ";".join(categories),
                "decision_date": decided,
                "agency": "某市市场监督管理局",
                "legal_basis": "《中华人民共和国食品安全法》第一百三十五条",
                "fine_amount": None,
            }
        )

    def listed(
        self,
        party: str,
        entered: date,
        removed: date | None = None,
        list_name: str = "judgment_defaulter",
        expires: date | None = None,
        record: str | None = None,
    ) -> None:
        """`party` listed; `record` is the entry's record key (default: a new one)."""
        record = record or self._record("judgment_defaulters")
        kind = "person" if party in self.people else "company"
        if kind == "company":
            self._company_mention("judgment_defaulters", record, "party", party)
        else:
            self._mention("judgment_defaulters", record, "party", party, "person")
        self.tables["list_entries"].append(
            {
                "source": "judgment_defaulters",
                "record_id": record,
                "list": list_name,
                "list_raw": "失信被执行人",
                "party_slot": "party",
                "party_kind": kind,
                "entered": entered,
                "removed": removed,
                "expires": expires,
                "reason": "拒不履行",
                "authority": "某市人民法院",
                "case_number": f"(2020)执{record}号",
            }
        )

    def licence(
        self,
        company: str,
        number: str,
        valid_from: date,
        valid_to: date,
        status: str = "valid",
    ) -> None:
        self._company_mention("food_licences", number, "holder", company)
        self.tables["licences"].append(
            {
                "source": "food_licences",
                "record_id": number,
                "licence_number": number,
                "holder_slot": "holder",
                "valid_from": valid_from,
                "valid_to": valid_to,
                "status": status,
                "status_raw": {"valid": "有效", "revoked": "吊销"}.get(status, status),
                "scope": "预包装食品销售",
                "issued": valid_from,
            }
        )

    def write(self, run_dir: Path, base: Path | None = None) -> Path:
        """Write the run; with `base`, as a wave whose entities also cover the base's."""
        run_dir.mkdir(parents=True, exist_ok=True)
        for name in LOAD_TABLES:
            rows = pa.Table.from_pylist(self.tables.get(name, []), schema=TABLES[name].schema)
            pq.write_table(conform(name, rows), rundir.path(run_dir, name))
        entities = [{**e, "run": "."} for e in self.entities]
        if base is not None:
            relative = Path("..") / base.name
            previous = rundir.arrow(base, "entities").to_pylist()
            entities += [{**e, "run": str(relative)} for e in previous]
        counts = {name: len(rows) for name, rows in self.tables.items()}
        (run_dir / MANIFEST).write_text(json.dumps({"tables": counts}, sort_keys=True))
        frame = pa.Table.from_pylist(entities, schema=TABLES["entities"].schema)
        pq.write_table(entities_table(frame, run_dir), rundir.path(run_dir, "entities"))
        keys = company_name_keys(run_dir, frame.to_pandas())
        pq.write_table(keys, rundir.path(run_dir, "company_name_keys"))
        return run_dir

    def _record(self, source: str) -> str:
        self._n += 1
        return f"{self.prefix}{source[:3].upper()}{self._n:06d}"

    def _role(
        self,
        person: str,
        company: str,
        role: str,
        valid_from: date | None,
        valid_to: date | None,
        source: str,
        observed_on: date | None = None,
    ) -> None:
        record = self._record(source)
        self._company_mention(source, record, "company", company)
        self._mention(source, record, "person", person, "person")
        self.tables["roles"].append(
            {
                "source": source,
                "record_id": record,
                "person_slot": "person",
                "company_slot": "company",
                "role": role,
                "role_raw": role,
                "valid_from": valid_from,
                "valid_to": valid_to,
                "observed_on": observed_on,
            }
        )

    def _company_mention(
        self, source: str, record: str, slot: str, key: str, registry: bool = False
    ) -> None:
        c = self.companies[key]
        row = {
            "source": source,
            "record_id": record,
            "slot": slot,
            "name": c["name"],
            "name_raw": c["name"],
            "former_names": c["former_names"] if registry else [],
            "uscc": c["uscc"],
            "uscc_status": "valid" if c["uscc"] else "missing",
            "region_code": c["region_code"],
            "org_code_status": "missing",
            "reg_no_status": "missing",
        }
        if registry:
            row.update(
                industry_code=c["industry_code"],
                established=c["established"],
                status=c["status"],
                ended=c["ended"],
            )
        self.tables["company_mentions"].append(row)
        self.entities.append(
            {
                "source": source,
                "record_id": record,
                "slot": slot,
                "entity_type": "company",
                "entity_id": cid(key),
                "confidence": 1.0,
            }
        )

    def _mention(self, source: str, record: str, slot: str, key: str, kind: str) -> None:
        if kind == "company":
            self._company_mention(source, record, slot, key)
            return
        p = self.people[key]
        masked = p["id_display"]
        self.tables["person_mentions"].append(
            {
                "source": source,
                "record_id": record,
                "slot": slot,
                "name": p["name"],
                "name_raw": p["name"],
                "id_status": "valid" if masked else "missing",
                "id_token": hashlib.sha256(key.encode()).hexdigest() if masked else None,
                "id_display": masked,
                "birth_date": p["born"],
            }
        )
        self.entities.append(
            {
                "source": source,
                "record_id": record,
                "slot": slot,
                "entity_type": "person",
                "entity_id": pid(key),
                "confidence": 1.0,
            }
        )


#: The graph's bookkeeping (load records, its state, the writer lock), not its facts.
BOOKKEEPING = ("Load", "GraphState", "VeilLock")


def graph_dump(driver: neo4j.Driver, leave_out: tuple[str, ...] = BOOKKEEPING) -> list[str]:
    """Every node (but those labelled `leave_out`) and every relationship, with all their
    properties, sorted: two graphs are the same graph when their dumps are equal."""
    where = " AND ".join(f"NOT n:{label}" for label in leave_out) or "true"
    nodes, _, _ = driver.execute_query(
        f"MATCH (n) WHERE {where} RETURN labels(n) AS labels, properties(n) AS props"
    )
    rels, _, _ = driver.execute_query(
        "MATCH (a)-[r]->(b) RETURN type(r) AS type, properties(r) AS props, "
        "coalesce(a.entity_id, a.key, a.id) AS a, coalesce(b.entity_id, b.key) AS b"
    )
    return sorted(json.dumps(r.data(), sort_keys=True, default=str) for r in [*nodes, *rels])
