"""`veil link` finishes on every world, whatever the luck of the draw or the skew of the
data: several seeds and sizes, and worlds bent out of shape (every address equal, no
masked IDs, a single source, almost no repeated mentions). Training on each must end in
entities for every mention, with what it could not learn recorded in link_report.json."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from linkage.run import link_run
from loaders.run import load_run
from world.generate import generate_world
from world.skews import as_generated, few_repeats, no_masked_ids, same_address, single_source

# Links a world per skew.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int, int], Path]:
    """A loaded run per (companies, seed), generated once.

    Not the session's world (conftest.py): training must finish whatever the draw, so
    this module wants several sizes and seeds on purpose, none of them the shared one."""
    cache: dict[tuple[int, int], Path] = {}

    def get(companies: int, seed: int) -> Path:
        if (companies, seed) not in cache:
            out = tmp_path_factory.mktemp(f"world-{companies}-{seed}")
            generate_world(companies, seed, out / "world")
            load_run(out / "world" / "sources.yaml", out / "run", secret=b"training-worlds")
            cache[(companies, seed)] = out / "run"
        return cache[(companies, seed)]

    return get


CASES = [
    (200, 1, as_generated),
    (200, 2, as_generated),
    (500, 3, as_generated),
    (300, 5, same_address),
    (300, 5, no_masked_ids),
    (300, 5, single_source),
    (300, 5, few_repeats),
]


@pytest.mark.parametrize(
    ("companies", "seed", "skew"), CASES, ids=[f"{c}-{s}-{k.__name__}" for c, s, k in CASES]
)
def test_link_finishes_and_records_what_it_could_not_learn(
    loaded: Callable[[int, int], Path],
    tmp_path: Path,
    companies: int,
    seed: int,
    skew: Callable[[Path], None],
) -> None:
    run = tmp_path / "run"
    shutil.copytree(loaded(companies, seed), run)
    skew(run)
    summary = link_run(run, models_dir=tmp_path / "no-saved-models")

    report = json.loads((run / "link_report.json").read_text(encoding="utf-8"))
    entities = pq.read_table(run / "entities.parquet").to_pandas()
    for kind in ("person", "company"):
        mentions = pq.read_metadata(run / f"{kind}_mentions.parquet").num_rows
        assert (entities["entity_type"] == kind).sum() == mentions
        record = report[kind]["training"]
        assert record is not None and record["blocks"]
        for fix in record["fixes"]:
            assert fix["why"] and fix["source"]
        # every level of the saved model has usable parameters
        model = json.loads((run / "models" / f"{kind}.json").read_text(encoding="utf-8"))
        for comparison in model["comparisons"]:
            for level in comparison["comparison_levels"]:
                if not level.get("is_null_level"):
                    assert 0 < level["m_probability"] <= 1 and 0 < level["u_probability"] <= 1
    if skew is single_source:
        # One registry row per company: no block has pairs, so the name and identifier
        # comparisons cannot be taught; they count for nothing, and it says so.
        untaught = {
            f["comparison"]
            for f in report["company"]["training"]["fixes"]
            if f["source"] == "no weight"
        }
        assert {"name", "identifiers"} <= untaught
        assert any("could not give" in w for w in summary.warnings)


def test_a_library_failure_is_a_clear_error_with_a_log(
    loaded: Callable[[int, int], Path], tmp_path: Path
) -> None:
    """A saved model that does not fit the run fails inside Splink/DuckDB: the user gets the
    stage, the entity type and what to do, exit 1 and no traceback; the traceback is in
    the run directory's log."""
    from typer.testing import CliRunner

    from service.cli import app

    run = tmp_path / "run"
    shutil.copytree(loaded(200, 1), run)
    link_run(run, models_dir=tmp_path / "none")
    saved = tmp_path / "models"
    saved.mkdir()
    model = json.loads((run / "models" / "company.json").read_text(encoding="utf-8"))
    model["comparisons"][0]["comparison_levels"][1]["sql_condition"] = (
        "no_such_column_l = no_such_column_r"
    )
    (saved / "company.json").write_text(json.dumps(model), encoding="utf-8")
    result = CliRunner().invoke(app, ["link", "--run", str(run), "--models", str(saved)])
    assert result.exit_code == 1
    assert re.search(r"company: (load model|predict) failed: \w+", result.output)
    assert "what to do" in result.output and "veil model train" in result.output
    assert "Traceback" not in result.output
    assert "no_such_column" in (run / "link_error.log").read_text(encoding="utf-8")
