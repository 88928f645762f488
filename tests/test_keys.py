"""API keys: a key opens only its own record, the store never holds a key, revocation holds,
and the role and scope rules say what each role may see. Real files under a tmp VEIL_HOME."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from config.errors import ConfigError
from service import keys
from service.cli import app
from service.keys import Action, KeyProblem, Principal, Role

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test its own VEIL_HOME: a key store and pepper of its own."""
    monkeypatch.setenv("VEIL_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_a_key_authenticates_only_to_its_own_record() -> None:
    a_id, a_key = keys.create(Role.REGULATOR, "ministry")
    b_id, b_key = keys.create(Role.ANALYST, "statistics office")
    a, b = keys.authenticate(a_key), keys.authenticate(b_key)
    assert a is not None and (a.key_id, a.role, a.name) == (a_id, Role.REGULATOR, "ministry")
    assert b is not None and (b.key_id, b.role) == (b_id, Role.ANALYST)
    # b's id with a's random part, a's key with one character changed, other shapes: no
    assert keys.authenticate(f"veil.{b_id}.{a_key.split('.', 2)[2]}") is None
    assert keys.authenticate(a_key[:-1] + ("A" if a_key[-1] != "A" else "B")) is None
    for bad in ("", "veil", "veil..", a_key.split(".", 2)[2], "Bearer " + a_key, a_key + "x"):
        assert keys.authenticate(bad) is None


def test_the_store_holds_no_key_and_is_private(home: Path) -> None:
    _, key = keys.create(Role.REGULATOR, "ministry")
    store = home / "keys.json"
    text = store.read_text(encoding="utf-8")
    assert key not in text and key.split(".", 2)[2] not in text
    for path in (store, home / "key_pepper"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    listed = keys.list_keys()[0].public()
    assert "hash" not in listed and "salt" not in listed


def test_the_pepper_is_part_of_the_hash(home: Path) -> None:
    """keys.json alone cannot check a key: with another pepper the right key fails."""
    _, key = keys.create(Role.REGULATOR, "ministry")
    (home / "key_pepper").write_text("another pepper, 32 characters long\n", encoding="ascii")
    assert keys.authenticate(key) is None


def test_a_revoked_key_fails_and_stays_listed() -> None:
    key_id, key = keys.create(Role.INSPECTOR, "Pudong", regions=["310115"])
    keep_id, keep = keys.create(Role.ANALYST, "office")
    first = keys.revoke(key_id)
    assert keys.authenticate(key) is None
    assert keys.authenticate(keep) is not None
    assert keys.revoke(key_id).revoked == first.revoked  # revoking twice changes nothing
    assert [(r.key_id, r.revoked is not None) for r in keys.list_keys()] == [
        (key_id, True),
        (keep_id, False),
    ]
    with pytest.raises(KeyProblem, match="no key 'nope'"):
        keys.revoke("nope")


def test_keys_list_is_readable_at_80_columns() -> None:
    """`veil keys list` on an 80-column terminal: each key's id, role and days whole on its
    first line; long names and scopes folded onto more lines, nothing cut off."""
    inspector, _ = keys.create(
        Role.INSPECTOR,
        "Pudong New Area market regulation food safety team",
        regions=["310115", "310104"],
        industries=["F52", "H", "C14"],
    )
    regulator, _ = keys.create(Role.REGULATOR, "State Administration for Market Regulation")
    town, _ = keys.create(Role.INSPECTOR, "Town team", regions=["310115"])
    keys.revoke(inspector)
    shown = CliRunner().invoke(app, ["keys", "list"], env={"COLUMNS": "80"})
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    records = keys.list_keys()
    assert {r.key_id for r in records} == {inspector, regulator, town}
    rows = {}
    for record in records:
        days = [str(day)[:10] for day in (record.created, record.revoked) if day]
        (rows[record.key_id],) = [line for line in lines if record.key_id in line]
        assert record.role.value in rows[record.key_id] and all(
            day in rows[record.key_id] for day in days
        ), rows[record.key_id]
    assert "…" not in shown.output
    # the scope says what a key reaches: never blank, as if it reached nothing
    assert " all " in rows[regulator] and "310115" in rows[inspector] and "310115" in rows[town]
    town_scope = [line.split("│")[4].strip() for line in lines[lines.index(rows[town]) :][:3]]
    assert town_scope == ["310115", "all", "industries"], town_scope


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.REGULATOR, set(Action)),
        (
            Role.INSPECTOR,
            {
                Action.ALERTS,
                Action.REVIEW,
                Action.CONTROL,
                Action.SCREENING,
                Action.IDENTIFIERS,
                Action.SEARCH,
            },
        ),
        (Role.ANALYST, {Action.COMPANIES, Action.SEARCH, Action.CONTROL, Action.AGGREGATES}),
    ],
)
def test_what_each_role_may_do(role: Role, allowed: set[Action]) -> None:
    principal = Principal("k", "n", role, ("310000",) if role is Role.INSPECTOR else ())
    assert {a for a in Action if principal.may(a)} == allowed


def test_analyst_sees_no_person_and_no_identifier_beyond_masks() -> None:
    analyst = Principal("k", "n", Role.ANALYST)
    assert not analyst.may(Action.PERSONS) and not analyst.may(Action.IDENTIFIERS)
    assert analyst.in_scope(None, None)  # not scoped: every region


def test_inspector_scope_by_region_prefix_and_industry() -> None:
    city = Principal("k", "n", Role.INSPECTOR, ("310100", "440305"), ("F52", "H"))
    assert city.in_scope("310115", "F5211")  # a district of the city, retail
    assert city.in_scope("440305", "H6110")  # the named county, lodging
    assert not city.in_scope("440306", "F5211")  # a neighbouring county
    assert not city.in_scope("320100", "F5211")  # another province
    assert not city.in_scope("310115", "C1331")  # in the region, another industry
    assert not city.in_scope(None, "F5211") and not city.in_scope("310115", None)
    province = Principal("k", "n", Role.INSPECTOR, ("310000",))
    assert province.in_scope("310230", "C1331") and province.in_scope("310230", None)
    assert not province.in_scope("320100", "C1331")
    assert city.allows(Action.ALERTS, "310115", "F52") and not city.allows(
        Action.COMPANIES, "310115", "F52"
    )


def test_a_key_is_created_with_a_scope_that_fits_its_role() -> None:
    key_id, key = keys.create(Role.INSPECTOR, "x", ["310000", "310000"], ["5211", "f52"])
    principal = keys.authenticate(key)
    assert principal is not None and principal.key_id == key_id
    assert principal.regions == ("310000",) and principal.industries == ("F5211", "F52")
    for role, regions, industries, message in [
        (Role.INSPECTOR, [], [], "at least one --region"),
        (Role.INSPECTOR, ["3100"], [], "6-digit"),
        (Role.INSPECTOR, ["310000"], ["Z99"], "GB/T 4754"),
        (Role.ANALYST, ["310000"], [], "give no scope"),
        (Role.REGULATOR, [], ["F"], "give no scope"),
    ]:
        with pytest.raises(KeyProblem, match=message):
            keys.create(role, "x", regions, industries)
    with pytest.raises(KeyProblem, match="name"):
        keys.create(Role.REGULATOR, "  ")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not valid JSON"),
        ('{"version": 1, "keys": [{"key_id": "a"}]}', "keys.0.name"),
        ('{"version": 2, "keys": []}', "version"),
        ('{"version": 1, "keys": [], "extra": 1}', "extra"),
    ],
)
def test_a_malformed_store_names_the_file(home: Path, content: str, problem: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "keys.json").write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=problem) as err:
        keys.authenticate("veil.a.b")
    assert str(home / "keys.json") in str(err.value)


def test_concurrent_writers_lose_no_key(home: Path) -> None:
    """Four processes creating keys at once: every key is in the store and works."""
    script = (
        "import sys\nfrom service import keys\n"
        "for i in range(5):\n"
        "    print(keys.create(keys.Role.ANALYST, f'w{i}')[1])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VEIL_HOME": str(home)}
    procs = [
        subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    made = [line for p in procs for line in p.communicate()[0].split()]
    assert all(p.returncode == 0 for p in procs)
    assert len(made) == 20 and len(keys.list_keys()) == 20
    assert all(keys.authenticate(k) is not None for k in made)
    json.loads((home / "keys.json").read_text(encoding="utf-8"))
