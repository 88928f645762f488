"""Reviewer judgements: an append-only log of "same" / "different" verdicts on mention pairs.

A reviewer who sees two mentions the model joined wrongly (or kept apart wrongly) records a
verdict; the next clustering honours it as a cannot-link or a must-link. The log is JSON
Lines, one judgement per line, and is only ever appended to: a reviewer reverses a
decision by appending the opposite verdict, and the latest line for an unordered pair
wins. So the file is its own audit trail (who, why, when), and two appends never
interleave because each is a single write of one line.

    {"a": "registry:91310000MA1K:legal_rep", "b": "courts:(2021)沪01:person[2]",
     "verdict": "different", "reviewer": "li.na", "reason": "different birth years",
     "at": "2024-05-01T09:30:00+00:00"}

A mention reference is "source:record_id:slot". Sources and slots never contain ':',
record IDs may (composite keys, case numbers), so the first ':' ends the source and the
last one starts the slot.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from config.errors import InputError
from linkage.clusters import Edges
from linkage.entity_ids import KEY_COLUMNS

__all__ = [
    "JUDGEMENT_COLUMNS",
    "VERDICTS",
    "append_judgement",
    "effective_judgements",
    "format_mention_ref",
    "judgement_constraints",
    "parse_mention_ref",
    "read_judgements",
]

VERDICTS = ("same", "different")

#: Columns of read_judgements' frame; `line` is the 1-based physical line of the file.
JUDGEMENT_COLUMNS = [
    "a_source",
    "a_record_id",
    "a_slot",
    "b_source",
    "b_record_id",
    "b_slot",
    "verdict",
    "reviewer",
    "reason",
    "at",
    "line",
]

_REQUIRED = ("a", "b", "verdict", "reviewer", "reason", "at")

MentionRef = tuple[str, str, str]


def parse_mention_ref(text: str) -> MentionRef:
    """(source, record_id, slot) of "source:record_id:slot"; ValueError if malformed."""
    if not isinstance(text, str):
        raise ValueError(f"a mention reference is a string, got {text!r}")
    if text.count(":") < 2:
        raise ValueError(f"{text!r} is not source:record_id:slot")
    source, rest = text.split(":", 1)
    record_id, slot = rest.rsplit(":", 1)
    if not source or not record_id or not slot:
        raise ValueError(f"{text!r} has an empty source, record_id or slot")
    return source, record_id, slot


def format_mention_ref(source: str, record_id: str, slot: str) -> str:
    """The reference "source:record_id:slot"; ValueError if it could not be parsed back."""
    if not source or not record_id or not slot:
        raise ValueError("a mention reference needs a source, a record_id and a slot")
    if ":" in source or ":" in slot:
        raise ValueError(f"source {source!r} and slot {slot!r} may not contain ':'")
    return f"{source}:{record_id}:{slot}"


def _empty() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in JUDGEMENT_COLUMNS})
    frame["at"] = pd.Series(dtype="datetime64[ns, UTC]")
    frame["line"] = pd.Series(dtype=np.int64)
    return frame


def _timestamp(value: object) -> datetime:
    """An ISO-8601 timestamp; one without a zone is taken as UTC."""
    if not isinstance(value, str):
        raise ValueError(f"'at' is not an ISO-8601 string: {value!r}")
    at = datetime.fromisoformat(value)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def _check(record: object) -> tuple[MentionRef, MentionRef, str, str, str, datetime]:
    """The parsed fields of one judgement; ValueError naming the first problem."""
    if not isinstance(record, dict):
        raise ValueError("a judgement is a JSON object")
    missing = [k for k in _REQUIRED if k not in record]
    if missing:
        raise ValueError(f"missing key(s) {missing}")
    a = parse_mention_ref(record["a"])
    b = parse_mention_ref(record["b"])
    if a == b:
        raise ValueError(f"a and b are the same mention {record['a']!r}")
    verdict = record["verdict"]
    if verdict not in VERDICTS:
        raise ValueError(f"unknown verdict {verdict!r}; expected one of {list(VERDICTS)}")
    for key in ("reviewer", "reason"):
        if not isinstance(record[key], str) or not record[key].strip():
            raise ValueError(f"{key!r} must be a non-empty string")
    try:
        at = _timestamp(record["at"])
    except ValueError as e:
        raise ValueError(f"bad 'at' {record['at']!r}: {e}") from None
    return a, b, verdict, record["reviewer"], record["reason"], at


def read_judgements(path: str | Path) -> pd.DataFrame:
    """Every judgement in the log, in file order (JUDGEMENT_COLUMNS; blank lines skipped).

    A missing file is an empty log. Any bad line stops the read with an InputError naming
    the line: a silently dropped "different" would let a known wrong merge come back.
    """
    path = Path(path)
    if not path.exists():
        return _empty()
    rows = []
    with path.open(encoding="utf-8") as f:
        for number, text in enumerate(f, start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as e:
                raise InputError(str(path), f"line {number}: not valid JSON ({e.msg})") from None
            try:
                a, b, verdict, reviewer, reason, at = _check(record)
            except ValueError as e:
                raise InputError(str(path), f"line {number}: {e}") from None
            rows.append((*a, *b, verdict, reviewer, reason, at, number))
    if not rows:
        return _empty()
    frame = pd.DataFrame(rows, columns=JUDGEMENT_COLUMNS)
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    frame["line"] = frame["line"].astype(np.int64)
    return frame


def effective_judgements(judgements: pd.DataFrame) -> pd.DataFrame:
    """The latest judgement (highest line) per unordered pair of mentions, in line order.

    Line order, not `at`, decides: the log is append-only, so the last line is the last
    word even when clocks disagree.
    """
    if judgements.empty:
        return judgements.copy()
    a = _refs(judgements, "a")
    b = _refs(judgements, "b")
    pair = pd.Series([(x, y) if x <= y else (y, x) for x, y in zip(a, b, strict=True)])
    latest = judgements.assign(_pair=pair.to_numpy()).sort_values("line", kind="stable")
    latest = latest.drop_duplicates("_pair", keep="last").drop(columns="_pair")
    return latest.reset_index(drop=True)


def _refs(judgements: pd.DataFrame, side: str) -> list[MentionRef]:
    columns = [judgements[f"{side}_{c}"].astype(str) for c in KEY_COLUMNS]
    return list(zip(*columns, strict=True))


def append_judgement(
    path: str | Path,
    a: str | MentionRef,
    b: str | MentionRef,
    verdict: str,
    reviewer: str,
    reason: str,
    at: datetime | None = None,
) -> dict[str, str]:
    """Append one validated judgement to the log (created with its directories if absent).

    `a` and `b` are "source:record_id:slot" references or (source, record_id, slot)
    tuples. Raises InputError naming the log for an invalid judgement. Returns the record
    as written.
    """
    path = Path(path)
    try:
        refs = [r if isinstance(r, str) else format_mention_ref(*r) for r in (a, b)]
        when = (at or datetime.now(UTC)).isoformat()
        record = {
            "a": refs[0],
            "b": refs[1],
            "verdict": verdict,
            "reviewer": reviewer,
            "reason": reason,
            "at": when,
        }
        _check(record)
    except (ValueError, TypeError) as e:
        raise InputError(str(path), f"judgement not recorded: {e}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(record, ensure_ascii=False) + "\n"
    with path.open("a+b") as f:
        # A hand-edited log may lack its final newline; never glue two judgements together.
        if f.tell() > 0:
            f.seek(-1, 2)
            if f.read(1) != b"\n":
                text = "\n" + text
        f.write(text.encode("utf-8"))
    return record


def judgement_constraints(
    effective: pd.DataFrame, keys: pd.DataFrame
) -> tuple[Edges, tuple[np.ndarray, np.ndarray], list[str]]:
    """Must-links ("same") and cannot-links ("different") over the node indices of `keys`.

    `keys` has one row per node (source, record_id, slot). A judgement naming a mention
    absent from `keys` gives a warning, not an error: the mention may be of the other
    entity type, or arrive in a later wave.
    """
    index = pd.Series(
        np.arange(len(keys), dtype=np.int64),
        index=pd.MultiIndex.from_frame(keys[KEY_COLUMNS].astype(str)),
    )
    if index.index.duplicated().any():
        raise ValueError("mention keys are not unique")
    warnings: list[str] = []
    same: list[tuple[int, int]] = []
    different: list[tuple[int, int]] = []
    if not effective.empty:
        a_refs = _refs(effective, "a")
        b_refs = _refs(effective, "b")
        a_nodes = index.reindex(a_refs).to_numpy()
        b_nodes = index.reindex(b_refs).to_numpy()
        rows = zip(
            a_refs,
            b_refs,
            a_nodes,
            b_nodes,
            effective["verdict"],
            effective["line"],
            strict=True,
        )
        for a_ref, b_ref, a_node, b_node, verdict, line in rows:
            unknown = [
                format_mention_ref(*ref)
                for ref, node in ((a_ref, a_node), (b_ref, b_node))
                if pd.isna(node)
            ]
            if unknown:
                warnings.append(
                    f"judgement on line {line} ({verdict}) names mention(s) not in this "
                    f"run: {', '.join(unknown)}"
                )
                continue
            (same if verdict == "same" else different).append((int(a_node), int(b_node)))
    must = Edges.certain([p[0] for p in same], [p[1] for p in same])
    cannot = (
        np.array([p[0] for p in different], dtype=np.int64),
        np.array([p[1] for p in different], dtype=np.int64),
    )
    return must, cannot, warnings
