"""Every environment variable is read through one object (config.settings.Environment):
README.md's table is that object's, a malformed variable is named, and no production
module reads os.environ itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from config.errors import EnvironmentProblem
from config.settings import Environment, environment

ROOT = Path(__file__).resolve().parents[1]
ROOMS = ("config", "loaders", "linkage", "graph", "alerts", "service")


def test_the_readme_lists_every_variable_as_the_settings_define_it() -> None:
    assert Environment.markdown_table() in (ROOT / "README.md").read_text(encoding="utf-8")


def test_no_room_reads_the_environment_but_the_settings() -> None:
    readers = []
    for room in ROOMS:
        for path in (ROOT / room).rglob("*.py"):
            if path == ROOT / "config" / "settings.py":
                continue  # the one reader (it keys its cache on the variables' values)
            text = path.read_text(encoding="utf-8")
            if re.search(r"os\.environ\.get|os\.getenv|os\.environ\[", text):
                readers.append(str(path.relative_to(ROOT)))
    assert readers == []


def test_values_are_typed_and_an_empty_variable_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEIL_NEO4J_PORT", "7690")
    monkeypatch.setenv("NEO4J_URI", "")
    monkeypatch.setenv("VEIL_LOG_LEVEL", "info")
    env = environment()
    assert env.neo4j_port == 7690 and env.neo4j_uri is None and env.log_level == "INFO"


def test_a_malformed_variable_is_named_and_a_secret_is_not_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VEIL_NEO4J_PORT", "seven")
    with pytest.raises(EnvironmentProblem, match=r"VEIL_NEO4J_PORT='seven': .*integer"):
        environment()
    monkeypatch.delenv("VEIL_NEO4J_PORT")
    monkeypatch.setenv("VEIL_NEO4J_START_TIMEOUT", "-5")
    with pytest.raises(EnvironmentProblem, match="VEIL_NEO4J_START_TIMEOUT"):
        environment()
