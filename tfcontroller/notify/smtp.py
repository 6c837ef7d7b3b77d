"""E-mail delivery over SMTP (smtplib), with failures classified into DeliveryError.

TLS modes: `none` (plain, port 25 relays on a trusted network), `starttls` (upgrade, refused if the
server does not offer it — never a silent fall back to plain text), `tls` (implicit TLS). Certificates
are always verified against the system store, plus `ca_file` when given (a private relay, or a test
server); there is deliberately no switch to turn verification off.

A permanent (5xx) answer is about the provider (its credentials, sender, relay) unless it is about this
message (`message_refused`): its size (552, enhanced 5.3.4 / 5.2.3, also at MAIL FROM when the server
checks the declared SIZE) or, after DATA, its content (554 "transaction failed", enhanced 5.6.x media
errors, 5.7.1 refused by policy/spam filter). Those are `message_level`: one mail the server will never
take must not block every other mail to it.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage

from tfcontroller.api.redact import scrub
from tfcontroller.notify.config import SMTPConfig
from tfcontroller.notify.errors import DeliveryError

log = logging.getLogger(__name__)


class SMTPTransport:
    """Sends one message per call on a fresh connection: drift mail is rare, and a fresh connection
    cannot fail because an idle one was dropped."""

    def __init__(self, config: SMTPConfig) -> None:
        self.config = config

    def __repr__(self) -> str:
        return f"SMTPTransport({self.config})"

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        if self.config.ca_file:
            ctx.load_verify_locations(cafile=self.config.ca_file)
        return ctx

    def send(self, msg: EmailMessage, to: Sequence[str]) -> None:
        """Deliver `msg` to `to` (the envelope recipients) or raise DeliveryError."""
        if not to:
            raise DeliveryError("NoRecipients", "no recipients given", transient=False)
        cfg = self.config
        where = f"{cfg.host}:{cfg.port}"
        try:
            with self._connect() as smtp:
                if cfg.tls == "starttls":
                    smtp.ehlo()
                    if not smtp.has_extn("starttls"):
                        raise DeliveryError(
                            "TLSUnavailable", f"{where} does not offer STARTTLS", transient=True
                        )
                    smtp.starttls(context=self.ssl_context())
                    smtp.ehlo()
                if cfg.username:
                    smtp.login(cfg.username, cfg.password)
                refused = smtp.send_message(msg, from_addr=cfg.from_addr, to_addrs=list(to))
        except DeliveryError:
            raise
        except smtplib.SMTPAuthenticationError as exc:
            # 535 (credentials invalid) cannot pass with the same Secret; 454 (temporary failure) can.
            raise self._error("AuthFailed", f"{where} refused the credentials of user {cfg.username!r}", exc,
                              transient=_is_4xx(exc.smtp_code)) from None
        except smtplib.SMTPNotSupportedError as exc:  # the server offers no AUTH: a configuration to fix
            raise self._error("AuthUnavailable", f"{where} does not support authentication here", exc,
                              transient=False) from None
        except smtplib.SMTPRecipientsRefused as exc:
            names = ", ".join(sorted(exc.recipients))
            raise DeliveryError("RecipientsRefused", f"{where} refused recipient(s) {names}",
                                transient=False) from None
        except smtplib.SMTPSenderRefused as exc:
            if message_refused(exc.smtp_code, _reply(exc), after_data=False):  # SIZE declared too large
                raise self._error("MessageRefused", f"{where} refused the message", exc, transient=False,
                                  message_level=True) from None
            raise self._error("SenderRefused", f"{where} refused sender {cfg.from_addr}", exc,
                              transient=_is_4xx(exc.smtp_code)) from None
        except smtplib.SMTPResponseException as exc:
            if message_refused(exc.smtp_code, _reply(exc), after_data=isinstance(exc, smtplib.SMTPDataError)):
                raise self._error("MessageRefused", f"{where} refused the message", exc, transient=False,
                                  message_level=True) from None
            raise self._error("Rejected", f"{where} rejected the message", exc,
                              transient=_is_4xx(exc.smtp_code)) from None
        except ssl.SSLError as exc:
            raise self._error("TLSFailed", f"TLS with {where} failed", exc, transient=True) from None
        except TimeoutError as exc:
            raise self._error("ConnectionFailed", f"timed out talking to {where}", exc, transient=True) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise self._error("ConnectionFailed", f"could not talk to {where}", exc, transient=True) from None
        if refused:  # accepted for some recipients: retrying would duplicate it for the others
            log.warning("mail refused for some recipients host=%s refused=%s", where, ",".join(sorted(refused)))
        log.info("mail sent host=%s recipients=%d subject=%r", where, len(to), msg.get("Subject", ""))

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        if cfg.tls == "tls":
            return smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout, context=self.ssl_context())
        return smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)

    def _error(self, reason: str, message: str, exc: BaseException, *, transient: bool,
               message_level: bool = False) -> DeliveryError:
        detail = _describe(exc)
        text = f"{message}: {detail}" if detail else message
        return DeliveryError(reason, scrub(text, [self.config.password]), transient=transient,
                             message_level=message_level)


_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
_SIZE_STATUSES = frozenset({"5.3.4", "5.2.3"})  # message too big for the system / exceeds a limit


def enhanced_status(reply: str) -> str:
    """The RFC 3463 enhanced status code a reply text starts with ("5.7.1"), "" when it has none. Pure."""
    m = _ENHANCED.match(reply)
    return ".".join(m.groups()) if m else ""


def message_refused(code: int | None, reply: str, *, after_data: bool) -> bool:
    """Whether a permanent SMTP answer refuses this message rather than the provider (module docstring):
    its size at any step, or its content once the server has seen it (`after_data`: the answer to the
    end of DATA). Anything else (credentials, sender, a 554 greeting, an unknown 5xx) is provider-level.
    Pure."""
    if code is None or not 500 <= code < 600:
        return False
    enhanced = enhanced_status(reply)
    if code == 552 or enhanced in _SIZE_STATUSES:
        return True
    return after_data and (code == 554 or enhanced.startswith("5.6.") or enhanced == "5.7.1")


def _reply(exc: smtplib.SMTPResponseException) -> str:
    err = exc.smtp_error
    return err.decode(errors="replace") if isinstance(err, bytes) else str(err)


def _is_4xx(code: int | None) -> bool:
    return code is not None and 400 <= code < 500


def _describe(exc: BaseException) -> str:
    """A short, single-line account of a low-level failure (server reply code and text, or errno)."""
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{exc.smtp_code} {reply}".replace("\n", " ").strip()[:300]
    text = str(exc) or type(exc).__name__
    return text.replace("\n", " ")[:300]
