"""Writes the golden scenarios of the configured CSV provider (run from anywhere; rewrites the inputs).

The bank export imitates an Italian acquiring bank's e-commerce report: Windows-1252, `;`, decimal
comma with `.` grouping, `dd/mm/yyyy hh:mm` in Europe/Rome, status words ESEGUITO / RIFIUTATO /
IN CORSO / STORNATO / RIMBORSATO. The gateway export of `encodings` is UTF-8 with a byte-order mark,
comma separated, ISO dates and amounts in cents. ``expected.json`` comes from the test with
PAYCLI_REGEN=1 and is checked by hand (see README.md).
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
REQUEST_HEADER = "txn_id,order_id,kind,created_at,customer,email,amount,currency,gateway\n"
HEADER = "Data operazione;ID operazione;Importo;Divisa;Causale;Esito;Note"

BANK = """\
timezone: Europe/Rome
gateways:
  mybank:
    provider: csv
    encoding: cp1252
    delimiter: ";"
    decimal_mark: ","
    thousands_separator: "."
    date_format: "%d/%m/%Y %H:%M"
    columns:
      reference: Causale
      amount: Importo
      currency: Divisa
      status: Esito
      date: Data operazione
      gateway_txn_id: ID operazione
    status_map:
      approved: [ESEGUITO]
      refused: [RIFIUTATO]
      pending: [IN CORSO]
      refunded: [RIMBORSATO]
      reversed: [STORNATO]
    reference_pattern: "ORD-CSV-[0-9]+-[0-9]+"
{extra}"""


def request(
    txn: str, amount: str = "129.90", customer: str = "Rossi Mario S.r.l.", gateway: str = "mybank"
) -> str:
    order = txn.rsplit("-", 1)[0]
    return f"{txn},{order},order,2026-11-26T09:30:00+01:00,{customer},,{amount},EUR,{gateway}\n"


def row(
    ref: str,
    status: str = "ESEGUITO",
    amount: str = "129,90",
    *,
    txn: str = "7700001",
    when: str = "26/11/2026 10:15",
    currency: str = "EUR",
    note: str = "Società Rossi",
) -> str:
    return ";".join((when, txn, amount, currency, f"Pagamento e-commerce {ref}", status, note))


def export(*rows: str, header: str = HEADER, newline: str = "\r\n", encoding: str = "cp1252") -> bytes:
    return "".join(line + newline for line in (header, *rows)).encode(encoding)


def scenario(name: str, requests: list[str], files: dict[str, bytes], config: str) -> None:
    folder = HERE / name
    folder.mkdir(exist_ok=True)
    for old in folder.iterdir():
        if old.name != "expected.json":
            old.unlink()
    (folder / "requests.csv").write_text(REQUEST_HEADER + "".join(requests))
    (folder / "paycli.yaml").write_text(config)
    for file_name, data in files.items():
        (folder / file_name).write_bytes(data)


def bank(extra: str = "") -> str:
    return BANK.format(extra="".join(f"    {line}\n" for line in extra.strip().splitlines()))


def main() -> None:
    keyed = bank("dedupe_key: [ID operazione]")
    fee = "26/11/2026 23:59;7700999;-2,50;EUR;Commissioni tenuta conto;ESEGUITO;"

    scenario(
        "approved",
        [request("ORD-CSV-1001-1", "1234.56")],
        # a bank row without a merchant reference is kept as informational, never a response
        {"01-movimenti.csv": export(row("ORD-CSV-1001-1", amount="1.234,56"), fee)},
        keyed,
    )
    scenario(
        "refused",
        [request("ORD-CSV-1002-1")],
        {"01-movimenti.csv": export(row("ORD-CSV-1002-1", "RIFIUTATO", txn="7700002"))},
        keyed,
    )
    scenario(
        "pending-then-final",
        [request("ORD-CSV-1003-1")],
        {
            "01-movimenti-26.csv": export(row("ORD-CSV-1003-1", "IN CORSO", txn="7700003")),
            "02-movimenti-27.csv": export(
                row("ORD-CSV-1003-1", "ESEGUITO", txn="7700003", when="27/11/2026 08:00")
            ),
        },
        keyed,
    )
    # Without dedupe_key the key is a hash of the normalised row. The same export twice (identical
    # bytes: one message) and a re-saved copy (LF endings, quotes, ungrouped amount, columns in
    # another order, status in lower case): one response, delivered twice.
    reordered = "Esito;Note;Causale;Divisa;Importo;ID operazione;Data operazione"
    resaved = '"eseguito";"Società Rossi";"Pagamento e-commerce ORD-CSV-1004-1";"EUR";"1234,56";"7700004";"26/11/2026 10:15"'
    first = export(row("ORD-CSV-1004-1", amount="1.234,56", txn="7700004"))
    scenario(
        "redelivered",
        [request("ORD-CSV-1004-1", "1234.56")],
        {
            "01-movimenti.csv": first,
            "02-movimenti-copia.csv": first,
            "03-movimenti-risalvato.csv": export(resaved, header=reordered, newline="\n"),
        },
        bank(),
    )
    scenario(
        "refund-after-approval",
        [request("ORD-CSV-1005-1")],
        {
            "01-movimenti.csv": export(
                row("ORD-CSV-1005-1", txn="7700005"),
                row("ORD-CSV-1005-1", "RIMBORSATO", "-129,90", txn="7700005", when="28/11/2026 16:40"),
            )
        },
        keyed,
    )
    scenario(
        "amount-mismatch",
        [request("ORD-CSV-1006-1")],
        {"01-movimenti.csv": export(row("ORD-CSV-1006-1", amount="12,99", txn="7700006"))},
        keyed,
    )
    scenario(
        "orphan",
        [request("ORD-CSV-1007-1")],
        {
            "01-movimenti.csv": export(
                row("ORD-CSV-1007-1", txn="7700007"), row("ORD-CSV-9999-1", amount="50,00", txn="7700008")
            )
        },
        keyed,
    )
    # The same operation and status with another amount: not a redelivery but a distinct response that
    # shares its key, shown as suspicious (design.md 3.1).
    scenario(
        "same-key-disagrees",
        [request("ORD-CSV-1015-1")],
        {
            "01-movimenti.csv": export(row("ORD-CSV-1015-1", txn="7700030")),
            "02-movimenti-rettifica.csv": export(row("ORD-CSV-1015-1", amount="12,99", txn="7700030")),
        },
        keyed,
    )
    scenario(
        "unknown-status",
        [request("ORD-CSV-1008-1")],
        {"01-movimenti.csv": export(row("ORD-CSV-1008-1", "SOSPESO", txn="7700009"))},
        keyed,
    )
    scenario(
        "bad-rows",
        [request("ORD-CSV-1009-1"), request("ORD-CSV-1009-2")],
        {
            "01-movimenti.csv": export(
                row("ORD-CSV-1009-1", txn="7700010"),
                row("ORD-CSV-1009-2", amount="1,234.56", txn="7700011"),  # another number convention
                row("ORD-CSV-1009-2", txn="7700012", when="31/11/2026 10:00"),  # no such day
                row("ORD-CSV-1009-2", txn="7700013") + ";in più",  # a field too many
                row("ORD-CSV-1009-2", txn="7700014", currency=""),  # no currency, none configured
                row("ORD-CSV-1009-2", txn="", amount="1,00"),  # the dedupe key is empty
                "Totale movimenti: 6;;;",  # a footer
            )
        },
        keyed,
    )
    # Two configured exports with their own charsets: the bank's Windows-1252 and a gateway's UTF-8
    # report with a byte-order mark (comma separated, ISO dates with offsets, amounts in cents).
    gateway_export = (
        "\ufeffcreated,id,merchant_reference,amount,currency,state,customer\r\n"
        "2026-11-26T10:20:00+01:00,tx_81,ORD-CSV-1011-1,4990,eur,captured,Zoë Ündset\r\n"
        "2026-11-26T10:25:00+01:00,tx_82,ORD-CSV-1012-1,12990,EUR,declined,Jürgen Groß\r\n"
    ).encode()
    two = (
        bank("dedupe_key: [ID operazione]")
        + """\
  shopgw:
    provider: csv
    encoding: utf-8
    delimiter: ","
    amount_unit: minor
    date_format: iso
    columns:
      reference: merchant_reference
      amount: amount
      currency: currency
      status: state
      date: created
      gateway_txn_id: id
    status_map:
      approved: captured
      refused: [declined, failed]
      pending: authorized
    dedupe_key: [id]
"""
    )
    scenario(
        "encodings",
        [
            request("ORD-CSV-1010-1", customer="Società Rossi"),
            request("ORD-CSV-1011-1", "49.90", "Zoë Ündset", "shopgw"),
            request("ORD-CSV-1012-1", "129.90", "Jürgen Groß", "shopgw"),
        ],
        {
            "01-movimenti.csv": export(row("ORD-CSV-1010-1", txn="7700020", note="Società Rossi – caffè")),
            "02-gateway-report.csv": gateway_export,
        },
        two,
    )
    # A statement with a preamble, transfers whose description carries the reference.
    statement = (
        "Banca Esempio S.p.A.;;;;\r\n"
        "Conto corrente 000012345678 - Bottega Esempio S.r.l.;;;;\r\n"
        "Periodo dal 01/11/2026 al 30/11/2026;;;;\r\n"
        "Data contabile;Data valuta;Importo;Descrizione;Stato\r\n"
        "27/11/2026;27/11/2026;250,00;BONIFICO SEPA DA ROSSI MARIO CAUSALE ACCONTO ORDINE ORD-CSV-1013-1;CONTABILIZZATO\r\n"
        "27/11/2026;27/11/2026;-1.200,00;PAGAMENTO F24;CONTABILIZZATO\r\n"
        "30/11/2026;30/11/2026;80,00;BONIFICO SEPA DA VERDI ANNA RIF ORD-CSV-1014-1;NON CONTABILIZZATO\r\n"
    ).encode("cp1252")
    scenario(
        "bank-transfers",
        [request("ORD-CSV-1013-1", "250.00"), request("ORD-CSV-1014-1", "80.00", "Verdi Anna")],
        {"01-estratto-conto.csv": statement},
        """\
timezone: Europe/Rome
gateways:
  mybank:
    provider: csv
    match: {header_contains: [Data contabile, Descrizione]}
    encoding: cp1252
    delimiter: ";"
    skip_lines: 3
    decimal_mark: ","
    thousands_separator: "."
    date_format: "%d/%m/%Y"
    currency: EUR
    columns: {reference: Descrizione, amount: Importo, status: Stato, date: Data contabile}
    status_map: {approved: CONTABILIZZATO, pending: NON CONTABILIZZATO}
    reference_pattern: "ORD-CSV-[0-9]+-[0-9]+"
""",
    )
    home_banking()
    acquirer_outcomes()


def home_banking() -> None:
    """A home-banking "lista movimenti": a preamble of two lines one day and six the next
    (header_pattern), money in Dare/Avere columns, the date and the time apart, the ABI reason code
    beside the booking state (status_detail: 48 a transfer in, 26 one out), a delimiter at the end of
    every data row, the bank's operation ids of 12 digits (id_columns)."""
    header = "Data contabile;Ora;Data valuta;Dare;Avere;Divisa;Causale ABI;Descrizione;Stato;Riferimento"

    def movement(
        day: str, clock: str, debit: str, credit: str, abi: str, text: str, state: str, ref: str
    ) -> str:
        return ";".join((day, clock, day, debit, credit, "EUR", abi, text, state, ref)) + ";"

    day26 = [
        "Banca Esempio S.p.A. - Lista movimenti;;;;;;;;;",
        "Conto 000012345678 dal 26/11/2026 al 26/11/2026;;;;;;;;;",
        header,
        movement(
            "26/11/2026",
            "10:15",
            "",
            "1.250,00",
            "48",
            "BONIFICO SEPA DA ROSSI MARIO RIF ORD-CSV-1021-1",
            "CONTABILIZZATO",
            "000012345601",
        ),
        movement(
            "26/11/2026", "11:40", "2,50", "", "66", "COMMISSIONI BONIFICO", "CONTABILIZZATO", "000012345602"
        ),
        movement(
            "26/11/2026",
            "16:05",
            "",
            "89,90",
            "48",
            "BONIFICO SEPA DA VERDI ANNA ORD-CSV-1022-1",
            "NON CONTABILIZZATO",
            "000012345603",
        ),
        movement(
            "26/11/2026",
            "17:30",
            "",
            "40,00",
            "48",
            "BONIFICO SEPA DA BIANCHI LUCA ORD-CSV-1023-1",
            "CONTABILIZZATO",
            "000012345604",
        ),
    ]
    day27 = [
        "Banca Esempio S.p.A. - Lista movimenti;;;;;;;;;",
        "Conto corrente 000012345678 - Bottega Esempio S.r.l.;;;;;;;;;",
        "",
        "Movimenti dal 27/11/2026 al 27/11/2026;;;;;;;;;",
        "Saldo iniziale;;;;12.345,67;EUR;;;;",
        ";;;;;;;;;",
        header,
        movement(
            "27/11/2026",
            "09:00",
            "",
            "89,90",
            "48",
            "BONIFICO SEPA DA VERDI ANNA ORD-CSV-1022-1",
            "CONTABILIZZATO",
            "000012345603",
        ),
        movement(
            "27/11/2026",
            "09:30",
            "40,00",
            "",
            "26",
            "BONIFICO A BIANCHI LUCA RESO ORD-CSV-1023-1",
            "CONTABILIZZATO",
            "000012345605",
        ),
        # opened and saved in a spreadsheet before it was sent on: the id's leading zeros are gone
        movement(
            "27/11/2026",
            "12:00",
            "",
            "15,00",
            "48",
            "BONIFICO SEPA DA NERI ORD-CSV-1024-1",
            "CONTABILIZZATO",
            "12345606",
        ),
    ]
    scenario(
        "home-banking",
        [
            request("ORD-CSV-1021-1", "1250.00"),
            request("ORD-CSV-1022-1", "89.90", "Verdi Anna"),
            request("ORD-CSV-1023-1", "40.00", "Bianchi Luca"),
            request("ORD-CSV-1024-1", "15.00", "Neri Paola"),
        ],
        {
            "01-movimenti-26.csv": "".join(line + "\r\n" for line in day26).encode("cp1252"),
            "02-movimenti-27.csv": "".join(line + "\r\n" for line in day27).encode("cp1252"),
        },
        """\
timezone: Europe/Rome
gateways:
  mybank:
    provider: csv
    encoding: cp1252
    delimiter: ";"
    trailing_delimiter: true
    header_pattern: "^Data contabile;"
    decimal_mark: ","
    thousands_separator: "."
    date_format: "%d/%m/%Y"
    time_format: "%H:%M"
    currency: EUR
    columns:
      reference: Descrizione
      debit: Dare
      credit: Avere
      status: Stato
      status_detail: Causale ABI
      date: Data contabile
      time: Ora
      gateway_txn_id: Riferimento
    status_map:
      approved: ["CONTABILIZZATO + 48"]
      refunded: ["CONTABILIZZATO + 26"]
      pending: [NON CONTABILIZZATO]
    reference_pattern: "ORD-CSV-[0-9]+-[0-9]+"
    id_columns: {Riferimento: 12}
""",
    )


def acquirer_outcomes() -> None:
    """A card acquirer's transaction report: the outcome in Esito and Codice esito, amounts with a
    decimal point and no grouping but no thousands_separator said (so 1.250 is refused as ambiguous),
    and a copy saved by Excel whose transaction id became 1,23457E+15 (id_columns)."""
    header = "Data;Ora;ID transazione;Ordine;Importo;Divisa;Esito;Codice esito"

    def tx(clock: str, txn: str, order: str, amount: str, esito: str, code: str) -> str:
        return ";".join(("26/11/2026", clock, txn, order, amount, "EUR", esito, code))

    report = [
        header,
        tx("10:15", "2611202600000101", "ORD-CSV-1031-1", "129.90", "OK", "00"),
        tx("10:20", "2611202600000102", "ORD-CSV-1032-1", "129.90", "KO", "05"),
        tx("10:25", "2611202600000103", "ORD-CSV-1033-1", "59.00", "OK", "00"),
        tx("18:00", "2611202600000104", "ORD-CSV-1033-1", "59.00", "OK", "STORNO"),
        tx("19:00", "2611202600000105", "ORD-CSV-1034-1", "1.250", "OK", "00"),
    ]
    excel = [header, tx("11:00", "2,6112E+15", "ORD-CSV-1035-1", "129.90", "OK", "00")]
    scenario(
        "acquirer-outcomes",
        [
            request("ORD-CSV-1031-1", gateway="acquirer"),
            request("ORD-CSV-1032-1", gateway="acquirer"),
            request("ORD-CSV-1033-1", "59.00", "Bianchi Luca", "acquirer"),
            request("ORD-CSV-1034-1", "1250.00", "Verdi Anna", "acquirer"),
            request("ORD-CSV-1035-1", "129.90", "Neri Paola", "acquirer"),
        ],
        {
            "01-transazioni.csv": "".join(line + "\r\n" for line in report).encode("cp1252"),
            "02-transazioni-excel.csv": "".join(line + "\r\n" for line in excel).encode("cp1252"),
        },
        """\
timezone: Europe/Rome
gateways:
  acquirer:
    provider: csv
    delimiter: ";"
    date_format: "%d/%m/%Y"
    time_format: "%H:%M"
    columns:
      reference: Ordine
      amount: Importo
      currency: Divisa
      status: Esito
      status_detail: Codice esito
      date: Data
      time: Ora
      gateway_txn_id: ID transazione
    status_map:
      approved: [OK]
      refused: [KO]
      reversed: ["OK + STORNO"]
    dedupe_key: [ID transazione]
    id_columns: {ID transazione: 16}
""",
    )


if __name__ == "__main__":
    main()
