"""A token bucket per user: `per_minute` requests a minute on average, bursts up to `per_minute`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """`allow(key)` spends one token of that key's bucket, or returns False when it is empty.

    Buckets refill continuously at per_minute/60 tokens a second. The clock is injectable
    (seconds, monotonic) so the limiter is tested without waiting. Full, idle buckets are
    dropped once there are more than `max_keys`, so memory stays bounded.
    """

    def __init__(
        self, per_minute: int, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 10_000
    ):
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens per second
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}

    def _refill(self, bucket: _Bucket, now: float) -> None:
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.stamp) * self.rate)
        bucket.stamp = now

    def allow(self, key: str) -> bool:
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._prune(now)
            bucket = self._buckets[key] = _Bucket(self.capacity, now)
        self._refill(bucket, now)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return True
        return False

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may make its next request (0 when it may now)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return 0.0
        self._refill(bucket, self.clock())
        return max(0.0, (1.0 - bucket.tokens) / self.rate)

    def _prune(self, now: float) -> None:
        for key in [
            k for k, b in self._buckets.items() if b.tokens + (now - b.stamp) * self.rate >= self.capacity
        ]:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)
