"""What one benchmark run does: the full run and the smoke run differ only in these numbers."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class UpstreamSpec:
    tokens: int
    ttft_ms: float
    gap_ms: float

    def as_dict(self) -> dict[str, float]:
        return {"tokens": self.tokens, "ttft_ms": self.ttft_ms, "gap_ms": self.gap_ms}


@dataclass(frozen=True, slots=True)
class LatencyConfig:
    """Time to first token and gaps, at each concurrency, both arms.

    N concurrent streams should mean N streams open, not N times as many new requests a
    second: answers get longer with N so that requests arrive at `max_arrivals` a second
    at most (100 streams of 2.5 s answers; a short answer at 1 stream).
    """

    ttft_ms: float
    gap_ms: float
    min_tokens: int
    max_arrivals: float
    levels: tuple[int, ...]
    # Requests per level: at least `min_requests`, and `rounds` per concurrent stream.
    min_requests: int
    rounds: int

    def requests_at(self, concurrency: int) -> int:
        return max(self.min_requests, self.rounds * concurrency)

    def upstream(self, concurrency: int) -> UpstreamSpec:
        seconds = concurrency / self.max_arrivals
        tokens = math.ceil((seconds * 1000 - self.ttft_ms) / self.gap_ms) + 1
        return UpstreamSpec(max(self.min_tokens, tokens), self.ttft_ms, self.gap_ms)

    def answer_seconds(self, concurrency: int) -> float:
        spec = self.upstream(concurrency)
        return (spec.ttft_ms + (spec.tokens - 1) * spec.gap_ms) / 1000


@dataclass(frozen=True, slots=True)
class CpuConfig:
    """Server CPU per request and per chunk: a line fitted over answer lengths."""

    sizes: tuple[int, ...]
    # A small gap so each token reaches the relay on its own (no batching by the reads).
    gap_ms: float
    concurrency: int
    # Requests per size: enough server CPU at each size to swamp the clock-tick resolution.
    requests: dict[int, int]


@dataclass(frozen=True, slots=True)
class ThroughputConfig:
    upstream: UpstreamSpec
    concurrency: int
    seconds: float


@dataclass(frozen=True, slots=True)
class MemoryConfig:
    upstream: UpstreamSpec
    levels: tuple[int, ...]
    settle_seconds: float
    open_per_second: float


@dataclass(frozen=True, slots=True)
class CapacityConfig:
    gap_ms: float
    slack_ms: float
    levels: tuple[int, ...]
    window_seconds: float
    settle_seconds: float
    open_per_second: float
    first_token_timeout: float

    def upstream(self) -> UpstreamSpec:
        # Enough tokens that no stream ends before its level is measured.
        longest = max(self.levels) / self.open_per_second + self.first_token_timeout
        seconds = longest + self.settle_seconds + self.window_seconds + 10
        return UpstreamSpec(math.ceil(seconds * 1000 / self.gap_ms), 0.0, self.gap_ms)


@dataclass(frozen=True, slots=True)
class RateConfig:
    """New answers a second that one server sustains, arriving at a steady rate (open loop).

    A level passes while every answer succeeds, the relay adds at most `max_added_ttft_ms`
    to the direct arm's TTFT p99, and the p99 gap stays within the upstream's gap +
    `gap_slack_ms`. Levels rise until one fails.
    """

    upstream: UpstreamSpec
    levels: tuple[float, ...]
    seconds: float
    max_added_ttft_ms: float = 50.0
    gap_slack_ms: float = 20.0
    workers: int = 2  # the scaling phase: this many processes, one per core, sharing Redis


@dataclass(frozen=True, slots=True)
class BenchConfig:
    name: str
    latency: LatencyConfig
    cpu: CpuConfig
    throughput: ThroughputConfig
    memory: MemoryConfig
    capacity: CapacityConfig
    rate: RateConfig
    warmup_requests: int
    # A process counts as idle after this long using under 3% of a core.
    idle_window: float = 0.5
    # Memory is measured on a fresh server, so earlier phases' garbage does not hide growth.
    fresh_server_for_memory: bool = True
    prompt: str = "How much does the relay add?"
    targets: dict[str, float] = field(
        default_factory=lambda: {
            "added_ttft_p50_ms_at_1": 1.0,
            "added_ttft_p99_ms_at_100": 10.0,
            "cpu_ms_per_chunk": 0.05,
            "cpu_ms_per_request": 3.0,
            "streams_held": 2000,
            "kb_per_stream": 32.0,
        }
    )


FULL = BenchConfig(
    name="full",
    latency=LatencyConfig(
        # 40 tokens/s: a typical hosted model's pace.
        ttft_ms=20,
        gap_ms=25,
        min_tokens=12,
        max_arrivals=40,
        levels=(1, 10, 25, 50, 100),
        min_requests=80,
        rounds=4,
    ),
    cpu=CpuConfig(
        sizes=(50, 200, 1000),
        gap_ms=2,
        concurrency=4,
        requests={50: 240, 200: 80, 1000: 24},
    ),
    throughput=ThroughputConfig(
        upstream=UpstreamSpec(tokens=20, ttft_ms=0, gap_ms=0), concurrency=20, seconds=6
    ),
    memory=MemoryConfig(
        upstream=UpstreamSpec(tokens=120, ttft_ms=0, gap_ms=1000),
        levels=(100, 1000),
        settle_seconds=3,
        open_per_second=250,
    ),
    capacity=CapacityConfig(
        gap_ms=100,
        slack_ms=20,
        levels=(25, 50, 100, 250, 500, 1000, 1500, 2000, 3000, 4000),
        window_seconds=5,
        settle_seconds=2,
        open_per_second=250,
        first_token_timeout=30,
    ),
    rate=RateConfig(
        upstream=UpstreamSpec(tokens=100, ttft_ms=20, gap_ms=25),
        levels=(1, 2, 5, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 100, 120, 150, 200),
        seconds=6,
    ),
    warmup_requests=10,
)

# Seconds, not minutes: proves the harness works end to end; the figures mean nothing.
SMOKE = BenchConfig(
    name="smoke",
    latency=LatencyConfig(
        ttft_ms=5,
        gap_ms=5,
        min_tokens=4,
        max_arrivals=200,
        levels=(1, 4),
        min_requests=4,
        rounds=2,
    ),
    cpu=CpuConfig(sizes=(5, 10, 20), gap_ms=1, concurrency=2, requests={5: 4, 10: 4, 20: 2}),
    throughput=ThroughputConfig(
        upstream=UpstreamSpec(tokens=3, ttft_ms=0, gap_ms=0), concurrency=4, seconds=0.5
    ),
    memory=MemoryConfig(
        upstream=UpstreamSpec(tokens=50, ttft_ms=0, gap_ms=200),
        levels=(5, 10),
        settle_seconds=0.1,
        open_per_second=200,
    ),
    capacity=CapacityConfig(
        gap_ms=50,
        slack_ms=20,
        levels=(5, 10),
        window_seconds=0.2,
        settle_seconds=0.1,
        open_per_second=200,
        first_token_timeout=10,
    ),
    rate=RateConfig(upstream=UpstreamSpec(tokens=5, ttft_ms=0, gap_ms=5), levels=(5,), seconds=0.4),
    warmup_requests=2,
    idle_window=0.1,
    fresh_server_for_memory=False,
)

# `make bench-peers`: every arm in one run, so fewer latency levels and capacity steps.
PEERS = dataclasses.replace(
    FULL,
    name="peers",
    latency=dataclasses.replace(FULL.latency, levels=(1, 25)),
    capacity=dataclasses.replace(FULL.capacity, levels=(25, 100, 250, 500, 1000, 1500, 2000)),
)

PRESETS = {"full": FULL, "smoke": SMOKE, "peers": PEERS}
