"""Test helpers: real peers (localstripe, PostgreSQL) and shopper actions over HTTP."""

from __future__ import annotations

import json
import os
import random
import re
import socket
import subprocess
import sys
import time
import uuid
from contextlib import closing
from pathlib import Path

import requests
import stripe
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
CARD_OK = "4242424242424242"
CARD_DECLINED = "4000000000000341"
CARD_3DS = "4000002500003155"
WEBHOOK_SECRET = "whsec_test_secret"
# A SECRET_KEY a store outside tests starts with (32 characters at least)
STORE_SECRET_KEY = "store-secret-key-of-at-least-32-chars"


def in_forked_child(report) -> str:
    """What ``report()`` returns in a child forked from this process (as a gunicorn worker
    is forked from its master), read back through a pipe."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, report().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as f:
        return f.read()


# The tests' own servers listen on ports below the kernel's ephemeral range, in a block per
# xdist worker. A port the kernel hands out (bind to 0) is free when it is picked, but until
# the server binds it, any client connection of the run (thousands: browsers, shoppers,
# PostgreSQL) may take it as its source port, or another worker pick it too: the server
# then fails to start, or a test talks to another test's server.
_PORT_BASE = 20000
_PORT_BLOCK = 1000
# Where in its block this process starts: another run at the same time (a second checkout's
# tests, CI beside a developer) starts elsewhere, not on the same ports in the same order.
_picked = [random.randrange(_PORT_BLOCK)]


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def free_port() -> int:
    """A port nothing listens on, that no other test worker picks and no outgoing
    connection takes. Where the ephemeral range leaves no room below it, one the kernel
    hands out."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    block = _PORT_BASE + (int(worker) if worker.isdigit() else 0) * _PORT_BLOCK
    if block + _PORT_BLOCK <= _ephemeral_low():
        for _ in range(_PORT_BLOCK):
            port = block + _picked[0] % _PORT_BLOCK
            _picked[0] += 1
            with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:  # in use (another run, a server not yet gone): the next
                    continue
                return port
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 15.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


class LocalStripe:
    """A localstripe process on loopback (PyPI's stateful fake Stripe server)."""

    def __init__(self, log_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(  # no state file: nothing shared with other instances
            [sys.executable, str(ROOT / "scripts" / "localstripe_server.py"),
             "--port", str(self.port), "--from-scratch"],
            stdout=self._log, stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port, proc=self.proc)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()

    def card_ref(self, number: str, publishable_key: str = "pk_test_localstripe") -> str:
        """What Stripe.js's createToken gives the browser: the token's card id."""
        response = requests.post(
            f"{self.url}/v1/tokens",
            data={"card[number]": number, "card[exp_month]": "12", "card[exp_year]": "2034",
                  "card[cvc]": "123", "key": publishable_key},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()["card"]["id"]

    def authenticate(self, intent_id: str, client_secret: str, success: bool = True) -> dict:
        """What Stripe.js's confirmCardPayment does in the 3-D Secure modal."""
        response = requests.post(
            f"{self.url}/v1/payment_intents/{intent_id}/_authenticate?success={str(success).lower()}",
            json={"key": "pk_test_localstripe", "client_secret": client_secret},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()

    def register_webhook(self, url: str, secret: str) -> None:
        name = uuid.uuid4().hex[:8]
        requests.post(
            f"{self.url}/_config/webhooks/{name}", data={"url": url, "secret": secret}, timeout=10
        ).raise_for_status()

    def list_all(self, resource: str, **params) -> list[dict]:
        """Every object of a list endpoint (``/v1/<resource>``), paging through them all:
        localstripe lives for the whole session and lists oldest first, 100 at a time."""
        found, after = [], None
        for _ in range(1000):
            page_params = {"limit": 100, **params, **({"starting_after": after} if after
                                                       else {})}
            response = requests.get(
                f"{self.url}/v1/{resource}", params=page_params,
                headers={"Authorization": "Bearer sk_test_localstripe"}, timeout=10,
            )
            response.raise_for_status()
            page = response.json()
            found += page["data"]
            if not page["has_more"] or not page["data"]:
                return found
            after = page["data"][-1]["id"]
        raise AssertionError(f"too many {resource} to page through")

    def events_for(self, intent_id: str, event_type: str) -> list[dict]:
        """Every event of this type about this intent."""
        return [e for e in self.list_all("events", type=event_type)
                if e["data"]["object"]["id"] == intent_id]


def sign_payload(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A Stripe-Signature header exactly as Stripe (and localstripe) computes it."""
    ts = timestamp or int(time.time())
    signature = stripe.WebhookSignature._compute_signature(f"{ts}.{payload.decode()}", secret)
    return f"t={ts},v1={signature}"


def csrf_token(client) -> str:
    # DNT: the token fetch is the test's doing, not a page the shopper viewed.
    page = client.get("/account/login", headers={"DNT": "1"})
    match = re.search(r'name="csrf-token" content="([^"]+)"', page.get_data(as_text=True))
    assert match, "no CSRF token on the page"
    return match.group(1)


class Shopper:
    """A shopper's actions through the HTTP test client, CSRF tokens included."""

    def __init__(self, client, stripe_server: LocalStripe | None = None):
        self.client = client
        self.stripe = stripe_server
        self._csrf: str | None = None

    @property
    def csrf(self) -> str:
        if self._csrf is None:
            self._csrf = csrf_token(self.client)
        return self._csrf

    def post(self, url: str, data: dict | None = None, **kwargs):
        data = dict(data or {})
        data.setdefault("csrf_token", self.csrf)
        return self.client.post(url, data=data, **kwargs)

    def post_json(self, url: str, body: dict):
        return self.client.post(
            url, data=json.dumps(body),
            headers={"Content-Type": "application/json", "Accept": "application/json",
                     "X-CSRFToken": self.csrf},
        )

    def signup(self, email: str, name: str = "Test Shopper", password: str = "correct horse 1"):
        response = self.post("/account/signup", {"email": email, "name": name,
                                                  "password": password})
        self._csrf = None  # login rotates the session
        return response

    def login(self, email: str, password: str = "correct horse 1"):
        response = self.post("/account/login", {"email": email, "password": password})
        self._csrf = None
        return response

    def add_to_cart(self, product_id: int, quantity: int = 1):
        return self.post("/cart/add", {"product_id": product_id, "quantity": quantity})

    def address(self, **overrides):
        data = {"email": "guest@example.com", "name": "Ada Lovelace", "line1": "12 Analytical Row",
                "line2": "", "city": "London", "postcode": "N1 9GU", "country": "GB"}
        data.update(overrides)
        return self.post("/checkout/address", data)

    def choose_shipping(self, method: str = "standard"):
        return self.post("/checkout/shipping", {"method": method})

    def to_payment(self, method: str = "standard", **address):
        assert self.address(**address).status_code == 302
        assert self.choose_shipping(method).status_code == 302
        page = self.client.get("/checkout/payment")
        assert page.status_code == 200, page.get_data(as_text=True)[:500]
        return page

    def pay(self, card: str = CARD_OK):
        assert self.stripe is not None
        return self.post_json("/checkout/pay", {"card_ref": self.stripe.card_ref(card)})


def value(text: str, name: str, **labels) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


class Gunicorn:
    """The store under gunicorn with two workers, in Prometheus multiprocess mode."""

    def __init__(self, database_url: str, tmp: Path, **extra_env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.multiproc = tmp / "prometheus"
        env = {
            **os.environ, "SECRET_KEY": STORE_SECRET_KEY, "DATABASE_URL": database_url,
            "GUNICORN_BIND": f"127.0.0.1:{self.port}", "WEB_CONCURRENCY": "2",
            "PROMETHEUS_MULTIPROC_DIR": str(self.multiproc), "JOURNEY_FLUSH_INTERVAL": "0.05",
            "GUNICORN_ACCESSLOG": str(tmp / "access.log"),
            "JOURNEY_SPOOL_DIR": str(tmp / "journey-spool"), **extra_env,
        }
        self.log = open(tmp / "gunicorn.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "-c", "deploy/gunicorn.conf.py",
             "wsgi:app"], cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for_port(self.port, proc=self.proc, timeout=30)
        # The port opens with the first worker; the second can still be loading the app on a
        # busy machine, and every request would go to the first. Wait for both to be ready.
        booted = poll(lambda: len(re.findall(r"start-up objects frozen", self.log_text(
            whole=True))) >= 2 or self.proc.poll() is not None, timeout=60)
        assert booted and self.proc.poll() is None, self.log_text()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()

    def log_text(self, whole: bool = False) -> str:
        text = Path(self.log.name).read_text(errors="replace")
        return text if whole else text[-3000:]

    def metrics(self) -> str:
        return requests.get(f"{self.url}/metrics", timeout=10).text


def store_for_shoppers(gunicorn, localstripe: LocalStripe, webhook_secret: str,
                       idle: str = "5") -> Gunicorn:
    """The store under gunicorn for simulated shoppers: journeys end after ``idle`` seconds
    and are swept every second; localstripe's webhooks reach it, signed."""
    server = gunicorn(
        JOURNEY_SESSION_TIMEOUT=idle, JOURNEY_ABANDON_AFTER=idle, JOURNEY_SWEEP_INTERVAL="1",
        JOURNEY_SWEEP_GRACE="1", STRIPE_API_BASE=localstripe.url,
        STRIPE_JS_URL=localstripe.url + "/js.stripe.com/v3/", STRIPE_WEBHOOK_SECRET=webhook_secret,
    )
    localstripe.register_webhook(f"{server.url}/stripe/webhook", webhook_secret)
    return server


def poll(check, timeout: float = 20.0, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


class FlakyProxy:
    """A TCP proxy in front of a real server (localstripe) that can lose an answer.

    ``lose_next("POST /v1/payment_intents/")`` makes the next matching request reach the
    server, which acts on it, while its answer never reaches the client: the connection is
    closed (``mode="drop"``) or held past the client's timeout (``mode="stall"``). The
    fault a payment service's timeout causes, made for real rather than mocked. One request
    per connection (answers are sent with ``Connection: close``).
    """

    def __init__(self, upstream_port: int):
        import threading  # noqa: PLC0415

        self.upstream_port = upstream_port
        self.requests: list[str] = []  # "METHOD /path" of every request seen
        self.lost: list[str] = []
        self._rules: list[tuple[str, str, float]] = []
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(32)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def lose_next(self, prefix: str, mode: str = "drop", stall: float = 3.0) -> None:
        with self._lock:
            self._rules.append((prefix, mode, stall))

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(5)
        self._sock.close()

    def _serve(self) -> None:
        import threading  # noqa: PLC0415

        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with closing(conn):
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(re.search(rb"(?im)^content-length:\s*(\d+)", head).group(1)) \
                if re.search(rb"(?im)^content-length:", head) else 0
            while len(body) < length:
                body += conn.recv(65536)
            line = head.split(b"\r\n", 1)[0].decode()
            request_line = " ".join(line.split(" ")[:2])
            self.requests.append(request_line)
            head = re.sub(rb"(?im)^connection:[^\r\n]*\r\n?", b"", head)
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
            with closing(upstream):
                upstream.sendall(head.rstrip(b"\r\n") + b"\r\nConnection: close\r\n\r\n" + body)
                answer = b""
                while chunk := upstream.recv(65536):
                    answer += chunk
            with self._lock:
                rule = next((r for r in self._rules if request_line.startswith(r[0])), None)
                if rule is not None:
                    self._rules.remove(rule)
            if rule is not None:
                self.lost.append(request_line)
                if rule[1] == "stall":
                    time.sleep(rule[2])
                return  # the server acted; the client never hears of it
            conn.sendall(answer)
