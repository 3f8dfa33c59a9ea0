"""Text a spreadsheet must not run: paycli's CSV (the listings, the report) is opened in one.

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by Excel and
LibreOffice as a formula (OWASP "CSV injection"): such text from outside (a customer named
``=HYPERLINK(...)``) is written with a ``'`` before it.
"""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """A text cell a spreadsheet will not run: ``=HYPERLINK(...)`` becomes ``'=HYPERLINK(...)``."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text
