"""Mailing a report through the SMTP server of the configuration's ``smtp:`` section.

Standard library only (``smtplib``, ``email.message``). The password is a ``Secret``: it is revealed
only to ``SMTP.login`` and never appears in a message, even when the server echoes what it was sent.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from paycli.config import Secret
from paycli.errors import PaycliError

MIME = {".html": ("text", "html"), ".csv": ("text", "csv")}


class MailError(PaycliError):
    """The report was written but could not be mailed."""

    exit_code = 2


def build_message(
    smtp: Mapping[str, object], subject: str, body: str, attachments: Sequence[tuple[str, bytes]]
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = str(smtp["from"])
    message["To"] = ", ".join(str(a) for a in smtp["to"])  # type: ignore[attr-defined]
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=str(smtp["from"]).rpartition("@")[2] or None)
    message.set_content(body)
    for name, data in attachments:
        maintype, subtype = MIME.get(Path(name).suffix, ("application", "octet-stream"))
        if maintype == "text":  # paycli's reports are UTF-8 text: say so, or a mail reader guesses
            message.add_attachment(data.decode("utf-8"), subtype=subtype, filename=name)
        else:
            message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message


def send(smtp: Mapping[str, object], message: EmailMessage) -> None:
    host, port = str(smtp["host"]), int(smtp["port"])  # type: ignore[call-overload]
    timeout = int(smtp["timeout"])  # type: ignore[call-overload]
    security = smtp["security"]
    password = smtp.get("password")
    secret = password.reveal() if isinstance(password, Secret) else None
    try:
        client: smtplib.SMTP
        if security == "ssl":
            client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            if security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if smtp.get("username"):
                try:
                    client.login(str(smtp["username"]), secret or "")
                except smtplib.SMTPAuthenticationError as exc:
                    # only the code: a server may echo the AUTH exchange, the password in base64
                    raise MailError(
                        f"cannot mail the report through {host}:{port}: the server refused "
                        f"smtp.username and smtp.password (SMTP {exc.smtp_code})"
                    ) from None
                except UnicodeError:
                    raise MailError(
                        f"cannot mail the report through {host}:{port}: smtp.username or smtp.password "
                        "has a character SMTP login cannot send (only ASCII)"
                    ) from None
            client.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if secret:
            reason = reason.replace(secret, "***")
        raise MailError(f"cannot mail the report through {host}:{port}: {reason}") from None
