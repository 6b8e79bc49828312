"""Sending the outbox: ``flask orders send-mail`` hands the messages waiting in the outbox
to the mail server named by MAIL_URL, over SMTP, and records what became of each.

- **Which.** A message recorded while MAIL_URL is set waits to be sent (``send_after``).
  One recorded without it, or before this existed, is the outbox's only: a store that turns
  mail on later does not send last month's shipping updates.
- **Once.** Each message is claimed before it is sent (a conditional update: two senders
  never take the same one) and marked sent the moment the server takes it. A sender killed
  between the two sends it again when its claim lapses; its Message-ID is the same, so a
  mail client shows one.
- **Failures.** A message the server refuses for good (5xx: no such mailbox) is not tried
  again; a temporary refusal (4xx) or a server that cannot be reached is tried again
  later, 1, 4, 16 … minutes on (at most 6 hours), until the message is MAIL_MAX_AGE old.
  What went wrong is kept as the server's code and a phrase of ours, never its text (which
  names the address) — and MAIL_URL's password is never in a message, a log or the panel.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import smtplib
import ssl
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from flask import Flask, current_app
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import case, func, select, update

from storefront.config import ConfigError
from storefront.extensions import db
from storefront.models import utcnow
from tracking.metrics import ScrapeCache

from .models import OutboxMessage

# scheme -> (TLS from the start, STARTTLS, default port); the names dj-email-url gives them
SCHEMES = {
    "smtp": (False, False, 25),
    "smtp+tls": (False, True, 587),
    "submission": (False, True, 587),
    "smtps": (True, False, 465),
    "smtp+ssl": (True, False, 465),
}
CLAIM = timedelta(minutes=5)  # a claimed message is another sender's again after this
RETRY_FIRST = timedelta(minutes=1)
RETRY_MOST = timedelta(hours=6)


class MailError(RuntimeError):
    """The mail server could not be reached, or would not take our login or sender: the
    run stops (its messages wait for the next), said to whoever ran it. ``done``: what the
    run did before."""

    def __init__(self, message: str, done: dict[str, int]):
        super().__init__(message)
        self.done = done


@dataclass(frozen=True)
class MailConfig:
    host: str
    port: int
    tls: bool  # TLS from the start (SMTPS)
    starttls: bool
    username: str | None
    password: str | None = field(repr=False)  # never in a traceback's locals
    sender: str
    timeout: float
    max_age: timedelta

    @classmethod
    def from_config(cls, cfg) -> MailConfig:
        """MAIL_URL and its companions, or ValueError naming what is wrong (MAIL_URL shown
        without its password)."""
        url = cfg["MAIL_URL"]
        shown = redacted(url)
        try:
            parts = urlsplit(url)
        except ValueError:
            raise ValueError(f"MAIL_URL={shown!r} is not a URL: smtp://host:25, "
                             "smtp+tls://user:password@host:587 or smtps://…:465") from None
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            # e.g. a password's own "/": the rest would be read as a path, the host wrong
            raise ValueError(f"MAIL_URL={shown!r} has more than a server: URL-encode any "
                             "/ ? # @ : in the user or password (%2F %3F %23 %40 %3A)")
        try:
            port = parts.port
            host = parts.hostname
            if host:
                host.encode("idna")  # "mail..example.com" would fail only when connecting
        except (ValueError, UnicodeError):
            raise ValueError(f"MAIL_URL={shown!r} is not a URL: smtp://host:25, "
                             "smtp+tls://user:password@host:587 or smtps://…:465") from None
        if parts.scheme not in SCHEMES or not host:
            raise ValueError(f"MAIL_URL={shown!r} is not a mail server's URL: give "
                             "smtp://host:25, smtp+tls://user:password@host:587 (STARTTLS) "
                             "or smtps://user:password@host:465")
        if parts.password is not None and not parts.username:
            raise ValueError(f"MAIL_URL={shown!r} has a password but no user")
        if (parts.password is not None and parts.scheme == "smtp"
                and host not in ("127.0.0.1", "localhost", "::1")):
            raise ValueError(f"MAIL_URL={shown!r} would send its password unencrypted: use "
                             "smtp+tls:// (STARTTLS) or smtps://")
        tls, starttls, default_port = SCHEMES[parts.scheme]
        sender = cfg.get("MAIL_FROM") or ""
        address = email.utils.parseaddr(sender)[1]
        if "@" not in address:
            raise ValueError(f"MAIL_FROM={sender!r} is not an address: e.g. "
                             "\"Touchpoint Store <shop@example.com>\"")
        if not address.isascii():  # a server without SMTPUTF8 would refuse every message
            raise ValueError(f"MAIL_FROM={sender!r}: give the address in ASCII (a domain "
                             "as its xn-- form); the name before it may be in any script")
        if cfg["MAIL_TIMEOUT"] <= 0 or cfg["MAIL_MAX_AGE"] <= 0:
            raise ValueError("MAIL_TIMEOUT and MAIL_MAX_AGE are seconds, more than 0")
        return cls(
            host=host, port=port or default_port, tls=tls, starttls=starttls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            sender=sender, timeout=cfg["MAIL_TIMEOUT"],
            max_age=timedelta(seconds=cfg["MAIL_MAX_AGE"]))

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}"


def redacted(url: str) -> str:
    """The URL as it may be shown: everything between ``scheme://`` and the last ``@`` (the
    user and password, however badly escaped; a provider's user may be its API token) as
    ``***``."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    return f"{scheme}://***@{rest.rpartition('@')[2]}"


def configure(app: Flask) -> None:
    """At start: MAIL_URL checked (a typo is said now, not at the first order), MAIL_FROM
    required with it outside the demo and tests."""
    cfg = app.config
    if not cfg.get("MAIL_URL"):
        return
    if not cfg.get("MAIL_FROM"):
        if not (app.testing or cfg.get("DEMO")):
            raise ConfigError("MAIL_FROM is not set: the sender of the store's mail, e.g. "
                              f"\"{cfg['STORE_NAME']} <shop@example.com>\" (MAIL_URL is set)")
        cfg["MAIL_FROM"] = f"{cfg['STORE_NAME']} <shop@touchpoint.demo>"
    try:
        MailConfig.from_config(cfg)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def enabled() -> bool:
    """Messages recorded now wait to be sent (MAIL_URL is set)."""
    return bool(current_app.config.get("MAIL_URL"))


def send_due(limit: int = 500, now: datetime | None = None) -> dict[str, int]:
    """Send up to ``limit`` messages that are due, oldest first. Returns how many were sent,
    left to try again and given up; raises MailError (after recording it on the message it
    was sending) when the server cannot be reached or refuses our login or sender."""
    config = MailConfig.from_config(current_app.config)
    now = now or utcnow()
    done = {"sent": 0, "retrying": 0, "failed": 0}
    due = db.session.execute(
        select(OutboxMessage.id, OutboxMessage.send_after)
        .where(OutboxMessage.send_after <= now)
        .order_by(OutboxMessage.send_after, OutboxMessage.id).limit(limit)).all()
    db.session.rollback()  # no read transaction held while we talk to the server
    smtp: smtplib.SMTP | None = None
    try:
        for message_id, seen in due:
            message = _claim(message_id, seen, now)
            if message is None:  # another sender has it
                continue
            if now - message.created_at > config.max_age:
                done[_given_up(message, "too old to send")] += 1
                continue
            try:
                mail = _compose(message, config)
            except (ValueError, TypeError):  # a header Python's email will not write
                done[_given_up(message, "not a message the store can write (its address?)")] += 1
                continue
            if smtp is None:
                try:
                    smtp = _connect(config)
                except (smtplib.SMTPException, OSError, UnicodeError) as exc:
                    raise _unreachable(message, _connection_error(exc), now, config,
                                       done) from None
            try:
                smtp.send_message(mail)
            except smtplib.SMTPRecipientsRefused as exc:
                code = next(iter(exc.recipients.values()))[0]
                if code == 421:  # closing the connection (smtplib has closed it): stop
                    raise _unreachable(message, CLOSING, now, config, done) from None
                done[_refused(message, code, "the server refused the address", now,
                              config)] += 1
            except smtplib.SMTPSenderRefused as exc:  # at MAIL FROM: for every message...
                code = exc.smtp_code
                if code == 552:  # ...but this: too large (SIZE), for this one alone
                    done[_given_up(message,
                                   "552 the message is larger than the server takes")] += 1
                    continue
                why = (CLOSING if code == 421 else
                       f"{code} the server takes no mail for now" if 400 <= code < 500 else
                       f"{code} the server refused the sender MAIL_FROM")
                raise _unreachable(message, why, now, config, done) from None
            except smtplib.SMTPNotSupportedError:
                done[_given_up(message, "the server takes no addresses in this alphabet")] += 1
            except smtplib.SMTPDataError as exc:
                if exc.smtp_code == 421:
                    raise _unreachable(message, CLOSING, now, config, done) from None
                done[_refused(message, exc.smtp_code, "the server refused the message", now,
                              config)] += 1
            except (smtplib.SMTPException, OSError) as exc:  # the server, not this message
                raise _unreachable(message, _connection_error(exc), now, config,
                                   done) from None
            else:
                _set(message, sent_at=utcnow(), send_after=None, error=None)
                done["sent"] += 1
    finally:
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()
    return done


CLOSING = "421 the server is closing the connection for now"


def _unreachable(message: OutboxMessage, why: str, now: datetime, config: MailConfig,
                 done: dict[str, int]) -> MailError:
    """The server, not this message: it waits for the next run, and this one stops."""
    done[_try_later(message, why, now, config)] += 1
    return MailError(f"the mail server at {config.server}: {why}", done)


def _clock(now: datetime) -> datetime:
    """The time now, for a claim or a retry: a long run's later messages are claimed from
    when they are taken, not from the run's start (``now``, which a test may set ahead)."""
    return max(now, utcnow())


def _claim(message_id: int, seen: datetime, now: datetime) -> OutboxMessage | None:
    """The message, if this sender got it: its send_after moved on past any other sender's
    reach while it is sent, only if no one moved it first."""
    claimed = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.send_after == seen)
        .values(send_after=_clock(now) + CLAIM,
                attempts=OutboxMessage.attempts + 1)).rowcount
    db.session.commit()
    return db.session.get(OutboxMessage, message_id) if claimed == 1 else None


def _compose(message: OutboxMessage, config: MailConfig) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = config.sender
    mail["To"] = message.to_email
    mail["Subject"] = message.subject
    mail["Date"] = email.utils.format_datetime(message.created_at.replace(tzinfo=UTC))
    mail["Message-ID"] = message_id(message, config)
    # Quoted-printable if not ASCII: 7-bit clean for any server, 8BITMIME or not.
    mail.set_content(message.body,
                     cte="7bit" if message.body.isascii() else "quoted-printable")
    return mail


def message_id(message: OutboxMessage, config: MailConfig) -> str:
    """The same for every attempt at one message (a resent one is shown once), and naming
    nothing: a keyed hash of its outbox key, at the sender's domain."""
    digest = hmac.new(current_app.config["SECRET_KEY"].encode(), message.key.encode(),
                      hashlib.sha256).hexdigest()[:32]
    domain = email.utils.parseaddr(config.sender)[1].rpartition("@")[2]
    return f"<{digest}@{domain}>"


def _connect(config: MailConfig) -> smtplib.SMTP:
    context = ssl.create_default_context()
    if config.tls:
        smtp = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout,
                                context=context)
    else:
        smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
    try:
        if config.starttls:
            smtp.starttls(context=context)
        if config.username:
            smtp.login(config.username, config.password or "")
    except BaseException:
        smtp.close()
        raise
    return smtp


def _connection_error(exc: BaseException) -> str:
    """What went wrong with the server, as the panel and the log may show it: our phrase and
    the server's code, never its text nor our login."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"{exc.smtp_code} the server refused the login in MAIL_URL"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} the server answered with an error"
    if isinstance(exc, ssl.SSLError):
        return f"no TLS with the server ({type(exc).__name__})"
    if isinstance(exc, TimeoutError):
        return "the server did not answer in MAIL_TIMEOUT"
    if isinstance(exc, UnicodeError):
        return "not a host name MAIL_URL can have"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return "the server does not offer STARTTLS (or AUTH)"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        # smtplib reports a read that timed out (a server that accepts and never greets)
        # as a disconnection, the timeout its context
        if isinstance(exc.__context__, TimeoutError):
            return "the server did not answer in MAIL_TIMEOUT"
        return "the server closed the connection"
    return f"could not reach the server ({type(exc).__name__})"


def _refused(message: OutboxMessage, code: int, why: str, now: datetime,
             config: MailConfig) -> str:
    if 400 <= code < 500:
        return _try_later(message, f"{code} {why}, for now", now, config)
    return _given_up(message, f"{code} {why}")


def _try_later(message: OutboxMessage, why: str, now: datetime, config: MailConfig) -> str:
    """Again after 1, 4, 16 … minutes (at most RETRY_MOST), while it is young enough."""
    wait = min(RETRY_FIRST * 4 ** min(max(message.attempts - 1, 0), 8), RETRY_MOST)
    now = _clock(now)
    if now + wait - message.created_at > config.max_age:
        return _given_up(message, f"{why}; too old to try again")
    _set(message, send_after=now + wait, error=why[:200])
    return "retrying"


def _given_up(message: OutboxMessage, why: str) -> str:
    """Not sent, and not tried again: "failed", as _try_later answers "retrying"."""
    _set(message, send_after=None, error=why[:200])
    return "failed"


def _set(message: OutboxMessage, **values) -> None:
    """What became of a message, by its id: one erased meanwhile (`journey forget`, the
    reminders' expiry) is simply not there to update."""
    db.session.execute(update(OutboxMessage).where(OutboxMessage.id == message.id)
                       .values(**values))
    db.session.commit()


class OutboxCollector:
    """storefront_outbox_waiting and storefront_outbox_overdue_seconds on /metrics: the
    messages waiting to be sent (some perhaps tried again later), and how long the one due
    the longest has been due, counted in the shop's database when scraped
    (JourneyTracker.collect_when_scraped), so the numbers are the same from every worker and
    host. With the sender running every minute a message is due for a minute at most; mail
    that stops going out (the server down, the timer never enabled) shows as a time that
    grows: the OutboxNotSending alert. A message waiting out a temporary refusal is not due
    until its time, so one full mailbox does not raise it. Cached briefly."""

    CACHE_SECONDS = 10.0

    def __init__(self, app: Flask):
        self._app = weakref.ref(app)
        self._numbers = ScrapeCache(self._count, self.CACHE_SECONDS,
                                    "storefront_outbox_waiting: counting the outbox")

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (GaugeMetricFamily("storefront_outbox_waiting",
                                  "Messages to shoppers waiting to be sent (MAIL_URL)."),
                GaugeMetricFamily("storefront_outbox_overdue_seconds",
                                  "How long the message due the longest has been due to be "
                                  "sent (0: the sender keeps up)."))

    def describe(self):
        return list(self._families())

    def collect(self):
        waiting, overdue = self._families()
        numbers = self._numbers()
        if numbers is not None:  # the database could not say: no sample, not a false 0
            waiting.add_metric([], numbers[0])
            overdue.add_metric([], numbers[1])
        yield waiting
        yield overdue

    def _count(self) -> tuple[int, float] | None:
        app = self._app()
        if app is None:
            return None
        at = utcnow()
        with app.app_context(), db.engine.connect() as conn:
            count, due_since = conn.execute(select(
                func.count(), func.min(case((OutboxMessage.send_after <= at,
                                             OutboxMessage.send_after))))
                .where(OutboxMessage.send_after.is_not(None))).one()
        return count, (at - due_since).total_seconds() if due_since is not None else 0.0
