"""Long jobs log their stages through the standard logging module, at the level
`--log-level` or VEIL_LOG_LEVEL sets, and never a full resident ID number."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow


def _veil(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.fixture
def world(world_dir: Path) -> Path:
    """The session's world (conftest.py): read here, loaded and linked into tmp_path."""
    return world_dir


def test_load_and_link_log_their_stages_and_no_full_id(world: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    loaded = _veil("--log-level", "debug", "load", str(world / "sources.yaml"), "--run", str(run))
    assert loaded.returncode == 0, loaded.stderr
    assert "INFO loaders.run: source company_registry:" in loaded.stderr
    assert "rows read" in loaded.stderr and "quarantined" in loaded.stderr
    linked = _veil("link", "--run", str(run), env={"VEIL_LOG_LEVEL": "DEBUG"})
    assert linked.returncode == 0, linked.stderr
    for line in ("linkage.resolver: company: train", "linkage.resolver: person: cluster"):
        assert line in linked.stderr
    assert "linkage.run: person:" in linked.stderr and "entities" in linked.stderr
    ids = pd.read_parquet(world / "truth" / "persons.parquet", columns=["id_number"])
    logged = loaded.stderr + linked.stderr
    assert not [i for i in ids["id_number"] if i in logged]


def test_the_default_level_logs_no_stage(world: Path, tmp_path: Path) -> None:
    loaded = _veil("load", str(world / "sources.yaml"), "--run", str(tmp_path / "run"))
    assert loaded.returncode == 0, loaded.stderr
    assert "INFO" not in loaded.stderr


def test_a_bad_log_level_in_the_environment_is_named(tmp_path: Path) -> None:
    refused = _veil("world", "--help", env={"VEIL_LOG_LEVEL": "loud"})
    assert refused.returncode == 1
    assert "VEIL_LOG_LEVEL" in refused.stderr and "INFO" in refused.stderr
    assert "Traceback" not in refused.stderr
