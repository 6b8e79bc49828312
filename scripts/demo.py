"""make demo: migrate, seed, start localstripe and the store, print the URLs; Ctrl-C stops all.

Each process it starts runs in a session of its own, so a Ctrl-C in the terminal reaches only
this script, which stops them in order with SIGTERM: gunicorn's graceful shutdown (workers
finish their requests and flush their journey writers), not the quick exit gunicorn makes
of a SIGINT, which ends a worker inside its request with a SystemExit traceback. Closing
the terminal (SIGHUP) stops them the same way.

    PORT (5000), LOCALSTRIPE_PORT (8420), DEMO_DIR (.demo: logs, localstripe's state),
    DEMO_SHOPPERS=0 (no simulated shoppers), DEMO_RATE (1.5 shoppers a second),
    DEMO_EXPIRE_EVERY (180: seconds between runs of `orders expire`), DEMO_EXPIRE_AFTER
    (600: seconds an order may wait for 3-D Secure before that job cancels it),
    MAIL_PORT (8025: the mail catcher the outbox is sent to), DEMO_MAIL_EVERY (20: seconds
    between runs of `orders send-mail`)
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
STORE_PORT = int(os.environ.get("PORT", "5000"))
STRIPE_PORT = int(os.environ.get("LOCALSTRIPE_PORT", "8420"))
MAIL_PORT = int(os.environ.get("MAIL_PORT", "8025"))
DEMO_DIR = Path(os.environ.get("DEMO_DIR") or ROOT / ".demo").resolve()
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
ADMIN_EMAIL = "owner@touchpoint.demo"
ADMIN_PASSWORD = "touchpoint-demo"  # the demo's only; a real shop runs `admin create-user`
# The simulated courier's own account: its logins and order moves are not the owner's in
# the audit log, nor count against the owner's failed-login lockout.
COURIER_EMAIL = "courier@touchpoint.demo"
# What cron does hourly in production (`orders expire`), at the demo's pace.
EXPIRE_EVERY = max(1.0, float(os.environ.get("DEMO_EXPIRE_EVERY", "180")))
EXPIRE_AFTER = max(60, int(os.environ.get("DEMO_EXPIRE_AFTER", "600")))  # the CLI's least
EXPIRE_WITHIN = 60.0  # seconds one run may take before it is killed
# What a timer does every minute in production (`orders send-mail`), a little more often.
MAIL_EVERY = max(1.0, float(os.environ.get("DEMO_MAIL_EVERY", "20")))


def _shown(path: Path) -> str:
    """A path as a person would type it from the checkout."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((HOST, port)) == 0


def wait_for(port: int, proc: subprocess.Popen, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{what} exited with code {proc.returncode}; see the output above.")
        if port_in_use(port):
            return
        time.sleep(0.2)
    sys.exit(f"{what} did not start listening on {HOST}:{port} within {timeout:.0f}s.")


class Processes:
    """What the demo started, each in a session of its own (the terminal's Ctrl-C reaches
    only this script), and stopped in reverse order with SIGTERM however the script ends:
    Ctrl-C, SIGTERM, the terminal closed (SIGHUP), a process that exits, a failed start.

    A stop signal that comes while a process is being started (or the database migrated
    and seeded) waits until that is done, then stops everything: no process is left out
    of the list, and no migration is cut in half. (Not by blocking the signals: a child
    would inherit the blocked mask, and then never see the SIGTERM that stops it.)"""

    def __init__(self) -> None:
        # Each started process, what it is, and the seconds it has to stop after SIGTERM.
        self.started: list[tuple[subprocess.Popen, str, float]] = []
        self._holding = False
        self._requested = False
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, _frame) -> None:
        if self._holding:
            self._requested = True
            return
        self._ignore_signals()
        raise SystemExit(0)

    @staticmethod
    def _ignore_signals() -> None:
        for sig in STOP_SIGNALS:  # a second Ctrl-C must not cut the stopping short
            signal.signal(sig, signal.SIG_IGN)

    @contextlib.contextmanager
    def held(self):
        """Stop signals wait until the block is done."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
        if self._requested:
            self._ignore_signals()
            raise SystemExit(0)

    def run(self, cmd: list[str], **kwargs) -> None:
        """A setup command, to its end (in a session of its own: a Ctrl-C does not cut it)."""
        with self.held():
            subprocess.run(cmd, cwd=ROOT, check=True, start_new_session=True, **kwargs)

    def start(self, what: str, cmd: list[str], *, stop_within: float,
              **kwargs) -> subprocess.Popen:
        """Started now; given ``stop_within`` seconds to stop after its SIGTERM."""
        with self.held():
            proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, **kwargs)
            self.started.append((proc, what, stop_within))
        return proc

    def stop(self) -> None:
        """The shoppers first, then the store (its workers finish their requests and write
        their journeys: gunicorn's graceful shutdown), then localstripe; each is killed if
        it has not stopped in the time it was given."""
        self._ignore_signals()
        for proc, what, within in reversed(self.started):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(within)
                except subprocess.TimeoutExpired:
                    print(f"{what} did not stop within {within:.0f} s; killed it.", flush=True)
                    proc.kill()
                    proc.wait()


class Periodic:
    """A job run every ``every`` seconds, like a cron entry: one run at a time, each killed
    if it takes longer than ``within`` seconds, its output appended to ``log``. A run that
    fails is reported and tried again next time; it never stops the demo. While it runs it
    is one of the started processes, so a Ctrl-C stops it with the rest."""

    def __init__(self, processes: Processes, what: str, cmd: list[str], *, every: float,
                 within: float, log: Path, env: dict | None = None) -> None:
        self.processes, self.what, self.cmd = processes, what, cmd
        self.every, self.within, self.log, self.env = every, within, log, env
        self.proc: subprocess.Popen | None = None
        self.began = 0.0
        self.next_at = time.monotonic() + every
        self.runs = 0

    def owns(self, proc: subprocess.Popen) -> bool:
        return proc is self.proc

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if self.proc is not None:
            if self.proc.poll() is None:
                if now - self.began <= self.within:
                    return
                print(f"{self.what} took longer than {self.within:g} s; killed it.",
                      flush=True)
                self.proc.kill()
                self.proc.wait()
            elif self.proc.returncode != 0:
                print(f"{self.what} exited with code {self.proc.returncode}; see "
                      f"{_shown(self.log)}. It runs again in {self.every:g} s.", flush=True)
            self.processes.started = [s for s in self.processes.started if s[0] is not self.proc]
            self.proc = None
            self.next_at = now + self.every
        if now >= self.next_at:
            self.log.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log, "ab") as out:
                self.proc = self.processes.start(self.what, self.cmd, env=self.env,
                                                 stdout=out, stderr=subprocess.STDOUT,
                                                 stop_within=10)
            self.began = now
            self.runs += 1


def main() -> None:
    for port, what in ((STORE_PORT, "the store"), (STRIPE_PORT, "localstripe"),
                       (MAIL_PORT, "the mail catcher")):
        if port_in_use(port):
            sys.exit(f"Port {port} ({what}) is already in use. Stop whatever holds it "
                     f"(an earlier `make demo`?) and run again.")
    processes = Processes()
    try:
        run(processes)
    finally:
        started = any(proc.poll() is None for proc, _, _ in processes.started)
        processes.stop()
        if started:
            print("\nStopped the store, localstripe and the mail catcher.", flush=True)


def run(processes: Processes) -> None:
    stripe_url = f"http://{HOST}:{STRIPE_PORT}"
    env = {
        **os.environ,
        "DEMO": "true",
        "STRIPE_API_BASE": stripe_url,
        "STRIPE_JS_URL": f"{stripe_url}/js.stripe.com/v3/",
        "STRIPE_SECRET_KEY": "sk_test_localstripe",
        "STRIPE_PUBLISHABLE_KEY": "pk_test_localstripe",
        "STRIPE_WEBHOOK_SECRET": "whsec_localstripe",
        # Minutes, not half hours: the panel's abandonment and exits fill while you watch
        # (the demo's own setting; unset, a store waits 30 minutes as GA4 and Matomo do).
        "JOURNEY_ABANDON_AFTER": os.environ.get("JOURNEY_ABANDON_AFTER", "180"),
        "JOURNEY_SESSION_TIMEOUT": os.environ.get("JOURNEY_SESSION_TIMEOUT", "300"),
        "JOURNEY_SWEEP_INTERVAL": os.environ.get("JOURNEY_SWEEP_INTERVAL", "15"),
        "JOURNEY_SWEEP_GRACE": os.environ.get("JOURNEY_SWEEP_GRACE", "15"),
        # The outbox is sent to a mail catcher on this machine, never to anyone's inbox.
        "MAIL_URL": f"smtp://{HOST}:{MAIL_PORT}",
        "MAIL_FROM": "Touchpoint Store <shop@touchpoint.demo>",
    }
    flask = [str(BIN / "flask"), "--app", "wsgi"]
    print("• Migrating the database…", flush=True)
    processes.run([*flask, "db", "upgrade"], env=env)
    print("• Seeding the demo catalog…", flush=True)
    processes.run([*flask, "seed"], env=env)
    processes.run([*flask, "admin", "create-user", ADMIN_EMAIL], env=env,
                  input=ADMIN_PASSWORD + "\n", text=True, stdout=subprocess.DEVNULL)
    courier_password = secrets.token_urlsafe(16)  # new each run (create-user resets it)
    processes.run([*flask, "admin", "create-user", COURIER_EMAIL], env=env,
                  input=courier_password + "\n", text=True, stdout=subprocess.DEVNULL)

    print("• Starting localstripe (fake Stripe) …", flush=True)
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    state = DEMO_DIR / "localstripe.pickle"  # payments survive a restart of the demo
    stripe = processes.start(
        "localstripe",
        [str(BIN / "python"), str(ROOT / "scripts" / "localstripe_server.py"),
         "--port", str(STRIPE_PORT), "--state", str(state)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stop_within=10)
    wait_for(STRIPE_PORT, stripe, "localstripe")
    requests.post(
        f"{stripe_url}/_config/webhooks/touchpoint",
        data={"url": f"http://{HOST}:{STORE_PORT}/stripe/webhook",
              "secret": env["STRIPE_WEBHOOK_SECRET"]},
        timeout=10,
    ).raise_for_status()

    print("• Starting the mail catcher (aiosmtpd) …", flush=True)
    mailbox = DEMO_DIR / "mail"  # a Maildir: one file a message in mail/new
    catcher = processes.start(
        "the mail catcher",
        [str(BIN / "python"), "-m", "aiosmtpd", "-n", "-l", f"{HOST}:{MAIL_PORT}",
         "-c", "aiosmtpd.handlers.Mailbox", str(mailbox)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stop_within=10)
    wait_for(MAIL_PORT, catcher, "the mail catcher")

    print("• Starting the store under gunicorn …", flush=True)
    store = processes.start(
        "the store",
        [str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "wsgi:app"],
        env={**env, "GUNICORN_BIND": f"{HOST}:{STORE_PORT}", "WEB_CONCURRENCY": "2",
             "GUNICORN_ACCESSLOG": str(DEMO_DIR / "access.log")},
        stop_within=30)  # gunicorn's graceful_timeout is 20 s
    wait_for(STORE_PORT, store, "the store")
    if os.environ.get("DEMO_SHOPPERS", "1") != "0":
        rate = os.environ.get("DEMO_RATE", "1.5")
        print(f"• Starting simulated shoppers (about {rate} a second, with a courier) …",
              flush=True)
        processes.start(
            "the shoppers",
            [*flask, "journey", "simulate", "--trickle", rate,
             "--concurrency", "3", "--base-url", f"http://{HOST}:{STORE_PORT}",
             "--admin-email", COURIER_EMAIL, "--admin-password", courier_password],
            env=env, stop_within=20)  # the shoppers on their way finish
    abandon, visit = (int(env[name]) // 60 for name in ("JOURNEY_ABANDON_AFTER",
                                                         "JOURNEY_SESSION_TIMEOUT"))
    print(f"""
  Touchpoint demo is running.

    Store      http://{HOST}:{STORE_PORT}/
    Admin      http://{HOST}:{STORE_PORT}/admin/    log in as {ADMIN_EMAIL} / {ADMIN_PASSWORD}
    Metrics    http://{HOST}:{STORE_PORT}/metrics   (Prometheus)
    Stripe     {stripe_url} (localstripe; test cards: 4242 4242 4242 4242 pays,
               4000 0000 0000 0341 is declined, 4000 0025 0000 3155 asks for 3-D Secure;
               any future expiry such as 12/34, any CVC)
    Logs       {_shown(DEMO_DIR / "access.log")} (requests)
    Shoppers   simulated ones arrive a few a second (DEMO_SHOPPERS=0 make demo: none)
    Idle       carts abandoned after {abandon} minutes, visits ended after {visit}
               (the demo's pace; a store waits 30 minutes for each)
    Expiry     orders left at 3-D Secure for {EXPIRE_AFTER // 60} minutes are canceled
               (`orders expire`, run every {EXPIRE_EVERY / 60:g} minutes; log in
               {_shown(DEMO_DIR / "orders-expire.log")})
    Outbox     order confirmations, shipping updates, review requests, and reminders
               for carts abandoned a minute ago (`orders remind`, as often): the
               panel's Outbox page
    Mail       the outbox, sent every {MAIL_EVERY:g} s (`orders send-mail`) to a mail
               catcher on smtp://{HOST}:{MAIL_PORT} that keeps each message as a file
               in {_shown(mailbox / "new")} (a Maildir: `mutt -f {_shown(mailbox)}`)

  Press Ctrl-C to stop.
""", flush=True)
    expiry = Periodic(
        processes, "`orders expire`",
        [*flask, "orders", "expire", "--after", str(EXPIRE_AFTER)],
        every=EXPIRE_EVERY, within=EXPIRE_WITHIN, log=DEMO_DIR / "orders-expire.log", env=env)
    reminders = Periodic(
        processes, "`orders remind`",
        [*flask, "orders", "remind", "--after", "60", "--within", "86400"],
        every=EXPIRE_EVERY, within=EXPIRE_WITHIN, log=DEMO_DIR / "orders-remind.log", env=env)
    sender = Periodic(
        processes, "`orders send-mail`", [*flask, "orders", "send-mail"],
        every=MAIL_EVERY, within=EXPIRE_WITHIN, log=DEMO_DIR / "orders-send-mail.log", env=env)
    jobs = (expiry, reminders, sender)
    while True:
        for job in jobs:
            job.tick()
        for proc, _, _ in processes.started:
            if proc.poll() is not None and not any(job.owns(proc) for job in jobs):
                print(f"A demo process exited with code {proc.returncode}; stopping.",
                      flush=True)
                sys.exit(1)
        time.sleep(1)


if __name__ == "__main__":
    main()
