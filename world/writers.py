"""Write extract files exactly as agencies ship them, byte for byte reproducible.

CSV is written through pandas (a field may be quoted for its comma, as "XINGHE FOOD CO.,
LTD.", but none holds a quote or a line break, which the writer checks, so one physical
line is one record); XLSX is written directly as OOXML with inline strings,
far faster than a cell-by-cell library and with fixed zip timestamps so the same world
gives the same bytes. Deliberately broken lines are applied as patches by position.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

# A patch turns one written line (text, without terminator) into its broken form.
Patch = Callable[[str], str | bytes]
XLSX_MAX_ROWS = 1_048_575  # data rows per sheet: 1,048,576 minus the header row
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def write_csv(
    path: Path, frame: pd.DataFrame, encoding: str, patches: dict[int, Patch], line_end: str = "\n"
) -> None:
    """Header plus rows; `patches` maps a 0-based data-row position to its patch."""
    text = frame.to_csv(index=False, lineterminator=line_end)
    # A quote in a field is written doubled; a line break makes one more line.
    if '""' in text or len(text.splitlines()) != len(frame) + 1:
        raise ValueError(
            f"{path.name}: a field holds a quote or a line break; the world never writes one"
        )
    lines = text.split(line_end)
    sep = line_end.encode(encoding)
    out = bytearray()
    done = 0
    for line in sorted(pos + 1 for pos in patches):  # + 1: the header is line 0 here
        if line > done:
            out += line_end.join(lines[done:line]).encode(encoding) + sep
        patched = patches[line - 1](lines[line])
        out += (patched if isinstance(patched, bytes) else patched.encode(encoding)) + sep
        done = line + 1
    out += line_end.join(lines[done:]).encode(encoding)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out))


def write_jsonl(path: Path, records: list[dict], patches: dict[int, Patch]) -> None:
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    for pos, patch in patches.items():
        patched = patch(lines[pos])
        lines[pos] = patched.decode("utf-8") if isinstance(patched, bytes) else patched
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def write_parquet(path: Path, frame: pd.DataFrame, schema: pa.Schema) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    pq.write_table(table.replace_schema_metadata(None), path, compression="zstd")


# -- xlsx ---------------------------------------------------------------------------------

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>'
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="{sheet}" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/styles" Target="styles.xml"/></Relationships>'
)
# Style 1 is the built-in date format 14, so openpyxl and Excel read those cells as dates.
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
    '</cellStyleXfs><cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" '
    'xfId="0"/><xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" '
    'applyNumberFormat="1"/></cellXfs><cellStyles count="1"><cellStyle name="Normal" '
    'xfId="0" builtinId="0"/></cellStyles></styleSheet>'
)
_SHEET_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<dimension ref="A1:{last}"/><sheetData>'
)
_SHEET_TAIL = "</sheetData></worksheet>"


class XlsxCells:
    """One column's cells. kind "text": inline strings; "int": numbers; "date": numbers
    shown as dates (Excel serials); "date_or_text": ints are date cells, str are text."""

    def __init__(self, kind: str, values: np.ndarray) -> None:
        self.kind = kind
        self.values = values


def _fragments(letter: str, rows: np.ndarray, col: XlsxCells) -> list[str]:
    """XML for one column's cells; blank cells ("" or None) are omitted."""
    out = []
    values = col.values.tolist()
    text = "".join(v for v in values if isinstance(v, str))
    quote = escape if ("&" in text or "<" in text or ">" in text) else str
    for r, v in zip(rows.tolist(), values, strict=True):
        if v is None or v == "":
            out.append("")
        elif isinstance(v, str) and col.kind != "int":
            out.append(f'<c r="{letter}{r}" t="inlineStr"><is><t>{quote(v)}</t></is></c>')
        elif col.kind == "text":
            out.append(f'<c r="{letter}{r}" t="inlineStr"><is><t>{v}</t></is></c>')
        else:
            style = "" if col.kind == "int" else ' s="1"'
            out.append(f'<c r="{letter}{r}"{style}><v>{int(v)}</v></c>')
    return out


def write_xlsx(
    path: Path, header: list[str], columns: list[XlsxCells], sheet: str, chunk: int = 200_000
) -> None:
    """One workbook with one sheet; header in row 1, data from row 2."""
    n = columns[0].values.size if columns else 0
    letters = [chr(ord("A") + i) for i in range(len(header))]
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, text in (
            ("[Content_Types].xml", _CONTENT_TYPES),
            ("_rels/.rels", _RELS),
            ("xl/workbook.xml", _WORKBOOK.replace("{sheet}", escape(sheet))),
            ("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS),
            ("xl/styles.xml", _STYLES),
        ):
            zf.writestr(zipfile.ZipInfo(name, _ZIP_TIME), text)
        info = zipfile.ZipInfo("xl/worksheets/sheet1.xml", _ZIP_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as sheet_file:
            last = f"{letters[-1]}{n + 1}"
            head = "".join(
                f'<c r="{a}1" t="inlineStr"><is><t>{escape(h)}</t></is></c>'
                for a, h in zip(letters, header, strict=True)
            )
            sheet_file.write(
                (_SHEET_HEAD.replace("{last}", last) + f'<row r="1">{head}</row>').encode("utf-8")
            )
            for lo in range(0, n, chunk):
                hi = min(lo + chunk, n)
                rows = np.arange(lo + 2, hi + 2)
                parts = [
                    _fragments(a, rows, XlsxCells(c.kind, c.values[lo:hi]))
                    for a, c in zip(letters, columns, strict=True)
                ]
                body = "".join(
                    f'<row r="{r}">{"".join(cells)}</row>'
                    for r, *cells in zip(rows.tolist(), *parts, strict=True)
                )
                sheet_file.write(body.encode("utf-8"))
            sheet_file.write(_SHEET_TAIL.encode("utf-8"))
