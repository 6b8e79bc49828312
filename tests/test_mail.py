"""Sending the outbox: `flask orders send-mail` hands waiting messages to a real SMTP server
(aiosmtpd on loopback, with STARTTLS, SMTPS and AUTH where the test needs them), once each,
and records what became of every one: sent, tried again later, or not sent and why."""

from __future__ import annotations

import email
import email.policy
import logging
import re
import ssl
import threading
import time
from datetime import timedelta
from urllib.parse import quote

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import select

from checkout import mail
from checkout.models import MessageKind, Order, OutboxMessage
from storefront.app import create_app
from storefront.config import ConfigError
from storefront.extensions import db
from storefront.models import utcnow

from . import factories
from .support import CARD_OK, Shopper, free_port
from .test_outbox import owner_client  # noqa: F401 - the panel's signed-in owner

SENDER = "Touchpoint Store <shop@example.com>"
PASSWORD = "pa ss/w@rd:secret"  # every character a URL must escape, and never to be shown


class Inbox:
    """An SMTP server's handler: keeps what it is given; refuses the addresses in
    ``refuse`` with the reply given there."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes = []
        self.refuse: dict[str, str] = {}
        self.logins: list[str] = []
        self.delay = 0.0
        self.mail_from_reply: str | None = None  # e.g. "451 4.3.2 try later" at MAIL FROM

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.mail_from_reply:
            return self.mail_from_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            time.sleep(self.delay)  # a slow server: the senders overlap
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.content,
                                                      policy=email.policy.default))
        return "250 Message accepted for delivery"


class SMTPServer:
    def __init__(self, inbox: Inbox, **kwargs):
        self.inbox = inbox
        self.port = free_port()
        kwargs.setdefault("enable_SMTPUTF8", False)  # a plain server (aiosmtpd's is True)
        self.controller = Controller(inbox, hostname="127.0.0.1", port=self.port, **kwargs)
        self.controller.start()

    def url(self, scheme: str = "smtp", auth: str = "") -> str:
        return f"{scheme}://{auth}127.0.0.1:{self.port}"

    def stop(self):
        self.controller.stop()


@pytest.fixture
def inbox():
    return Inbox()


@pytest.fixture
def smtp(inbox):
    server = SMTPServer(inbox)
    yield server
    server.stop()


@pytest.fixture
def app(app_factory, smtp):
    """The store with mail on: every message it records waits to be sent to ``smtp``."""
    return app_factory(MAIL_URL=smtp.url(), MAIL_FROM=SENDER)


@pytest.fixture
def shop_db(app, app_factory, smtp):
    """conftest's, with mail on in the test's own app too (mail.send_due runs there)."""
    inspector = app_factory(MAIL_URL=smtp.url(), MAIL_FROM=SENDER)
    with inspector.test_request_context():
        yield db


def message(key: str, to: str = "grace@example.com", *, age: timedelta = timedelta(0),
            waiting: bool = True) -> OutboxMessage:
    at = utcnow() - age
    m = OutboxMessage(key=key, kind=MessageKind.SHIPPING_UPDATE, to_email=to,
                      subject=f"Your order {key} has shipped",
                      body=f"Hello,\n\nYour order {key} has shipped. Grüße.\n",
                      created_at=at, send_after=at if waiting else None)
    db.session.add(m)
    db.session.commit()
    return m


def reread(m: OutboxMessage) -> OutboxMessage:
    db.session.expire_all()
    return db.session.get(OutboxMessage, m.id)


def test_an_order_s_messages_are_sent_once_each_and_the_owner_sees_them_sent(
        app, localstripe, shop_db, cli, inbox, owner_client):  # noqa: F811
    mug = factories.product("Mug", price=1500, stock=50)
    buyer = Shopper(app.test_client(), localstripe)
    buyer.add_to_cart(mug.id, quantity=2)
    buyer.to_payment(email="grace@example.com", name="Grace Hopper")
    paid = buyer.pay(CARD_OK).get_json()
    assert paid["status"] == "succeeded"
    order = db.session.scalar(select(Order))
    # Mail is sent, so the page says it is coming (without MAIL_URL it says none is sent:
    # test_checkout's test_the_shop_promises_no_email_it_does_not_send).
    page = buyer.client.get(paid["redirect"]).get_data(as_text=True)
    assert "A confirmation is on its way to <strong>grace@example.com</strong>" in page
    assert "We do not send emails" not in page
    [confirmation] = db.session.scalars(select(OutboxMessage)).all()
    assert confirmation.send_after is not None and confirmation.sent_at is None
    listed = owner_client.get("/admin/api/outbox").get_json()
    assert listed["messages"][0]["status"] == "waiting" and listed["mail"] is True
    assert listed["sending"]["waiting"] == 1

    result = cli("orders", "send-mail")
    assert result.exit_code == 0, result.output
    assert "1 messages sent, 0 to try again later, 0 not sent" in result.output
    [sent] = inbox.messages
    assert sent["To"] == "grace@example.com" and sent["From"] == SENDER
    assert sent["Subject"] == f"Your Touchpoint Store order {order.number}"
    assert order.number in sent.get_content() and "2 x Mug" in sent.get_content()
    assert re.fullmatch(r"<[0-9a-f]{32}@example\.com>", sent["Message-ID"])
    assert inbox.envelopes[0].mail_from == "shop@example.com"
    confirmation = reread(confirmation)
    assert confirmation.sent_at is not None and confirmation.send_after is None
    assert confirmation.attempts == 1 and confirmation.error is None

    again = cli("orders", "send-mail")
    assert "0 messages sent" in again.output and len(inbox.messages) == 1, "once"

    assert cli("orders", "advance", str(order.id)).exit_code == 0  # packed: no message
    assert cli("orders", "advance", str(order.id)).exit_code == 0  # shipped
    assert "1 messages sent" in cli("orders", "send-mail").output
    assert inbox.messages[-1]["Subject"] == f"Your order {order.number} has shipped"
    assert inbox.messages[-1]["Message-ID"] != sent["Message-ID"]

    listed = owner_client.get("/admin/api/outbox").get_json()
    assert [m["status"] for m in listed["messages"]] == ["sent", "sent"]
    assert listed["sending"] == {"sent": 2, "waiting": 0, "not_sent": 0,
                                 "oldest_waiting": None}
    page = owner_client.get("/admin/outbox").get_data(as_text=True)
    assert "2 sent · 0 waiting · 0 not sent" in page and "pill-sent" in page
    assert "sent within a minute" in page.split("<details", 1)[0]


def test_a_message_recorded_without_mail_is_never_sent_later(app_factory, smtp, inbox, cli):
    quiet = app_factory()  # MAIL_URL unset: recorded only
    with quiet.app_context():
        from checkout import messages

        assert not mail.enabled()
        with quiet.test_request_context():
            assert messages._record(MessageKind.SHIPPING_UPDATE, "old", "a@example.com",
                                    "Shipped", "shipping_update", order=None, link="x",
                                    status="shipped", store="S")
        assert db.session.scalar(select(OutboxMessage.send_after)) is None
    # Mail turned on afterwards: last month's messages stay the outbox's.
    loud = app_factory(MAIL_URL=smtp.url(), MAIL_FROM=SENDER)
    with loud.app_context():
        assert mail.send_due() == {"sent": 0, "retrying": 0, "failed": 0}
        from admin.queries import message_status

        assert message_status(db.session.scalar(select(OutboxMessage))) == "recorded"
    assert inbox.messages == []


def test_an_address_refused_for_good_is_not_tried_again_and_the_rest_go(
        app, shop_db, inbox, caplog):
    inbox.refuse["nobody@example.com"] = "550 5.1.1 <nobody@example.com>: no such user"
    first, refused, last = (message(k, to) for k, to in (
        ("A-1", "ada@example.com"), ("A-2", "nobody@example.com"), ("A-3", "alan@example.com")))
    with caplog.at_level(logging.DEBUG):
        assert mail.send_due() == {"sent": 2, "retrying": 0, "failed": 1}
    assert [m["To"] for m in inbox.messages] == ["ada@example.com", "alan@example.com"]
    refused = reread(refused)
    assert (refused.sent_at, refused.send_after) == (None, None)
    assert refused.error == "550 the server refused the address"  # not the server's text
    assert mail.send_due() == {"sent": 0, "retrying": 0, "failed": 0}
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("mail.log")]
    assert not any("nobody@example.com" in line for line in ours)  # (the server's log has it)


def test_a_temporary_refusal_is_tried_again_later_until_the_message_is_too_old(
        app, shop_db, inbox):
    inbox.refuse["busy@example.com"] = "451 4.3.0 mailbox busy, try later"
    busy = message("B-1", "busy@example.com")
    now = utcnow()
    assert mail.send_due(now=now) == {"sent": 0, "retrying": 1, "failed": 0}
    busy = reread(busy)
    assert busy.error == "451 the server refused the address, for now"
    assert timedelta(minutes=1) <= busy.send_after - now < timedelta(minutes=1, seconds=5)
    assert busy.attempts == 1
    assert mail.send_due(now=now + timedelta(seconds=30))["retrying"] == 0, "not yet due"
    due = busy.send_after
    assert mail.send_due(now=due)["retrying"] == 1
    assert reread(busy).send_after == due + timedelta(minutes=4), "then 4 minutes on"
    del inbox.refuse["busy@example.com"]
    assert mail.send_due(now=due + timedelta(minutes=4))["sent"] == 1
    busy = reread(busy)
    assert busy.sent_at is not None and busy.error is None and busy.attempts == 3

    # One that the server keeps refusing stops being tried at MAIL_MAX_AGE (two days).
    inbox.refuse["busy@example.com"] = "451 4.3.0 mailbox busy, try later"
    stale = message("B-2", "busy@example.com", age=timedelta(days=2) - timedelta(minutes=2))
    assert mail.send_due()["retrying"] == 1
    assert mail.send_due(now=utcnow() + timedelta(minutes=1))["failed"] == 1
    assert reread(stale).error == ("451 the server refused the address, for now; "
                                   "too old to try again")
    old = message("B-3", "ada@example.com", age=timedelta(days=3))
    assert mail.send_due() == {"sent": 0, "retrying": 0, "failed": 1}
    assert reread(old).error == "too old to send" and reread(old).send_after is None


def test_a_server_that_cannot_be_reached_leaves_the_messages_waiting_and_says_so(
        app_factory, caplog):
    down = f"smtp+tls://shop:{quote(PASSWORD, safe='')}@127.0.0.1:{free_port()}"
    app = app_factory(MAIL_URL=down, MAIL_FROM=SENDER)
    with app.app_context():
        assert mail.MailConfig.from_config(app.config).password == PASSWORD
        waiting = [message(f"C-{n}") for n in range(3)]
        with caplog.at_level(logging.DEBUG):
            result = app.test_cli_runner().invoke(args=["orders", "send-mail"])
        assert result.exit_code == 1
        assert "could not reach the server (ConnectionRefusedError)" in result.output
        assert "0 messages sent, 1 to try again later" in result.output
        assert "wait for the next run" in result.output
        for text in (result.output, *(r.getMessage() for r in caplog.records)):
            assert "secret" not in text and quote(PASSWORD, safe="") not in text
        db.session.expire_all()
        tried, *untouched = (db.session.get(OutboxMessage, m.id) for m in waiting)
        assert tried.attempts == 1 and tried.send_after > utcnow()
        assert tried.error == "could not reach the server (ConnectionRefusedError)"
        assert [(m.attempts, m.send_after) for m in untouched] == [
            (0, m.created_at) for m in untouched], "the rest wait, untried"


def test_a_server_that_accepts_and_never_greets_is_said_to_time_out(app_factory):
    """A server that takes the connection and says nothing (a stuck relay, a port that is
    not SMTP): MAIL_TIMEOUT, not "closed the connection" (smtplib's word for it)."""
    import socket  # noqa: PLC0415

    silent = socket.create_server(("127.0.0.1", 0))
    held = []
    acceptor = threading.Thread(target=lambda: held.append(silent.accept()), daemon=True)
    acceptor.start()
    try:
        app = app_factory(MAIL_URL=f"smtp://127.0.0.1:{silent.getsockname()[1]}",
                          MAIL_FROM=SENDER, MAIL_TIMEOUT=1)
        with app.app_context():
            waiting = message("T-1")
            result = app.test_cli_runner().invoke(args=["orders", "send-mail"])
            assert result.exit_code == 1
            assert "the server did not answer in MAIL_TIMEOUT" in result.output
            db.session.expire_all()
            assert db.session.get(OutboxMessage, waiting.id).error == (
                "the server did not answer in MAIL_TIMEOUT")
    finally:
        acceptor.join(5)
        for connection, _ in held:
            connection.close()
        silent.close()


def test_two_senders_at_once_send_each_message_once(app, shop_db, inbox, backend):
    inbox.delay = 0.02
    for n in range(12):
        message(f"D-{n}", f"shopper{n}@example.com")
    errors = []

    def sender():
        try:
            with app.app_context():
                mail.send_due()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    ids = [m["Message-ID"] for m in inbox.messages]
    assert len(ids) == 12 and len(set(ids)) == 12
    db.session.expire_all()
    assert all(m.sent_at is not None and m.attempts == 1
               for m in db.session.scalars(select(OutboxMessage)))


def test_an_address_no_header_may_hold_or_no_server_takes_is_not_sent(
        app, shop_db, inbox, app_factory):
    smuggled = message("E-1", "a@example.com\r\nBcc: all@example.com")
    accented = message("E-2", "åsa@exämple.se")  # the server offers no SMTPUTF8
    fine = message("E-3", "ada@example.com")
    assert mail.send_due() == {"sent": 1, "retrying": 0, "failed": 2}
    assert [m["To"] for m in inbox.messages] == ["ada@example.com"]
    assert [e.rcpt_tos for e in inbox.envelopes] == [["ada@example.com"]]
    assert reread(smuggled).error.startswith("not a message the store can write")
    assert reread(accented).error == "the server takes no addresses in this alphabet"
    assert reread(fine).sent_at is not None
    # A server that offers SMTPUTF8 takes it.
    utf8 = SMTPServer(inbox, enable_SMTPUTF8=True)
    try:
        with app_factory(MAIL_URL=utf8.url(), MAIL_FROM=SENDER).app_context():
            message("E-4", "åsa@exämple.se")
            assert mail.send_due()["sent"] == 1
        assert inbox.envelopes[-1].rcpt_tos == ["åsa@exämple.se"]
    finally:
        utf8.stop()


@pytest.fixture(scope="module")
def tls():
    """A certificate authority and a certificate for 127.0.0.1 signed by it."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    return ca, server


@pytest.mark.parametrize("scheme", ["smtp+tls", "smtps"])
def test_tls_and_a_login_and_a_wrong_password_said_without_it(
        app_factory, inbox, tls, scheme, tmp_path, monkeypatch):
    ca, server_context = tls
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # trusted as a system CA would be

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b"shop" and auth_data.password == PASSWORD.encode()
        inbox.logins.append((mechanism, ok,
                             server.transport.get_extra_info("ssl_object") is not None))
        return AuthResult(success=ok, handled=False)  # (False: the server says 535)

    # (aiosmtpd offers AUTH over SMTPS only with auth_require_tls off: it counts STARTTLS
    # alone as TLS. The authenticator above records that the login came over TLS.)
    options = ({"tls_context": server_context, "require_starttls": True}
               if scheme == "smtp+tls" else
               {"ssl_context": server_context, "auth_require_tls": False})
    server = SMTPServer(inbox, authenticator=authenticate, **options)
    try:
        app = app_factory(MAIL_URL=server.url(scheme, f"shop:{quote(PASSWORD, safe='')}@"),
                          MAIL_FROM=SENDER)
        with app.app_context():
            sent = message("F-1")
            assert mail.send_due() == {"sent": 1, "retrying": 0, "failed": 0}
            assert [m["Subject"] for m in inbox.messages] == ["Your order F-1 has shipped"]
            assert inbox.logins and all(ok and over_tls for _m, ok, over_tls in inbox.logins)
            assert reread(sent).sent_at is not None
        wrong = app_factory(MAIL_URL=server.url(scheme, "shop:not-it-secret@"),
                            MAIL_FROM=SENDER)
        with wrong.app_context():
            message("F-2")
            result = wrong.test_cli_runner().invoke(args=["orders", "send-mail"])
            assert result.exit_code == 1
            assert "535 the server refused the login in MAIL_URL" in result.output
            assert "not-it-secret" not in result.output
            assert "535 the server refused the login" in db.session.scalar(
                select(OutboxMessage.error).where(OutboxMessage.key == "F-2"))
    finally:
        server.stop()


def test_mail_settings_are_checked_at_start_and_never_shown_with_their_password(
        app_factory):
    base = {"SECRET_KEY": "x" * 32, "SQLALCHEMY_DATABASE_URI": "sqlite://"}
    with pytest.raises(ConfigError, match="MAIL_FROM is not set") as refused:
        create_app({**base, "MAIL_URL": "smtp+tls://u:hunter2@mail.example.com"})
    assert "hunter2" not in str(refused.value)
    for bad, why in (
            ("http://u:hunter2@mail.example.com", "not a mail server's URL"),
            ("smtp+tls://u:hunter2@:25", "not a mail server's URL"),
            ("smtp+tls://u:hunter2@mail.example.com:99999", "not a URL"),
            ("smtp+tls://u:hunter2@mail..example.com", "not a URL"),
            # a password's own unescaped "/" or "#": the rest would be taken for a path
            ("smtp+tls://u:hunter2/x9@mail.example.com:587", "URL-encode"),
            ("smtp+tls://u:2024/hunter2@mail.example.com", "URL-encode"),
            ("smtp+tls://u:hun#ter2@mail.example.com", "URL-encode"),
            ("smtp://u:hunter2@mail.example.com", "unencrypted"),
            ("smtp+tls://:hunter2@mail.example.com", "no user")):
        with pytest.raises(ConfigError, match="MAIL_URL") as refused:
            create_app({**base, "MAIL_URL": bad, "MAIL_FROM": SENDER})
        said = str(refused.value)
        assert why in said and "hunter2" not in said and "ter2" not in said, said
        assert "://***@" in said and "u:" not in said, said
    with pytest.raises(ConfigError, match="in ASCII"):
        create_app({**base, "MAIL_URL": "smtp://localhost", "MAIL_FROM": "Shop <a@bücher.de>"})
    local = create_app({**base, "MAIL_URL": "smtp://relay:pw@127.0.0.1:25",
                        "MAIL_FROM": "Bücher & Co <shop@xn--bcher-kva.de>"})
    assert "pw" not in repr(mail.MailConfig.from_config(local.config)), "not in tracebacks"
    with pytest.raises(ConfigError, match="MAIL_FROM='shop' is not an address"):
        create_app({**base, "MAIL_URL": "smtp://localhost", "MAIL_FROM": "shop"})
    demo = create_app({**base, "DEMO": True, "MAIL_URL": "smtp://127.0.0.1:8025"})
    assert demo.config["MAIL_FROM"] == "Touchpoint Store <shop@touchpoint.demo>"
    parsed = mail.MailConfig.from_config(create_app(
        {**base, "MAIL_URL": "smtps://mail.example.com", "MAIL_FROM": SENDER}).config)
    assert (parsed.port, parsed.tls, parsed.starttls, parsed.username) == (465, True, False, None)

    off = app_factory()
    result = off.test_cli_runner().invoke(args=["orders", "send-mail"])
    assert result.exit_code == 1 and "MAIL_URL is not set" in result.output


def test_mail_that_waits_shows_on_metrics_until_it_is_sent(app, shop_db, client, inbox):
    """storefront_outbox_waiting / _overdue_seconds: read from the database at the scrape
    (the same from every worker), 0 once the outbox is sent; a message waiting out a
    temporary refusal waits but is not overdue; no address in them."""
    from .support import value

    collector = next(c for c in app.extensions["journey"].scraped
                     if isinstance(c, mail.OutboxCollector))

    def scrape() -> tuple[float, float]:
        collector._numbers.invalidate()  # (cached 10 s: a scrape every 15 s never notices)
        text = client.get("/metrics").get_data(as_text=True)
        assert "example.com" not in text
        return (value(text, "storefront_outbox_waiting"),
                value(text, "storefront_outbox_overdue_seconds"))

    assert scrape() == (0, 0)
    message("G-1", age=timedelta(minutes=20))  # the sender has not run for 20 minutes
    message("G-2", "ada@example.com")
    message("G-3", age=timedelta(hours=1), waiting=False)  # recorded only: not waiting
    waiting, overdue = scrape()
    assert waiting == 2 and 20 * 60 <= overdue < 21 * 60
    inbox.refuse["ada@example.com"] = "452 4.2.2 mailbox full"
    assert mail.send_due() == {"sent": 1, "retrying": 1, "failed": 0}
    assert scrape() == (1, 0), "tried again in a minute: waiting, not overdue"
    del inbox.refuse["ada@example.com"]
    assert mail.send_due(now=utcnow() + timedelta(minutes=1))["sent"] == 1
    assert scrape() == (0, 0)


def test_what_a_server_says_at_mail_from_or_with_421_stops_the_run_or_the_message(
        app, shop_db, inbox, app_factory):
    """421 (closing) at any step and a 4xx at MAIL FROM are the server's state: the run stops
    and the rest wait untried, not blamed. A message over the server's SIZE is that
    message's alone: not sent, and the rest go."""
    inbox.refuse["first@example.com"] = "421 4.7.0 too many connections, closing"
    first, second = message("I-1", "first@example.com"), message("I-2", "ada@example.com")
    with pytest.raises(mail.MailError, match="421 the server is closing the connection") as e:
        mail.send_due()
    assert e.value.done == {"sent": 0, "retrying": 1, "failed": 0}
    assert reread(first).error == mail.CLOSING and reread(second).attempts == 0
    del inbox.refuse["first@example.com"]

    inbox.mail_from_reply = "451 4.3.2 rate limited, try later"
    with pytest.raises(mail.MailError, match="451 the server takes no mail for now"):
        mail.send_due(now=utcnow() + timedelta(minutes=2))
    inbox.mail_from_reply = "553 5.7.1 sender not allowed"
    with pytest.raises(mail.MailError, match="553 the server refused the sender MAIL_FROM"):
        mail.send_due(now=utcnow() + timedelta(minutes=2))
    inbox.mail_from_reply = None
    assert mail.send_due(now=utcnow() + timedelta(hours=1))["sent"] == 2

    small = SMTPServer(inbox, data_size_limit=600)
    try:
        with app_factory(MAIL_URL=small.url(), MAIL_FROM=SENDER).app_context():
            large = message("I-3")
            large.body = "A long letter. " * 100
            db.session.commit()
            message("I-4", "alan@example.com")
            assert mail.send_due() == {"sent": 1, "retrying": 0, "failed": 1}
            assert reread(large).error == "552 the message is larger than the server takes"
        assert inbox.messages[-1]["To"] == "alan@example.com"
    finally:
        small.stop()


def test_a_long_run_claims_each_message_from_when_it_takes_it(app, shop_db):
    """A run that began ten minutes ago (a slow server, a large outbox) holds the message it
    takes now for CLAIM from now: another host's run cannot take it while it is sent."""
    m = message("J-1", age=timedelta(minutes=20))
    claimed = mail._claim(m.id, reread(m).send_after, utcnow() - timedelta(minutes=10))
    assert claimed is not None
    assert reread(m).send_after >= utcnow() + mail.CLAIM - timedelta(seconds=5)
