"""Mailing a report through the SMTP server of the configuration's ``smtp:`` section.

Standard library only (``smtplib``, ``email.message``). The password is a ``Secret``: it is revealed
only to ``SMTP.login`` and never appears in a message, even when the server echoes what it was sent.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Callable, Mapping, Sequence
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, unquote
from pathlib import Path

from paycli.config import Secret
from paycli.errors import PaycliError

MIME = {".html": ("text", "html"), ".csv": ("text", "csv")}


PIECE = 64 * 1024  # bytes a socket send may take smtp.timeout for


class _PacedSMTP(smtplib.SMTP):
    """A message sent in pieces of 64 KiB: the socket's timeout (smtp.timeout) is then how long the
    server may take no byte, not how long a whole report may take to upload, over which a single
    ``sendall`` counts it (30 MB at 1 MB/s would time out at 30 s)."""

    def send(self, s: bytes | str) -> None:  # type: ignore[override]  # smtplib sends bytes and str
        _send_in_pieces(super().send, s)


class _PacedSMTP_SSL(smtplib.SMTP_SSL):
    def send(self, s: bytes | str) -> None:  # type: ignore[override]  # smtplib sends bytes and str
        _send_in_pieces(super().send, s)


def _send_in_pieces(send: Callable[[bytes | str], None], data: bytes | str) -> None:
    if isinstance(data, str) or len(data) <= PIECE:  # a command line
        send(data)
        return
    for start in range(0, len(data), PIECE):
        send(data[start : start + PIECE])


class MailError(PaycliError):
    """The report was written but could not be mailed."""

    exit_code = 2


def build_message(
    smtp: Mapping[str, object], subject: str, body: str, attachments: Sequence[tuple[str, bytes]]
) -> EmailMessage:
    message = EmailMessage()
    sender = sender_address(str(smtp["from"]))
    message["From"] = sender  # a non-ASCII display name is encoded (RFC 2047) as the message is written
    message["To"] = ", ".join(ascii_domain(str(a)) for a in smtp["to"])  # type: ignore[attr-defined]
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=sender.domain or None)
    message.set_content(body)
    for name, data in attachments:
        maintype, subtype = MIME.get(Path(name).suffix, ("application", "octet-stream"))
        if maintype == "text":  # paycli's reports are UTF-8 text: say so, or a mail reader guesses
            message.add_attachment(data.decode("utf-8"), subtype=subtype, filename=name)
        else:
            message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message


def sender_address(text: str) -> Address:
    """smtp.from as checked on load: ``ops@shop.example``, ``Paycli <ops@shop.example>`` or
    ``"Rossi, Shop" <ops@shop.example>``."""
    name, bracket, address = text.strip().rpartition("<")
    if not bracket:
        return Address(addr_spec=ascii_domain(text.strip()))
    return Address(
        display_name=unquote(name.strip()), addr_spec=ascii_domain(address.removesuffix(">").strip())
    )


def ascii_domain(address: str) -> str:
    """An address with its domain as DNS and every SMTP server take it: ``ops@caffè.it`` as
    ``ops@xn--caff-8oa.it`` (IDNA, RFC 5891), which needs no SMTPUTF8 (RFC 6531) of the server; as
    written without it, smtplib refused to send to a server that does not offer SMTPUTF8 (most do
    not). A name before the @ that is not ASCII still needs it (``MailError`` names the setting)."""
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    return f"{local}@{domain.encode('idna').decode('ascii')}"  # checked on load: it encodes


def send(smtp: Mapping[str, object], message: EmailMessage) -> dict[str, str]:
    """Send ``message``; the recipients the server refused while it took the others, each with its
    reply. Every failure is a ``MailError`` of one line naming the setting to look at."""
    host, port = str(smtp["host"]), int(smtp["port"])  # type: ignore[call-overload]
    timeout = int(smtp["timeout"])  # type: ignore[call-overload]
    security = smtp["security"]
    password = smtp.get("password")
    secret = password.reveal() if isinstance(password, Secret) else None

    def failed(reason: str) -> MailError:
        if secret:
            reason = reason.replace(secret, "***")
        return MailError(f"cannot mail the report through {host}:{port}: {reason}")

    client: smtplib.SMTP
    try:
        if security == "ssl":
            client = _PacedSMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            client = _PacedSMTP(host, port, timeout=timeout)
        try:
            if security == "starttls":
                try:
                    client.starttls(context=ssl.create_default_context())
                except smtplib.SMTPNotSupportedError:
                    raise failed(
                        "the server does not offer STARTTLS (smtp.security: starttls): "
                        "ssl if its port takes TLS at once (465), none for a local relay"
                    ) from None
            if smtp.get("username"):
                _login(client, str(smtp["username"]), secret or "", str(security), failed)
            _check_utf8(client, smtp, failed)
            refused = client.send_message(message)
        finally:
            _quit(client)
    except MailError:
        raise
    except smtplib.SMTPRecipientsRefused as exc:
        raise failed(_refused_recipients(smtp, exc.recipients)) from None
    except smtplib.SMTPSenderRefused as exc:
        raise failed(
            _refused_message(exc.smtp_code, exc.smtp_error, message, f"smtp.from {exc.sender}")
        ) from None
    except smtplib.SMTPDataError as exc:
        raise failed(_refused_message(exc.smtp_code, exc.smtp_error, message, "the message")) from None
    except smtplib.SMTPResponseException as exc:
        raise failed(f"the server answered {_reply(exc.smtp_code, exc.smtp_error)}") from None
    except ssl.SSLCertVerificationError as exc:
        raise failed(
            f"the server's TLS certificate is not trusted for smtp.host {host} ({exc.verify_message})"
        ) from None
    except ssl.SSLError as exc:
        raise failed(
            f"TLS failed ({exc.reason or type(exc).__name__}): check smtp.security: {security} against "
            "the port (TLS at once: ssl, usually 465; STARTTLS: starttls, usually 587)"
        ) from None
    except (TimeoutError, smtplib.SMTPServerDisconnected) as exc:
        if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
            raise failed(f"no answer within smtp.timeout ({timeout} s)") from None
        raise failed(f"the server closed the connection ({_first_line(exc)})") from None
    except ConnectionRefusedError:
        raise failed("connection refused: check smtp.host and smtp.port") from None
    except socket.gaierror as exc:
        raise failed(f"cannot find smtp.host {host} ({exc.strerror})") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise failed(_first_line(exc)) from None
    return {_configured(smtp, address): _reply(code, text) for address, (code, text) in refused.items()}


def _configured(smtp: Mapping[str, object], address: str) -> str:
    """An envelope address as smtp.to writes it (``ops@caffè.it``, sent as ``ops@xn--caff-8oa.it``)."""
    for written in smtp["to"]:  # type: ignore[attr-defined]
        if ascii_domain(str(written)) == address:
            return str(written)
    return address


def _check_utf8(client: smtplib.SMTP, smtp: Mapping[str, object], failed: Callable[[str], MailError]) -> None:
    """An address whose name before the @ is not ASCII (``perché@shop.example``) can be sent only to a
    server that offers SMTPUTF8 (RFC 6531): said naming the setting, where smtplib's refusal named none."""
    client.ehlo_or_helo_if_needed()
    if client.has_extn("smtputf8"):
        return
    sender = sender_address(str(smtp["from"])).addr_spec
    wide = [("smtp.from", sender)] if not sender.isascii() else []
    wide += [("smtp.to", str(a)) for a in smtp["to"] if not ascii_domain(str(a)).isascii()]  # type: ignore[attr-defined]
    if wide:
        key, address = wide[0]
        raise failed(
            f"{key} {address} has a name before the @ that is not ASCII, and the server does not offer "
            "SMTPUTF8, which such an address needs: give an ASCII address"
        )


def _quit(client: smtplib.SMTP) -> None:
    """QUIT (RFC 5321 4.1.1.10), then the connection closed. What QUIT meets is no failure: the mail
    was taken at the end of DATA (250), or what went wrong before is the error to say; smtplib's
    ``with`` made a refused or unanswered QUIT the error, and a delivered report a failed one."""
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        client.close()


def _login(
    client: smtplib.SMTP, username: str, password: str, security: str, failed: Callable[[str], MailError]
) -> None:
    try:
        client.login(username, password)
    except smtplib.SMTPNotSupportedError:
        if security == "none" and client.has_extn("starttls"):
            raise failed(
                "the server offers a login only after STARTTLS: set smtp.security: starttls"
            ) from None
        raise failed(
            "the server offers no login (leave smtp.username out for a relay that needs none)"
        ) from None
    except smtplib.SMTPAuthenticationError as exc:
        # only the code: a server may echo the AUTH exchange, the password in base64
        if exc.smtp_code in (530, 538) and security == "none":  # RFC 3207, RFC 4954: TLS first
            raise failed(
                f"the server takes a login only over TLS (SMTP {exc.smtp_code}): set smtp.security: starttls"
            ) from None
        raise failed(f"the server refused smtp.username and smtp.password (SMTP {exc.smtp_code})") from None
    except UnicodeError:
        raise failed(
            "smtp.username or smtp.password has a character SMTP login cannot send (only ASCII)"
        ) from None


def _reply(code: int, text: bytes | str) -> str:
    """A server's reply on one line: ``550 5.1.1 user unknown``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return " ".join(f"{code} {text}".split())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _refused_recipients(smtp: Mapping[str, object], recipients: Mapping[str, tuple[int, bytes]]) -> str:
    replies = {_configured(smtp, address): _reply(code, text) for address, (code, text) in recipients.items()}
    first = next(iter(replies.values()), "")
    return f"the server refused smtp.to {', '.join(replies)} ({first})"


def _refused_message(code: int, text: bytes | str, message: EmailMessage, what: str) -> str:
    reply = _reply(code, text)
    if code == 552 or reply.startswith(f"{code} 5.3.4"):  # RFC 1870: past the server's size limit
        size = len(message.as_bytes())
        shown = f"{size / 1_000_000:.1f} MB" if size >= 1_000_000 else f"{size // 1000 + 1} kB"
        return (
            f"the server refused the message ({reply}): {shown}, the report's files attached (a "
            "report of fewer days or one format, --format, is smaller)"
        )
    if code == 530 or reply.startswith(f"{code} 5.7.0"):  # RFC 3207, RFC 4954: TLS or a login first
        return f"the server refused to take mail ({reply}): check smtp.security and smtp.username"
    return f"the server refused {what} ({reply})"
