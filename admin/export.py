"""The abandoned-carts spreadsheet: CSV, written a batch at a time."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator

from tracking.metrics import minor_units

ABANDONED_HEADER = (
    "last_seen_at_utc", "abandoned_at_utc", "stage", "left_at", "name", "email", "order",
    "cart", "cart_value", "currency", "source", "device", "started_at_utc", "journey_id",
    "journey_url",
)
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP's CSV
# injection): a shopper's name typed as "=HYPERLINK(...)" is written as text, '=HYPERLINK.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# And a spreadsheet that splits on another separator than the file's (";" in much of
# Europe, or a tab, or a line break) starts a cell after it, quotes or not: "Mallory;=1+1" becomes
# "Mallory;'=1+1".
_AFTER_A_SEPARATOR = re.compile(r'([,;\t\r\n]["\s]*)([=+\-@])')


def _cell(value) -> str:
    if value is None:
        return ""
    text = _AFTER_A_SEPARATOR.sub(r"\1'\2", str(value))
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _money(minor: int, currency: str) -> str:
    units = minor_units(currency)
    return f"{minor / units:.{len(str(units)) - 1}f}"


def abandoned_rows(journeys: Iterable[dict], currency: str,
                   journey_url: Callable[[str], str]) -> Iterator[tuple]:
    """The rows of ABANDONED_HEADER, from queries.abandoned_journeys."""
    for j in journeys:
        yield (
            j["last_seen_at"], j["abandoned_at"], j["abandoned_stage"], j.get("left_at_label"),
            j["name"], j["email"], j["order_number"],
            "; ".join(f"{item['quantity']} x {item['title']}" for item in j["cart"]),
            _money(j["cart_value"], currency), currency, j["source"], j["device"],
            j["started_at"], j["id"], journey_url(j["id"]),
        )


def csv_text(header: tuple, rows: Iterable[tuple], every: int = 500) -> Iterator[str]:
    """RFC 4180 CSV, every cell quoted, a chunk every ``every`` rows, led by a byte-order
    mark: Excel then reads the UTF-8 names as UTF-8 (Google Sheets and Numbers ignore it)."""
    buffer = io.StringIO()
    # Every cell quoted: a spreadsheet that splits on ";" (Excel in much of Europe) would
    # otherwise start a cell at "=" inside a value such as "x;=cmd()".
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)
    buffer.write("\ufeff")
    writer.writerow(header)
    for n, row in enumerate(rows, 1):
        writer.writerow([_cell(v) for v in row])
        if n % every == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
