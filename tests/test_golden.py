"""The demo pipeline's outputs stay what the golden file says (issue 14 item 6).

bench/golden.py runs what `veil demo` runs on the demo's world (Makefile DEMO_COMPANIES,
2,000 companies, seed 7) into the session's Neo4j and compares every part (run-directory
tables, the graph's full property dump, control results, alerts with evidence) with
tests/golden/demo-2000.json. A refactor must leave it equal. A deliberate change of
behaviour re-records it, with the reason in the commit message:

    python bench/golden.py record --companies 2000 --seed 7 --out tests/golden/demo-2000.json

and `python bench/golden.py compare ... --dump DIR --golden-dump DIR0` (DIR0 from a `record
--dump` of the commit before) prints the rows that differ.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import neo4j

from graph.server.connection import Neo4jSettings

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "demo-2000.json"


def _golden_tool() -> ModuleType:
    """bench/golden.py as a module (bench/ is scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("golden", ROOT / "bench" / "golden.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["golden"] = module  # dataclasses look their module up while defining
    spec.loader.exec_module(module)
    return module


def test_the_demo_world_gives_the_golden_outputs(
    neo4j_server: Neo4jSettings, neo4j_driver: neo4j.Driver, tmp_path: Path
):
    golden = _golden_tool()
    recorded = json.loads(GOLDEN.read_text(encoding="utf-8"))
    world = recorded["world"]
    neo4j_driver.execute_query("MATCH (n) DETACH DELETE n")  # the golden starts empty
    try:
        parts, _ = golden.golden_parts(
            world["companies"], world["seed"], tmp_path, neo4j_driver, neo4j_server.database
        )
        now_versions = golden.versions(neo4j_driver, neo4j_server.database)
    finally:
        neo4j_driver.execute_query("MATCH (n) DETACH DELETE n")
    digests = {name: golden.digest(rows) for name, rows in parts.items()}
    results = golden.compare_digests(recorded["parts"], digests)
    different = [r.text() for r in results if not r.equal]
    if different:
        dump = tmp_path / "golden-dump"
        golden.write_dump(parts, dump)
        different.append(f"rows of this run: {dump} (diff with a `record --dump` of the golden)")
        changed = golden.version_changes(recorded, now_versions)
        if changed:
            different.append("versions differ from the recording: " + ", ".join(changed))
    assert not different, "parts differ from the golden:\n" + "\n".join(different)
