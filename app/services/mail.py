"""Outgoing e-mail over SMTP, configured by the SMTP* options (one-api / new-api names).

Transport, as one-api and new-api choose it: port 465 or SMTPSSLEnabled means TLS from the first byte
(SMTP_SSL); any other port starts in clear text and upgrades with STARTTLS when the server offers it.
Unlike them we verify the server's certificate, and we never send the account's password over a
connection that is still clear text unless the server is on this machine (Go's smtp.PlainAuth rule).
"""

from __future__ import annotations

import ipaddress
import logging
import smtplib
import ssl
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid

from flask import current_app

from app.errors import AppError
from app.options import get_option

log = logging.getLogger(__name__)

IMPLICIT_TLS_PORT = 465


class MailNotConfigured(AppError):
    status = 503
    error_type = "server_error"
    code = "mail_not_configured"


class MailDeliveryFailed(AppError):
    status = 502
    error_type = "server_error"
    code = "mail_delivery_failed"


def is_configured() -> bool:
    """True when a mail server and a sender (SMTPFrom or SMTPAccount) are set."""
    return bool(get_option("SMTPServer") and (get_option("SMTPFrom") or get_option("SMTPAccount")))


def _is_local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_message(to: str, subject: str, text: str, html: str | None = None) -> EmailMessage:
    """A MIME message from the site (SystemName <SMTPFrom>) with a Message-ID and Date (RFC 5322)."""
    sender = get_option("SMTPFrom") or get_option("SMTPAccount")
    message = EmailMessage()
    message["From"] = formataddr((get_option("SystemName") or "Sluice", sender))
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now().astimezone())
    domain = sender.rpartition("@")[2] or None
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    return message


def send_mail(to: str, subject: str, text: str, html: str | None = None) -> None:
    """Send one message; raise MailNotConfigured (503) or MailDeliveryFailed (502) with a readable reason.

    The reason names what failed (connection, TLS, login, recipient refused) and never the password.
    """
    if not is_configured():
        raise MailNotConfigured("e-mail is not set up on this server (SMTPServer and SMTPFrom)")
    message = build_message(to, subject, text, html)
    host, port = get_option("SMTPServer"), get_option("SMTPPort")
    account, secret = get_option("SMTPAccount"), get_option("SMTPToken")
    timeout = current_app.config.get("SMTP_TIMEOUT", 15.0)
    context = ssl.create_default_context()
    implicit_tls = port == IMPLICIT_TLS_PORT or get_option("SMTPSSLEnabled")
    stage = "connect"
    try:
        if implicit_tls:
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            client.ehlo()
            encrypted = implicit_tls
            if not implicit_tls and client.has_extn("starttls"):
                stage = "starttls"
                client.starttls(context=context)
                client.ehlo()
                encrypted = True
            if account and secret:
                if not encrypted and not _is_local(host):
                    raise MailDeliveryFailed("the mail server offers no TLS; refusing to send the SMTP password "
                                             "in clear text")
                stage = "login"
                client.login(account, secret)
            stage = "send"
            client.send_message(message)
    except MailDeliveryFailed:
        raise
    except smtplib.SMTPAuthenticationError:
        log.warning("SMTP login to %s:%s failed", host, port)
        raise MailDeliveryFailed("the mail server refused the SMTP account or password") from None
    except smtplib.SMTPRecipientsRefused:
        raise MailDeliveryFailed("the mail server refused the recipient address") from None
    except (ssl.SSLError, ssl.CertificateError) as exc:
        log.warning("SMTP TLS with %s:%s failed: %s", host, port, exc)
        raise MailDeliveryFailed("could not set up TLS with the mail server") from None
    except (OSError, smtplib.SMTPException) as exc:
        # OSError covers refused connections, DNS failures and timeouts (socket.timeout is one).
        log.warning("SMTP %s with %s:%s failed: %r", stage, host, port, exc)
        what = "reach" if stage == "connect" and isinstance(exc, OSError) else "send through"
        raise MailDeliveryFailed(f"could not {what} the mail server; please try again later") from None
