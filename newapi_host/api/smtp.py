"""Sending mail through the SMTP server set in New API's options.

``SMTPServer``, ``SMTPPort``, ``SMTPAccount``, ``SMTPToken`` (the password), ``SMTPFrom``;
``SMTPSSLEnabled`` (or port 465) means TLS from the first byte, otherwise STARTTLS is used
whenever the server offers it. A server that offers no STARTTLS is refused when
``SMTPStartTLSRequired`` is on, and (New API's rule) never gets the password in clear unless it
is this machine (a loopback address or ``localhost``). ``SMTPInsecureSkipVerify`` accepts any
certificate (a local relay with a self-signed one); otherwise the certificate must be trusted by
the machine and name the server. ``smtplib`` runs in a thread, with a timeout, so a slow server
never blocks the event loop. Errors name the step that failed, never the account's password.
"""

from __future__ import annotations

import asyncio
import ipaddress
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from newapi_host.options import Options

TIMEOUT = 15


class MailError(Exception):
    """Mail could not be sent; the message is safe to show an admin."""


def configured(options: Options) -> bool:
    return bool(options.get("SMTPServer").strip())


def _message(options: Options, to: str, subject: str, text: str, html: str) -> EmailMessage:
    sender = options.get("SMTPFrom").strip() or options.get("SMTPAccount").strip()
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = formataddr((options.get("SystemName") or "New API", sender))
    message["To"] = to
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def _local(host: str) -> bool:
    """This machine: a loopback address or ``localhost`` (mail to it never crosses a network)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _send(options: Options, message: EmailMessage) -> None:
    host, port = options.get("SMTPServer").strip(), options.get_int("SMTPPort", 587) or 587
    account, password = options.get("SMTPAccount").strip(), options.get("SMTPToken")
    context = ssl.create_default_context()
    if options.get_bool("SMTPInsecureSkipVerify"):
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    implicit = options.get_bool("SMTPSSLEnabled") or port == 465
    step = "connect"
    try:
        if implicit:
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=TIMEOUT, context=context)
        else:
            client = smtplib.SMTP(host, port, timeout=TIMEOUT)
        with client:
            step = "hello"
            client.ehlo()
            if not implicit and client.has_extn("starttls"):
                step = "STARTTLS"
                client.starttls(context=context)
                client.ehlo()
            elif not implicit and options.get_bool("SMTPStartTLSRequired"):
                raise MailError("the mail server does not offer STARTTLS, which SMTPStartTLSRequired asks for")
            elif not implicit and account and password and not _local(host):
                raise MailError(
                    "the mail server offers no TLS (neither STARTTLS nor SMTPSSLEnabled): "
                    "the password is never sent unencrypted to another machine"
                )
            if account and password:
                step = "login"
                client.login(account, password)
            step = "send"
            client.send_message(message)
    except ssl.SSLCertVerificationError as exc:
        raise MailError(
            f"the mail server's certificate was not accepted at {step} ({exc.verify_message}); it must be "
            "trusted by this machine and name the server, or turn on SMTPInsecureSkipVerify"
        ) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"the mail server refused or failed at {step} ({type(exc).__name__})") from None


async def send_mail(options: Options, to: str, subject: str, text: str, html: str) -> None:
    if not configured(options):
        raise MailError("no SMTP server is configured (SMTPServer)")
    await asyncio.to_thread(_send, options, _message(options, to, subject, text, html))
