"""The request path's counts are batched (metrics.Tally): what reaches the metrics is what
direct updates would have made, and nothing waits longer than a flush interval."""

import random
import threading
import time

from prometheus_client import CollectorRegistry, Counter, Histogram

from tracking.metrics import LATENCY_BUCKETS, Tally


def _pair():
    registries = CollectorRegistry(), CollectorRegistry()
    made = [(Counter("c", "c", ["k"], registry=r),
             Histogram("h", "h", ["k"], buckets=LATENCY_BUCKETS, registry=r))
            for r in registries]
    return registries, made


def test_a_flushed_tally_equals_direct_updates_bucket_for_bucket():
    (direct_r, tallied_r), ((c1, h1), (c2, h2)) = _pair()
    tally = Tally(interval=3600)
    rng = random.Random(3)
    amounts = [rng.choice((0.0, 0.005, 0.01, 7.5, 99.0)) if rng.random() < 0.2
               else rng.expovariate(40) for _ in range(5000)]  # bounds exactly, and beyond
    for i, amount in enumerate(amounts):
        key = "ab"[i % 2]
        c1.labels(key).inc()
        h1.labels(key).observe(amount)
        tally.inc(c2.labels(key))
        tally.observe(h2.labels(key), amount)
    assert tallied_r.get_sample_value("c_total", {"k": "a"}) == 0, "waits for a flush"
    tally.flush()
    assert _samples(direct_r) == _samples(tallied_r)


def _samples(registry) -> dict:
    """Every sample but the creation times; sums to 9 places (one addition of the batch's
    total instead of one per observation)."""
    return {(s.name, tuple(sorted(s.labels.items()))):
            round(s.value, 9) if s.name.endswith("_sum") else s.value
            for family in registry.collect() for s in family.samples
            if not s.name.endswith("_created")}


def test_the_tally_flushes_itself_after_its_interval_and_when_full():
    (_, registry), (_, (counter, histogram)) = _pair()
    tally = Tally(interval=0.05, limit=100)
    tally.inc(counter.labels("x"))
    assert registry.get_sample_value("c_total", {"k": "x"}) == 0
    time.sleep(0.06)
    tally.observe(histogram.labels("x"), 0.1)  # once a request: it checks the time
    assert registry.get_sample_value("c_total", {"k": "x"}) == 1
    for _ in range(101):  # past the limit, whatever the time
        tally.inc(counter.labels("y"))
    assert registry.get_sample_value("c_total", {"k": "y"}) >= 100


def test_counts_from_many_threads_are_all_kept():
    (_, registry), (_, (counter, _)) = _pair()
    tally = Tally(interval=0.001)
    child = counter.labels("t")

    def count():
        for _ in range(5000):
            tally.inc(child)
            if random.random() < 0.01:
                tally.flush()

    threads = [threading.Thread(target=count) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    tally.flush()
    assert registry.get_sample_value("c_total", {"k": "t"}) == 20000
