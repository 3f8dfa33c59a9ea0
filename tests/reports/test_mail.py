"""Mailing the report through the configured SMTP server, against a small SMTP server on loopback."""

from __future__ import annotations

import base64
import email
import socketserver
import threading
import time
from collections.abc import Iterator
from email import policy
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Run
from tests.reports.conftest import DAY, NOW
from tests.reports.test_report import late_approval

PASSWORD = "s3cret-Pa55word"


class Smtp(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) for smtplib: EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT; and what a
    server's configuration may refuse (see ``Server``)."""

    def say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        server: Server = self.server  # type: ignore[assignment]
        if server.silent:  # a server that accepts the connection and never answers
            server.stop.wait(10)
            return
        self.say("220 test ESMTP")
        while line := self.rfile.readline():
            command = line.decode().strip()
            verb = command.split(" ", 1)[0].upper()
            if verb == "EHLO":
                lines = ["test", *server.extensions]
                self.wfile.write(
                    "".join(
                        f"250{'-' if i < len(lines) - 1 else ' '}{x}\r\n" for i, x in enumerate(lines)
                    ).encode()
                )
            elif verb == "MAIL" and server.require_tls:
                self.say("530 5.7.0 Must issue a STARTTLS command first")
            elif verb == "RCPT" and command.partition(":")[2].split()[0].strip("<>").lower() in server.refuse:
                self.say(server.refuse_with)
            elif verb == "AUTH":
                _, user, password = base64.b64decode(command.split()[2]).split(b"\0")
                server.logins.append((user.decode(), password.decode()))
                # a careless server echoes the exchange it refuses: the password, in base64
                self.say(
                    "235 ok" if password.decode() == PASSWORD else f"535 5.7.8 bad credentials: {command}"
                )
            elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                server.envelope.append(command)
                self.say("250 ok")
            elif verb == "DATA":
                self.say("354 go on")
                data = bytearray()
                paced = 0
                while (chunk := self.rfile.readline()) != b".\r\n":
                    data += chunk[1:] if chunk.startswith(b".") else chunk  # RFC 5321 4.5.2 dot-stuffing
                    if server.pace and len(data) - paced > server.pace:  # a slow link: pace bytes a 20 ms
                        paced = len(data)
                        time.sleep(0.02)
                if server.max_size and len(data) > server.max_size:
                    self.say("552 5.3.4 message size exceeds fixed maximum message size")
                    continue
                if server.refuse_data:
                    self.say(server.refuse_data)
                    continue
                server.messages.append(bytes(data))
                self.say("250 queued")
            elif verb == "QUIT":
                server.quits += 1
                if server.at_quit == "drop":  # the connection ends without a reply
                    return
                self.say("221 bye" if not server.at_quit else server.at_quit)
                return
            else:
                self.say("502 no")


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Smtp)
        self.logins: list[tuple[str, str]] = []
        self.envelope: list[str] = []
        self.messages: list[bytes] = []
        self.extensions = ["AUTH PLAIN"]  # what EHLO offers
        self.require_tls = False  # MAIL before STARTTLS is refused, as a submission port does
        self.refuse: set[str] = set()  # recipients refused at RCPT
        self.refuse_with = "550 5.1.1 user unknown"  # and the reply they get
        self.refuse_data = ""  # the reply to a whole message, in place of 250 (empty: it is taken)
        self.max_size = 0  # a message past it is refused at the end of DATA
        self.silent = False
        self.stop = threading.Event()
        self.pace = 0  # bytes taken every 20 ms of a message's DATA (0: as fast as they come)
        self.at_quit = ""  # the reply to QUIT (empty: 221), or "drop": the connection closed instead
        self.quits = 0

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that speaks TLS to it: its traceback is no part of paycli's output


@pytest.fixture
def smtp_server() -> Iterator[Server]:
    server = Server()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()


def configure(
    folder: Path,
    port: int,
    password: str = PASSWORD,
    security: str = "none",
    to: str = "[owner@shop.example, accounts@shop.example]",
    timeout: int = 30,
    sender: str = "paycli@shop.example",
) -> None:
    (folder / "pw").write_text(password + "\n")
    text = (folder / "paycli.yaml").read_text()
    (folder / "paycli.yaml").write_text(
        text
        + f"""smtp:
  host: 127.0.0.1
  port: {port}
  security: {security}
  username: paycli
  password_file: pw
  from: {sender}
  to: {to}
  timeout: {timeout}
"""
    )


def mail_report(shop: Any, isolated: Path) -> Run:
    return shop("report", "--now", NOW, "--date", DAY, "--out", f"{isolated}/", "--email")


def assert_written_not_mailed(result: Run, isolated: Path, *said: str) -> None:
    """One line naming what to look at; the files of the run are in place; no secret."""
    assert result.code == 2 and result.stderr.count("\n") == 1, result
    assert result.stderr.startswith("paycli: cannot mail the report through 127.0.0.1:"), result
    for text in said:
        assert text in result.stderr, result
    assert "written: " in result.stderr, result
    assert (isolated / "paycli-report-2026-11-26.html").exists()
    assert (isolated / "paycli-report-2026-11-26.csv").exists()
    assert PASSWORD not in result.stderr and "(b'" not in result.stderr and "{'" not in result.stderr


def test_the_report_is_mailed_with_its_files(shop, isolated, smtp_server):
    configure(isolated, smtp_server.server_address[1])
    result = shop("report", "--now", NOW, "--date", DAY, "--out", f"{isolated}/", "--email")
    assert result.code == 0, result
    assert "mailed to owner@shop.example, accounts@shop.example" in result.stderr
    assert smtp_server.logins == [("paycli", PASSWORD)]
    assert "rcpt TO:<accounts@shop.example>" in smtp_server.envelope
    message = email.message_from_bytes(smtp_server.messages[0], policy=policy.default)
    assert message["Subject"] == "paycli report 2026-11-26 [2 VERIFICARE]"
    assert message["From"] == "paycli@shop.example"
    body = message.get_body(("plain",)).get_content()
    assert "VERIFICARE 2" in body and "Settlement (stripe): matched 1" in body
    files = {part.get_filename(): part.get_content() for part in message.iter_attachments()}
    assert set(files) == {"paycli-report-2026-11-26.html", "paycli-report-2026-11-26.csv"}
    sent = files["paycli-report-2026-11-26.html"].replace("\r\n", "\n")  # SMTP carries CRLF lines
    assert sent.rstrip("\n") == (isolated / "paycli-report-2026-11-26.html").read_text().rstrip("\n")
    assert PASSWORD not in result.stdout + result.stderr


def test_the_mail_of_a_day_whose_only_news_is_a_late_approval_names_the_order_paid_twice(
    shop, isolated, db_url, smtp_server
):
    # order L-100's second attempt, unanswered on the 26th, approved on the 28th: the 28th's mail
    # says the order anomaly, not that nothing happened
    late_approval(shop, isolated, db_url)
    configure(isolated, smtp_server.server_address[1])
    now = "2026-11-29T07:30:00+01:00"
    result = shop("report", "--now", now, "--date", "2026-11-28", "--out", f"{isolated}/", "--email")
    assert result.code == 0, result
    body = email.message_from_bytes(smtp_server.messages[0], policy=policy.default).get_body(("plain",))
    text = body.get_content()
    assert "order anomalies: 1" in text and "Nothing happened" not in text, text


def test_a_refused_login_is_one_line_without_the_password(shop, isolated, smtp_server):
    configure(isolated, smtp_server.server_address[1], password="wrong-" + PASSWORD)
    result = shop("report", "--now", NOW, "--date", DAY, "--out", f"{isolated}/", "--email")
    assert result.code == 2 and result.stderr.count("\n") == 1
    assert (
        "cannot mail the report through 127.0.0.1" in result.stderr
        and "the server refused smtp.username and smtp.password (SMTP 535)" in result.stderr
    )
    echoed = base64.b64encode(b"\0paycli\0wrong-" + PASSWORD.encode()).decode()
    assert (
        PASSWORD not in result.stderr and "wrong-" not in result.stderr and echoed[:12] not in result.stderr
    )


def test_a_password_smtp_cannot_send_is_one_line_without_it(shop, isolated, smtp_server):
    configure(isolated, smtp_server.server_address[1], password="perché-" + PASSWORD)
    result = shop("report", "--now", NOW, "--date", DAY, "--out", f"{isolated}/", "--email")
    assert result.code == 2 and result.stderr.count("\n") == 1, result
    assert "smtp.username or smtp.password has a character SMTP login cannot send" in result.stderr
    assert "perch" not in result.stderr and "position" not in result.stderr


def test_an_unreachable_server_is_one_line(shop, isolated):
    server = Server()  # bound, then closed: nothing listens on the port
    port = server.server_address[1]
    server.server_close()
    configure(isolated, port)
    result = shop("report", "--now", NOW, "--date", DAY, "--out", f"{isolated}/", "--email")
    assert result.code == 2 and result.stderr.startswith(
        f"paycli: cannot mail the report through 127.0.0.1:{port}"
    )
    assert PASSWORD not in result.stderr
    assert (isolated / "paycli-report-2026-11-26.html").exists()  # written before the mail was tried


def test_an_unreachable_server_names_host_and_port_and_the_written_files(shop, isolated):
    server = Server()
    port = server.server_address[1]
    server.server_close()
    configure(isolated, port)
    result = mail_report(shop, isolated)
    assert_written_not_mailed(result, isolated, "connection refused: check smtp.host and smtp.port")


def test_a_server_silent_past_the_timeout_names_smtp_timeout(shop, isolated, smtp_server):
    smtp_server.silent = True
    configure(isolated, smtp_server.server_address[1], timeout=1)
    result = mail_report(shop, isolated)
    assert_written_not_mailed(result, isolated, "no answer within smtp.timeout (1 s)")


def test_starttls_the_server_does_not_offer_names_smtp_security(shop, isolated, smtp_server):
    configure(isolated, smtp_server.server_address[1], security="starttls")
    result = mail_report(shop, isolated)
    assert_written_not_mailed(
        result, isolated, "the server does not offer STARTTLS (smtp.security: starttls)"
    )


def test_a_server_that_requires_tls_names_smtp_security(shop, isolated, smtp_server):
    smtp_server.extensions = ["STARTTLS"]  # no AUTH before TLS, as a submission port
    configure(isolated, smtp_server.server_address[1])
    result = mail_report(shop, isolated)
    assert_written_not_mailed(result, isolated, "smtp.security")


def test_tls_against_a_plain_server_names_smtp_security(shop, isolated, smtp_server):
    configure(isolated, smtp_server.server_address[1], security="ssl")
    result = mail_report(shop, isolated)
    assert_written_not_mailed(result, isolated, "TLS", "smtp.security: ssl")


def test_a_mail_refused_until_tls_names_smtp_security(shop, isolated, smtp_server):
    smtp_server.require_tls = True
    configure(isolated, smtp_server.server_address[1])
    result = mail_report(shop, isolated)
    assert_written_not_mailed(
        result, isolated, "530 5.7.0 Must issue a STARTTLS command first", "smtp.security"
    )


def test_a_refused_recipient_is_named_and_nothing_said_mailed(shop, isolated, smtp_server):
    smtp_server.refuse = {"accounts@shop.example"}
    configure(isolated, smtp_server.server_address[1])
    result = mail_report(shop, isolated)
    # the other address got the mail; the one refused would never know without the error
    assert_written_not_mailed(
        result, isolated, "the server refused smtp.to accounts@shop.example (550 5.1.1 user unknown)"
    )
    assert "mailed to owner@shop.example only" in result.stderr
    assert len(smtp_server.messages) == 1


def test_every_recipient_refused_is_named(shop, isolated, smtp_server):
    smtp_server.refuse = {"accounts@shop.example", "owner@shop.example"}
    configure(isolated, smtp_server.server_address[1])
    result = mail_report(shop, isolated)
    assert_written_not_mailed(
        result, isolated, "the server refused smtp.to owner@shop.example, accounts@shop.example (550"
    )
    assert not smtp_server.messages


def test_a_report_too_large_for_the_server_says_its_size(shop, isolated, smtp_server):
    smtp_server.max_size = 5000
    configure(isolated, smtp_server.server_address[1])
    result = mail_report(shop, isolated)
    assert_written_not_mailed(
        result, isolated, "the server refused the message (552 5.3.4", " kB, the report's files attached"
    )


def test_smtp_to_may_be_one_address(shop, isolated, smtp_server):
    configure(isolated, smtp_server.server_address[1], to="owner@shop.example")
    result = mail_report(shop, isolated)
    assert result.code == 0, result
    assert "mailed to owner@shop.example\n" in result.stderr
    assert smtp_server.envelope[1] == "rcpt TO:<owner@shop.example>"


def test_the_mail_headers(shop, isolated, smtp_server):
    configure(isolated, smtp_server.server_address[1])
    assert mail_report(shop, isolated).code == 0
    message = email.message_from_bytes(smtp_server.messages[0], policy=policy.default)
    assert message["To"] == "owner@shop.example, accounts@shop.example"
    assert message["Date"].datetime is not None and message["Date"].datetime.tzinfo is not None
    assert message["Message-ID"].startswith("<") and message["Message-ID"].endswith("@shop.example>")
    assert message.get_content_type() == "multipart/mixed"
    parts = {p.get_filename(): p for p in message.iter_attachments()}
    assert parts["paycli-report-2026-11-26.html"].get_content_type() == "text/html"
    assert parts["paycli-report-2026-11-26.csv"].get_content_type() == "text/csv"
    assert parts["paycli-report-2026-11-26.csv"].get_content_charset() == "utf-8"
    sent = parts["paycli-report-2026-11-26.csv"].get_content()
    assert sent == (isolated / "paycli-report-2026-11-26.csv").read_bytes().decode("utf-8")


def test_only_a_mailed_report_needs_the_smtp_password(shop, isolated, smtp_server, monkeypatch):
    # the ingest cron runs every 10 minutes, an operator lists by hand: neither mails anything
    monkeypatch.delenv("PAYCLI_TEST_SMTP_PASSWORD", raising=False)
    configure(isolated, smtp_server.server_address[1])
    text = (isolated / "paycli.yaml").read_text()
    (isolated / "paycli.yaml").write_text(
        text.replace("  password_file: pw\n", "  password: ${PAYCLI_TEST_SMTP_PASSWORD}\n")
    )
    assert shop("list").code == 0
    result = shop("report", "--now", NOW, "--date", DAY, "--out", f"{isolated}/", "--no-email")
    assert result.code == 0, result
    result = mail_report(shop, isolated)
    assert result.code == 2 and result.stderr.count("\n") == 1, result
    assert "smtp.password: environment variable PAYCLI_TEST_SMTP_PASSWORD is not set" in result.stderr
    assert not smtp_server.logins and not smtp_server.messages
    monkeypatch.setenv("PAYCLI_TEST_SMTP_PASSWORD", PASSWORD)
    assert mail_report(shop, isolated).code == 0
    assert smtp_server.logins == [("paycli", PASSWORD)]


def test_the_receiver_does_not_need_the_smtp_password(cli, isolated, monkeypatch):
    monkeypatch.delenv("PAYCLI_TEST_SMTP_PASSWORD", raising=False)
    monkeypatch.delenv("PAYCLI_TEST_TOKEN", raising=False)
    smtp = "smtp:\n  host: h.example\n  username: u\n  password: ${PAYCLI_TEST_SMTP_PASSWORD}\n"
    smtp += "  from: a@b.example\n  to: c@d.example\n"
    (isolated / "paycli.yaml").write_text(
        f"timezone: Europe/Rome\n{smtp}serve:\n  token: ${{PAYCLI_TEST_TOKEN}}\n"
    )
    result = cli("serve", "--port", "0")  # its own secret is still its own: said
    assert result.code == 2, result
    assert "paycli.yaml: serve.token: environment variable PAYCLI_TEST_TOKEN is not set" in result.stderr
    assert "smtp" not in result.stderr


def test_report_help_says_the_files_stay_when_the_mail_fails(cli):
    # it said "a run stopped or failed writes none of its files", mail errors included
    text = " ".join(cli("report", "-h", db=False).stdout.split())
    assert "but for a mail that fails: it is tried once they are written, and they stay" in text


def test_a_large_report_over_a_slow_link_is_not_cut_by_the_timeout(smtp_server):
    # smtp.timeout is how long the server may stay silent, not how long a large report may take to
    # upload: socket.sendall counts its timeout over the whole message
    from paycli.reports.mail import build_message, send

    smtp_server.pace = 128 * 1024  # about 6.5 MB/s: 12 MB take some 2 s, past the timeout of 1 s
    report = (
        "verificare,2026-11-26 03:12,DEMO-1012-1,Ivan Petrov,stripe,VERIFICARE,349.00,EUR\r\n" * 150_000
    ).encode()
    smtp = {
        "host": "127.0.0.1",
        "port": smtp_server.server_address[1],
        "security": "none",
        "timeout": 1,
        "from": "paycli@shop.example",
        "to": ["owner@shop.example"],
    }
    assert send(smtp, build_message(smtp, "paycli report", "body", [("report.csv", report)])) == {}
    assert len(smtp_server.messages) == 1 and len(smtp_server.messages[0]) > len(report)


def test_report_email_true_and_standard_output_name_the_setting(shop, isolated, smtp_server):
    configure(isolated, smtp_server.server_address[1])
    text = (isolated / "paycli.yaml").read_text()
    (isolated / "paycli.yaml").write_text(text.replace("report:\n", "report:\n  email: true\n"))
    args = ("report", "--now", NOW, "--date", DAY, "--format", "html", "--out", "-")
    result = shop(*args)
    # it said "--email: ...", an option nobody gave
    assert result.code == 2 and result.stderr == (
        "paycli: report.email is true: write the report to a file or folder (--out), not to standard "
        "output, or give --no-email\n"
    ), result
    assert shop(*args, "--no-email").code == 0
    result = shop(*args, "--email")
    assert result.stderr.startswith("paycli: --email: write the report to a file or folder (--out)")


def test_a_subject_of_several_lines_is_a_configuration_error_not_a_header_of_its_own(shop, isolated):
    # a header cannot hold a line break: the report was written, then the mail failed with exit 70
    configure(isolated, 25)
    text = (isolated / "paycli.yaml").read_text()
    (isolated / "paycli.yaml").write_text(text + '  subject: "paycli {period}\\nBcc: someone@else.example"\n')
    result = shop("report", "--now", NOW, "--date", DAY, "--out", f"{isolated}/", "--email")
    assert result.code == 2 and result.stderr.count("\n") == 1, result
    assert "smtp.subject" in result.stderr and "one line" in result.stderr, result


def test_the_mail_ends_with_quit(shop, isolated, smtp_server):
    configure(isolated, smtp_server.server_address[1])
    assert mail_report(shop, isolated).code == 0
    assert smtp_server.quits == 1


@pytest.mark.parametrize("at_quit", ["421 4.4.2 closing, timeout", "500 5.5.1 what?", "drop"])
def test_a_failure_at_quit_after_the_mail_was_taken_is_no_error(shop, isolated, smtp_server, at_quit):
    # the server answered 250 to the message: it is delivered, whatever QUIT then meets
    smtp_server.at_quit = at_quit
    configure(isolated, smtp_server.server_address[1])
    result = mail_report(shop, isolated)
    assert result.code == 0, result
    assert "mailed to owner@shop.example, accounts@shop.example" in result.stderr
    assert len(smtp_server.messages) == 1 and smtp_server.quits == 1


@pytest.mark.parametrize(
    ("sender", "shown", "address"),
    [
        ("Paycli <ops@shop.example>", "Paycli <ops@shop.example>", "ops@shop.example"),
        ("'\"Rossi, Shop\" <ops@shop.example>'", '"Rossi, Shop" <ops@shop.example>', "ops@shop.example"),
        ("Società Pagamenti <ops@shop.example>", "Società Pagamenti <ops@shop.example>", "ops@shop.example"),
        ("<ops@shop.example>", "ops@shop.example", "ops@shop.example"),
    ],
)
def test_smtp_from_may_have_a_display_name(shop, isolated, smtp_server, sender, shown, address):
    configure(isolated, smtp_server.server_address[1], sender=sender)
    result = mail_report(shop, isolated)
    assert result.code == 0, result
    raw = smtp_server.messages[0]
    assert raw.isascii()  # RFC 5322: a non-ASCII name travels encoded (RFC 2047)
    message = email.message_from_bytes(raw, policy=policy.default)
    assert str(message["From"]) == shown
    assert message["From"].addresses[0].addr_spec == address
    assert f"mail FROM:<{address}>" in smtp_server.envelope[0]
    assert message["Message-ID"].endswith("@shop.example>"), message["Message-ID"]


@pytest.mark.parametrize(
    ("sender", "said"),
    [
        ("Paycli <ops>", "'ops' is not an e-mail address"),
        ("Paycli <ops@shop.example", "is not an e-mail address"),
        ("a@b.example <c@d.example>", "a display name"),
        ("Two <a@b.example> <c@d.example>", "is not an e-mail address"),
    ],
)
def test_a_wrong_smtp_from_is_a_configuration_error(shop, isolated, sender, said):
    configure(isolated, 25, sender=sender)
    result = mail_report(shop, isolated)
    assert result.code == 2 and result.stderr.count("\n") == 1, result
    assert "smtp.from: " in result.stderr and said in result.stderr, result


def test_the_date_header_is_rfc_5322_with_its_true_offset(shop, isolated, smtp_server):
    import email.utils
    from datetime import UTC, datetime

    configure(isolated, smtp_server.server_address[1])
    before = datetime.now(UTC).replace(microsecond=0)
    assert mail_report(shop, isolated).code == 0
    message = email.message_from_bytes(smtp_server.messages[0], policy=policy.default)
    date = message["Date"]
    assert email.utils.format_datetime(date.datetime) == str(date)  # day, date, time, numeric zone
    assert before <= date.datetime <= datetime.now(UTC)  # the offset says the true instant


# -- internationalised addresses, and what a server refuses ------------------------------------------
def test_a_domain_that_is_not_ascii_is_sent_as_idna_to_a_server_without_smtputf8(shop, isolated, smtp_server):
    # smtplib refused the whole mail ("require internationalized email support") at a server that does
    # not offer SMTPUTF8, most of them, where the domain's IDNA form needs none
    configure(
        isolated,
        smtp_server.server_address[1],
        to="[ops@caffè.it, owner@shop.example]",
        sender="Caffè <paycli@caffè.it>",
    )
    result = mail_report(shop, isolated)
    assert result.code == 0, result
    assert "mailed to ops@caffè.it, owner@shop.example" in result.stderr
    assert smtp_server.envelope[:2] == ["mail FROM:<paycli@xn--caff-8oa.it>", "rcpt TO:<ops@xn--caff-8oa.it>"]
    raw = smtp_server.messages[0]
    assert raw.isascii()
    message = email.message_from_bytes(raw, policy=policy.default)
    assert message["To"].addresses[0].addr_spec == "ops@xn--caff-8oa.it"
    assert str(message["From"]) == "Caffè <paycli@xn--caff-8oa.it>"


def test_a_refused_recipient_of_an_idna_domain_is_named_as_smtp_to_writes_it(shop, isolated, smtp_server):
    smtp_server.refuse = {"ops@xn--caff-8oa.it"}
    smtp_server.refuse_with = "552 5.2.2 mailbox full"
    configure(isolated, smtp_server.server_address[1], to="[ops@caffè.it, owner@shop.example]")
    result = mail_report(shop, isolated)
    assert_written_not_mailed(
        result, isolated, "the server refused smtp.to ops@caffè.it (552 5.2.2 mailbox full)"
    )
    assert "mailed to owner@shop.example only" in result.stderr  # not to the one refused
    assert len(smtp_server.messages) == 1
    smtp_server.refuse.add("owner@shop.example")
    result = mail_report(shop, isolated)
    assert_written_not_mailed(
        result,
        isolated,
        "the server refused smtp.to ops@caffè.it, owner@shop.example (552 5.2.2 mailbox full)",
    )


def test_a_name_that_is_not_ascii_needs_smtputf8_and_is_said_naming_the_setting(shop, isolated, smtp_server):
    configure(isolated, smtp_server.server_address[1], to="[perché@shop.example]")
    result = mail_report(shop, isolated)
    assert_written_not_mailed(
        result,
        isolated,
        "smtp.to perché@shop.example has a name before the @ that is not ASCII, and the server does not "
        "offer SMTPUTF8",
    )
    assert not smtp_server.messages
    smtp_server.extensions = ["AUTH PLAIN", "SMTPUTF8", "8BITMIME"]
    result = mail_report(shop, isolated)
    assert result.code == 0, result
    assert "mailed to perché@shop.example" in result.stderr
    assert smtp_server.envelope[0].endswith(" SMTPUTF8 BODY=8BITMIME")


def test_a_message_the_server_refuses_for_good_names_its_reply(shop, isolated, smtp_server):
    smtp_server.refuse_data = "554 5.7.1 message rejected as spam"
    configure(isolated, smtp_server.server_address[1])
    result = mail_report(shop, isolated)
    assert_written_not_mailed(
        result, isolated, "the server refused the message (554 5.7.1 message rejected as spam)"
    )


@pytest.mark.parametrize(
    ("to", "said"),
    [
        (
            "[ops@caffè..it]",
            "smtp.to: 'ops@caffè..it': its domain 'caffè..it' is no internationalised domain name",
        ),
        ("[a@shop.example, ops@caffè..it]", "smtp.to: item 2: 'ops@caffè..it': its domain"),
    ],
)
def test_a_domain_that_has_no_idna_form_is_a_configuration_error(shop, isolated, to, said):
    configure(isolated, 25, to=to)
    result = mail_report(shop, isolated)
    assert result.code == 2 and result.stderr.count("\n") == 1, result
    assert said in result.stderr, result
