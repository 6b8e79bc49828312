"""Printing for the benchmarks: progress lines and Markdown tables."""

from __future__ import annotations


def log(message: str) -> None:
    print(message, flush=True)


def table(header, rows) -> None:
    """A Markdown table, columns padded to fit."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    log("| " + " | ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    log("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        log("| " + " | ".join(str(c).rjust(w) if i else str(c).ljust(w)
                              for i, (c, w) in enumerate(zip(row, widths, strict=True))) + " |")
