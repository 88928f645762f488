"""The audit log: rows chain by hash, any quiet edit is named by `verify`, appends from
several processes keep one chain, and no full resident ID reaches the file. Real files
under a tmp VEIL_HOME; the CLI through typer's runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pii_scan import full_ids
from typer.testing import CliRunner

from config.settings import id_token_secret
from loaders.identifiers import make_resident_id, make_uscc, parse_resident_id
from service import audit, keys
from service.audit import GENESIS, AuditBroken
from service.cli import app

ROOT = Path(__file__).resolve().parents[1]
RID = make_resident_id("310115", date(1980, 5, 17), 123)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VEIL_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _append(n: int, key_id: str = "k1") -> None:
    for i in range(n):
        audit.append(key_id, "regulator", "GET /companies", {"q": f"name {i}"}, i, 200)


def _lines(home: Path) -> list[str]:
    return (home / "audit.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)


def _write(home: Path, lines: list[str]) -> None:
    (home / "audit.jsonl").write_text("".join(lines), encoding="utf-8")


def test_rows_chain_and_verify(home: Path) -> None:
    assert audit.verify().ok  # an empty log is intact
    _append(3)
    rows = [json.loads(line) for line in _lines(home)]
    assert [r["seq"] for r in rows] == [1, 2, 3]
    assert rows[0]["prev_hash"] == GENESIS
    assert [r["prev_hash"] for r in rows[1:]] == [r["hash"] for r in rows[:2]]
    assert all(r["hash"] == audit.row_hash(r) for r in rows)
    verdict = audit.verify()
    assert verdict.ok and verdict.rows == 3 and verdict.head_hash == rows[-1]["hash"]


def test_an_edited_field_is_named(home: Path) -> None:
    _append(4)
    lines = _lines(home)
    lines[2] = lines[2].replace('"result_count":2', '"result_count":0')
    _write(home, lines)
    verdict = audit.verify()
    assert not verdict.ok and (verdict.broken_line, verdict.broken_seq) == (3, 3)
    assert "changed" in (verdict.problem or "") and "line 3" in verdict.message()


def test_an_edit_with_a_recomputed_hash_breaks_the_next_row(home: Path) -> None:
    _append(3)
    lines = _lines(home)
    row = json.loads(lines[1])
    row["status"] = 403
    row["hash"] = audit.row_hash(row)
    lines[1] = json.dumps(row, separators=(",", ":")) + "\n"
    _write(home, lines)
    verdict = audit.verify()
    assert (verdict.ok, verdict.broken_line) == (False, 3)


@pytest.mark.parametrize(
    ("change", "line"),
    [
        (lambda ls: ls[:1] + ls[2:], 2),  # a row deleted
        (lambda ls: [ls[0], ls[2], ls[1], ls[3]], 2),  # two rows swapped
        (lambda ls: ls[:3], None),  # the last row deleted: the head knows
        (lambda ls: [*ls[:3], ls[3][:-20]], 4),  # the last line cut short
        (lambda ls: [*ls[:2], "\n", *ls[2:]], 3),  # a line inserted
    ],
)
def test_deleted_moved_or_cut_rows_are_named(
    home: Path, change: Callable[[list[str]], list[str]], line: int | None
) -> None:
    _append(4)
    _write(home, change(_lines(home)))
    verdict = audit.verify()
    assert not verdict.ok
    assert verdict.broken_line == line
    assert verdict.message().startswith("audit log broken at")


def test_appends_refuse_after_a_cut_last_row(home: Path) -> None:
    _append(2)
    lines = _lines(home)
    _write(home, [lines[0], lines[1][:-5]])
    with pytest.raises(AuditBroken, match="cut short"):
        _append(1)


def test_appends_refuse_after_the_last_row_is_edited_in_place(home: Path) -> None:
    """The tail this process wrote is kept (audit._written) only while the file is as it
    left it: an edit of the same length, a clock tick later, is read and refused."""
    _append(2)
    lines = _lines(home)
    edited = lines[1].replace('"result_count":1', '"result_count":7')
    assert edited != lines[1] and len(edited) == len(lines[1])
    time.sleep(0.05)
    _write(home, [lines[0], edited])
    with pytest.raises(AuditBroken, match="does not match its hash"):
        _append(1)


def _entries(n: int) -> list[audit.Entry]:
    return [audit.Entry("k", "analyst", "GET /x", {"i": i}, 1, 200) for i in range(n)]


def test_the_head_may_lag_one_batch_after_a_crash(home: Path) -> None:
    _append(2)
    head = (home / "audit.head").read_text(encoding="utf-8")
    audit.append_all(home / "audit.jsonl", _entries(5))
    (home / "audit.head").write_text(head, encoding="utf-8")  # as if killed before the head
    assert audit.verify().ok
    (home / "audit.head").write_text('{"seq": 2, "hash": "00"}\n', encoding="utf-8")
    assert not audit.verify().ok


def test_a_head_more_than_a_batch_behind_is_named(home: Path) -> None:
    _append(1)
    head = (home / "audit.head").read_text(encoding="utf-8")
    audit.append_all(home / "audit.jsonl", _entries(audit.BATCH_ROWS + 1))
    (home / "audit.head").write_text(head, encoding="utf-8")
    verdict = audit.verify()
    assert not verdict.ok and f"behind the log by {audit.BATCH_ROWS + 1}" in verdict.message()


def test_the_head_is_one_fixed_size_record_rewritten_in_place(home: Path) -> None:
    head = home / "audit.head"
    _append(1)
    last = json.loads(_lines(home)[-1])["hash"]
    head.write_text(json.dumps({"seq": 1, "hash": last}) + "\n", encoding="utf-8")
    assert head.stat().st_size < audit.HEAD_SIZE  # a head written before the fixed layout
    _append(2)
    inode = head.stat().st_ino
    _append(3)
    assert head.stat().st_size == audit.HEAD_SIZE
    assert head.stat().st_ino == inode  # rewritten in place, not replaced
    assert json.loads(head.read_text(encoding="utf-8")) == {
        "seq": 6,
        "hash": json.loads(_lines(home)[-1])["hash"],
    }
    assert audit.verify().ok


def test_the_chain_survives_restarts_and_concurrent_processes(home: Path) -> None:
    _append(1)
    script = (
        "from service import audit\n"
        "for i in range(15):\n"
        "    audit.append('p', 'analyst', 'GET /x', {'i': i}, 1, 200)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VEIL_HOME": str(home)}
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env) for _ in range(4)]
    assert all(p.wait() == 0 for p in procs)
    _append(1)
    verdict = audit.verify()
    assert verdict.ok and verdict.rows == 62


def test_no_full_resident_id_reaches_the_file(home: Path) -> None:
    uscc = make_uscc("310115", "12345678")
    fifteen = RID[:6] + RID[8:17]
    full_width = RID.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    params = {
        "id": RID,
        "ids": [fifteen, full_width, {"nested": RID.lower()}],
        "q": f"person with id {RID} and more",
        "uscc": uscc,
        "prefix": "310115*",
    }
    row = audit.append("k1", "regulator", "GET /persons", params, 1, 200)
    text = (home / "audit.jsonl").read_text(encoding="utf-8")
    assert RID not in text and fifteen not in text and full_width not in text
    assert full_ids(text) == []
    token = parse_resident_id(RID, id_token_secret()).token
    assert row["params"]["id"] == f"310115********{RID[-4:]} token:{token}"
    assert row["params"]["ids"][0].endswith(f"token:{token}")  # the 15-digit form: same person
    assert row["params"]["uscc"] == uscc  # company codes are public
    assert row["params"]["prefix"] == "310115*"
    assert audit.verify().ok


def test_list_by_time_and_key() -> None:
    _append(2, "k1")
    _append(1, "k2")
    assert [r["key_id"] for r in audit.list_rows()] == ["k1", "k1", "k2"]
    assert [r["seq"] for r in audit.list_rows(key_id="k2")] == [3]
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert audit.list_rows(since=tomorrow) == []
    assert len(audit.list_rows(since=datetime(2000, 1, 1))) == 3


def test_cli_round_trip(home: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(
        app,
        [
            "keys",
            "create",
            "--role",
            "inspector",
            "--name",
            "Pudong",
            "--region",
            "310115",
            "--industry",
            "F52",
            "--json",
        ],
    )
    assert made.exit_code == 0, made.output
    created = json.loads(made.stdout)
    principal = keys.authenticate(created["key"])
    assert principal is not None and principal.regions == ("310115",)

    listed = runner.invoke(app, ["keys", "list", "--json"])
    assert listed.exit_code == 0 and created["key"] not in listed.stdout
    assert [k["key_id"] for k in json.loads(listed.stdout)] == [created["key_id"]]

    bad = runner.invoke(app, ["keys", "create", "--role", "inspector", "--name", "x"])
    assert bad.exit_code == 1 and "--region" in bad.output

    assert runner.invoke(app, ["keys", "revoke", created["key_id"]]).exit_code == 0
    assert keys.authenticate(created["key"]) is None

    rows = json.loads(runner.invoke(app, ["audit", "list", "--json"]).stdout)
    assert [(r["action"], r["params"]["key_id"]) for r in rows] == [
        ("keys.create", created["key_id"]),
        ("keys.revoke", created["key_id"]),
    ]
    assert runner.invoke(app, ["audit", "list", "--key", "nobody", "--json"]).stdout.strip() == "[]"
    assert runner.invoke(app, ["audit", "list", "--since", "yesterday"]).exit_code == 1

    ok = runner.invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0 and "intact: 2 rows" in ok.stdout
    lines = _lines(home)
    _write(home, [lines[0].replace("Pudong", "Minhang"), lines[1]])
    broken = runner.invoke(app, ["audit", "verify"])
    assert broken.exit_code == 1 and "line 1 (seq 1)" in broken.output


def test_concurrent_threads_each_learn_their_own_row(home: Path) -> None:
    """Threads of one server (uvicorn's pool) append at once: each gets back its own row as
    stored, and the chain holds."""
    from concurrent.futures import ThreadPoolExecutor

    _append(1)
    with ThreadPoolExecutor(max_workers=16) as pool:
        rows = list(
            pool.map(lambda i: audit.append("k", "analyst", "GET /x", {"i": i}, 1, 200), range(96))
        )
    assert sorted(r["params"]["i"] for r in rows) == list(range(96))
    assert sorted(r["seq"] for r in rows) == list(range(2, 98))
    stored = {json.loads(line)["seq"]: json.loads(line) for line in _lines(home)}
    assert all(stored[r["seq"]] == r for r in rows)
    verdict = audit.verify()
    assert verdict.ok and verdict.rows == 97


def test_a_broken_tail_refuses_every_waiting_row(home: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    _append(2)
    lines = _lines(home)
    _write(home, [lines[0], lines[1][:-5]])
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [
            pool.submit(audit.append, "k", "analyst", "GET /x", {"i": i}, 1, 200) for i in range(24)
        ]
    assert all(isinstance(f.exception(), AuditBroken) for f in futures)
    assert len(_lines(home)) == 2


def test_the_committer_writes_the_rows_waiting_together(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows that wait while the log is busy go to disk in one batch, each request still
    learning its own row, the chain whole."""
    from service.files import exclusive

    batches: list[int] = []
    real = audit.append_all

    def counted(path: Path, entries: list[audit.Entry]) -> list[dict]:
        batches.append(len(entries))
        return real(path, entries)

    _append(1)
    monkeypatch.setattr(audit, "append_all", counted)
    committer = audit.Committer()
    with exclusive(home / "audit.jsonl.lock"):  # another process is writing
        futures = [committer.submit(entry) for entry in _entries(40)]
        time.sleep(0.2)
        assert not any(f.done() for f in futures)
    rows = [f.result(timeout=30) for f in futures]
    assert [r["params"]["i"] for r in rows] == list(range(40))
    assert [r["seq"] for r in rows] == list(range(2, 42))
    assert sum(batches) == 40 and max(batches) >= 39
    stored = {json.loads(line)["seq"]: json.loads(line) for line in _lines(home)}
    assert all(stored[r["seq"]] == r for r in rows)
    assert audit.verify().ok


def test_a_batch_that_cannot_be_written_fails_every_request_in_it(home: Path) -> None:
    _append(2)
    lines = _lines(home)
    _write(home, [lines[0], lines[1][:-5]])
    committer = audit.Committer()
    futures = [committer.submit(entry) for entry in _entries(12)]
    assert all(isinstance(f.exception(timeout=30), AuditBroken) for f in futures)
    assert len(_lines(home)) == 2
    _write(home, lines)
    assert committer.submit(_entries(1)[0]).result(timeout=30)["seq"] == 3
