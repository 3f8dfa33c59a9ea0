"""Mailing the report through the configured SMTP server, against a small SMTP server on loopback."""

from __future__ import annotations

import base64
import email
import socketserver
import threading
from collections.abc import Iterator
from email import policy
from pathlib import Path

import pytest

from tests.reports.conftest import DAY, NOW

PASSWORD = "s3cret-Pa55word"


class Smtp(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) for smtplib: EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT."""

    def say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        server: Server = self.server  # type: ignore[assignment]
        self.say("220 test ESMTP")
        while line := self.rfile.readline():
            command = line.decode().strip()
            verb = command.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.wfile.write(b"250-test\r\n250 AUTH PLAIN\r\n")
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
                data = b""
                while (chunk := self.rfile.readline()) != b".\r\n":
                    data += chunk[1:] if chunk.startswith(b".") else chunk  # RFC 5321 4.5.2 dot-stuffing
                server.messages.append(data)
                self.say("250 queued")
            elif verb == "QUIT":
                self.say("221 bye")
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


@pytest.fixture
def smtp_server() -> Iterator[Server]:
    server = Server()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def configure(folder: Path, port: int, password: str = PASSWORD) -> None:
    (folder / "pw").write_text(password + "\n")
    text = (folder / "paycli.yaml").read_text()
    (folder / "paycli.yaml").write_text(
        text
        + f"""smtp:
  host: 127.0.0.1
  port: {port}
  security: none
  username: paycli
  password_file: pw
  from: paycli@shop.example
  to: [owner@shop.example, accounts@shop.example]
"""
    )


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
