"""Configuration comes from defaults, then the environment, then test_config."""

import sqlite3

import pytest

from storefront import config
from storefront.app import create_app

from .support import STORE_SECRET_KEY


def test_secret_key_is_mandatory_outside_testing_and_demo(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("DEMO", raising=False)
    with pytest.raises(config.ConfigError, match="SECRET_KEY is not set"):
        create_app()


def test_demo_mode_runs_without_a_secret_key(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("DEMO", "true")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/demo.db")
    app = create_app()
    assert app.config["SECRET_KEY"]
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/demo.db"


def test_environment_is_parsed_with_types(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", STORE_SECRET_KEY)
    monkeypatch.setenv("FREE_SHIPPING_THRESHOLD", "5000")
    monkeypatch.setenv("STRIPE_API_BASE", "https://api.stripe.com")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_from_stripe")  # required with Stripe
    monkeypatch.setenv("DATABASE_URL", "postgres://shop@db.example/shop")
    app = create_app()
    assert app.config["FREE_SHIPPING_THRESHOLD"] == 5000
    assert app.config["STRIPE_API_BASE"] == "https://api.stripe.com"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://shop@db.example/shop"


@pytest.mark.parametrize(
    ("name", "value"), [("FREE_SHIPPING_THRESHOLD", "lots"), ("DEMO", "maybe")]
)
def test_a_bad_value_is_a_clear_error(monkeypatch, name, value):
    monkeypatch.setenv("SECRET_KEY", STORE_SECRET_KEY)
    monkeypatch.setenv(name, value)
    with pytest.raises(config.ConfigError, match=f"{name}='{value}' is not valid"):
        create_app()


def test_test_config_overrides_the_environment(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "from-env")
    monkeypatch.setenv("PAGE_SIZE", "5")
    app = create_app({"TESTING": True, "PAGE_SIZE": 7, "SECRET_KEY": "from-test"})
    assert app.config["PAGE_SIZE"] == 7
    assert app.config["SECRET_KEY"] == "from-test"


def test_default_database_is_sqlite_under_instance(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    app = create_app({"TESTING": True})
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    assert uri.startswith("sqlite:///") and uri.endswith("instance/touchpoint.db")
    assert app.config["JOURNEY_DATABASE_URL"] == uri.replace("touchpoint.db",
                                                             "touchpoint-journeys.db")


@pytest.mark.parametrize(("shop", "tracker"), [
    ("sqlite:////srv/shop/store.db", "sqlite:////srv/shop/store-journeys.db"),
    ("sqlite:///store.sqlite3", "sqlite:///{instance}/store-journeys.sqlite3"),
    ("sqlite:///store", "sqlite:///{instance}/store-journeys.db"),
    ("sqlite:////srv/shop/store.db?timeout=20", "sqlite:////srv/shop/store-journeys.db?timeout=20"),
    ("sqlite:///file:store.db?uri=true", None),
    ("sqlite://", None),
    ("sqlite:///:memory:", None),
    ("postgres://shop@db.example/shop", None),
])
def test_on_a_sqlite_file_the_tracker_gets_a_file_beside_it(monkeypatch, tmp_path, shop, tracker):
    """Relative SQLite paths are in the instance folder (as Flask-SQLAlchemy reads them);
    in memory and on PostgreSQL the tracker shares the shop's database."""
    monkeypatch.delenv("JOURNEY_DATABASE_URL", raising=False)
    monkeypatch.setenv("DATABASE_URL", shop)
    app = create_app({"TESTING": True})
    expected = tracker and tracker.format(instance=app.instance_path)
    assert app.config["JOURNEY_DATABASE_URL"] == expected
    state = app.extensions["journey"]
    assert state.database_url == (expected or app.config["SQLALCHEMY_DATABASE_URI"])


def test_an_explicit_journey_database_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/shop.db")
    monkeypatch.setenv("JOURNEY_DATABASE_URL", f"sqlite:///{tmp_path}/shop.db")
    assert create_app({"TESTING": True}).extensions["journey"].database_url == \
        f"sqlite:///{tmp_path}/shop.db"
    monkeypatch.delenv("JOURNEY_DATABASE_URL")
    app = create_app({"TESTING": True, "JOURNEY_DATABASE_URL": "postgresql+psycopg://x@y/z"})
    assert app.extensions["journey"].database_url == "postgresql+psycopg://x@y/z"


def test_a_shop_file_that_already_holds_journeys_keeps_them(monkeypatch, tmp_path):
    """An install from before the tracker had a file of its own: no empty file beside it."""
    monkeypatch.delenv("JOURNEY_DATABASE_URL", raising=False)
    with sqlite3.connect(tmp_path / "shop.db") as conn:
        conn.execute("CREATE TABLE journeys (id TEXT PRIMARY KEY)")
    assert config.journey_database_url(f"sqlite:///{tmp_path}/shop.db", str(tmp_path)) is None
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/shop.db"})
    assert app.extensions["journey"].database_url == f"sqlite:///{tmp_path}/shop.db"
    assert not (tmp_path / "shop-journeys.db").exists()


def test_a_new_secret_key_keeps_what_the_old_one_signed(monkeypatch, tmp_path):
    """SECRET_KEY changed, the old one in SECRET_KEY_FALLBACKS (comma-separated in the
    environment): a guest's emailed order link, a cart reminder's link and the session still
    read, and new ones are signed with the new key. Without the fallback they do not."""
    from flask import session

    from checkout.links import order_id_from_token, order_token
    from checkout.messages import cart_link_token, lines_from_token

    def store(**env):
        for name in ("SECRET_KEY", "SECRET_KEY_FALLBACKS"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/shop.db")
        monkeypatch.setenv("JOURNEY_ENABLED", "false")  # sessions and links only
        app = create_app()
        app.add_url_rule("/who", "who", lambda: session.get("who", "nobody"))
        app.add_url_rule("/login", "login_test", lambda: session.update(who="ada") or "in")
        return app

    OLD, NEW, OLDER = ("old-key-" + "o" * 32, "new-key-" + "n" * 32,  # noqa: N806
                       "older-key-" + "e" * 32)
    before = store(SECRET_KEY=OLD)
    client = before.test_client()
    client.get("/login")
    with before.app_context():
        order, cart = order_token(42), cart_link_token([(7, 2)])

    after = store(SECRET_KEY=NEW, SECRET_KEY_FALLBACKS=f"{OLDER}, {OLD}")
    assert after.config["SECRET_KEY_FALLBACKS"] == [OLDER, OLD]
    moved = after.test_client()
    moved.set_cookie("session", client.get_cookie("session").value)
    assert moved.get("/who").text == "ada"
    with after.app_context():
        assert order_id_from_token(order) == 42
        assert lines_from_token(cart) == [(7, 2)]
        assert order_token(42) != order, "signed anew with the new key"

    rotated = store(SECRET_KEY=NEW)
    with rotated.app_context():
        assert order_id_from_token(order) is None
        assert lines_from_token(cart) is None


def test_a_store_started_on_the_stripe_defaults_says_its_payments_go_to_a_fake(
        monkeypatch, tmp_path, caplog):
    """Outside the demo and tests, no Stripe settings means localstripe at 127.0.0.1: it
    starts (a unit must), and says so where an operator looks, the log."""
    monkeypatch.setenv("SECRET_KEY", STORE_SECRET_KEY)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/shop.db")
    monkeypatch.setenv("JOURNEY_ENABLED", "false")
    for name in ("DEMO", "STRIPE_SECRET_KEY", "STRIPE_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    create_app()
    assert "Payments go to localstripe at http://127.0.0.1" in caplog.text
    caplog.clear()
    monkeypatch.setenv("STRIPE_API_BASE", "https://api.stripe.com")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_real")
    create_app()
    assert "localstripe" not in caplog.text


def test_seed_says_what_is_wrong_with_the_database(monkeypatch, tmp_path):
    """Not migrated yet: run db upgrade. Not reachable: said so, not "run db upgrade"."""
    monkeypatch.setenv("SECRET_KEY", STORE_SECRET_KEY)
    monkeypatch.setenv("JOURNEY_ENABLED", "false")
    for url, said in ((f"sqlite:///{tmp_path}/empty.db", "run `flask --app wsgi db upgrade`"),
                      ("postgresql://shop@127.0.0.1:1/shop", "The database cannot be read")):
        monkeypatch.setenv("DATABASE_URL", url)
        result = create_app().test_cli_runner().invoke(args=["seed"])
        assert result.exit_code == 1 and said in result.output, result.output
