"""The paired benchmark's pooling of saved runs (tracking_overhead_paired.py --pool): the
README's verdict on the tracker's p99 rests on it, so what it reads back and how it counts
starts are checked here, on made-up runs (no server is started)."""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import tracking_overhead_paired as paired  # noqa: E402

SETTINGS = {"page": "/p/x", "workers": 2, "connections": 4, "open_loop_rate": None,
            "slice_s": 6.0, "restart_every": 1, "visitors": 100, "new_visitor_every": 10}


def made_pairs(n: int, seed: int, p99_change: float) -> list[dict]:
    rng = random.Random(seed)
    pairs = []
    for k in range(n):
        pairs.append({
            "start": k, "order": k % 2,
            "time_us_ratio": 1.03 * math.exp(rng.gauss(0, 0.04)),
            "cpu_us_ratio": 1.03 * math.exp(rng.gauss(0, 0.04)),
            "p50_ratio": 1.02 * math.exp(rng.gauss(0, 0.05)),
            "p99_ratio": (1 + p99_change) * math.exp(rng.gauss(0, 0.1)),
            "cpu_us": 6000.0, "cpu_us_off": 5800.0})
    return pairs


def record(pairs: list[dict], keep: bool = True) -> dict:
    result = {**paired.estimates(pairs)}
    if keep:
        result["measurements"] = paired.kept(pairs)
    return {"benchmark": "tracking_overhead_paired", **SETTINGS, "results": {"on": result},
            "seconds": 600.0}


def saved_log(path: Path, pairs: list[dict]) -> None:
    """What `... 2>&1 | tee` saves of a run from before the JSON line kept its pairs."""
    lines = ["[22:36:28] tracker on and tracker off: starting both"]
    for n, pair in enumerate(pairs, 1):
        lines.append(f"[22:36:53] {paired.progress_line(n, len(pairs), pair, None)}")
    lines += ["", "| a table |", "", json.dumps(record(pairs, keep=False))]
    path.write_text("\n".join(lines) + "\n")


def test_a_run_read_back_gives_its_own_figures(tmp_path):
    pairs = made_pairs(24, 1, 0.04)
    saved = tmp_path / "run.json"
    saved.write_text(json.dumps(record(pairs)) + "\n")
    [(_, read)] = paired.read_runs(str(saved))
    assert paired.estimates(read["on"]) == paired.estimates(pairs)


def test_an_old_log_is_read_from_its_progress_lines(tmp_path):
    """To the 0.1 point its lines print, and without p50 (they never printed it)."""
    pairs = made_pairs(24, 2, 0.04)
    saved = tmp_path / "run.log"
    saved_log(saved, pairs)
    [(_, read)] = paired.read_runs(str(saved))
    found, truth = paired.estimates(read["on"]), paired.estimates(pairs)
    assert "p50_pct" not in found
    for name in ("time_per_request", "cpu_per_request", "p99"):
        assert found[f"{name}_pct"] == pytest.approx(truth[f"{name}_pct"], abs=0.06)
        assert found[f"{name}_95"] == pytest.approx(truth[f"{name}_95"], abs=0.1)


def test_pooled_runs_count_every_start_once(tmp_path, capsys):
    first, second = made_pairs(24, 3, 0.05), made_pairs(24, 4, 0.02)
    (tmp_path / "a.json").write_text(json.dumps(record(first)) + "\n")
    saved_log(tmp_path / "b.log", second)
    assert paired.pool([str(tmp_path / "a.json"), str(tmp_path / "b.log")]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    p99 = out["results"]["on"]
    assert (p99["pairs"], p99["starts"]) == (48, 48)
    # the same as one run of both series' starts (start 0 of each run is two starts)
    union = first + [{**p, "start": p["start"] + 100} for p in second]
    assert p99["p99_pct"] == pytest.approx(paired.estimates(union)["p99_pct"], abs=0.06)
    one = paired.estimates(first)
    width = p99["p99_95"][1] - p99["p99_95"][0]
    assert width < one["p99_95"][1] - one["p99_95"][0]  # more starts, a narrower interval


def test_runs_of_another_load_or_the_same_run_twice_are_refused(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(record(made_pairs(8, 5, 0.0))) + "\n")
    other = record(made_pairs(8, 6, 0.0))
    other["open_loop_rate"] = 70.0
    (tmp_path / "b.json").write_text(json.dumps(other) + "\n")
    with pytest.raises(SystemExit, match="open_loop_rate"):
        paired.pool([str(tmp_path / "a.json"), str(tmp_path / "b.json")])
    with pytest.raises(SystemExit, match="same run"):
        paired.pool([str(tmp_path / "a.json"), str(tmp_path / "a.json")])
    (tmp_path / "none.log").write_text("[22:36:28] starting both\n")
    with pytest.raises(SystemExit, match="no finished run"):
        paired.pool([str(tmp_path / "none.log")])
