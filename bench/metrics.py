"""What the /metrics instrumentation costs on the webhook path: first the time `Metrics.timed`
adds to one update, in this process (precise even on a busy machine); then bench/pipeline.py's
pipeline server without and with the counters `Host.submit` keeps (bot/metrics.py), in
alternating runs (the machine may be busy with other work: alternation spreads it over both),
medians at the end.

Run: python bench/metrics.py [--rounds 3] [--updates 5000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import pipeline  # noqa: E402


def serve_metered(port: int, db_path: str, users: int, ready) -> None:
    """The pipeline server, its channel's Host counting into a Metrics as the App's does."""
    from dataclasses import dataclass, field

    from chidoan.bot.channels import base
    from chidoan.bot.metrics import Metrics

    @dataclass
    class Metered(base.Host):
        metrics: Metrics | None = field(default_factory=Metrics)

    base.Host = Metered  # type: ignore[misc]  # serve_pipeline imports Host when it runs
    pipeline.serve_pipeline(port, db_path, users, ready)


def per_update(n: int = 200_000) -> float:
    """Microseconds `Metrics.timed` adds to an update (best of 5 batches of n/5)."""
    import asyncio
    import time

    from chidoan.bot.metrics import Metrics

    async def handled() -> bool:
        return True

    async def measure() -> float:
        metrics, best = Metrics(), float("inf")
        for _ in range(5):
            began = time.perf_counter()
            for _ in range(n // 5):
                await handled()
            plain = time.perf_counter() - began
            began = time.perf_counter()
            for _ in range(n // 5):
                await metrics.timed("telegram", handled())
            best = min(best, (time.perf_counter() - began - plain) / (n // 5))
        return best * 1e6

    return asyncio.run(measure())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--updates", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--users", type=int, default=1_000)
    args = parser.parse_args()
    print(f"metrics: {per_update():.1f} µs added to each update (Metrics.timed, in process)")
    warmup = pipeline.bodies(1_000, args.users, 1)
    payloads = pipeline.bodies(args.updates, args.users, 1 + len(warmup))
    rates: dict[str, list[float]] = {"plain": [], "metrics": []}
    p99s: dict[str, list[float]] = {"plain": [], "metrics": []}
    for _ in range(args.rounds):
        for name, target in (("plain", pipeline.serve_pipeline), ("metrics", serve_metered)):
            with tempfile.TemporaryDirectory() as tmp:
                rate, latencies = pipeline.run_phase(
                    name, target, (str(Path(tmp) / "bench.sqlite3"), args.users), payloads, warmup, args.concurrency
                )
            rates[name].append(rate)
            p99s[name].append(statistics.quantiles(latencies, n=100)[98] * 1000)
    plain, metered = statistics.median(rates["plain"]), statistics.median(rates["metrics"])
    print(
        f"metrics: plain {plain:.0f} updates/s (p99 {statistics.median(p99s['plain']):.1f} ms); "
        f"with metrics {metered:.0f} updates/s (p99 {statistics.median(p99s['metrics']):.1f} ms); "
        f"ratio {metered / plain:.3f} (medians of {args.rounds} alternating runs)"
    )


if __name__ == "__main__":
    main()
