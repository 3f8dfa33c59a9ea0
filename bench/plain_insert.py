"""The baseline of ``bench_store.py``: a request file into ``payment_request`` with csv and sqlite3 only.

It stores the same rows as ``paycli ingest`` (the values paycli derives: UTC created_at text, amount in
minor units, default kind, casefolded search text, ``file:line`` source), into a fresh database whose
``payment_request`` table has paycli's DDL and indexes, with paycli's pragmas (WAL, synchronous=NORMAL),
one ``executemany`` and one commit per batch. No validation, no deduplication, no outcome: what is left
is the least any ingest of this file has to pay, so the ratio of the two whole-process times is
paycli's overhead.

Usage: plain_insert.py REQUESTS.csv DATABASE --ddl FILE --batch-size 2000 --timezone Europe/Rome
Prints one JSON object: rows inserted and the seconds spent in executemany and commit.
"""

from __future__ import annotations

import argparse
import csv
import json
import sqlite3
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

EXPONENTS = {"JPY": 0}  # every other currency the benchmark writes has cents
INSERT = (
    "INSERT INTO payment_request (txn_id, order_id, kind, created_at, customer, email, search_text, "
    "amount_minor, currency, gateway, source, registered_at, outcome, reason, detail, response_count) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'VERIFICARE', 'NO_RESPONSE', NULL, 0)"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requests", help="the request CSV (its name as given is the source column)")
    parser.add_argument("database", type=Path, help="a database file that does not exist yet")
    parser.add_argument("--ddl", type=Path, required=True, help="SQL creating payment_request and indexes")
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--timezone", default="Europe/Rome", help="the zone of naive created_at")
    args = parser.parse_args()

    tz = ZoneInfo(args.timezone)
    conn = sqlite3.connect(args.database, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.executescript(args.ddl.read_text("utf-8"))
    registered = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")

    rows = 0
    sql_seconds = 0.0
    batch: list[tuple[object, ...]] = []

    def flush() -> None:
        nonlocal sql_seconds
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(INSERT, batch)
        conn.execute("COMMIT")
        sql_seconds += time.perf_counter() - started
        batch.clear()

    with open(args.requests, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        col = {name.strip().lower(): i for i, name in enumerate(next(reader))}
        c_txn, c_order, c_kind = col["txn_id"], col["order_id"], col["kind"]
        c_created, c_customer, c_email = col["created_at"], col["customer"], col["email"]
        c_amount, c_currency, c_gateway = col["amount"], col["currency"], col["gateway"]
        for line, row in enumerate(reader, start=2):  # the writer puts no newline inside a field
            order_id = row[c_order] or None
            email = row[c_email] or None
            customer = row[c_customer]
            currency = row[c_currency].upper()
            created = datetime.fromisoformat(row[c_created])
            if created.tzinfo is None:
                created = created.replace(tzinfo=tz)
            batch.append(
                (
                    row[c_txn],
                    order_id,
                    (row[c_kind] or ("order" if order_id else "other")).lower(),
                    created.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds"),
                    customer,
                    email,
                    (f"{customer} {email}" if email else customer).casefold(),
                    int(Decimal(row[c_amount]).scaleb(EXPONENTS.get(currency, 2))),
                    currency,
                    row[c_gateway].lower(),
                    f"{args.requests}:{line}",
                    registered,
                )
            )
            rows += 1
            if len(batch) >= args.batch_size:
                flush()
    if batch:
        flush()
    conn.close()
    print(json.dumps({"rows": rows, "sql_seconds": round(sql_seconds, 3)}))


if __name__ == "__main__":
    main()
