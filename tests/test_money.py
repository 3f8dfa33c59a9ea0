"""Specification of paycli.money: currency codes, exact amount parsing and formatting."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paycli.errors import RecordError
from paycli.money import (
    CURRENCY_EXPONENTS,
    MAX_MINOR_UNITS,
    exponent,
    format_amount,
    normalise_currency,
    parse_amount,
    to_decimal,
)

# --- the currency table ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "digits"),
    [
        ("EUR", 2), ("USD", 2), ("GBP", 2), ("CHF", 2), ("SEK", 2), ("CNY", 2), ("INR", 2), ("IDR", 2),
        ("JPY", 0), ("KRW", 0), ("CLP", 0), ("ISK", 0), ("VND", 0), ("XAF", 0), ("XOF", 0), ("XPF", 0),
        ("PYG", 0), ("UGX", 0), ("BIF", 0), ("UYI", 0),
        ("BHD", 3), ("IQD", 3), ("JOD", 3), ("KWD", 3), ("LYD", 3), ("OMR", 3), ("TND", 3),
        ("CLF", 4), ("UYW", 4),
        ("XCG", 2), ("ZWG", 2), ("SLE", 2), ("VED", 2), ("MRU", 2), ("STN", 2),
    ],
)  # fmt: skip
def test_currency_table_gives_the_iso_4217_minor_unit(code: str, digits: int) -> None:
    assert CURRENCY_EXPONENTS[code] == digits


def test_currency_table_holds_every_current_code_and_only_three_letter_upper_case_keys() -> None:
    assert 160 <= len(CURRENCY_EXPONENTS) <= 190
    assert all(len(code) == 3 and code.isascii() and code.isupper() for code in CURRENCY_EXPONENTS)
    assert set(CURRENCY_EXPONENTS.values()) == {0, 2, 3, 4}


@pytest.mark.parametrize("code", ["XAU", "XAG", "XPD", "XPT", "XDR", "XSU", "XUA", "XBA", "XTS", "XXX"])
def test_currency_table_leaves_out_codes_without_a_minor_unit(code: str) -> None:
    assert code not in CURRENCY_EXPONENTS


@pytest.mark.parametrize("code", ["HRK", "BGN", "ANG", "CUC", "SLL", "ZWL", "VEF", "MRO", "ITL", "DEM"])
def test_currency_table_leaves_out_withdrawn_codes(code: str) -> None:
    assert code not in CURRENCY_EXPONENTS


def test_currency_table_cannot_be_changed_by_a_caller() -> None:
    with pytest.raises(TypeError):
        CURRENCY_EXPONENTS["EUR"] = 3  # type: ignore[index]


# --- normalise_currency and exponent --------------------------------------------------------------------


@pytest.mark.parametrize("given_code", ["EUR", "eur", " Eur ", "\teur\n"])
def test_currency_code_is_stripped_and_upper_cased(given_code: str) -> None:
    assert normalise_currency(given_code) == "EUR"


@pytest.mark.parametrize("given_code", ["", "   "])
def test_empty_currency_is_refused(given_code: str) -> None:
    with pytest.raises(RecordError, match=r"^currency is empty$"):
        normalise_currency(given_code)


@pytest.mark.parametrize("given_code", ["XYZ", "EURO", "EU", "€", "XAU", "HRK", "E U R"])
def test_unknown_currency_is_refused_quoting_what_was_given(given_code: str) -> None:
    with pytest.raises(RecordError) as caught:
        normalise_currency(given_code)
    assert str(caught.value) == f"unknown currency '{given_code}'"


def test_currency_that_is_not_text_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        normalise_currency(978)  # type: ignore[arg-type]


def test_record_errors_are_value_errors_so_generic_handlers_catch_them() -> None:
    with pytest.raises(ValueError):
        normalise_currency("XYZ")


@pytest.mark.parametrize(("code", "digits"), [("EUR", 2), ("jpy", 0), (" kwd ", 3), ("CLF", 4)])
def test_exponent_is_the_number_of_minor_unit_digits(code: str, digits: int) -> None:
    assert exponent(code) == digits


def test_exponent_of_an_unknown_currency_is_refused() -> None:
    with pytest.raises(RecordError, match="unknown currency 'ABC'"):
        exponent("ABC")


# --- parse_amount: good text ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("129.90", "EUR", 12990),
        ("129.9", "EUR", 12990),
        ("129", "EUR", 12900),
        ("0.01", "EUR", 1),
        ("0", "EUR", 0),
        ("0.00", "EUR", 0),
        ("007.50", "EUR", 750),
        ("  129.90\n", "EUR", 12990),
        ("1200", "JPY", 1200),
        ("1.250", "KWD", 1250),
        ("1.25", "KWD", 1250),
        ("12.3456", "CLF", 123456),
        ("129.90", "eur", 12990),
    ],
)
def test_amount_in_major_units_becomes_minor_units(text: str, currency: str, minor: int) -> None:
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("129.900", "EUR", 12990),
        ("129.90000000", "EUR", 12990),
        ("1200.00", "JPY", 1200),
        ("1.2500", "KWD", 1250),
    ],
)
def test_extra_decimals_that_are_zeros_are_accepted(text: str, currency: str, minor: int) -> None:
    assert parse_amount(text, currency) == minor


def test_zero_is_a_valid_amount_because_callers_decide_what_it_means() -> None:
    assert parse_amount("0.00", "EUR") == 0


def test_amount_has_no_size_limit_below_a_64_bit_store_column() -> None:
    assert parse_amount("92233720368547758.07", "EUR") == MAX_MINOR_UNITS


# --- parse_amount: bad text -----------------------------------------------------------------------------


def test_amount_with_more_decimals_than_currency_allows_is_refused() -> None:
    with pytest.raises(RecordError) as caught:
        parse_amount("129.999", "EUR")
    assert str(caught.value) == "amount '129.999' has more decimals than EUR allows (2)"


@pytest.mark.parametrize(
    ("text", "currency", "message"),
    [
        ("12.5", "JPY", "amount '12.5' has more decimals than JPY allows (0)"),
        ("1.2501", "KWD", "amount '1.2501' has more decimals than KWD allows (3)"),
        ("0.001", "EUR", "amount '0.001' has more decimals than EUR allows (2)"),
        ("129.9001", "eur", "amount '129.9001' has more decimals than EUR allows (2)"),
    ],
)
def test_non_zero_digits_past_the_currency_exponent_are_refused(
    text: str, currency: str, message: str
) -> None:
    with pytest.raises(RecordError) as caught:
        parse_amount(text, currency)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "text",
    [
        "abc", "12a", "1e3", "1E3", "0x10", "12.", ".5", "1..2", "1.2.3", "+5", "--5", "- 5", "5-",
        "12,30", "12,3.4", "1,234.56", "1 234", "1_000", "€12", "12 EUR", "nan", "NaN", "inf", "Infinity",
        "\u0661\u0662\u0663", "\uff11\uff12", "\u00b2",
    ],
)  # fmt: skip
def test_text_that_is_not_a_plain_decimal_number_is_refused(text: str) -> None:
    with pytest.raises(RecordError) as caught:
        parse_amount(text, "EUR")
    assert str(caught.value) == f"amount '{text}' is not a decimal number"


@pytest.mark.parametrize("text", ["", "   ", "\t\n"])
def test_empty_amount_is_refused(text: str) -> None:
    with pytest.raises(RecordError) as caught:
        parse_amount(text, "EUR")
    assert str(caught.value) == f"amount '{text}' is empty"


def test_negative_amount_is_refused_unless_allowed() -> None:
    with pytest.raises(RecordError) as caught:
        parse_amount("-5.00", "EUR")
    assert str(caught.value) == "amount '-5.00' is negative"


@pytest.mark.parametrize(("text", "minor"), [("-5.00", -500), ("-0.01", -1), ("-1200", -120000), ("5", 500)])
def test_negative_amount_is_accepted_when_allowed(text: str, minor: int) -> None:
    assert parse_amount(text, "EUR", allow_negative=True) == minor


@pytest.mark.parametrize("text", ["-0", "-0.00"])
def test_minus_zero_is_zero_and_not_a_negative_amount(text: str) -> None:
    assert parse_amount(text, "EUR") == 0


def test_negative_amount_with_too_many_decimals_reports_the_decimals() -> None:
    with pytest.raises(RecordError, match="more decimals than EUR allows"):
        parse_amount("-5.001", "EUR", allow_negative=True)


def test_unknown_currency_is_reported_before_the_amount_is_looked_at() -> None:
    with pytest.raises(RecordError, match=r"^unknown currency 'XYZ'$"):
        parse_amount("abc", "XYZ")


@pytest.mark.parametrize("text", ["92233720368547758.08", "100000000000000000", "9" * 40, "9" * 100_000])
def test_amount_too_large_for_a_store_column_is_refused(text: str) -> None:
    with pytest.raises(RecordError, match=r"^amount '.*' is too large$"):
        parse_amount(text, "EUR")


def test_amount_with_a_huge_number_of_decimals_is_refused_quickly() -> None:
    with pytest.raises(RecordError, match="has more decimals than EUR allows"):
        parse_amount("0." + "0" * 100_000 + "1", "EUR")


def test_a_huge_value_is_quoted_shortened_in_the_message() -> None:
    with pytest.raises(RecordError) as caught:
        parse_amount("x" * 10_000, "EUR")
    assert len(str(caught.value)) < 100
    assert str(caught.value).startswith("amount 'xxx")
    assert "...'" in str(caught.value)


# --- parse_amount: separators ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "decimal_mark", "thousands_separator", "minor"),
    [
        ("1.234,56", ",", ".", 123456),
        ("1.234.567,89", ",", ".", 123456789),
        ("1234,56", ",", ".", 123456),
        ("234,56", ",", ".", 23456),
        ("12,5", ",", None, 1250),
        ("1,234.56", ".", ",", 123456),
        ("1 234,56", ",", " ", 123456),
        ("1\u00a0234,56", ",", "\u00a0", 123456),
        ("1'234.56", ".", "'", 123456),
        ("1,234", ".", ",", 123400),
    ],
)
def test_configured_marks_are_understood(
    text: str, decimal_mark: str, thousands_separator: str | None, minor: int
) -> None:
    assert (
        parse_amount(text, "EUR", decimal_mark=decimal_mark, thousands_separator=thousands_separator) == minor
    )


@pytest.mark.parametrize(
    "text",
    ["12.34,5", "1.23,45", "1.2345,67", ".234,56", "1.234.", "1..234,56", "1.234,5.6", "12.3", "1,234.56"],
)
def test_thousands_separator_is_accepted_only_in_groups_of_three(text: str) -> None:
    with pytest.raises(RecordError, match="is not a decimal number"):
        parse_amount(text, "EUR", decimal_mark=",", thousands_separator=".")


def test_comma_is_not_a_decimal_mark_unless_configured() -> None:
    with pytest.raises(RecordError, match=r"^amount '12,50' is not a decimal number$"):
        parse_amount("12,50", "EUR")


def test_thousands_separator_in_the_fraction_is_refused() -> None:
    with pytest.raises(RecordError, match="is not a decimal number"):
        parse_amount("1,234.567,8", "EUR", thousands_separator=",")


def test_negative_amount_with_separators_is_accepted_when_allowed() -> None:
    minor = parse_amount("-1.234,56", "EUR", decimal_mark=",", thousands_separator=".", allow_negative=True)
    assert minor == -123456


@pytest.mark.parametrize(
    ("decimal_mark", "thousands_separator"),
    [
        ("", None),
        (",,", None),
        ("1", None),
        ("-", None),
        (" ", None),
        (".", "."),
        (",", "1"),
        (".", "+"),
        (".", ""),
    ],
)
def test_nonsense_marks_are_a_programming_error(decimal_mark: str, thousands_separator: str | None) -> None:
    with pytest.raises(ValueError) as caught:
        parse_amount("1", "EUR", decimal_mark=decimal_mark, thousands_separator=thousands_separator)
    assert not isinstance(caught.value, RecordError)


# --- parse_amount: minor units --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "currency", "minor"),
    [
        ("4990", "EUR", 4990),
        ("0", "EUR", 0),
        (" 4990 ", "EUR", 4990),
        ("1200", "JPY", 1200),
        ("1250", "KWD", 1250),
    ],
)
def test_minor_units_text_is_taken_as_is(value: str, currency: str, minor: int) -> None:
    assert parse_amount(value, currency, minor_units=True) == minor


@pytest.mark.parametrize("value", [4990, Decimal("4990"), Decimal("4990.00"), Decimal("4.99E+3")])
def test_minor_units_numbers_are_taken_as_is(value: int | Decimal) -> None:
    assert parse_amount(value, "EUR", minor_units=True) == 4990


@pytest.mark.parametrize("value", ["49.90", "4990.5", Decimal("49.90"), Decimal("4990.1")])
def test_minor_units_with_a_fraction_are_refused(value: str | Decimal) -> None:
    with pytest.raises(RecordError) as caught:
        parse_amount(value, "EUR", minor_units=True)
    assert str(caught.value) == f"amount '{value}' is not a whole number of EUR minor units"


def test_minor_units_with_a_zero_fraction_are_accepted() -> None:
    assert parse_amount("4990.00", "EUR", minor_units=True) == 4990


def test_negative_minor_units_follow_the_same_rule() -> None:
    with pytest.raises(RecordError, match=r"^amount '-4990' is negative$"):
        parse_amount("-4990", "EUR", minor_units=True)
    assert parse_amount("-4990", "EUR", minor_units=True, allow_negative=True) == -4990
    assert parse_amount(-4990, "EUR", minor_units=True, allow_negative=True) == -4990


@pytest.mark.parametrize("value", ["abc", "49,90", "1e3"])
def test_minor_units_that_are_not_numbers_are_refused(value: str) -> None:
    with pytest.raises(RecordError, match="is not a decimal number"):
        parse_amount(value, "EUR", minor_units=True)


def test_minor_units_too_large_for_a_store_column_are_refused() -> None:
    assert parse_amount(str(MAX_MINOR_UNITS), "EUR", minor_units=True) == MAX_MINOR_UNITS
    with pytest.raises(RecordError, match="is too large"):
        parse_amount(str(MAX_MINOR_UNITS + 1), "EUR", minor_units=True)


# --- parse_amount: numbers from JSON --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "currency", "minor"),
    [
        (Decimal("129.90"), "EUR", 12990),
        (Decimal("129.9"), "EUR", 12990),
        (Decimal("129.900"), "EUR", 12990),
        (Decimal("1E+2"), "EUR", 10000),
        (Decimal("0"), "EUR", 0),
        (Decimal("-0"), "EUR", 0),
        (Decimal("0E-10"), "EUR", 0),
        (Decimal("0E+999999999"), "EUR", 0),
        (Decimal("1200"), "JPY", 1200),
        (Decimal("1.25"), "KWD", 1250),
        (129, "EUR", 12900),
        (0, "EUR", 0),
        (1200, "JPY", 1200),
    ],
)
def test_decimal_and_int_values_are_major_units(value: Decimal | int, currency: str, minor: int) -> None:
    assert parse_amount(value, currency) == minor


def test_decimal_with_more_decimals_than_currency_allows_is_refused() -> None:
    with pytest.raises(RecordError) as caught:
        parse_amount(Decimal("129.999"), "EUR")
    assert str(caught.value) == "amount '129.999' has more decimals than EUR allows (2)"


@pytest.mark.parametrize("value", [Decimal("-5.00"), -5])
def test_negative_numbers_are_refused_unless_allowed(value: Decimal | int) -> None:
    with pytest.raises(RecordError) as caught:
        parse_amount(value, "EUR")
    assert str(caught.value) == f"amount '{value}' is negative"
    assert parse_amount(value, "EUR", allow_negative=True) == -500


@pytest.mark.parametrize(
    "value", [Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("-Infinity")]
)
def test_decimal_that_is_not_a_finite_number_is_refused(value: Decimal) -> None:
    with pytest.raises(RecordError, match="is not a decimal number"):
        parse_amount(value, "EUR")


@pytest.mark.parametrize("value", [Decimal("1E+999999999"), Decimal("92233720368547758.08"), 10**17, 2**300])
def test_numbers_too_large_for_a_store_column_are_refused(value: Decimal | int) -> None:
    with pytest.raises(RecordError, match="is too large"):
        parse_amount(value, "EUR")


def test_decimal_with_a_tiny_exponent_is_refused_quickly() -> None:
    with pytest.raises(RecordError, match="has more decimals than EUR allows"):
        parse_amount(Decimal("1E-999999999"), "EUR")


def test_decimal_with_a_long_zero_tail_is_exact() -> None:
    assert parse_amount(Decimal("129.9" + "0" * 5000), "EUR") == 12990


def test_decimal_beyond_the_default_context_precision_is_not_rounded() -> None:
    # Over 28 significant digits: arithmetic in the default Decimal context would round these.
    assert parse_amount(Decimal("1234567890123456.78" + "0" * 30), "EUR") == 123456789012345678
    with pytest.raises(RecordError, match="more decimals"):
        parse_amount(Decimal("12345678901234567.890000000000000000000000001"), "EUR")


@pytest.mark.parametrize("value", [True, False, 129.9, 0.0, float("nan"), None, b"129.90", [129]])
def test_bool_float_and_other_types_are_a_programming_error(value: Any) -> None:
    with pytest.raises(TypeError):
        parse_amount(value, "EUR")


# --- format_amount and to_decimal ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (12990, "EUR", "129.90"),
        (-500, "EUR", "-5.00"),
        (-5, "EUR", "-0.05"),
        (0, "EUR", "0.00"),
        (1, "EUR", "0.01"),
        (1200, "JPY", "1200"),
        (-1200, "JPY", "-1200"),
        (0, "JPY", "0"),
        (1250, "KWD", "1.250"),
        (5, "KWD", "0.005"),
        (123456, "CLF", "12.3456"),
        (MAX_MINOR_UNITS, "EUR", "92233720368547758.07"),
        (12990, "eur", "129.90"),
    ],
)
def test_format_amount_writes_major_units_with_the_currency_decimals(
    minor: int, currency: str, text: str
) -> None:
    assert format_amount(minor, currency) == text


def test_format_amount_uses_the_requested_decimal_mark() -> None:
    assert format_amount(12990, "EUR", decimal_mark=",") == "129,90"
    assert format_amount(1200, "JPY", decimal_mark=",") == "1200"


def test_format_amount_of_an_unknown_currency_is_refused() -> None:
    with pytest.raises(RecordError, match="unknown currency 'XYZ'"):
        format_amount(100, "XYZ")


@pytest.mark.parametrize("minor", [True, 1.5, Decimal("1"), "100", None])
def test_format_amount_takes_only_int_minor_units(minor: Any) -> None:
    with pytest.raises(TypeError):
        format_amount(minor, "EUR")


@pytest.mark.parametrize(
    ("minor", "currency", "value"),
    [(12990, "EUR", "129.90"), (-500, "EUR", "-5.00"), (1200, "JPY", "1200"), (1250, "KWD", "1.250")],
)
def test_to_decimal_is_exact_and_keeps_the_currency_decimals(minor: int, currency: str, value: str) -> None:
    result = to_decimal(minor, currency)
    assert isinstance(result, Decimal)
    assert str(result) == value


def test_to_decimal_is_exact_beyond_the_default_context_precision() -> None:
    big = 10**40 + 1
    assert to_decimal(big, "EUR") == Decimal("100000000000000000000000000000000000000.01")


# --- properties -----------------------------------------------------------------------------------------

_CURRENCIES = ["EUR", "USD", "JPY", "KRW", "KWD", "BHD", "CLF", "UYW", "XOF"]


@settings(max_examples=300, database=None)
@given(
    minor=st.integers(min_value=-MAX_MINOR_UNITS, max_value=MAX_MINOR_UNITS),
    currency=st.sampled_from(_CURRENCIES),
)
def test_formatted_amount_parses_back_to_the_same_minor_units(minor: int, currency: str) -> None:
    text = format_amount(minor, currency)
    assert parse_amount(text, currency, allow_negative=True) == minor
    assert parse_amount(to_decimal(minor, currency), currency, allow_negative=True) == minor
    assert parse_amount(str(minor), currency, minor_units=True, allow_negative=True) == minor


@settings(max_examples=200, database=None)
@given(
    minor=st.integers(min_value=0, max_value=10**15),
    currency=st.sampled_from(_CURRENCIES),
)
def test_formatted_amount_with_european_marks_parses_back(minor: int, currency: str) -> None:
    text = format_amount(minor, currency, decimal_mark=",")
    whole, _, fraction = text.partition(",")
    grouped = f"{int(whole):,}".replace(",", ".") + (f",{fraction}" if fraction else "")
    assert parse_amount(grouped, currency, decimal_mark=",", thousands_separator=".") == minor


@settings(max_examples=200, database=None)
@given(
    # any text seldom looks like a number: half of it is drawn from what numbers are written with
    text=st.text(max_size=30) | st.text(alphabet="0123456789.,-+ eE_\u00a0\u0663\uff11\t\n", max_size=24),
    currency=st.sampled_from(_CURRENCIES),
)
def test_any_text_is_either_an_amount_or_a_record_error(text: str, currency: str) -> None:
    try:
        minor = parse_amount(text, currency, allow_negative=True)
    except RecordError as exc:
        assert str(exc).startswith("amount '")
    else:
        assert parse_amount(format_amount(minor, currency), currency, allow_negative=True) == minor
