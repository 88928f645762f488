"""Readers: turn one extract file into rows with their physical line numbers.

Each reader yields `RawRow` for a row it could read and `BadRow` for a row it could not
(undecodable bytes, wrong column count, broken JSON), so the caller can quarantine the
latter instead of losing it. Problems with the whole file (missing, empty, wrong
encoding, missing columns) raise `InputError` before any row is yielded.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from config.errors import InputError

# A declared encoding that fails on more than this share of lines is the wrong encoding,
# not a few damaged lines.
WRONG_ENCODING_SHARE = 0.05
DETECT_SAMPLE_BYTES = 1 << 20
CODECS = {"utf-8": "utf-8", "gbk": "gbk", "gb18030": "gb18030"}


@dataclass(slots=True)
class RawRow:
    line: int
    values: dict[str, object]


@dataclass(slots=True)
class BadRow:
    line: int
    reason: str
    detail: str
    raw: str


Row = RawRow | BadRow


def read_rows(
    path: Path,
    fmt: str,
    encoding: str,
    expected: list[str],
    delimiter: str,
    sheet: str | int | None,
) -> tuple[list[str], Iterator[Row]]:
    """Open `path` and return (header, rows); raises InputError for whole-file problems.

    `expected` are the columns the mapping uses: a file lacking any of them is refused
    before a single row is read, so a wrong mapping never half-loads.
    """
    if not path.is_file():
        raise InputError(str(path), "file not found")
    if path.stat().st_size == 0:
        raise InputError(
            str(path), f"file is empty; expected a {fmt} extract with columns {expected}"
        )
    if fmt == "csv":
        header, rows = _read_csv(path, encoding, delimiter)
    elif fmt == "jsonl":
        header, rows = _read_jsonl(path, encoding)
    elif fmt == "xlsx":
        header, rows = _read_xlsx(path, sheet)
    elif fmt == "parquet":
        header, rows = _read_parquet(path)
    else:
        raise InputError(str(path), f"unknown format {fmt!r}")
    if fmt != "jsonl":
        missing = [c for c in expected if c not in header]
        if missing:
            hint = f" (declared encoding {encoding}: is it right?)" if fmt == "csv" else ""
            raise InputError(str(path), f"missing column(s) {missing}; found {header}{hint}")
    return header, rows


def _resolve_encoding(path: Path, encoding: str) -> str:
    """Pick the codec; `detect` takes whichever of UTF-8 and GB18030 decodes more lines.

    Chinese extracts come in one of these two families (GBK is a subset of GB18030), so
    counting undecodable lines in a sample is both reliable and tolerant of a damaged
    line, where a statistical detector can be thrown off by one bad byte sequence.
    """
    if encoding != "detect":
        return CODECS[encoding]
    sample = path.read_bytes()[:DETECT_SAMPLE_BYTES]
    lines = sample.split(b"\n")
    if len(sample) == DETECT_SAMPLE_BYTES:
        lines.pop()  # the sample may end inside a character

    def failures(codec: str) -> int:
        bad = 0
        for line in lines:
            try:
                line.decode(codec)
            except UnicodeDecodeError:
                bad += 1
        return bad

    return "utf-8" if failures("utf-8") <= failures("gb18030") else "gb18030"


def _check_not_utf8_in_disguise(path: Path, data: bytes, codec: str) -> None:
    """GBK decodes most UTF-8 bytes into mojibake without an error; catch that case."""
    if codec == "utf-8":
        return
    sample = data[:DETECT_SAMPLE_BYTES]
    if not any(b >= 0x80 for b in sample):
        return
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(sample) - 4:
            return
    raise InputError(
        str(path),
        f"declared encoding {codec} but the file is valid UTF-8 text; set `encoding: utf-8`",
    )


def _decoded_lines(path: Path, encoding: str) -> Iterator[tuple[int, str | None, bytes]]:
    """Yield (line number, text or None if undecodable, raw bytes) for every physical line."""
    codec = _resolve_encoding(path, encoding)
    data = path.read_bytes()
    _check_not_utf8_in_disguise(path, data, codec)
    if codec == "utf-8" and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    failures = 0
    for number, raw in enumerate(lines, start=1):
        raw = raw.removesuffix(b"\r")
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError:
            failures += 1
            if number == 1:
                raise InputError(
                    str(path), f"header line does not decode as {codec}; check `encoding:`"
                ) from None
            text = None
        yield number, text, raw
    if lines and failures > max(1, WRONG_ENCODING_SHARE * len(lines)):
        raise InputError(
            str(path),
            f"{failures} of {len(lines)} lines do not decode as {codec}; "
            "the file is in another encoding: set `encoding:` (utf-8, gbk, gb18030 or detect)",
        )


def _undecodable(number: int, raw: bytes) -> BadRow:
    return BadRow(
        number,
        "undecodable",
        "bytes invalid in the declared encoding",
        raw.decode("utf-8", "backslashreplace")[:500],
    )


def _read_csv(path: Path, encoding: str, delimiter: str) -> tuple[list[str], Iterator[Row]]:
    lines = _decoded_lines(path, encoding)
    first = next(lines, None)
    if first is None or not (first[1] or "").strip():
        raise InputError(str(path), "file has no header line")
    header = [h.strip() for h in next(csv.reader([first[1]], delimiter=delimiter))]
    return header, _csv_rows(path, lines, header, delimiter)


def _csv_rows(
    path: Path, lines: Iterator[tuple[int, str | None, bytes]], header: list[str], delimiter: str
) -> Iterator[Row]:
    bad: list[BadRow] = []
    start = [0]

    def good_lines() -> Iterator[str]:
        for number, text, raw in lines:
            if text is None:
                bad.append(_undecodable(number, raw))
                continue
            start.append(number)
            yield text + "\n"

    width = len(header)
    reader = csv.reader(good_lines(), delimiter=delimiter)
    while True:
        consumed = len(start)
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            yield BadRow(start[-1], "wrong_column_count", f"malformed CSV: {err}", "")
            continue
        line = start[consumed] if consumed < len(start) else start[-1]
        yield from bad
        bad.clear()
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue
        if len(fields) != width:
            yield BadRow(
                line,
                "wrong_column_count",
                f"{len(fields)} fields, header has {width}",
                delimiter.join(fields)[:500],
            )
            continue
        yield RawRow(line, dict(zip(header, fields, strict=True)))
    yield from bad


def _read_jsonl(path: Path, encoding: str) -> tuple[list[str], Iterator[Row]]:
    def rows() -> Iterator[Row]:
        for number, text, raw in _decoded_lines(path, encoding):
            if text is None:
                yield _undecodable(number, raw)
                continue
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as err:
                yield BadRow(number, "unparseable_json", str(err), text[:500])
                continue
            if not isinstance(obj, dict):
                yield BadRow(number, "unparseable_json", "line is not a JSON object", text[:500])
                continue
            yield RawRow(number, obj)

    return [], rows()


def _read_xlsx(path: Path, sheet: str | int | None) -> tuple[list[str], Iterator[Row]]:
    """Read a sheet with calamine (Rust): ten times openpyxl's speed on large extracts."""
    from python_calamine import CalamineWorkbook

    try:
        book = CalamineWorkbook.from_path(str(path))
    except Exception as err:  # calamine raises several unrelated types for a bad file
        raise InputError(str(path), f"not a readable xlsx workbook: {err}") from None
    names = book.sheet_names
    if sheet is None:
        sheet = 0
    if isinstance(sheet, int) and not 0 <= sheet < len(names):
        raise InputError(str(path), f"sheet index {sheet} absent; it has {names}")
    if isinstance(sheet, str) and sheet not in names:
        raise InputError(str(path), f"sheet {sheet!r} absent; it has {names}")
    ws = book.get_sheet_by_index(sheet) if isinstance(sheet, int) else book.get_sheet_by_name(sheet)
    cells = ws.to_python(skip_empty_area=False)
    if not cells or all(c in (None, "") for c in cells[0]):
        raise InputError(str(path), "sheet has no header row")
    header = [str(c).strip() if c is not None else "" for c in cells[0]]
    while header and header[-1] == "":
        header.pop()
    width = len(header)

    def rows() -> Iterator[Row]:
        for number, values in enumerate(cells[1:], start=2):
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                continue
            extra = [v for v in values[width:] if v not in (None, "")]
            if extra:
                yield BadRow(
                    number,
                    "wrong_column_count",
                    f"{width + len(extra)} cells, header has {width}",
                    str(values)[:500],
                )
                continue
            padded = list(values[:width]) + [None] * (width - len(values))
            yield RawRow(number, dict(zip(header, padded, strict=True)))

    return header, rows()


def _read_parquet(path: Path) -> tuple[list[str], Iterator[Row]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises ArrowInvalid/OSError for a damaged file
        raise InputError(str(path), f"not a readable parquet file: {err}") from None
    header = list(pf.schema_arrow.names)

    def rows() -> Iterator[Row]:
        number = 0
        for batch in pf.iter_batches(batch_size=65536):
            for values in batch.to_pylist():
                number += 1
                yield RawRow(number, values)

    return header, rows()
