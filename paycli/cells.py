"""Text a spreadsheet must not run, nor a terminal obey: paycli's CSV (the listings, the report) is
opened in a spreadsheet, and printed to a terminal (``paycli list --format csv``, ``--out -``).

One rule for every CSV cell of text from outside (a customer's name, a forged callback's reference, an
operator's note), following OWASP's "CSV injection" guidance:

- a cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by Excel and
  LibreOffice as a formula: it is written with a ``'`` before it (``'=HYPERLINK(...)``), and so is
  one whose first character after leading blanks is one of them (`` =1+1``: spreadsheets drop the
  blanks before they look);
- a control character (ESC, NUL, a backspace, a carriage return not before a line feed, DEL, the C1
  controls) or a Unicode format character (the bidi override U+202E, a zero-width space) is written as
  its escape (``\\x1b``, ``\\r``, ``\\u202e``), as a table writes it: a terminal would obey it
  (retitle the window, clear the screen, write over the line or reverse it), and a cell has no use for
  it. A line break (``\\r\\n`` written ``\\n``) and a tab stay: CSV's quoting carries them.

Numbers paycli writes itself (an amount, -12.50) are not text and are never passed here. JSON keeps
every value exactly.
"""

from paycli.gateways.base import one_line

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_FORMULA = frozenset(FORMULA_STARTS)
# what str.isspace() takes: a cell beginning with one is looked at further
_BLANKS = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B)))
_BLANKS += "\u2028\u2029\u202f\u205f\u3000"
_LOOK_FURTHER = _FORMULA | frozenset(_BLANKS)


def neutralise(text: str) -> str:
    """A text cell a spreadsheet will not run and a terminal will not obey: ``=HYPERLINK(...)`` becomes
    ``'=HYPERLINK(...)``, an ESC ``\\x1b``."""
    if text[:1] not in _LOOK_FURTHER and text.isprintable():  # the common case, "" too
        return text
    if not text.isprintable():
        text = one_line(text.replace("\r\n", "\n"), keep="\n\t")  # a lone \r rewrites a terminal's line
    if text[0] in _FORMULA or text.lstrip()[:1] in _FORMULA:
        return "'" + text
    return text


def cell_text(value: str | None) -> str | None:
    """``neutralise`` for a cell that may be empty (None stays None: an empty cell)."""
    if value is None or (value[:1] not in _LOOK_FURTHER and value.isprintable()):
        return value  # neutralise's common case, without a call: a report has millions of cells
    return neutralise(value)
