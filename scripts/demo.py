"""make demo: migrate, seed, start localstripe and the store, print the URLs; Ctrl-C stops all."""

from __future__ import annotations

import os
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
ADMIN_EMAIL = "owner@touchpoint.demo"
ADMIN_PASSWORD = "touchpoint-demo"  # the demo's only; a real shop runs `admin create-user`


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


def main() -> None:
    for port, what in ((STORE_PORT, "the store"), (STRIPE_PORT, "localstripe")):
        if port_in_use(port):
            sys.exit(f"Port {port} ({what}) is already in use. Stop whatever holds it "
                     f"(an earlier `make demo`?) and run again.")
    stripe_url = f"http://{HOST}:{STRIPE_PORT}"
    env = {
        **os.environ,
        "DEMO": "true",
        "STRIPE_API_BASE": stripe_url,
        "STRIPE_JS_URL": f"{stripe_url}/js.stripe.com/v3/",
        "STRIPE_SECRET_KEY": "sk_test_localstripe",
        "STRIPE_PUBLISHABLE_KEY": "pk_test_localstripe",
        "STRIPE_WEBHOOK_SECRET": "whsec_localstripe",
    }
    flask = [str(BIN / "flask"), "--app", "wsgi"]
    print("• Migrating the database…", flush=True)
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True)
    print("• Seeding the demo catalog…", flush=True)
    subprocess.run([*flask, "seed"], cwd=ROOT, env=env, check=True)
    subprocess.run([*flask, "admin", "create-user", ADMIN_EMAIL], cwd=ROOT, env=env, check=True,
                   input=ADMIN_PASSWORD + "\n", text=True, stdout=subprocess.DEVNULL)

    procs: list[subprocess.Popen] = []

    def stop(*_args) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        print("\nStopped the store and localstripe.")
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    print("• Starting localstripe (fake Stripe) …", flush=True)
    state = ROOT / ".demo" / "localstripe.pickle"  # payments survive a restart of the demo
    state.parent.mkdir(exist_ok=True)
    procs.append(subprocess.Popen(
        [str(BIN / "python"), str(ROOT / "scripts" / "localstripe_server.py"),
         "--port", str(STRIPE_PORT), "--state", str(state)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    wait_for(STRIPE_PORT, procs[-1], "localstripe")
    requests.post(
        f"{stripe_url}/_config/webhooks/touchpoint",
        data={"url": f"http://{HOST}:{STORE_PORT}/stripe/webhook",
              "secret": env["STRIPE_WEBHOOK_SECRET"]},
        timeout=10,
    ).raise_for_status()

    print("• Starting the store under gunicorn …", flush=True)
    logs = ROOT / ".demo"
    logs.mkdir(exist_ok=True)
    procs.append(subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT, env={**env, "GUNICORN_BIND": f"{HOST}:{STORE_PORT}", "WEB_CONCURRENCY": "2",
                       "GUNICORN_ACCESSLOG": str(logs / "access.log")},
    ))
    wait_for(STORE_PORT, procs[-1], "the store")
    if os.environ.get("DEMO_SHOPPERS", "1") != "0":
        print("• Starting simulated shoppers (about 1.5 a second, with a courier) …", flush=True)
        procs.append(subprocess.Popen(
            [*flask, "journey", "simulate", "--trickle", os.environ.get("DEMO_RATE", "1.5"),
             "--concurrency", "3", "--base-url", f"http://{HOST}:{STORE_PORT}",
             "--admin-email", ADMIN_EMAIL, "--admin-password", ADMIN_PASSWORD],
            cwd=ROOT, env=env,
        ))
    print(f"""
  Touchpoint demo is running.

    Store      http://{HOST}:{STORE_PORT}/
    Admin      http://{HOST}:{STORE_PORT}/admin/    log in as {ADMIN_EMAIL} / {ADMIN_PASSWORD}
    Metrics    http://{HOST}:{STORE_PORT}/metrics   (Prometheus)
    Stripe     {stripe_url} (localstripe; test cards: 4242 4242 4242 4242 pays,
               4000 0000 0000 0341 is declined, 4000 0025 0000 3155 asks for 3-D Secure;
               any future expiry such as 12/34, any CVC)
    Logs       .demo/access.log (requests)
    Shoppers   simulated ones arrive a few a second (DEMO_SHOPPERS=0 make demo: none)

  Press Ctrl-C to stop.
""", flush=True)
    while True:
        for proc in procs:
            if proc.poll() is not None:
                print(f"A demo process exited with code {proc.returncode}; stopping.")
                stop()
        time.sleep(1)


if __name__ == "__main__":
    main()
