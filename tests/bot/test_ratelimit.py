"""The per-user token bucket, driven by a fake clock."""

from __future__ import annotations

import pytest

from bot.ratelimit import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refuse_then_refill():
    clock = FakeClock()
    rl = RateLimiter(6, clock=clock)  # 6 a minute: one token every 10 s
    assert all(rl.allow("alice") for _ in range(6))
    assert not rl.allow("alice")
    assert rl.retry_after("alice") == pytest.approx(10.0)
    clock.now += 9.9
    assert not rl.allow("alice")
    clock.now += 0.2
    assert rl.allow("alice")
    assert not rl.allow("alice")


def test_users_have_separate_buckets():
    clock = FakeClock()
    rl = RateLimiter(2, clock=clock)
    assert rl.allow("a") and rl.allow("a")
    assert not rl.allow("a")
    assert rl.allow("b")
    assert rl.retry_after("nobody") == 0.0


def test_refill_is_capped_at_capacity():
    clock = FakeClock()
    rl = RateLimiter(3, clock=clock)
    rl.allow("a")
    clock.now += 3600
    assert sum(rl.allow("a") for _ in range(10)) == 3


def test_idle_full_buckets_are_pruned():
    clock = FakeClock()
    rl = RateLimiter(60, clock=clock, max_keys=3)
    for key in "abc":
        rl.allow(key)
    clock.now += 60  # all refilled
    rl.allow("d")
    assert len(rl) == 1


def test_rejects_nonsense_rate():
    with pytest.raises(ValueError):
        RateLimiter(0)
