"""Axerve (Banca Sella) GestPay: what the provider reads, as a specification (gateway-formats.md section 5).

The examples are built from the GestPayWS test fixtures the formats document cites
(endelwar/GestPayWS tests/Response/DecryptResponseTest.php and EncryptResponseTest.php @8212a4b0).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from paycli.config import Config
from paycli.gateways.axerve import GESTPAY_CURRENCIES, AxerveProvider
from paycli.gateways.base import (
    InfoRecord,
    Origin,
    QuarantinedRecord,
    Record,
    ResponseRecord,
    Source,
    SourceError,
)
from paycli.outcome import Authenticity, Status

SHOP = "GESPAY65987"
ENCRYPTED = "7_uiFEF9drv60fbY7k6GUQzlPAEjKOJVz5l6oVUHpbZVmQkI7scV27zAGAsnQ*JPggwKUN6nseXie9tnL7YX85L1jm6IA9"


def result(
    result: str | None = "OK",
    shop: str | None = "ORD-AX-5001",
    bank: str | None = "1049",
    amount: str | None = "59.00",
    currency: str | None = "242",
    buyer: str = "Niccolo Fabbri",
    error: tuple[str, str] = ("0", "Transazione correttamente effettuata"),
    transaction_type: str | None = "DECRYPT",
    declaration: str = "",
    extra: str = "",
) -> str:
    """A decrypted result, field by field as GestPayWS's fixture has them; None leaves a field out."""

    def field(name: str, value: str | None) -> str:
        return "" if value is None else f"<{name}>{value}</{name}>"

    return (
        declaration + '<GestPayCryptDecrypt xmlns="">'
        f"{field('TransactionType', transaction_type)}{field('TransactionResult', result)}"
        f"{field('ShopTransactionID', shop)}{field('BankTransactionID', bank)}"
        f"<AuthorizationCode>A7X31K</AuthorizationCode>{field('Currency', currency)}{field('Amount', amount)}"
        "<Country>ITALIA</Country><CustomInfo>STORE_ID=1*P1*STORE_NAME=Negozio%2BAbc</CustomInfo>"
        f"<Buyer><BuyerName>{buyer}</BuyerName><BuyerEmail>niccolo@example.org</BuyerEmail></Buyer>"
        f"<TDLevel>FULL</TDLevel>{extra}<ErrorCode>{error[0]}</ErrorCode>"
        f"<ErrorDescription>{error[1]}</ErrorDescription><AlertCode/><AlertDescription/>"
        "<VbVRisp/><VbVBuyer/><VbVFlag/><TransactionKey/></GestPayCryptDecrypt>"
    )


DECRYPT_FAILED = (
    '<GestPayCryptDecrypt xmlns=""><TransactionType>DECRYPT</TransactionType>'
    "<TransactionResult>KO</TransactionResult><ErrorCode>1142</ErrorCode>"
    "<ErrorDescription>Chiamata non accettata: indirizzo IP non valido</ErrorDescription></GestPayCryptDecrypt>"
)
ENCRYPT_ANSWER = (
    '<GestPayCryptDecrypt xmlns=""><TransactionType>ENCRYPT</TransactionType>'
    f"<TransactionResult>OK</TransactionResult><CryptDecryptString>{ENCRYPTED}</CryptDecryptString>"
    "<ErrorCode>0</ErrorCode><ErrorDescription/></GestPayCryptDecrypt>"
)


def s2s_dump(
    shop: str = SHOP, encrypted: str = ENCRYPTED, *, method: str = "GET", agent: bool = False
) -> bytes:
    head = f"{method} /gestpay/s2s?a={shop}&b={encrypted} HTTP/1.1\r\nHost: shop.example\r\n"
    if agent:
        head += "User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n"
    return (head + "\r\n").encode()


@pytest.fixture
def axerve(config: Config) -> AxerveProvider:
    return AxerveProvider("axerve", {"shop_login": SHOP}, config)


@pytest.fixture
def unconfigured(config: Config) -> AxerveProvider:
    return AxerveProvider("axerve", {"shop_login": None}, config)


def read(provider: AxerveProvider, raw: bytes | str, headers: str | None = None) -> Record:
    data = raw.encode() if isinstance(raw, str) else raw
    return provider.reinterpret(Origin(None, data, None, headers))


def response(provider: AxerveProvider, raw: bytes | str) -> ResponseRecord:
    record = read(provider, raw)
    assert isinstance(record, ResponseRecord), record
    return record


def quarantined(provider: AxerveProvider, raw: bytes | str) -> str:
    record = read(provider, raw)
    assert isinstance(record, QuarantinedRecord), record
    assert record.reason.startswith("axerve: ")
    return record.reason


def source(raw: bytes | str, headers: str | None = None) -> Source:
    data = raw.encode() if isinstance(raw, str) else raw
    s = Source.from_stream("callback", io.BytesIO(data))
    s.headers = headers
    return s


# -- identify -------------------------------------------------------------------------------------
class TestIdentify:
    @pytest.mark.parametrize(
        "raw",
        [
            result(),
            result(declaration='<?xml version="1.0" encoding="ISO-8859-1"?>\n'),
            DECRYPT_FAILED,
            ENCRYPT_ANSWER,
            "\ufeff" + result(),
            f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            f"<DecryptResponse><DecryptResult>{result()}</DecryptResult></DecryptResponse></soap:Body>"
            "</soap:Envelope>",
            b"POST /gestpay/result HTTP/1.1\r\nContent-Type: text/xml\r\n\r\n" + result().encode(),
            s2s_dump(),
            s2s_dump(agent=True),
            f"a={SHOP}&b={ENCRYPTED}\n",
            f"https://shop.example/gestpay/s2s?a={SHOP}&b={ENCRYPTED}",
        ],
        ids=[
            "result",
            "result-latin1",
            "decrypt-failed",
            "encrypt-answer",
            "bom",
            "soap-answer",
            "post-dump-of-result",
            "s2s-get-dump",
            "browser-redirect",
            "bare-query-string",
            "bare-url",
        ],
    )
    def test_it_claims_its_own_shapes(self, axerve: AxerveProvider, raw: bytes | str) -> None:
        assert axerve.identify(source(raw))

    @pytest.mark.parametrize(
        "raw",
        [
            "txn_id,order_id,kind,created_at,customer,email,amount,currency,gateway\n"
            "AX-1,AX,order,2026-11-26T10:15:00,Rossi,r@example.com,59.00,EUR,axerve\n",
            # Nexi XPay notification, Skrill status post, PayPal IPN, Stripe event
            "codTrans=ORD-1&esito=OK&importo=5900&divisa=EUR&codAut=ABC&data=20261126&orario=101500&mac=x",
            "pay_to_email=a@b.example&merchant_id=1&transaction_id=T1&mb_amount=59&status=2&md5sig=X",
            "txn_id=61E67681CH3238416&payment_status=Completed&mc_gross=59.00&invoice=AX-1",
            '{"id": "evt_1", "object": "event", "type": "payment_intent.succeeded"}',
            "GET /nexi/back?codTrans=ORD-1&esito=OK HTTP/1.1\r\nHost: shop\r\n\r\n",
            '<?xml version="1.0"?><note>GestPayCryptDecrypt is mentioned, not used</note>',
            "<html><body>ok</body></html>",
            # a POST with a and b is not GestPay (it calls with GET), nor is a query with more fields
            s2s_dump(method="POST"),
            f"a={SHOP}&b={ENCRYPTED}&c=1",
            f"a={SHOP}&b=",
            f"a=&b={ENCRYPTED}",
            f"a={SHOP}",
            b"\x00\x01\x02\xffbinary" * 10,
            "",
        ],
        ids=[
            "shop-csv",
            "nexi",
            "skrill",
            "paypal-ipn",
            "stripe",
            "nexi-get-dump",
            "xml-mentioning-root",
            "html",
            "post-a-b",
            "extra-field",
            "empty-b",
            "empty-a",
            "only-a",
            "binary",
            "empty",
        ],
    )
    def test_it_refuses_what_is_not_axerve(self, axerve: AxerveProvider, raw: bytes | str) -> None:
        assert not axerve.identify(source(raw))

    def test_a_file_over_64_kib_is_not_a_callback(self, axerve: AxerveProvider) -> None:
        huge = result(extra="<CustomInfo2>" + "x" * 70_000 + "</CustomInfo2>")
        assert not axerve.identify(source(huge))


# -- the decrypted result --------------------------------------------------------------------------
class TestStatuses:
    def test_ok_is_approved(self, axerve: AxerveProvider) -> None:
        r = response(axerve, result("OK"))
        assert (r.status, r.raw_status) == (Status.APPROVED, "OK")

    def test_ko_with_a_shop_transaction_id_is_refused(self, axerve: AxerveProvider) -> None:
        r = response(axerve, result("KO", error=("1143", "Transazione abbandonata dal compratore")))
        # the gateway's reason goes with its word, for the operator; the key keeps the bare result
        assert (r.status, r.raw_status, r.reference) == (
            Status.REFUSED,
            "KO (1143 Transazione abbandonata dal compratore)",
            "ORD-AX-5001",
        )
        assert r.dedupe_key == "1049:KO"

    def test_a_long_reason_is_cut_to_the_stored_width(self, axerve: AxerveProvider) -> None:
        r = response(axerve, result("KO", error=("1999", "Carta " + "molto " * 20)))
        assert (
            r.raw_status is not None and len(r.raw_status) == 64 and r.raw_status.startswith("KO (1999 Carta")
        )

    def test_xx_is_pending(self, axerve: AxerveProvider) -> None:
        r = response(axerve, result("XX"))
        assert (r.status, r.raw_status) == (Status.PENDING, "XX")

    def test_a_result_nobody_mapped_is_unknown_with_its_word(self, axerve: AxerveProvider) -> None:
        r = response(axerve, result("ZZ"))
        assert (r.status, r.raw_status) == (Status.UNKNOWN, "ZZ")

    def test_a_failed_decrypt_call_is_informational_and_links_to_nothing(
        self, axerve: AxerveProvider
    ) -> None:
        record = read(axerve, DECRYPT_FAILED)
        assert isinstance(record, InfoRecord)
        assert record.reference is None
        assert "Decrypt call failed" in record.note
        assert "1142: Chiamata non accettata: indirizzo IP non valido" in record.note

    def test_a_failed_decrypt_call_without_an_error_code_says_so(self, axerve: AxerveProvider) -> None:
        raw = "<GestPayCryptDecrypt><TransactionResult>KO</TransactionResult></GestPayCryptDecrypt>"
        record = read(axerve, raw)
        assert isinstance(record, InfoRecord) and "no error code" in record.note

    def test_an_encrypt_answer_is_not_a_payment_outcome(self, axerve: AxerveProvider) -> None:
        # same root element, but the answer to the shop's own Encrypt call: "OK" there approves nothing
        record = read(axerve, ENCRYPT_ANSWER)
        assert isinstance(record, InfoRecord)
        assert record.reference is None and "Encrypt call" in record.note

    def test_an_unknown_transaction_type_is_quarantined(self, axerve: AxerveProvider) -> None:
        assert "TransactionType 'REFUND'" in quarantined(axerve, result(transaction_type="REFUND"))

    def test_a_result_without_transaction_type_is_read_as_a_decrypt(self, axerve: AxerveProvider) -> None:
        assert response(axerve, result(transaction_type=None)).status is Status.APPROVED


class TestFields:
    def test_reference_is_the_shop_transaction_id_and_the_gateway_id_the_bank_one(
        self, axerve: AxerveProvider
    ) -> None:
        r = response(axerve, result(shop="AX-5001-1", bank="1049"))
        assert (r.reference, r.gateway_txn_id) == ("AX-5001-1", "1049")

    def test_the_amount_is_a_decimal_with_a_dot_in_minor_units(self, axerve: AxerveProvider) -> None:
        assert response(axerve, result(amount="0.10")).amount_minor == 10
        assert response(axerve, result(amount="59")).amount_minor == 5900
        assert response(axerve, result(amount="1250.5")).amount_minor == 125050

    @pytest.mark.parametrize(("code", "iso"), [("242", "EUR"), ("1", "USD"), ("2", "GBP"), ("3", "CHF")])
    def test_the_currency_is_gestpay_numeric_code_mapped_to_iso(
        self, axerve: AxerveProvider, code: str, iso: str
    ) -> None:
        assert response(axerve, result(currency=code)).currency == iso

    def test_yen_has_no_decimals(self, axerve: AxerveProvider) -> None:
        r = response(axerve, result(currency="71", amount="1200"))
        assert (r.amount_minor, r.currency) == (1200, "JPY")
        assert "more decimals" in quarantined(axerve, result(currency="71", amount="12.50"))

    def test_every_currency_in_the_table_is_an_iso_currency_paycli_knows(self) -> None:
        from paycli.money import CURRENCY_EXPONENTS

        assert set(GESTPAY_CURRENCIES.values()) <= set(CURRENCY_EXPONENTS)

    def test_an_unknown_currency_code_is_quarantined_with_the_code_named(
        self, axerve: AxerveProvider
    ) -> None:
        assert "Currency '999'" in quarantined(axerve, result(currency="999"))

    def test_an_iso_currency_code_is_not_a_gestpay_code(self, axerve: AxerveProvider) -> None:
        # 978 is the ISO (and Nexi) number of the euro; GestPay's is 242: guessing would hide a wrong feed
        assert "Currency '978'" in quarantined(axerve, result(currency="978"))
        assert "Currency 'EUR'" in quarantined(axerve, result(currency="EUR"))

    def test_the_italian_lira_is_named_as_withdrawn(self, axerve: AxerveProvider) -> None:
        assert "ITL" in quarantined(axerve, result(currency="18", amount="115000"))

    def test_occurred_at_is_unknown_because_the_result_carries_no_time(self, axerve: AxerveProvider) -> None:
        assert response(axerve, result()).occurred_at is None

    def test_the_buyer_is_read_whether_nested_or_flat(self, axerve: AxerveProvider) -> None:
        # GestPayWS's toXML flattens Buyer{BuyerName,BuyerEmail}; both shapes are one result
        flat = result().replace("<Buyer>", "").replace("</Buyer>", "")
        assert response(axerve, flat).status is Status.APPROVED


class TestDedupe:
    def test_the_key_is_bank_transaction_id_and_result(self, axerve: AxerveProvider) -> None:
        assert response(axerve, result("OK", bank="1049")).dedupe_key == "1049:OK"

    def test_pending_and_final_of_one_transaction_have_different_keys(self, axerve: AxerveProvider) -> None:
        assert response(axerve, result("XX")).dedupe_key != response(axerve, result("OK")).dedupe_key

    def test_a_redelivery_in_other_bytes_has_the_same_key_and_values(self, axerve: AxerveProvider) -> None:
        first = response(axerve, result())
        pretty = result(declaration='<?xml version="1.0" encoding="utf-8"?>\n').replace("><", ">\n<")
        again = response(axerve, pretty)
        fields = ("dedupe_key", "status", "amount_minor", "currency", "reference", "authenticity")
        assert [getattr(first, f) for f in fields] == [getattr(again, f) for f in fields]

    def test_the_result_in_any_case_is_one_key(self, axerve: AxerveProvider) -> None:
        # the status is read case-blind, so the key must be too: else one result is two responses
        assert (
            response(axerve, result("ok")).dedupe_key
            == response(axerve, result("OK")).dedupe_key
            == "1049:OK"
        )
        assert response(axerve, result("Ko", bank=None)).dedupe_key == "shop:ORD-AX-5001:KO"

    def test_without_a_bank_transaction_id_the_key_falls_back_to_the_shop_one(
        self, axerve: AxerveProvider
    ) -> None:
        r = response(
            axerve, result("KO", bank=None, error=("1143", "Transazione abbandonata dal compratore"))
        )
        assert r.dedupe_key == "shop:ORD-AX-5001:KO"
        assert r.gateway_txn_id is None


class TestAuthenticity:
    def test_a_decrypted_result_is_unverifiable_because_decrypting_needs_the_network(
        self, axerve: AxerveProvider, unconfigured: AxerveProvider
    ) -> None:
        assert response(axerve, result()).authenticity is Authenticity.UNVERIFIABLE
        assert response(unconfigured, result()).authenticity is Authenticity.UNVERIFIABLE

    def test_the_provider_has_no_secret_to_configure(self, axerve: AxerveProvider) -> None:
        assert axerve.secrets_configured() == {}


class TestMissingOrBadFields:
    def test_an_approval_without_shop_transaction_id_is_quarantined(self, axerve: AxerveProvider) -> None:
        assert "without a ShopTransactionID" in quarantined(axerve, result("OK", shop=None))

    def test_a_ko_with_a_bank_id_but_no_shop_id_is_quarantined_not_guessed(
        self, axerve: AxerveProvider
    ) -> None:
        assert "without a ShopTransactionID" in quarantined(axerve, result("KO", shop=None))

    def test_a_result_without_transaction_result_is_quarantined(self, axerve: AxerveProvider) -> None:
        assert "TransactionResult is missing" in quarantined(axerve, result(result=None))

    @pytest.mark.parametrize(("amount", "currency"), [(None, "242"), ("59.00", None), (None, None)])
    def test_an_approval_without_amount_or_currency_is_quarantined(
        self, axerve: AxerveProvider, amount: str | None, currency: str | None
    ) -> None:
        assert "an approved result without" in quarantined(axerve, result(amount=amount, currency=currency))

    def test_a_refusal_without_amount_is_still_a_refusal(self, axerve: AxerveProvider) -> None:
        r = response(axerve, result("KO", amount=None, currency=None))
        assert (r.status, r.amount_minor, r.currency) == (Status.REFUSED, None, None)

    @pytest.mark.parametrize("amount", ["59,00", "-59.00", "59.001", "1e3", "abc", "59.00 EUR"])
    def test_a_bad_amount_is_quarantined(self, axerve: AxerveProvider, amount: str) -> None:
        assert "amount" in quarantined(axerve, result(amount=amount))

    def test_a_field_given_twice_is_quarantined(self, axerve: AxerveProvider) -> None:
        twice = result(extra="<Amount>0.01</Amount>")
        assert "<Amount> appears twice" in quarantined(axerve, twice)

    def test_two_results_in_one_file_are_quarantined(self, axerve: AxerveProvider) -> None:
        assert "2 <GestPayCryptDecrypt>" in quarantined(axerve, f"<log>{result()}{result()}</log>")

    def test_xml_without_the_result_element_is_quarantined(self, axerve: AxerveProvider) -> None:
        assert "no <GestPayCryptDecrypt>" in quarantined(axerve, "<GestPayResult><A>1</A></GestPayResult>")


class TestShapes:
    def test_a_result_inside_the_soap_answer_of_the_decrypt_call(self, axerve: AxerveProvider) -> None:
        soap = (
            '<?xml version="1.0" encoding="utf-8"?><soap:Envelope '
            'xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            '<DecryptResponse xmlns="https://ecomms2s.sella.it/"><DecryptResult>'
            f"{result()}</DecryptResult></DecryptResponse></soap:Body></soap:Envelope>"
        )
        r = response(axerve, soap)
        assert (r.status, r.reference, r.amount_minor) == (Status.APPROVED, "ORD-AX-5001", 5900)

    def test_a_namespaced_result(self, axerve: AxerveProvider) -> None:
        raw = result().replace('<GestPayCryptDecrypt xmlns="">', '<GestPayCryptDecrypt xmlns="urn:x">')
        assert response(axerve, raw).status is Status.APPROVED

    def test_a_result_in_a_raw_http_dump(self, axerve: AxerveProvider) -> None:
        raw = b"POST /log HTTP/1.1\r\nContent-Type: text/xml\r\n\r\n" + result().encode()
        assert response(axerve, raw).status is Status.APPROVED

    def test_a_result_with_a_headers_sidecar(self, axerve: AxerveProvider) -> None:
        record = read(axerve, result(), headers="Content-Type: text/xml; charset=utf-8")
        assert isinstance(record, ResponseRecord) and record.origin.headers is not None

    def test_extract_yields_one_record_that_reinterpret_reads_again_alike(
        self, axerve: AxerveProvider, tmp_path: Path
    ) -> None:
        path = tmp_path / "01-approved.xml"
        path.write_text(result())
        (record,) = list(axerve.extract(Source.from_path(path)))
        assert isinstance(record, ResponseRecord)
        assert record.origin == Origin(None, path.read_bytes(), None, None)
        assert axerve.reinterpret(record.origin) == record


class TestEncodings:
    def test_utf8_and_a_declared_latin1_result_read_alike(self, axerve: AxerveProvider) -> None:
        utf8 = response(axerve, result(buyer="Niccolò Fabbri").encode("utf-8"))
        latin1_text = result(
            buyer="Niccolò Fabbri", declaration='<?xml version="1.0" encoding="ISO-8859-1"?>'
        )
        latin1 = response(axerve, latin1_text.encode("iso-8859-1"))
        assert (utf8.status, utf8.amount_minor) == (latin1.status, latin1.amount_minor)

    def test_windows_1252_declared_is_read(self, axerve: AxerveProvider) -> None:
        text = result(buyer="Niccolò Fabbri", declaration='<?xml version="1.0" encoding="windows-1252"?>')
        assert response(axerve, text.encode("cp1252")).status is Status.APPROVED

    def test_latin1_bytes_without_a_declaration_are_quarantined(self, axerve: AxerveProvider) -> None:
        reason = quarantined(axerve, result(buyer="Niccolò").encode("iso-8859-1"))
        assert "not valid utf-8" in reason and "none is declared" in reason

    def test_latin1_bytes_declared_as_utf8_are_quarantined(self, axerve: AxerveProvider) -> None:
        text = result(buyer="Niccolò", declaration='<?xml version="1.0" encoding="UTF-8"?>')
        assert "not valid UTF-8 (it declares)" in quarantined(axerve, text.encode("iso-8859-1"))

    def test_an_unknown_declared_encoding_is_quarantined(self, axerve: AxerveProvider) -> None:
        text = result(declaration='<?xml version="1.0" encoding="klingon-8"?>')
        assert "unknown encoding 'klingon-8'" in quarantined(axerve, text)

    @pytest.mark.parametrize("encoding", ["punycode", "undefined"])
    def test_an_encoding_no_xml_is_written_in_is_quarantined(
        self, axerve: AxerveProvider, encoding: str
    ) -> None:
        text = result(declaration=f'<?xml version="1.0" encoding="{encoding}"?>')
        assert f"declares an encoding it cannot be read in, '{encoding}'" in quarantined(axerve, text)


class TestHostileAndBrokenInput:
    def test_an_xml_bomb_is_quarantined_unexpanded(self, axerve: AxerveProvider) -> None:
        bomb = (
            '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
            '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
            "<GestPayCryptDecrypt><TransactionResult>OK</TransactionResult><BuyerName>&c;</BuyerName>"
            "</GestPayCryptDecrypt>"
        )
        assert "declares entities (an XML bomb?): refused, nothing expanded" in quarantined(axerve, bomb)

    def test_an_external_entity_is_quarantined_and_never_fetched(
        self, axerve: AxerveProvider, tmp_path: Path
    ) -> None:
        secret_file = tmp_path / "secret.txt"
        secret_file.write_text("TOP-SECRET")
        xxe = (
            f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e SYSTEM "file://{secret_file}">]>'
            "<GestPayCryptDecrypt><TransactionResult>OK</TransactionResult>"
            "<ShopTransactionID>&e;</ShopTransactionID></GestPayCryptDecrypt>"
        )
        reason = quarantined(axerve, xxe)
        assert "external entity or DTD: refused, nothing fetched" in reason
        assert "TOP-SECRET" not in reason

    def test_an_external_dtd_is_quarantined(self, axerve: AxerveProvider) -> None:
        raw = '<!DOCTYPE GestPayCryptDecrypt SYSTEM "http://attacker.example/x.dtd">' + result()
        assert "nothing fetched" in quarantined(axerve, raw)

    def test_a_plain_doctype_is_quarantined_too(self, axerve: AxerveProvider) -> None:
        assert "has a DTD" in quarantined(axerve, "<!DOCTYPE GestPayCryptDecrypt>" + result())

    def test_a_truncated_result_is_quarantined(self, axerve: AxerveProvider) -> None:
        assert "truncated?" in quarantined(axerve, result()[:150])

    def test_invalid_xml_is_quarantined(self, axerve: AxerveProvider) -> None:
        reason = quarantined(axerve, result().replace("</Amount>", "</Amout>"))
        assert "not well-formed XML" in reason and "truncated" not in reason

    def test_a_binary_file_is_quarantined(self, axerve: AxerveProvider) -> None:
        assert "neither a decrypted result" in quarantined(axerve, b"\x00\x01\x02\xff\xfe" * 20)

    def test_an_empty_file_is_quarantined(self, axerve: AxerveProvider) -> None:
        assert "empty" in quarantined(axerve, b"  \n")

    def test_a_huge_file_forced_on_the_provider_is_refused_unread(
        self, axerve: AxerveProvider, tmp_path: Path
    ) -> None:
        path = tmp_path / "huge.xml"
        path.write_text(result(extra="<Pad>" + "x" * 100_000 + "</Pad>"))
        with pytest.raises(SourceError, match="larger than 64 KiB: not a GestPay callback"):
            list(axerve.extract(Source.from_path(path)))
        assert path.exists()  # refused: left where it is, for the operator to look at

    def test_a_stored_message_too_large_to_be_a_callback_stays_quarantined(
        self, axerve: AxerveProvider
    ) -> None:
        assert "too large" in quarantined(axerve, result(extra="<Pad>" + "x" * 100_000 + "</Pad>").encode())


# -- the raw S2S call ------------------------------------------------------------------------------
class TestEncryptedCall:
    def test_an_s2s_call_is_kept_as_information_linked_to_nothing(self, axerve: AxerveProvider) -> None:
        record = read(axerve, s2s_dump())
        assert isinstance(record, InfoRecord)
        assert record.reference is None
        assert f"encrypted S2S call for shop {SHOP}; its decrypted result is not at hand" in record.note
        assert "not the configured" not in record.note

    def test_a_call_for_another_shop_says_so(self, axerve: AxerveProvider) -> None:
        record = read(axerve, s2s_dump(shop="GESPAY11111"))
        assert isinstance(record, InfoRecord)
        assert f"shop GESPAY11111 is not the configured shop_login {SHOP}" in record.note

    def test_without_a_configured_shop_login_nothing_is_compared(self, unconfigured: AxerveProvider) -> None:
        record = read(unconfigured, s2s_dump(shop="GESPAY11111"))
        assert isinstance(record, InfoRecord) and "not the configured" not in record.note

    def test_the_browser_redirect_is_told_apart_by_its_user_agent(self, axerve: AxerveProvider) -> None:
        record = read(axerve, s2s_dump(agent=True))
        assert isinstance(record, InfoRecord) and "encrypted browser redirect" in record.note

    def test_a_user_agent_in_a_sidecar_counts_too(self, axerve: AxerveProvider) -> None:
        record = read(axerve, f"a={SHOP}&b={ENCRYPTED}", headers="User-Agent: Mozilla/5.0")
        assert isinstance(record, InfoRecord) and "browser redirect" in record.note

    @pytest.mark.parametrize(
        "raw",
        [
            f"a={SHOP}&b={ENCRYPTED}\n",
            f"?a={SHOP}&b={ENCRYPTED}",
            f"https://shop.example/gestpay/s2s?a={SHOP}&b={ENCRYPTED}\n",
        ],
    )
    def test_a_bare_query_string_or_url_is_an_s2s_call(self, axerve: AxerveProvider, raw: str) -> None:
        record = read(axerve, raw)
        assert isinstance(record, InfoRecord) and "S2S call for shop" in record.note

    def test_a_post_with_a_and_b_is_not_gestpay(self, axerve: AxerveProvider) -> None:
        assert "neither" in quarantined(axerve, s2s_dump(method="POST"))


@pytest.mark.parametrize(("field", "limit"), [("shop", 128), ("bank", 128), ("result", 60)])
def test_a_field_longer_than_the_store_holds_is_quarantined(
    axerve: AxerveProvider, field: str, limit: int
) -> None:
    raw = result(**{field: "X" * (limit + 1)})  # type: ignore[arg-type]
    assert f"longer than {limit} characters" in quarantined(axerve, raw)
