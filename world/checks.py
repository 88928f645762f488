"""Check a load of a synthetic world against what the generator knows it broke.

The generator plants broken rows (truth/broken_rows.parquet) and invalid identifiers
(truth/invalid_fields.parquet). A correct load quarantines exactly those rows, with the
planted reason, and flags exactly those fields: no more, no fewer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow.parquet as pq


@dataclass
class LoadCheck:
    expected_rows: int
    quarantined_rows: int
    expected_fields: int
    flagged_fields: int
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def as_dict(self) -> dict:
        return asdict(self) | {"ok": self.ok}


def _rows(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def compare_load_with_truth(run_dir: Path, world_dir: Path) -> LoadCheck:
    """Compare RUN_DIR's quarantine and field issues with WORLD_DIR/truth."""
    planted = {
        (r["source"], r["file"], r["line"]): r["reason"]
        for r in _rows(world_dir / "truth" / "broken_rows.parquet")
    }
    found: dict[tuple, set[str]] = {}
    for q in _rows(run_dir / "quarantine.parquet"):
        found.setdefault((q["source"], q["file"], q["line"]), set()).add(q["reason"])
    differences = []
    for key, reason in sorted(planted.items()):
        if key not in found:
            differences.append(f"planted {reason} at {key} was accepted")
        elif reason not in found[key]:
            differences.append(f"planted {reason} at {key} quarantined as {sorted(found[key])}")
    for key, reasons in sorted(found.items()):
        if key not in planted:
            differences.append(f"clean row {key} quarantined: {sorted(reasons)}")

    def field_key(r: dict) -> tuple:
        return (r["source"], r["record_id"], r["slot"], r["reason"])

    expected = {field_key(r) for r in _rows(world_dir / "truth" / "invalid_fields.parquet")}
    # A company whose holdings do not sum to 100% is a doubt about the company, reported
    # with its figures, not an invalid field: planted damage (a dropped shareholder row)
    # causes it without planting it.
    flagged = {
        field_key(r)
        for r in _rows(run_dir / "field_issues.parquet")
        if r["reason"] != "holdings_sum_off"
    }
    differences += [f"planted invalid field {k} not flagged" for k in sorted(expected - flagged)]
    differences += [f"field {k} flagged but not planted" for k in sorted(flagged - expected)]
    return LoadCheck(len(planted), len(found), len(expected), len(flagged), differences)
