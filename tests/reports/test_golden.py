"""Golden reports of the fixed shop (tests/reports/conftest.py): HTML, CSV, and CSV for Italian Excel.

``PAYCLI_REGEN=1 pytest tests/reports`` rewrites the files in ``golden/``: read the diff before
committing it. The same files are expected on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.reports.conftest import DAY, NOW

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("report.html", ["--format", "html"]),
        ("report.csv", ["--format", "csv"]),
        ("report-excel-it.csv", ["--format", "csv", "--csv-dialect", "excel-it"]),
    ],
)
def test_golden_report(shop, isolated: Path, name: str, args: list[str]) -> None:
    out = isolated / name
    result = shop("report", "--date", DAY, "--now", NOW, "--out", str(out), *args)
    assert result.code == 0, result
    actual = out.read_bytes()
    expected = GOLDEN / name
    if os.environ.get("PAYCLI_REGEN"):
        GOLDEN.mkdir(exist_ok=True)
        expected.write_bytes(actual)
    assert actual == expected.read_bytes()


def test_a_report_made_again_at_the_same_moment_is_the_same_bytes(shop, isolated: Path) -> None:
    made = []
    for attempt in ("first", "second"):
        out = isolated / attempt
        result = shop("report", "--date", DAY, "--now", NOW, "--out", f"{out}/")
        assert result.code == 0, result
        made.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert made[0] == made[1] and len(made[0]) == 2
