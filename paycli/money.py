"""Money: ISO 4217 currencies and their exponents, and exact amount parsing and formatting.

An amount is an ``int`` of minor units (cents for EUR, yen for JPY, fils for KWD) plus a currency code
(design.md section 7). Text and ``Decimal`` inputs are converted with integer arithmetic only: a float never
takes part, so ``0.1 + 0.2`` rounding cannot reach a payment amount.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache
from types import MappingProxyType

from paycli.errors import RecordError

# ISO 4217 list one (the edition published 2026-01-01): every current alphabetic code with its "minor unit"
# column. Codes whose minor unit is "N.A." (XAU, XAG, XPD, XPT, XDR, XSU, XUA, XBA-XBD, XTS, XXX) are left
# out: they cannot be expressed as an integer number of minor units. Withdrawn codes (HRK, BGN, ANG, CUC,
# SLL, ZWL, ...) are left out too, so that a typo or a stale export is reported rather than accepted.
# fmt: off
CURRENCY_EXPONENTS: Mapping[str, int] = MappingProxyType(
    {
        "AED": 2, "AFN": 2, "ALL": 2, "AMD": 2, "AOA": 2, "ARS": 2, "AUD": 2, "AWG": 2, "AZN": 2,
        "BAM": 2, "BBD": 2, "BDT": 2, "BHD": 3, "BIF": 0, "BMD": 2, "BND": 2, "BOB": 2, "BOV": 2,
        "BRL": 2, "BSD": 2, "BTN": 2, "BWP": 2, "BYN": 2, "BZD": 2,
        "CAD": 2, "CDF": 2, "CHE": 2, "CHF": 2, "CHW": 2, "CLF": 4, "CLP": 0, "CNY": 2, "COP": 2,
        "COU": 2, "CRC": 2, "CUP": 2, "CVE": 2, "CZK": 2,
        "DJF": 0, "DKK": 2, "DOP": 2, "DZD": 2,
        "EGP": 2, "ERN": 2, "ETB": 2, "EUR": 2,
        "FJD": 2, "FKP": 2,
        "GBP": 2, "GEL": 2, "GHS": 2, "GIP": 2, "GMD": 2, "GNF": 0, "GTQ": 2, "GYD": 2,
        "HKD": 2, "HNL": 2, "HTG": 2, "HUF": 2,
        "IDR": 2, "ILS": 2, "INR": 2, "IQD": 3, "IRR": 2, "ISK": 0,
        "JMD": 2, "JOD": 3, "JPY": 0,
        "KES": 2, "KGS": 2, "KHR": 2, "KMF": 0, "KPW": 2, "KRW": 0, "KWD": 3, "KYD": 2, "KZT": 2,
        "LAK": 2, "LBP": 2, "LKR": 2, "LRD": 2, "LSL": 2, "LYD": 3,
        "MAD": 2, "MDL": 2, "MGA": 2, "MKD": 2, "MMK": 2, "MNT": 2, "MOP": 2, "MRU": 2, "MUR": 2,
        "MVR": 2, "MWK": 2, "MXN": 2, "MXV": 2, "MYR": 2, "MZN": 2,
        "NAD": 2, "NGN": 2, "NIO": 2, "NOK": 2, "NPR": 2, "NZD": 2,
        "OMR": 3,
        "PAB": 2, "PEN": 2, "PGK": 2, "PHP": 2, "PKR": 2, "PLN": 2, "PYG": 0,
        "QAR": 2,
        "RON": 2, "RSD": 2, "RUB": 2, "RWF": 0,
        "SAR": 2, "SBD": 2, "SCR": 2, "SDG": 2, "SEK": 2, "SGD": 2, "SHP": 2, "SLE": 2, "SOS": 2,
        "SRD": 2, "SSP": 2, "STN": 2, "SVC": 2, "SYP": 2, "SZL": 2,
        "THB": 2, "TJS": 2, "TMT": 2, "TND": 3, "TOP": 2, "TRY": 2, "TTD": 2, "TWD": 2, "TZS": 2,
        "UAH": 2, "UGX": 0, "USD": 2, "USN": 2, "UYI": 0, "UYU": 2, "UYW": 4, "UZS": 2,
        "VED": 2, "VES": 2, "VND": 0, "VUV": 0,
        "WST": 2,
        "XAD": 2, "XAF": 0, "XCD": 2, "XCG": 2, "XOF": 0, "XPF": 0,
        "YER": 2,
        "ZAR": 2, "ZMW": 2, "ZWG": 2,
    }
)
# fmt: on

# The largest amount a store column can hold (a signed 64-bit BIGINT). Checking it here also keeps a
# malicious "1e999999999" or a million-digit string from costing time or memory.
MAX_MINOR_UNITS = 2**63 - 1
_MAX_DIGITS = len(str(MAX_MINOR_UNITS))
_QUOTE_LIMIT = 60

# Characters that would make a number ambiguous if used as a decimal mark or a thousands separator.
_FORBIDDEN_MARKS = frozenset("0123456789+-")


def _quote(text: str) -> str:
    # A runaway field (a whole file in one cell) must not flood the one-line message shown to the user.
    return text if len(text) <= _QUOTE_LIMIT else text[: _QUOTE_LIMIT - 3] + "..."


def normalise_currency(code: str) -> str:
    """The ISO 4217 code of ``code`` (surrounding blanks removed, upper-cased), which must be a known one."""
    if not isinstance(code, str):
        raise TypeError(f"currency must be a str, not {type(code).__name__}")
    normalised = code.strip().upper()
    if not normalised:
        raise RecordError("currency is empty")
    if normalised not in CURRENCY_EXPONENTS:
        raise RecordError(f"unknown currency '{_quote(code)}'")
    return normalised


def exponent(currency: str) -> int:
    """How many minor-unit digits ``currency`` has: 2 for EUR, 0 for JPY, 3 for KWD."""
    return CURRENCY_EXPONENTS[normalise_currency(currency)]


@lru_cache(maxsize=32)
def _number_pattern(decimal_mark: str, thousands_separator: str | None) -> re.Pattern[str]:
    if len(decimal_mark) != 1 or decimal_mark in _FORBIDDEN_MARKS or decimal_mark.isspace():
        raise ValueError(f"decimal mark {decimal_mark!r} must be one character, not a digit, sign or blank")
    if thousands_separator is not None and (
        len(thousands_separator) != 1
        or thousands_separator in _FORBIDDEN_MARKS
        or thousands_separator == decimal_mark
    ):
        raise ValueError(
            f"thousands separator {thousands_separator!r} must be one character, not a digit or a sign, "
            "and differ from the decimal mark"
        )
    # [0-9], not \d: \d would let Arabic-Indic and other Unicode digits through.
    integer = "[0-9]+"
    if thousands_separator is not None:
        sep = re.escape(thousands_separator)
        integer = f"(?:[0-9]+|[0-9]{{1,3}}(?:{sep}[0-9]{{3}})+)"
    return re.compile(f"(?P<sign>-?)(?P<integer>{integer})(?:{re.escape(decimal_mark)}(?P<fraction>[0-9]+))?")


def _from_digits(
    original: str, code: str, places: int, integer: str, fraction: str, minor_units: bool
) -> int:
    """The minor units of the non-negative number ``integer.fraction`` (ASCII digit strings), exactly."""
    integer = integer.lstrip("0")
    fraction = fraction.rstrip("0")
    if minor_units and fraction:
        raise RecordError(f"amount '{_quote(original)}' is not a whole number of {code} minor units")
    if len(fraction) > places:
        raise RecordError(f"amount '{_quote(original)}' has more decimals than {code} allows ({places})")
    if len(integer) + places > _MAX_DIGITS:
        raise RecordError(f"amount '{_quote(original)}' is too large")
    minor = int(integer or "0") * 10**places + int(fraction.ljust(places, "0") or "0")
    if minor > MAX_MINOR_UNITS:
        raise RecordError(f"amount '{_quote(original)}' is too large")
    return minor


def _decimal_digits(value: Decimal, places: int) -> tuple[str, str]:
    """The integer and fraction digits of a finite ``Decimal``, without building absurdly long strings."""
    _, digit_tuple, exp = value.as_tuple()
    assert isinstance(exp, int)  # finite, so not the 'n', 'N' or 'F' of NaN and infinity
    digits = "".join(map(str, digit_tuple)).lstrip("0")
    if not digits:
        return "0", ""
    significant = digits.rstrip("0")
    exp += len(digits) - len(significant)
    # Stop at the first digit past the currency's decimals and before any huge exponent is expanded:
    # "1E-999999999" or "1E+999999999" must fail fast, not allocate a billion zeros.
    if exp < -places:
        return "0", "1" * (places + 1)
    if len(significant) + exp > _MAX_DIGITS:
        return "9" * (_MAX_DIGITS + 1), ""
    if exp >= 0:
        return significant + "0" * exp, ""
    point = len(significant) + exp
    if point > 0:
        return significant[:point], significant[point:]
    return "0", "0" * -point + significant


def parse_amount(
    value: str | int | Decimal,
    currency: str,
    *,
    decimal_mark: str = ".",
    thousands_separator: str | None = None,
    allow_negative: bool = False,
    minor_units: bool = False,
) -> int:
    """The integer number of minor units of ``currency`` that ``value`` stands for.

    ``value`` is major units ("129.90" EUR -> 12990) unless ``minor_units`` is set, when it is already a
    count of minor units ("4990" -> 4990), as Nexi and Stripe send it. Extra decimals are accepted only if
    they are zeros; a minus sign only with ``allow_negative``. Zero is a valid amount here: callers decide.
    Bad input raises ``RecordError`` quoting the original text; a bool or float raises ``TypeError``.
    """
    # bool is an int subclass and float a lossy number: both mean a caller bug, not bad input data.
    if isinstance(value, bool | float) or not isinstance(value, str | int | Decimal):
        raise TypeError(f"amount must be a str, int or Decimal, not {type(value).__name__}")
    code = normalise_currency(currency)
    places = 0 if minor_units else CURRENCY_EXPONENTS[code]

    if isinstance(value, int):
        if value.bit_length() > 128:
            # Too long to be worth quoting (and str() refuses ints past 4300 digits).
            raise RecordError("amount is too large")
        original = str(value)
        negative, integer, fraction = value < 0, str(abs(value)), ""
    elif isinstance(value, Decimal):
        original = str(value)
        if not value.is_finite():
            raise RecordError(f"amount '{_quote(original)}' is not a decimal number")
        negative = value.is_signed()
        integer, fraction = _decimal_digits(value, places)
    else:
        original = value
        text = value.strip()
        if not text:
            raise RecordError(f"amount '{_quote(original)}' is empty")
        match = _number_pattern(decimal_mark, thousands_separator).fullmatch(text)
        if match is None:
            raise RecordError(f"amount '{_quote(original)}' is not a decimal number")
        negative = bool(match["sign"])
        integer = match["integer"]
        if thousands_separator is not None:
            integer = integer.replace(thousands_separator, "")
        fraction = match["fraction"] or ""

    minor = _from_digits(original, code, places, integer, fraction, minor_units)
    # "-0.00" is zero, not a negative amount: refusing it would help nobody.
    if negative and minor:
        if not allow_negative:
            raise RecordError(f"amount '{_quote(original)}' is negative")
        return -minor
    return minor


def format_amount(minor: int, currency: str, *, decimal_mark: str = ".") -> str:
    """``minor`` units as a major-unit decimal string: "129.90", "-5.00", JPY "1200", KWD "1.250"."""
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise TypeError(f"minor units must be an int, not {type(minor).__name__}")
    places = exponent(currency)
    sign = "-" if minor < 0 else ""
    if places == 0:
        return f"{sign}{abs(minor)}"
    whole, rest = divmod(abs(minor), 10**places)
    return f"{sign}{whole}{decimal_mark}{rest:0{places}d}"


def to_decimal(minor: int, currency: str) -> Decimal:
    """``minor`` units as an exact ``Decimal`` of major units, with the currency's number of decimals."""
    # Built from text, not by division, so that no Decimal context precision can round it.
    return Decimal(format_amount(minor, currency))
