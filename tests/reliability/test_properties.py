"""Ingest over generated notifications of every gateway (design.md 5.3), the signing ones, Axerve's
decrypted results and a bank's export read through a csv provider: idempotence, order independence
and dedupe.

A night is a few payments through one gateway, each approved or refused, each notified once or
redelivered (the same bytes again, or other bytes about the same response); the shop's requests are
split over two files that may arrive before, between or after the notifications. Whatever the order,
the store is the same; ingested again, nothing changes; each payment is one response whose deliveries
count every distinct notification.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paycli.ingest import Ingest
from paycli.store import Store
from tests.conftest import REQUEST_HEADER, empty_store, snapshot
from tests.reliability.notifications import NOTIFIERS, configured

payment = st.fixed_dictionaries(
    {
        "approved": st.booleans(),
        "cents": st.integers(1, 99_999_99),
        "copies": st.integers(1, 3),  # the same bytes, delivered again
        "variants": st.integers(0, 2),  # other bytes about the same response
    }
)


def night(folder: Path, gateway: str, payments: list[dict[str, int]]) -> tuple[list[Path], list[Path]]:
    build = NOTIFIERS[gateway]
    rows, messages = [], []
    for i, p in enumerate(payments):
        txn = f"PR-{i:03d}-1"
        amount = f"{p['cents'] // 100}.{p['cents'] % 100:02d}"
        rows.append(f"{txn},PR-{i:03d},order,2026-11-26T10:15:00+01:00,Cliente {i},,{amount},EUR,{gateway}\n")
        for variant in range(p["variants"] + 1):
            raw, headers = build(txn, bool(p["approved"]), cents=p["cents"], variant=variant)
            for copy in range(p["copies"] if variant == 0 else 1):
                path = folder / f"{txn}-{variant}-{copy}.txt"
                path.write_bytes(raw)
                if headers is not None:
                    path.with_name(path.name + ".headers").write_text(headers)
                messages.append(path)
    half = len(rows) // 2
    requests = [folder / "requests-a.csv", folder / "requests-b.csv"]
    requests[0].write_text(REQUEST_HEADER + "".join(rows[:half]))
    requests[1].write_text(REQUEST_HEADER + "".join(rows[half:]))
    return requests, messages


def ingest_all(store: Store, folder: Path, order: list[Path]) -> dict[str, object]:
    config, providers = configured(folder)
    for item in order:  # one run each: files arriving through the night
        Ingest(store, config, providers).run([str(item)])
    return snapshot(store)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    gateway=st.sampled_from(sorted(NOTIFIERS)),
    payments=st.lists(payment, min_size=1, max_size=5),
    data=st.data(),
)
def test_any_order_gives_one_store_ingesting_again_changes_nothing_and_redeliveries_fold(
    store, tmp_path_factory, gateway, payments, data
):
    folder = tmp_path_factory.mktemp("night")
    requests, messages = night(folder, gateway, payments)
    empty_store(store)
    canonical = ingest_all(store, folder, [*requests, *messages])

    responses = store.query("SELECT reference, deliveries FROM response ORDER BY reference")
    assert len(responses) == len(payments), "one response a payment, however often it was notified"
    for i, (p, r) in enumerate(zip(payments, responses, strict=True)):
        assert r["reference"] == f"PR-{i:03d}-1"
        assert r["deliveries"] == 1 + p["variants"], "same bytes again are stored once; other bytes fold"
    outcomes = [r["outcome"] for r in store.query("SELECT outcome FROM payment_request ORDER BY txn_id")]
    assert outcomes == ["POSITIVO" if p["approved"] else "NEGATIVO" for p in payments]

    assert ingest_all(store, folder, [*requests, *messages]) == canonical, "ingested again: no change"

    shuffled = data.draw(st.permutations([*requests, *messages]))
    empty_store(store)
    assert ingest_all(store, folder, list(shuffled)) == canonical, "another order: the same store"
