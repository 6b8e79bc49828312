"""Run localstripe (the fake Stripe server for the demo and the tests) with its own state file.

localstripe 1.15 writes its whole store to the fixed path /tmp/localstripe.pickle after
every change, from every running instance: the tests', a benchmark's and the demo's
overwrite one another, a reader can load a half-written file (the demo then fails to
start), and rewriting the whole file on every write slows a long test session down.

    python scripts/localstripe_server.py --port 8420 [--from-scratch] [--state FILE]

--state FILE keeps the store in FILE (the demo: .demo/localstripe.pickle, written atomically);
without it nothing is written (the tests). Run as its own process, like localstripe itself;
the shop's code never imports it.
"""

from __future__ import annotations

import os
import pickle
import sys
import tempfile


def main() -> int:
    args = sys.argv[1:]
    state = None
    if "--state" in args:
        i = args.index("--state")
        state = args[i + 1]
        del args[i:i + 2]
    from localstripe import resources, server

    def load(self) -> None:
        if state and os.path.exists(state):
            try:
                with open(state, "rb") as f:
                    old = pickle.load(f)
            except (OSError, pickle.UnpicklingError, EOFError) as exc:
                print(f"localstripe: ignoring unreadable state {state}: {exc}", file=sys.stderr)
                return
            self.clear()
            self.update(old)

    def dump(self) -> None:
        if not state:
            return
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(state)))
        with os.fdopen(fd, "wb") as f:
            pickle.dump(dict(self), f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, state)  # readers see the old file or the new one, never half

    resources.Store.try_load_from_disk = load
    resources.Store.dump_to_disk = dump
    sys.argv = ["localstripe", *args]
    return server.start()


if __name__ == "__main__":
    sys.exit(main())
