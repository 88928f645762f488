"""Reviewer judgements: the append-only log, its validation, and its constraints."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from config.errors import InputError
from linkage.clusters import Edges, cluster
from linkage.judgements import (
    JUDGEMENT_COLUMNS,
    append_judgement,
    effective_judgements,
    format_mention_ref,
    judgement_constraints,
    parse_mention_ref,
    read_judgements,
)

AT = "2024-05-01T09:30:00+00:00"


def line(a: str, b: str, verdict: str = "different", **extra: object) -> str:
    record = {"a": a, "b": b, "verdict": verdict, "reviewer": "li.na", "reason": "r", "at": AT}
    record.update(extra)
    return json.dumps(record, ensure_ascii=False)


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- references ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("registry:R1:legal_rep", ("registry", "R1", "legal_rep")),
        ("courts:(2021)沪01:民初:123:person[2]", ("courts", "(2021)沪01:民初:123", "person[2]")),
        ("shareholders:a|b:holder", ("shareholders", "a|b", "holder")),
    ],
)
def test_mention_refs_round_trip(text: str, parts: tuple[str, str, str]) -> None:
    assert parse_mention_ref(text) == parts
    assert format_mention_ref(*parts) == text


@pytest.mark.parametrize("text", ["registry:R1", "registry", ":R1:slot", "registry::slot", "r:x:"])
def test_bad_mention_refs(text: str) -> None:
    with pytest.raises(ValueError):
        parse_mention_ref(text)


def test_format_refuses_what_cannot_be_parsed_back() -> None:
    with pytest.raises(ValueError):
        format_mention_ref("a:b", "1", "slot")
    with pytest.raises(ValueError):
        format_mention_ref("a", "1", "sl:ot")


# -- reading ------------------------------------------------------------------------------


def test_missing_file_is_an_empty_log(tmp_path: Path) -> None:
    frame = read_judgements(tmp_path / "none.jsonl")
    assert frame.empty
    assert list(frame.columns) == JUDGEMENT_COLUMNS


def test_read_parses_refs_and_keeps_physical_line_numbers(tmp_path: Path) -> None:
    path = write(
        tmp_path / "j.jsonl",
        line("a:1:holder", "b:x:y:person[0]", "same"),
        "",
        line("a:2:holder", "a:3:holder", note="extra keys are allowed"),
    )
    frame = read_judgements(path)
    assert frame["line"].tolist() == [1, 3]
    first = frame.iloc[0]
    assert (first.a_source, first.a_record_id, first.a_slot) == ("a", "1", "holder")
    assert (first.b_source, first.b_record_id, first.b_slot) == ("b", "x:y", "person[0]")
    assert frame["verdict"].tolist() == ["same", "different"]
    assert frame["at"].iloc[0] == pd.Timestamp(AT)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ('{"a": "a:1:s",', "not valid JSON"),
        ('["a:1:s", "a:2:s"]', "JSON object"),
        (json.dumps({"a": "a:1:s", "b": "a:2:s", "verdict": "same"}), "missing key"),
        (line("a:1:s", "a:2:s", "maybe"), "unknown verdict 'maybe'"),
        (line("a:1:s", "a1s"), "not source:record_id:slot"),
        (line("a:1:s", "a:1:s"), "same mention"),
        (line("a:1:s", "a:2:s", reviewer=" "), "'reviewer'"),
        (line("a:1:s", "a:2:s", at="yesterday"), "bad 'at'"),
    ],
)
def test_bad_lines_name_the_line(tmp_path: Path, bad: str, message: str) -> None:
    path = write(tmp_path / "j.jsonl", line("a:1:s", "a:2:s"), line("a:3:s", "a:4:s"), bad)
    with pytest.raises(InputError, match=message) as error:
        read_judgements(path)
    assert error.value.path == str(path)
    assert "line 3:" in error.value.message


def test_latest_line_wins_for_an_unordered_pair(tmp_path: Path) -> None:
    path = write(
        tmp_path / "j.jsonl",
        line("a:1:s", "a:2:s", "same"),
        line("a:5:s", "a:6:s", "same"),
        line("a:2:s", "a:1:s", "different"),  # reversed, other orientation
        line("a:5:s", "a:6:s", "different", at="2030-01-01T00:00:00+00:00"),
        line("a:6:s", "a:5:s", "same", at="2020-01-01T00:00:00"),  # older clock, later line
    )
    effective = effective_judgements(read_judgements(path))
    assert effective["line"].tolist() == [3, 5]
    assert effective["verdict"].tolist() == ["different", "same"]
    assert effective_judgements(read_judgements(tmp_path / "none.jsonl")).empty


# -- appending ----------------------------------------------------------------------------


def test_append_creates_the_log_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "review" / "person_judgements.jsonl"
    at = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    append_judgement(path, "a:1:s", ("courts", "x:1", "person[0]"), "same", "li.na", "同一人", at)
    record = append_judgement(path, "a:1:s", "a:2:s", "different", "wang", "born 1961 vs 1979")
    frame = read_judgements(path)
    assert frame["verdict"].tolist() == ["same", "different"]
    assert frame["b_record_id"].tolist() == ["x:1", "2"]
    assert frame["reason"].iloc[0] == "同一人"
    assert "同一人" in path.read_text(encoding="utf-8")  # readable, not \\u-escaped
    assert datetime.fromisoformat(record["at"]).tzinfo is not None


def test_append_after_a_hand_edit_without_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text(line("a:1:s", "a:2:s"), encoding="utf-8")
    append_judgement(path, "a:3:s", "a:4:s", "same", "li.na", "same ID card photo")
    assert read_judgements(path)["line"].tolist() == [1, 2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("a:1:s", "a:2:s", "maybe", "li.na", "r"), "unknown verdict"),
        (("a:1:s", "a:2:s", "same", "", "r"), "'reviewer'"),
        (("a:1:s", "a:2:s", "same", "li.na", "  "), "'reason'"),
        (("a:1:s", "a:1:s", "same", "li.na", "r"), "same mention"),
        (("a:1", "a:2:s", "same", "li.na", "r"), "source:record_id:slot"),
        ((("a", "1", "s:t"), "a:2:s", "same", "li.na", "r"), "may not contain"),
    ],
)
def test_append_validates(tmp_path: Path, args: tuple, message: str) -> None:
    path = tmp_path / "j.jsonl"
    with pytest.raises(InputError, match=message):
        append_judgement(path, *args)
    assert not path.exists()


# -- constraints --------------------------------------------------------------------------


def keys_of(*refs: str) -> pd.DataFrame:
    return pd.DataFrame(
        [parse_mention_ref(r) for r in refs], columns=["source", "record_id", "slot"]
    )


def test_constraints_map_refs_to_nodes_and_warn_on_unknown(tmp_path: Path) -> None:
    path = write(
        tmp_path / "j.jsonl",
        line("a:1:s", "courts:x:1:person[0]", "same"),
        line("a:2:s", "a:1:s", "different"),
        line("a:2:s", "company:9:s", "different"),
        line("a:1:s", "a:3:s", "same"),
    )
    keys = keys_of("a:3:s", "a:1:s", "a:2:s", "courts:x:1:person[0]")
    must, cannot, warnings = judgement_constraints(
        effective_judgements(read_judgements(path)), keys
    )
    assert must.left.tolist() == [1, 1] and must.right.tolist() == [3, 0]
    assert must.probability.tolist() == [1.0, 1.0]
    assert cannot[0].tolist() == [2] and cannot[1].tolist() == [1]
    assert len(warnings) == 1
    assert "line 3" in warnings[0] and "company:9:s" in warnings[0]


def test_no_judgements_no_constraints() -> None:
    must, cannot, warnings = judgement_constraints(
        read_judgements("/nonexistent/j.jsonl"), keys_of("a:1:s")
    )
    assert len(must) == 0 and cannot[0].size == 0 and warnings == []


def test_reviewer_verdicts_drive_clustering(tmp_path: Path) -> None:
    keys = keys_of("a:1:s", "a:2:s", "a:3:s", "a:4:s")
    path = tmp_path / "j.jsonl"
    append_judgement(path, "a:1:s", "a:3:s", "different", "li.na", "different fathers")
    append_judgement(path, "a:2:s", "a:4:s", "same", "li.na", "same phone and address")
    must, cannot, _ = judgement_constraints(effective_judgements(read_judgements(path)), keys)
    scored = Edges(np.array([0, 1]), np.array([1, 2]), np.array([0.99, 0.98]))
    result = cluster(4, scored, 0.5, must_link=must, cannot_link=cannot)
    assert result.labels.tolist() == [0, 0, 2, 0]

    # The reviewer changes their mind: the later line wins and the chain closes.
    append_judgement(path, "a:3:s", "a:1:s", "same", "li.na", "checked the registry again")
    must, cannot, _ = judgement_constraints(effective_judgements(read_judgements(path)), keys)
    result = cluster(4, scored, 0.5, must_link=must, cannot_link=cannot)
    assert result.labels.tolist() == [0, 0, 0, 0]
