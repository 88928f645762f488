"""Readers: turn one extract file into rows with their physical line numbers.

Each reader yields `RawRow` for a row it could read and `BadRow` for a row it could not
(undecodable bytes, wrong column count, a quote that never closes, broken JSON), so the
caller can quarantine the latter instead of losing it. Every physical line (CSV, JSONL)
or sheet row (xlsx) is accounted for in `FileStats`: it is part of exactly one row or
blank, so the manifest reconciles against the file, not against what a parser returned.
Problems with the whole file (missing, empty, wrong encoding, missing columns) raise
`InputError` before any row is yielded.
"""

from __future__ import annotations

import csv
import json
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.errors import InputError
from loaders.identifiers import mask_ids_in_text

# A declared encoding that fails on more than this share of lines is the wrong encoding,
# not a few damaged lines.
WRONG_ENCODING_SHARE = 0.05
DETECT_SAMPLE_BYTES = 1 << 20
CODECS = {"utf-8": "utf-8", "gbk": "gbk", "gb18030": "gb18030"}
# A quoted CSV value may hold line breaks (an address typed over two lines); one that
# spans more physical lines than this is a quote that never closed, not a value.
MAX_RECORD_LINES = 20
RAW_SHOWN_CHARS = 500
# `sheet: "*"` reads every worksheet of a workbook; Excel forbids * in a sheet's name.
EVERY_SHEET = "*"
SheetChoice = str | int | list[str | int] | None


@dataclass(slots=True)
class RawRow:
    line: int
    values: dict[str, object]
    span: int = 1  # physical lines (CSV) the row was read from


@dataclass(slots=True)
class BadRow:
    line: int
    reason: str
    detail: str
    raw: str
    span: int = 1


Row = RawRow | BadRow


@dataclass(slots=True)
class FileStats:
    """The physical size of one file, filled in as its rows are read.

    `units` are data lines (CSV, JSONL: the header excluded) or data rows (xlsx: the
    header row excluded; parquet: rows). Once the rows are exhausted, every unit is in
    exactly one yielded row (`span` each) or in `blank`.
    """

    units: int = 0
    blank: int = 0
    multiline_rows: int = 0
    unit_name: str = "lines"
    finished: bool = field(default=False)


def shown_raw(text: str) -> str:
    """A raw line as quarantine may keep it: cut short, every ID-like number masked."""
    return mask_ids_in_text(text[: RAW_SHOWN_CHARS + 40])[:RAW_SHOWN_CHARS]


def read_rows(
    path: Path,
    fmt: str,
    encoding: str,
    expected: list[str],
    delimiter: str,
    sheet: str | int | None,
) -> tuple[list[str], Iterator[Row], FileStats]:
    """Open `path` and return (header, rows, stats); raises InputError for whole-file problems.

    `expected` are the columns the mapping uses: a file lacking any of them is refused
    before a single row is read, so a wrong mapping never half-loads. `stats` is complete
    once `rows` is exhausted.
    """
    if not path.is_file():
        raise InputError(str(path), "file not found")
    if path.stat().st_size == 0:
        raise InputError(
            str(path), f"file is empty; expected a {fmt} extract with columns {expected}"
        )
    stats = FileStats()
    if fmt == "csv":
        header, rows = _read_csv(path, encoding, delimiter, stats)
    elif fmt == "jsonl":
        header, rows = _read_jsonl(path, encoding, stats)
    elif fmt == "xlsx":
        stats.unit_name = "rows"
        header, rows = _read_xlsx(path, sheet, stats)
    elif fmt == "parquet":
        stats.unit_name = "rows"
        header, rows = _read_parquet(path, stats)
    else:
        raise InputError(str(path), f"unknown format {fmt!r}")
    if fmt != "jsonl":
        missing = [c for c in expected if c not in header]
        if missing:
            hint = f" (declared encoding {encoding}: is it right?)" if fmt == "csv" else ""
            where = f"{path}[{sheet}]" if fmt == "xlsx" and sheet is not None else str(path)
            raise InputError(where, f"missing column(s) {missing}; found {header}{hint}")
    return header, _finishing(rows, stats), stats


def _finishing(rows: Iterator[Row], stats: FileStats) -> Iterator[Row]:
    yield from rows
    stats.finished = True


def split_lines(data: bytes) -> list[bytes]:
    """Physical lines of a text file ending in LF, CRLF, or CR alone (old Mac exports).

    A CR counts as a line break only in a file with no LF at all, so a stray CR inside a
    value of an LF file is kept as data rather than cutting its record in two. Neither
    byte can occur inside a UTF-8 or GB18030 multi-byte character.
    """
    lines = data.split(b"\n") if b"\n" in data else data.split(b"\r")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


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
    lines = split_lines(data)
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
        shown_raw(raw.decode("utf-8", "backslashreplace")),
    )


def _read_csv(
    path: Path, encoding: str, delimiter: str, stats: FileStats
) -> tuple[list[str], Iterator[Row]]:
    lines = _decoded_lines(path, encoding)
    first = next(lines, None)
    if first is None or not (first[1] or "").strip():
        raise InputError(str(path), "file has no header line")
    header = [h.strip() for h in next(csv.reader([first[1] or ""], delimiter=delimiter))]
    return header, _csv_rows(lines, header, delimiter, stats)


class _RecordTooLong(Exception):
    """A record kept consuming lines past MAX_RECORD_LINES: its quote never closed."""


def _csv_rows(
    lines: Iterator[tuple[int, str | None, bytes]],
    header: list[str],
    delimiter: str,
    stats: FileStats,
) -> Iterator[Row]:
    """Rows of a CSV body, resynchronising after a quote that does not close.

    The csv module folds every line after an unbalanced quote into one value. Here a
    record read from several lines is kept only if it has the header's width; otherwise
    its first line is quarantined alone ("unbalanced_quote") and reading restarts on the
    next line, so one stray quote costs one row, not the rest of the file.
    """
    width = len(header)
    pending: deque[tuple[int, str]] = deque()
    consumed: list[tuple[int, str]] = []
    undecodable: list[BadRow] = []

    def feed() -> Iterator[str]:
        while True:
            if pending:
                item = pending.popleft()
            else:
                nxt = next(lines, None)
                if nxt is None:
                    return
                number, text, raw = nxt
                stats.units += 1
                if text is None:
                    undecodable.append(_undecodable(number, raw))
                    continue
                item = (number, text)
            consumed.append(item)
            if len(consumed) > MAX_RECORD_LINES:
                raise _RecordTooLong
            yield item[1] + "\n"

    reader = csv.reader(feed(), delimiter=delimiter)
    while True:
        consumed.clear()
        error: Exception | None = None
        try:
            fields = next(reader)
        except StopIteration:
            fields = None
        except (csv.Error, _RecordTooLong) as err:
            fields, error = None, err
            reader = csv.reader(feed(), delimiter=delimiter)
        yield from undecodable
        undecodable.clear()
        if not consumed:
            if error is None:
                break
            continue
        first_line, first_text = consumed[0]
        span = len(consumed)
        if fields is not None and (span == 1 or len(fields) == width):
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                stats.blank += span
            elif len(fields) != width:
                yield BadRow(
                    first_line,
                    "wrong_column_count",
                    f"{len(fields)} fields, header has {width}",
                    shown_raw(first_text),
                )
            else:
                stats.multiline_rows += span > 1
                yield RawRow(first_line, dict(zip(header, fields, strict=True)), span)
            continue
        if span == 1:
            detail = f"malformed CSV: {error}"
            yield BadRow(first_line, "malformed_csv", detail, shown_raw(first_text))
            continue
        yield BadRow(
            first_line,
            "unbalanced_quote",
            f"a quote opened on line {first_line} does not close on it (the next "
            f"{span - 1} line(s) would have joined this row); read again from line "
            f"{consumed[1][0]}",
            shown_raw(first_text),
        )
        pending.extendleft(reversed(consumed[1:]))
        if fields is not None:
            reader = csv.reader(feed(), delimiter=delimiter)


def _read_jsonl(path: Path, encoding: str, stats: FileStats) -> tuple[list[str], Iterator[Row]]:
    def rows() -> Iterator[Row]:
        for number, text, raw in _decoded_lines(path, encoding):
            stats.units += 1
            if text is None:
                yield _undecodable(number, raw)
                continue
            if not text.strip():
                stats.blank += 1
                continue
            try:
                obj = json.loads(text)
            except (json.JSONDecodeError, RecursionError) as err:
                detail = str(err) if isinstance(err, json.JSONDecodeError) else "nested too deep"
                yield BadRow(number, "unparseable_json", detail, shown_raw(text))
                continue
            if not isinstance(obj, dict):
                yield BadRow(
                    number, "unparseable_json", "line is not a JSON object", shown_raw(text)
                )
                continue
            yield RawRow(number, obj)

    return [], rows()


def _open_book(path: Path) -> Any:
    from python_calamine import CalamineWorkbook

    try:
        return CalamineWorkbook.from_path(str(path))
    except Exception as err:  # calamine raises several unrelated types for a bad file
        raise InputError(str(path), f"not a readable xlsx workbook: {err}") from None


def several_sheets(sheet: SheetChoice) -> bool:
    return isinstance(sheet, list) or sheet == EVERY_SHEET


def xlsx_sheets(path: Path, sheet: SheetChoice) -> tuple[list[str | int | None], dict[str, str]]:
    """The sheets of one workbook a source reads, and those `*` passes over with why.

    `*` takes every worksheet holding a cell: an agency that splits a register by year
    adds a sheet a year. Empty sheets (Excel's spare Sheet2) and chart sheets hold no
    rows and are passed over by name, so the manifest shows them; a hidden worksheet is
    read like any other, and fails loudly if it lacks the mapped columns.
    """
    if not several_sheets(sheet):
        return [sheet], {}  # type: ignore[list-item]
    book = _open_book(path)
    chosen: list[str | int | None] = []
    if isinstance(sheet, list):
        chosen = [_sheet_name(path, book.sheet_names, s) for s in sheet]
        if len(set(chosen)) != len(chosen):
            raise InputError(str(path), f"sheets {sheet} name the same sheet twice")
        return chosen, {}
    from python_calamine import SheetTypeEnum

    passed_over: dict[str, str] = {}
    for meta in book.sheets_metadata:
        if meta.typ != SheetTypeEnum.WorkSheet:
            passed_over[meta.name] = "not a worksheet"
        elif book.get_sheet_by_name(meta.name).height == 0:
            passed_over[meta.name] = "empty sheet"
        else:
            chosen.append(meta.name)
    if not chosen:
        raise InputError(str(path), f"no sheet holds data; sheets {book.sheet_names}")
    return chosen, passed_over


def _sheet_name(path: Path, names: list[str], sheet: str | int | None) -> str:
    """The sheet `sheet` means. YAML reads an unquoted 2021 as a number: a number that
    can only be a name is that name, and one that could be an index or another sheet's
    name is refused rather than guessed."""
    if sheet is None:
        return names[0]
    if isinstance(sheet, str):
        if sheet not in names:
            raise InputError(str(path), f"sheet {sheet!r} absent; it has {names}")
        return sheet
    indexed = 0 <= sheet < len(names)
    if str(sheet) in names:
        if indexed and names[sheet] != str(sheet):
            raise InputError(
                str(path),
                f"sheet {sheet} is both the index of sheet {names[sheet]!r} and the name of "
                f"another; write '{sheet}' in quotes for the name",
            )
        return str(sheet)
    if not indexed:
        raise InputError(str(path), f"sheet index {sheet} absent; it has {names}")
    return names[sheet]


def _read_xlsx(
    path: Path, sheet: str | int | None, stats: FileStats
) -> tuple[list[str], Iterator[Row]]:
    """Read a sheet with calamine (Rust): ten times openpyxl's speed on large extracts."""
    book = _open_book(path)
    ws = book.get_sheet_by_name(_sheet_name(path, book.sheet_names, sheet))
    cells = ws.to_python(skip_empty_area=False)
    if not cells or all(c in (None, "") for c in cells[0]):
        raise InputError(f"{path}[{ws.name}]", "sheet has no header row")
    header = [str(c).strip() if c is not None else "" for c in cells[0]]
    while header and header[-1] == "":
        header.pop()
    width = len(header)

    def rows() -> Iterator[Row]:
        for number, values in enumerate(cells[1:], start=2):
            stats.units += 1
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                stats.blank += 1
                continue
            extra = [v for v in values[width:] if v not in (None, "")]
            if extra:
                yield BadRow(
                    number,
                    "wrong_column_count",
                    f"{width + len(extra)} cells, header has {width}",
                    shown_raw(str(values)),
                )
                continue
            padded = list(values[:width]) + [None] * (width - len(values))
            yield RawRow(number, dict(zip(header, padded, strict=True)))

    return header, rows()


def _read_parquet(path: Path, stats: FileStats) -> tuple[list[str], Iterator[Row]]:
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
                stats.units += 1
                yield RawRow(number, values)

    return header, rows()
