"""The shop's request files as the requests provider reads them: its settings, and a stored line read
again by ``reinterpret`` (``paycli reprocess``). The pipeline around it is in tests/test_ingest.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from paycli.errors import ConfigError
from tests.conftest import make_config


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("hex", "'hex' is not a text encoding (e.g. utf-8, cp1252, latin-1)"),
        ("zlib", "'zlib' is not a text encoding (e.g. utf-8, cp1252, latin-1)"),
        ("undefined", "'undefined' is not an ASCII-compatible encoding; convert the file to UTF-8 first"),
    ],
)
def test_an_encoding_that_is_no_text_encoding_is_a_configuration_error_naming_the_key(
    tmp_path: Path, value: str, problem: str
) -> None:
    # a codec found but not for text made the check itself fail: "unexpected error", exit 70
    with pytest.raises(ConfigError) as caught:
        make_config(tmp_path, f"requests:\n  encoding: {value}\n")
    assert str(caught.value) == f"{tmp_path / 'paycli.yaml'}: requests.encoding: {problem}"
