"""The audit log: who read or changed what about a person or company, in a chain of hashes.

`$VEIL_HOME/audit.jsonl` (0600) holds one JSON row per request, appended and never
rewritten. Each row carries `prev_hash`, the `hash` of the row before it (64 zeros for the
first), and its own `hash`: SHA-256 of the row's canonical JSON without `hash`. Changing
a field breaks that row's hash; deleting, inserting or swapping rows breaks `seq` and
`prev_hash`; removing rows from the end is caught by `audit.head`, which records the last
row written (a crash between the two writes leaves the head behind by the rows of that
write, at most BATCH_ROWS, which is allowed). The head is one fixed-size record rewritten
in place and flushed with fdatasync, as PostgreSQL writes pg_control: a write of less than
one disk sector lands whole, and a file whose length never changes needs no metadata
flush, so a write of rows costs two data flushes instead of the four a temp file, its
rename and the directory would.
Someone who can rewrite the whole file and the head can recompute the chain: `veil audit
verify` prints the head hash so it can be noted somewhere else.

Parameters are stored with identifiers made safe (`safe_params`): a resident ID becomes
the masked display and the HMAC token the loaders give it, so an auditor can match a row
to the person's `id_token` without the log ever holding the number.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from config.errors import VeilError
from config.settings import id_token_secret, veil_home
from loaders.identifiers import mask_ids_in_text, parse_resident_id, parse_uscc
from service.files import PRIVATE_MODE, exclusive, fsync_dir, write_all

LOG_NAME = "audit.jsonl"
HEAD_NAME = "audit.head"
#: The head's fixed length: well inside one 512-byte disk sector.
HEAD_SIZE = 128
GENESIS = "0" * 64
_FIELDS = ("seq", "time", "key_id", "role", "action", "params", "result_count", "status")


class AuditBroken(VeilError):
    """The audit log is not intact: names the first broken row. Appends refuse until it is
    looked at, so a request is never served without its row."""


def log_path() -> Path:
    return veil_home() / LOG_NAME


def safe_value(value: str, secret: bytes) -> str:
    """A parameter string with no full resident ID left in it.

    A valid USCC stays as it is (company codes are public); a valid resident ID becomes
    its display form and its token; any other digit run long enough to hide an ID is
    masked to its first 6 and last 4 characters.
    """
    if parse_uscc(value).status == "valid":
        return value
    rid = parse_resident_id(value, secret)
    if rid.status == "valid":
        return f"{rid.display} token:{rid.token}"
    return mask_ids_in_text(value)


def safe_params(params: Mapping[str, Any], secret: bytes | None = None) -> dict[str, Any]:
    """`params` (nested dicts and lists too) with every string passed through `safe_value`."""
    key = id_token_secret() if secret is None else secret

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return safe_value(value, key)
        if isinstance(value, Mapping):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [clean(v) for v in value]
        if value is None or isinstance(value, bool | int | float):
            return value
        return safe_value(str(value), key)

    return {str(k): clean(v) for k, v in params.items()}


def row_hash(row: Mapping[str, Any]) -> str:
    """SHA-256 of the row's canonical JSON (sorted keys, no spaces), `hash` left out."""
    body = {k: v for k, v in row.items() if k != "hash"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _last_line(path: Path) -> bytes | None:
    """The file's last line as stored (with its newline if it has one), read from the end;
    None if the file is empty."""
    with path.open("rb") as f:
        pos = f.seek(0, os.SEEK_END)
        tail = b""
        while pos > 0 and tail.count(b"\n") < 2:
            step = min(4096, pos)
            pos -= step
            f.seek(pos)
            tail = f.read(step) + tail
    if not tail:
        return None
    cut = tail.rfind(b"\n", 0, len(tail) - 1)
    return tail[cut + 1 :]


def _tail(path: Path) -> tuple[int, str]:
    """(seq, hash) of the last row, (0, GENESIS) for an empty log; AuditBroken if the last
    row is not a whole row whose hash matches (a crash mid-write, an edit)."""
    line = _last_line(path) if path.exists() else None
    if line is None:
        return 0, GENESIS
    if not line.endswith(b"\n"):
        raise AuditBroken(f"{path}: the last row is cut short; run `veil audit verify`")
    try:
        row = json.loads(line)
        seq, stored = int(row["seq"]), str(row["hash"])
    except (ValueError, KeyError, TypeError):
        raise AuditBroken(
            f"{path}: the last row is not an audit row; run `veil audit verify`"
        ) from None
    if row_hash(row) != stored:
        raise AuditBroken(f"{path}: row {seq} does not match its hash; run `veil audit verify`")
    return seq, stored


#: The row this process appended last to each log, by the log's identity (device, inode,
#: size, modification time) right after it: while the file still shows that identity, no
#: other process has appended since and nobody has cut or rewritten it, so the next append
#: takes that row as the tail without reading and hashing it again (a tenth of a request's
#: CPU in the API). An edit that keeps the size within the clock's tick goes unseen here,
#: and is still caught by `verify`: the edited row no longer matches its hash.
_written: dict[Path, tuple[tuple[int, int, int, int], tuple[int, str]]] = {}


def _identity(stat: os.stat_result) -> tuple[int, int, int, int]:
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns


def _known_tail(path: Path) -> tuple[int, str]:
    """`_tail`, from `_written` while the log is as this process left it."""
    known = _written.get(path)
    if known is not None and path.exists() and _identity(path.stat()) == known[0]:
        return known[1]
    return _tail(path)


@dataclass(frozen=True, slots=True)
class Entry:
    """What one request did, before it becomes a row (`status`: the HTTP status, 200 for
    a CLI command)."""

    key_id: str
    role: str
    action: str
    params: Mapping[str, Any]
    result_count: int
    status: int


def append(
    key_id: str,
    role: str,
    action: str,
    params: Mapping[str, Any],
    result_count: int,
    status: int,
) -> dict[str, Any]:
    """Append one row (safe across processes: flock; durable: fsync) and return it."""
    entry = Entry(key_id, role, action, params, result_count, status)
    return append_all(log_path(), [entry])[0]


def append_all(path: Path, entries: Sequence[Entry]) -> list[dict[str, Any]]:
    """Append a row for each entry, in order, to the log at `path` and return them: one
    lock, one write and one flush of the log and of its head for them all (`Committer`
    gathers the rows of concurrent requests so)."""
    params = [safe_params(entry.params) for entry in entries]
    with exclusive(path.with_name(LOG_NAME + ".lock")):
        seq, prev = _known_tail(path)
        rows: list[dict[str, Any]] = []
        for entry, safe in zip(entries, params, strict=True):
            seq += 1
            row: dict[str, Any] = {
                "seq": seq,
                "time": datetime.now(UTC).isoformat(timespec="microseconds"),
                "key_id": entry.key_id,
                "role": entry.role,
                "action": entry.action,
                "params": safe,
                "result_count": entry.result_count,
                "status": entry.status,
                "prev_hash": prev,
            }
            row["hash"] = prev = row_hash(row)
            rows.append(row)
        lines = "".join(
            json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n" for row in rows
        )
        new = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_MODE)
        try:
            write_all(fd, lines.encode("utf-8"))
            os.fsync(fd)
            _written[path] = (_identity(os.fstat(fd)), (seq, prev))
        finally:
            os.close(fd)
        if new:
            fsync_dir(path.parent)
        _write_head(path.with_name(HEAD_NAME), seq, prev)
    return rows


#: The most rows one flush takes: bounds how long the log's lock is held.
BATCH_ROWS = 256


class Committer:
    """Appends the rows of concurrent requests from one thread, as many as are waiting at
    a time in one `append_all` (group commit, as a database's log writer does).

    Each row still costs its request the wait for the disk, but twenty requests waiting
    share one lock, one write and two flushes instead of taking turns at twenty: a tenth
    of a control answer's CPU went to its own row. `submit` returns a future the caller
    waits on (`asyncio.wrap_future` on an event loop, no thread-pool hop), which fails as
    `append` would if the batch could not be written: no request is answered without its
    row."""

    def __init__(self) -> None:
        self._waiting: queue.SimpleQueue[tuple[Path, Entry, Future[dict[str, Any]]]] = (
            queue.SimpleQueue()
        )
        self._started = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, entry: Entry) -> Future[dict[str, Any]]:
        """Queue `entry` for the log VEIL_HOME names now; the future holds its row. The
        writing thread is started on the first row (and again in a forked child)."""
        future: Future[dict[str, Any]] = Future()
        self._waiting.put((log_path(), entry, future))
        if self._thread is None or not self._thread.is_alive():
            with self._started:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(
                        target=self._write, name="audit-committer", daemon=True
                    )
                    self._thread.start()
        return future

    def _write(self) -> None:
        while True:
            batch = [self._waiting.get()]
            while len(batch) < BATCH_ROWS:
                try:
                    batch.append(self._waiting.get_nowait())
                except queue.Empty:
                    break
            for path in dict.fromkeys(path for path, _, _ in batch):
                mine = [(entry, future) for p, entry, future in batch if p == path]
                try:
                    rows = append_all(path, [entry for entry, _ in mine])
                except Exception as err:  # every waiting request fails with it, as it would alone
                    for _, future in mine:
                        future.set_exception(err)
                    continue
                for (_, future), row in zip(mine, rows, strict=True):
                    future.set_result(row)


#: The process's committer (the API's); the CLI appends directly.
committer = Committer()


def _write_head(path: Path, seq: int, hash_: str) -> None:
    """Record the last row in `audit.head`: HEAD_SIZE bytes at offset 0, in place (see the
    module docstring); a head of another length (new, or written before this layout) is
    cut to size first and made durable with its directory."""
    record = json.dumps({"seq": seq, "hash": hash_}).ljust(HEAD_SIZE - 1).encode() + b"\n"
    if len(record) != HEAD_SIZE:
        raise AssertionError(f"audit head record is {len(record)} bytes, not {HEAD_SIZE}")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_MODE)
    try:
        resized = os.fstat(fd).st_size != HEAD_SIZE
        if resized:
            os.ftruncate(fd, HEAD_SIZE)
        os.pwrite(fd, record, 0)
        if resized:
            os.fsync(fd)
        else:
            os.fdatasync(fd)
    finally:
        os.close(fd)
    if resized:
        fsync_dir(path.parent)


def _rows(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number from 1, raw line) of the log, the last one as found (maybe no newline)."""
    if not path.exists():
        return
    with path.open("rb") as f:
        yield from enumerate(f, start=1)


def list_rows(since: datetime | None = None, key_id: str | None = None) -> list[dict[str, Any]]:
    """Rows at or after `since` (UTC if naive) and of `key_id`, in order; unreadable lines
    are skipped here (`verify` is where they are reported)."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    out = []
    for _, raw in _rows(log_path()):
        try:
            row = json.loads(raw)
            when = datetime.fromisoformat(row["time"])
        except (ValueError, KeyError, TypeError):
            continue
        if since is not None and when < since:
            continue
        if key_id is not None and row.get("key_id") != key_id:
            continue
        out.append(row)
    return out


@dataclass(frozen=True, slots=True)
class Verdict:
    """What `verify` found: `ok`, the rows read, the last hash, or the first broken row."""

    ok: bool
    rows: int
    head_hash: str
    broken_line: int | None = None
    broken_seq: int | None = None
    problem: str | None = None

    def message(self) -> str:
        if self.ok:
            return f"audit log intact: {self.rows} rows, head {self.head_hash}"
        where = f"line {self.broken_line}" if self.broken_line is not None else "the log"
        seq = f" (seq {self.broken_seq})" if self.broken_seq is not None else ""
        return f"audit log broken at {where}{seq}: {self.problem}"


def verify() -> Verdict:
    """Walk the chain from the first row; name the first row that is not what was written."""
    path = log_path()
    prev, count = GENESIS, 0
    recent: deque[str] = deque([GENESIS], maxlen=BATCH_ROWS + 1)
    for line_no, raw in _rows(path):
        expected = count + 1
        row, problem = _check_row(raw, expected, prev)
        if row is None:
            return Verdict(False, count, prev, line_no, expected, problem)
        prev, count = row["hash"], expected
        recent.append(prev)
    return _check_head(count, recent)


def _check_row(raw: bytes, expected: int, prev: str) -> tuple[dict[str, Any] | None, str]:
    """The row if it is row `expected` chained to `prev`, else None and what is wrong."""
    if not raw.endswith(b"\n"):
        return None, "the row is cut short (no end of line): a crash mid-write or a cut"
    try:
        row = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None, "not a JSON row (edited or cut)"
    if not isinstance(row, dict) or set(row) != {*_FIELDS, "prev_hash", "hash"}:
        return None, "not an audit row (fields missing or added)"
    if row["seq"] != expected:
        return (
            None,
            f"holds seq {row['seq']}, expected {expected}: a row deleted, inserted or moved",
        )
    if row["prev_hash"] != prev:
        return None, "prev_hash is not the hash of the row before: rows deleted or moved"
    if row_hash(row) != row["hash"]:
        return None, "the row does not match its hash: a field was changed"
    return row, ""


def _check_head(count: int, recent: deque[str]) -> Verdict:
    """The head records the last row written; a log that ends before it lost rows. It may
    be behind by one batch (a crash between a batch's write and its head's), never more;
    `recent` holds the hashes of the log's last rows, the last one last."""
    last = recent[-1]
    head = log_path().with_name(HEAD_NAME)
    if not head.exists():
        if count:
            return Verdict(False, count, last, None, None, f"{head} is missing")
        return Verdict(True, 0, last)
    try:
        data = json.loads(head.read_text(encoding="utf-8"))
        seq, hash_ = int(data["seq"]), str(data["hash"])
    except (ValueError, KeyError, TypeError):
        return Verdict(False, count, last, None, None, f"{head} is not readable")
    if seq > count:
        return Verdict(
            False,
            count,
            last,
            None,
            count + 1,
            f"the log ends at seq {count} but {head} records seq {seq}: rows removed from the end",
        )
    if count - seq >= len(recent):
        return Verdict(False, count, last, None, seq, f"{head} is behind the log by {count - seq}")
    if seq and hash_ != recent[-1 - (count - seq)]:
        return Verdict(False, count, last, seq, seq, f"row {seq}'s hash differs from {head}")
    return Verdict(True, count, last)
