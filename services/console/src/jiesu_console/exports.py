"""CSV and XLSX of any dashboard table, cell for cell what the page shows."""

from __future__ import annotations

import csv
import io
from urllib.parse import quote

import xlsxwriter

from jiesu_console.tables import Table


def to_csv(table: Table) -> bytes:
    """UTF-8 with a byte-order mark, so that Excel opens the Chinese right."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.columns)
    writer.writerows([cell.text for cell in row] for row in table.rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(table: Table, note: str) -> bytes:
    """One sheet: the header row in bold, the rows, and under them what the figures mean."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet(table.name[:31])
    bold = book.add_format({"bold": True, "bg_color": "#F2F6FC", "border": 1})
    for col, name in enumerate(table.columns):
        sheet.write_string(0, col, name, bold)
        sheet.set_column(col, col, max(10, min(40, len(name) * 2 + 4)))
    for r, row in enumerate(table.rows, start=1):
        for col, cell in enumerate(row):
            sheet.write_string(r, col, cell.text)
    sheet.write_string(len(table.rows) + 2, 0, note)
    sheet.freeze_panes(1, 0)
    book.close()
    return out.getvalue()


def disposition(ascii_name: str, name: str) -> str:
    """A Content-Disposition with a plain name and the Chinese one (RFC 6266 / 5987)."""
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
