"""Fuzzing every provider's parser for a fixed budget: whatever bytes arrive, the answer is records
(a quarantined one with its reason at worst) or a refusal of the whole input, never a crash or a hang.

The inputs are the golden samples (``tests/gateways/samples``) damaged the way files and callbacks
really are damaged (cut short, bytes flipped, pieces repeated or swapped, a wrong encoding, markup
and separators where values belong), plus plain random bytes. Each input is offered to every
provider's ``identify``, forced through its own provider's ``extract``, and every record read is
read again by ``reinterpret`` (what ``paycli reprocess`` does). ``PAYCLI_FUZZ_EXAMPLES`` sets the
budget a provider (default 300: about ten seconds in all).
"""

from __future__ import annotations

import io
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paycli import gateways
from paycli.gateways.base import (
    InfoRecord,
    Notice,
    Provider,
    QuarantinedRecord,
    RequestRecord,
    ResponseRecord,
    SettlementRecord,
    Source,
    SourceError,
)
from tests.gateways.test_golden import NOT_INPUTS, SAMPLES, scenario_providers

DEMO = Path(__file__).resolve().parents[2] / "demo" / "data"
EXAMPLES = int(os.environ.get("PAYCLI_FUZZ_EXAMPLES", "300"))
HANG_SECONDS = 10  # one input, a few KiB: anything near this is a hang
TOKENS = (
    b"\x00",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    b"\xe9",
    b"%",
    b"%ZZ",
    b"&",
    b"=",
    b"\r\n",
    b"\n\n",
    b'"',
    b";",
    b",",
    b"<",
    b"]]>",
    b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>',
    b"&e;",
    b"{",
    b"}",
    b"[]",
    b"null",
    b"-",
    b"1.234,56",
    b"9" * 40,
    b"1e400",
    b"NaN",
    b"\\u0000",
    b"t=,v1=",
)


@cache
def providers_for(folder: Path) -> dict[str, Provider]:
    return scenario_providers(folder)[1]


def samples_of(provider: str) -> list[tuple[Path, str, bytes, str | None]]:
    """(scenario folder, the provider instance reading it, its bytes, its sidecar headers).

    The gateways' samples are their scenarios' messages; the shop's request files (provider
    ``requests``) are every scenario's ``requests.csv`` and the demo's CSV and JSON lines files."""
    out = []
    if provider == "requests":
        folders = sorted(p for p in SAMPLES.glob("*/*") if p.is_dir())
        files = [f / "requests.csv" for f in folders] + [DEMO / "requests.csv", DEMO / "deposits.jsonl"]
    else:
        folders = sorted(p for p in (SAMPLES / provider).iterdir() if p.is_dir())
        files = [f for folder in folders for f in sorted(folder.iterdir()) if f.name != "requests.csv"]
    for path in files:
        if not path.is_file() or path.name in NOT_INPUTS or path.name.endswith(".headers"):
            continue
        folder = path.parent if path.parent.parent.parent == SAMPLES else SAMPLES / "csv" / "approved"
        instances = providers_for(folder)
        sidecar = path.with_name(path.name + ".headers")
        headers = sidecar.read_text("utf-8") if sidecar.exists() else None
        source = Source.from_path(path)
        source.headers = headers
        claims = [name for name, p in instances.items() if p.identify(source)]
        if len(claims) == 1 and (provider != "requests" or claims == ["requests"]):
            out.append((folder, claims[0], path.read_bytes(), headers))
    return out


# every provider the package registers, and the csv provider as the samples configure it
PROVIDERS = sorted({p.name for p in SAMPLES.iterdir() if p.is_dir()} | set(gateways.installed()))


@st.composite
def damaged(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` after one to four of the damages files and callbacks really suffer."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(out)))
        kind = draw(st.sampled_from(["cut", "flip", "insert", "token", "delete", "repeat", "swap"]))
        if kind == "cut":
            del out[at:]
        elif kind == "flip" and at < len(out):
            out[at] ^= draw(st.integers(1, 255))
        elif kind == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "token":
            out[at:at] = draw(st.sampled_from(TOKENS))
        elif kind == "delete":
            del out[at : at + draw(st.integers(1, 64))]
        elif kind == "repeat":
            out[at:at] = out[at : at + draw(st.integers(1, 256))]
        elif kind == "swap" and len(out) > 1:
            other = draw(st.integers(0, len(out) - 1))
            out[at:at], out[other:other] = out[other : other + 8], out[at : at + 8]
    return bytes(out)


@contextmanager
def no_hang(what: str) -> Iterator[None]:
    def alarm(signum: int, frame: object) -> None:
        raise TimeoutError(f"{what} took more than {HANG_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(HANG_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def read_all(instances: dict[str, Provider], name: str, raw: bytes, headers: str | None) -> None:
    source = Source.from_stream("fuzzed", io.BytesIO(raw))
    source.headers = headers
    for provider in instances.values():
        assert provider.identify(source) in (True, False)
    provider = instances[name]
    try:
        records = list(provider.extract(source))
    except SourceError as exc:
        assert str(exc).strip(), "a refusal says why"
        return
    for record in records:
        assert isinstance(
            record,
            RequestRecord | ResponseRecord | InfoRecord | SettlementRecord | QuarantinedRecord | Notice,
        )
        if isinstance(record, QuarantinedRecord):
            assert record.reason.strip(), "a quarantined record says why"
        if isinstance(record, Notice):
            continue
        again = provider.reinterpret(record.origin)
        assert type(again) is type(record) or isinstance(again, QuarantinedRecord | Notice)
        assert record.origin.raw in raw or record.origin.line is not None, "a record keeps its bytes"


@pytest.mark.slow
@pytest.mark.parametrize("provider", PROVIDERS)
def test_damaged_samples_are_quarantined_or_refused_never_a_crash_or_a_hang(provider):
    samples = samples_of(provider)
    assert samples, f"no sample of {provider} to start from"

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        folder, name, raw, headers = data.draw(st.sampled_from(samples))
        bad = data.draw(damaged(raw))
        if headers is not None and data.draw(st.booleans()):
            headers = data.draw(damaged(headers.encode())).decode("utf-8", "replace")
        with no_hang(f"{provider} on a damaged {folder.name} sample"):
            read_all(providers_for(folder), name, bad, headers)

    fuzz()


@pytest.mark.slow
@pytest.mark.parametrize("provider", PROVIDERS)
def test_random_bytes_are_quarantined_or_refused_never_a_crash_or_a_hang(provider):
    samples = samples_of(provider)

    @settings(max_examples=EXAMPLES // 3, deadline=None, database=None)
    @given(raw=st.binary(max_size=4096), pick=st.integers(0, len(samples) - 1))
    def fuzz(raw: bytes, pick: int) -> None:
        folder, name, _, headers = samples[pick]
        with no_hang(f"{provider} on random bytes"):
            read_all(providers_for(folder), name, raw, headers)

    fuzz()
