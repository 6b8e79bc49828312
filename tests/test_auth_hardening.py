"""Sign-in hardening, admin and customer: throttling per email and network (behind a proxy
too, and under parallel guesses), sessions that end at logout, a fresh session at sign-in,
and the settings production must not run without."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import time_machine
from flask import Flask
from sqlalchemy import select

from admin.auth import create_user
from admin.models import AdminUser
from storefront import config
from storefront.accounts import MAX_FAILURES
from storefront.app import create_app
from storefront.models import Customer
from tracking.extension import utcnow

from . import factories
from .support import STORE_SECRET_KEY, Shopper, csrf_token
from .test_admin import PASSWORD, admin_login
from .test_admin import csrf_token as admin_csrf_token

OWNER = "owner@example.com"
ATTACKER_NET, OWNER_NET = "198.51.100.23", "203.0.113.40"


@pytest.fixture
def owner(shop_db):
    return create_user(OWNER, PASSWORD)


def client_from(app, address: str, forwarded_for: str | None = None):
    """A browser connecting from ``address`` (through a proxy that says ``forwarded_for``)."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    if forwarded_for:
        client.environ_base["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return client


# -- the throttle: per email and network ---------------------------------------------------

def test_failures_from_one_network_do_not_lock_the_owner_out_from_another(app, owner):
    attacker = client_from(app, ATTACKER_NET)
    for _ in range(MAX_FAILURES):
        assert admin_login(attacker, password="wrong-password").status_code == 401
    assert admin_login(attacker).status_code == 429, "the attacker's network is locked out"
    assert admin_login(client_from(app, OWNER_NET)).status_code == 302, "the owner is not"


def test_failures_for_one_email_do_not_lock_the_network_out_for_another(app, owner):
    create_user("second@example.com", PASSWORD)
    office = client_from(app, OWNER_NET)
    for _ in range(MAX_FAILURES):
        assert admin_login(office, "second@example.com", "wrong-password").status_code == 401
    assert admin_login(office, "second@example.com").status_code == 429
    assert admin_login(client_from(app, OWNER_NET)).status_code == 302


@pytest.mark.parametrize("trusted", [0, 1])
def test_behind_a_proxy_the_throttle_keys_on_the_forwarded_address(app_factory, owner, trusted):
    app = app_factory(TRUSTED_PROXIES=trusted)
    attacker = client_from(app, "127.0.0.1", forwarded_for=ATTACKER_NET)
    for _ in range(MAX_FAILURES):
        assert admin_login(attacker, password="wrong-password").status_code == 401
    owner_browser = client_from(app, "127.0.0.1", forwarded_for=OWNER_NET)
    if not trusted:  # every client is the proxy: the owner shares the attacker's lockout
        assert admin_login(owner_browser).status_code == 429
        return
    assert admin_login(owner_browser).status_code == 302
    entries = owner_browser.get("/admin/api/audit").get_json()["entries"]
    signins = {(e["action"], e["ip_net"]) for e in entries if e["action"].startswith("login")}
    assert signins == {("login_failed", "198.51.100.0/24"), ("login", "203.0.113.0/24")}, \
        "the audit log names the clients' networks, not the proxy's"


def test_trusted_proxies_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("TRUSTED_PROXIES", "2")
    assert create_app({"TESTING": True}).config["TRUSTED_PROXIES"] == 2
    monkeypatch.setenv("TRUSTED_PROXIES", "-1")
    with pytest.raises(config.ConfigError, match="TRUSTED_PROXIES"):
        create_app({"TESTING": True})


def test_parallel_guesses_get_at_most_the_limit_of_password_checks(app, owner, monkeypatch):
    """The attempt is recorded before the (slow) password check, so guesses sent at once
    cannot all pass a count taken before any of them failed."""
    checks, lock = [], threading.Lock()
    real_check = AdminUser.check_password

    def slow_check(user, password):
        with lock:
            checks.append(password)
        threading.Event().wait(0.3)  # a slow hash: the window a racing guess slips through
        return real_check(user, password)

    monkeypatch.setattr(AdminUser, "check_password", slow_check)
    guesses = 12
    clients = [client_from(app, ATTACKER_NET) for _ in range(guesses)]
    tokens = [admin_csrf_token(c) for c in clients]
    start = threading.Barrier(guesses)

    def guess(i: int) -> int:
        start.wait(30)
        return clients[i].post("/admin/login", data={
            "email": OWNER, "password": f"guess-{i}", "csrf_token": tokens[i]}).status_code

    with ThreadPoolExecutor(guesses) as pool:
        codes = sorted(pool.map(guess, range(guesses)))
    assert len(checks) <= MAX_FAILURES, f"{len(checks)} passwords checked"
    assert codes == [401] * len(checks) + [429] * (guesses - len(checks))
    assert admin_login(client_from(app, OWNER_NET)).status_code == 302


def test_customer_logins_are_throttled_per_email_and_network(app, shop_db):
    Shopper(app.test_client()).signup("cy@example.com")
    attacker = Shopper(client_from(app, ATTACKER_NET))
    for _ in range(MAX_FAILURES):
        assert attacker.login("cy@example.com", password="wrong-password").status_code == 400
    locked = attacker.login("cy@example.com")  # even the right password
    assert locked.status_code == 429 and locked.headers["Retry-After"] == "900"
    assert "Too many failed logins" in locked.get_data(as_text=True)
    assert Shopper(client_from(app, OWNER_NET)).login("cy@example.com").status_code == 302
    with time_machine.travel(utcnow() + timedelta(minutes=16)):
        assert Shopper(client_from(app, ATTACKER_NET)).login("cy@example.com").status_code == 302


def test_a_customer_failure_does_not_count_against_the_admin_of_that_email(app, owner):
    shopper = Shopper(client_from(app, ATTACKER_NET))
    for _ in range(MAX_FAILURES + 1):
        shopper.login(OWNER, password="wrong-password")
    assert admin_login(client_from(app, ATTACKER_NET)).status_code == 302


# -- sessions end at logout ----------------------------------------------------------------

def copy_of(app, client, *names: str):
    """Another browser holding copies of ``client``'s cookies."""
    thief = app.test_client()
    for name in names:
        thief.set_cookie(name, client.get_cookie(name).value)
    return thief


def test_a_copied_admin_session_stops_working_at_logout(app, owner):
    client = app.test_client()
    assert admin_login(client).status_code == 302
    before = client.get_cookie("session").value
    assert copy_of(app, client, "session").get("/admin/api/live").status_code == 200
    assert client.post("/admin/logout",
                       data={"csrf_token": admin_csrf_token(client)}).status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", before)
    assert thief.get("/admin/api/live").status_code == 401
    assert thief.get("/admin/").headers["Location"].startswith("/admin/login")


def test_a_new_admin_password_ends_every_admin_session(app, owner):
    client = app.test_client()
    assert admin_login(client).status_code == 302
    with app.app_context():
        create_user(OWNER, "a-new-password-2")
    assert client.get("/admin/api/live").status_code == 401
    assert admin_login(client, password="a-new-password-2").status_code == 302
    assert client.get("/admin/api/live").status_code == 200


@pytest.mark.parametrize("cookie", ["remember_token", "session"])
def test_a_copied_customer_cookie_stops_working_at_logout(app, shop_db, cookie):
    shopper = Shopper(app.test_client())
    assert shopper.signup("dee@example.com").status_code == 302
    stolen = shopper.client.get_cookie(cookie).value
    assert "|" in shopper.client.get_cookie("remember_token").value
    assert copy_of(app, shopper.client, cookie).get("/account/orders").status_code == 200
    assert shopper.post("/account/logout").status_code == 302
    thief = app.test_client()
    thief.set_cookie(cookie, stolen)
    response = thief.get("/account/orders")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/account/login")
    assert shopper.login("dee@example.com").status_code == 302, "a new sign-in works"
    assert shopper.client.get("/account/orders").status_code == 200


def test_a_customer_cookie_from_before_session_versions_is_refused(app, shop_db):
    """An id alone (the remember cookie's old content) signs nobody in."""
    from flask_login.utils import encode_cookie

    shopper = Shopper(app.test_client())
    shopper.signup("eve@example.com")
    customer = shop_db.session.scalar(select(Customer))
    assert customer.get_id() == f"{customer.id}:{customer.session_version}"
    with app.test_request_context():
        old = encode_cookie(str(customer.id))
    thief = app.test_client()
    thief.set_cookie("remember_token", old)
    assert thief.get("/account/orders").status_code == 302


# -- a fresh session at sign-in -------------------------------------------------------------

def test_a_csrf_token_from_before_the_customer_login_is_refused_after_it(app, shop_db):
    mug = factories.product("Mug", stock=5)
    Shopper(app.test_client()).signup("fay@example.com")
    client = app.test_client()
    before = csrf_token(client)
    assert client.post("/cart/add", data={"product_id": mug.id, "csrf_token": before}
                       ).status_code == 302
    assert client.post("/account/login", data={"email": "fay@example.com",
                                                "password": "correct horse 1",
                                                "csrf_token": before}).status_code == 302
    stale = client.post("/cart/add", data={"product_id": mug.id, "csrf_token": before})
    assert stale.status_code == 400 and "session expired" in stale.get_data(as_text=True)
    assert client.post("/cart/add", data={"product_id": mug.id, "csrf_token": csrf_token(client)}
                       ).status_code == 302
    cart = client.get("/cart/", headers={"Accept": "application/json"}).get_json()
    assert [i["quantity"] for i in cart["items"]] == [2], "the cart survived the sign-in"


def test_a_csrf_token_from_before_the_admin_login_is_refused_after_it(app, owner):
    mug = factories.product("Mug", stock=5)
    client = app.test_client()
    shopper = Shopper(client)
    assert shopper.add_to_cart(mug.id).status_code == 302
    before = admin_csrf_token(client)
    assert client.post("/admin/login", data={"email": OWNER, "password": PASSWORD,
                                             "csrf_token": before}).status_code == 302
    assert client.post("/admin/logout", data={"csrf_token": before}).status_code == 400
    assert client.get("/admin/api/live").status_code == 200, "still signed in"
    cart = client.get("/cart/", headers={"Accept": "application/json"}).get_json()
    assert [i["quantity"] for i in cart["items"]] == [1], "the shopper's cart survived"


# -- settings production must not run without -----------------------------------------------

@pytest.fixture
def production(monkeypatch, tmp_path):
    """The environment of a real deployment: a SECRET_KEY, no DEMO, no webhook secret."""
    for name in ("DEMO", "STRIPE_WEBHOOK_SECRET", "STRIPE_SECRET_KEY", "STRIPE_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SECRET_KEY", STORE_SECRET_KEY)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/shop.db")
    monkeypatch.setenv("JOURNEY_SPOOL_DIR", str(tmp_path / "spool"))
    made = []
    yield lambda: made.append(create_app()) or made[-1]
    for app in made:
        app.extensions["journey"].close()


@pytest.mark.parametrize("env", [
    {"STRIPE_API_BASE": "https://api.stripe.com"},
    {"STRIPE_SECRET_KEY": "sk_live_abc"},  # a live key, even through a local address
])
def test_real_stripe_without_a_webhook_secret_stops_start_up(production, monkeypatch, env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(config.ConfigError, match="STRIPE_WEBHOOK_SECRET is not set"):
        production()
    # Set but empty (an env file's `STRIPE_WEBHOOK_SECRET=`): every real webhook refused
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "")
    with pytest.raises(config.ConfigError, match=r"or empty: every real webhook"):
        production()
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_real_one")
    assert production().config["STRIPE_WEBHOOK_SECRET"] == "whsec_real_one"
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET")
    monkeypatch.setenv("DEMO", "true")
    assert production().config["STRIPE_WEBHOOK_SECRET"] == config.LOCALSTRIPE_WEBHOOK_SECRET


@pytest.mark.parametrize("key", ["...", "x", "changeme", "s3cret", "a" * 31])
def test_a_short_or_placeholder_secret_key_stops_start_up(production, monkeypatch, key):
    """It signs the owner's session: a key guessed from one cookie signs the guesser in."""
    monkeypatch.setenv("SECRET_KEY", key)
    with pytest.raises(config.ConfigError, match=rf"SECRET_KEY is {len(key)} characters long"
                                                 r".*at least 32 random"):
        production()
    monkeypatch.setenv("SECRET_KEY", "a" * 32)
    assert production().config["SECRET_KEY"] == "a" * 32
    # Nor kept as a fallback: Flask reads sessions signed with any of them
    monkeypatch.setenv("SECRET_KEY_FALLBACKS", f"{'b' * 32}, {key}")
    with pytest.raises(config.ConfigError, match=r"SECRET_KEY_FALLBACKS holds 1 key\(s\) under 32"):
        production()
    monkeypatch.delenv("SECRET_KEY_FALLBACKS")
    monkeypatch.setenv("SECRET_KEY", "x")  # a demo signs nothing that matters
    monkeypatch.setenv("DEMO", "true")
    assert production().config["SECRET_KEY"] == "x"


def test_localstripe_runs_with_its_own_webhook_secret(production):
    assert production().config["STRIPE_WEBHOOK_SECRET"] == config.LOCALSTRIPE_WEBHOOK_SECRET


# -- a read-only checkout -----------------------------------------------------------------

def test_start_up_needs_no_instance_folder_when_nothing_is_kept_there(monkeypatch, tmp_path):
    """systemd's ProtectSystem=strict: the checkout, instance/ included, is read-only."""
    (tmp_path / "read-only").write_text("")  # a file: nothing can be made below it
    blocked = tmp_path / "read-only" / "instance"
    monkeypatch.setattr(Flask, "auto_find_instance_path", lambda self: str(blocked))
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "postgresql://x@127.0.0.1:9/x",
                      "JOURNEY_DATABASE_URL": "sqlite://",
                      "JOURNEY_SPOOL_DIR": str(tmp_path / "spool")})
    app.extensions["journey"].close()
    assert app.instance_path == str(blocked) and not blocked.exists()


def test_the_default_database_still_gets_its_instance_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    instance = tmp_path / "instance"
    monkeypatch.setattr(Flask, "auto_find_instance_path", lambda self: str(instance))
    app = create_app({"TESTING": True, "JOURNEY_SPOOL_DIR": str(tmp_path / "spool")})
    app.extensions["journey"].close()
    assert instance.is_dir()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance}/touchpoint.db"
