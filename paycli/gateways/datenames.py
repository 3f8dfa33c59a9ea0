"""Month and weekday names of the languages a bank may write its dates in (the csv provider's
``date_language``).

strptime reads ``%b``, ``%B``, ``%a`` and ``%A`` in the C locale only (English), and setting a process
locale is global and needs the locale installed. So the csv provider reads a non-English date with
its own pattern, and these tables give the names it accepts: each month's and weekday's full name and
its usual abbreviations, from the CLDR's formats plus the spellings banks' exports commonly use
(``sett``, ``Mrz``, ``setiembre``). A name is read in any letter case, with or without its accents
(exports written in ASCII drop them), an abbreviation with or without its full stop; ``%b`` and
``%B`` both take any name of the month, ``%a`` and ``%A`` any name of the weekday.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

# Each language: twelve months, then seven weekdays from Monday; each entry the full name first.
_TABLES: Mapping[str, tuple[tuple[tuple[str, ...], ...], tuple[tuple[str, ...], ...]]] = {
    "it": (
        (
            ("gennaio", "gen"),
            ("febbraio", "feb"),
            ("marzo", "mar"),
            ("aprile", "apr"),
            ("maggio", "mag"),
            ("giugno", "giu"),
            ("luglio", "lug"),
            ("agosto", "ago"),
            ("settembre", "set", "sett"),
            ("ottobre", "ott"),
            ("novembre", "nov"),
            ("dicembre", "dic"),
        ),
        (
            ("lunedì", "lun"),
            ("martedì", "mar"),
            ("mercoledì", "mer"),
            ("giovedì", "gio"),
            ("venerdì", "ven"),
            ("sabato", "sab"),
            ("domenica", "dom"),
        ),
    ),
    "es": (
        (
            ("enero", "ene"),
            ("febrero", "feb"),
            ("marzo", "mar"),
            ("abril", "abr"),
            ("mayo", "may"),
            ("junio", "jun"),
            ("julio", "jul"),
            ("agosto", "ago"),
            ("septiembre", "setiembre", "sep", "sept", "set"),
            ("octubre", "oct"),
            ("noviembre", "nov"),
            ("diciembre", "dic"),
        ),
        (
            ("lunes", "lun"),
            ("martes", "mar"),
            ("miércoles", "mié"),
            ("jueves", "jue"),
            ("viernes", "vie"),
            ("sábado", "sáb"),
            ("domingo", "dom"),
        ),
    ),
    "fr": (
        (
            ("janvier", "janv"),
            ("février", "févr", "fév"),
            ("mars",),
            ("avril", "avr"),
            ("mai",),
            ("juin",),
            ("juillet", "juil"),
            ("août",),
            ("septembre", "sept"),
            ("octobre", "oct"),
            ("novembre", "nov"),
            ("décembre", "déc"),
        ),
        (
            ("lundi", "lun"),
            ("mardi", "mar"),
            ("mercredi", "mer"),
            ("jeudi", "jeu"),
            ("vendredi", "ven"),
            ("samedi", "sam"),
            ("dimanche", "dim"),
        ),
    ),
    "de": (
        (
            ("januar", "jänner", "jan", "jän"),
            ("februar", "feber", "feb"),
            ("märz", "mär", "mrz"),
            ("april", "apr"),
            ("mai",),
            ("juni", "jun"),
            ("juli", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("oktober", "okt"),
            ("november", "nov"),
            ("dezember", "dez"),
        ),
        (
            ("montag", "mo"),
            ("dienstag", "di"),
            ("mittwoch", "mi"),
            ("donnerstag", "do"),
            ("freitag", "fr"),
            ("samstag", "sonnabend", "sa"),
            ("sonntag", "so"),
        ),
    ),
    "pt": (
        (
            ("janeiro", "jan"),
            ("fevereiro", "fev"),
            ("março", "mar"),
            ("abril", "abr"),
            ("maio", "mai"),
            ("junho", "jun"),
            ("julho", "jul"),
            ("agosto", "ago"),
            ("setembro", "set"),
            ("outubro", "out"),
            ("novembro", "nov"),
            ("dezembro", "dez"),
        ),
        (
            ("segunda-feira", "segunda", "seg"),
            ("terça-feira", "terça", "ter"),
            ("quarta-feira", "quarta", "qua"),
            ("quinta-feira", "quinta", "qui"),
            ("sexta-feira", "sexta", "sex"),
            ("sábado", "sáb"),
            ("domingo", "dom"),
        ),
    ),
    "nl": (
        (
            ("januari", "jan"),
            ("februari", "feb"),
            ("maart", "mrt", "mar"),
            ("april", "apr"),
            ("mei",),
            ("juni", "jun"),
            ("juli", "jul"),
            ("augustus", "aug"),
            ("september", "sep", "sept"),
            ("oktober", "okt"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        (
            ("maandag", "ma"),
            ("dinsdag", "di"),
            ("woensdag", "wo"),
            ("donderdag", "do"),
            ("vrijdag", "vr"),
            ("zaterdag", "za"),
            ("zondag", "zo"),
        ),
    ),
}

ENGLISH = "en"  # strptime's own (the C locale): read by strptime, not by these tables
LANGUAGES = (ENGLISH, *_TABLES)


def fold(name: str) -> str:
    """A name as looked up: letter case and accents dropped, and an abbreviation's full stop."""
    decomposed = unicodedata.normalize("NFD", name.casefold().rstrip("."))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@dataclass(frozen=True)
class Names:
    """One language's names: a regular expression for each kind, and the folded name -> number."""

    month_pattern: str  # a month's name, as a regular expression without groups
    weekday_pattern: str
    month: Mapping[str, int]  # folded name -> 1..12


def _alternation(names: set[str]) -> str:
    # the longest first, so that "sept" is not read as "sep" and a stray "t"; each with its full stop
    return "(?:" + "|".join(re.escape(n) for n in sorted(names, key=lambda n: (-len(n), n))) + r")\.?"


def names_of(language: str) -> Names:
    """The names of a language of ``LANGUAGES`` other than English."""
    months, weekdays = _TABLES[language]
    month: dict[str, int] = {}
    spellings: set[str] = set()
    for number, forms in enumerate(months, start=1):
        for form in forms:
            month[fold(form)] = number
            spellings |= {form, fold(form)}
    days = {spelling for forms in weekdays for form in forms for spelling in (form, fold(form))}
    return Names(_alternation(spellings), _alternation(days), month)
