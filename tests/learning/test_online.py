"""The online check: a challenger whose poems are rated clearly better becomes the champion, one
clearly worse is dropped, and one that cannot be told apart yet waits."""

from __future__ import annotations

from learning import online
from learning.online import Posterior, decide
from learning.registry import Registry
from storage.queries import ModelVersionStats


def test_clearly_better_is_promoted_worse_is_dropped_unclear_waits():
    champ = Posterior(good=300, total=1000)
    assert decide(champ, Posterior(45, 100)).action == "promote"
    assert decide(champ, Posterior(15, 100)).action == "drop"
    assert decide(champ, Posterior(32, 100)).action == "wait"
    assert decide(champ, Posterior(9, 10)).action == "wait"  # too few ratings yet


def test_the_challenger_gets_its_share_of_requests_stably():
    keys = [f"user{i}:{j}" for i in range(200) for j in range(10)]
    share = sum(online.serves_challenger(k, 0.2) for k in keys) / len(keys)
    assert 0.17 < share < 0.23
    assert all(online.serves_challenger(k, 0.2) == online.serves_challenger(k, 0.2) for k in keys[:50])


def test_check_moves_the_aliases(tmp_path, tiny_model_dir):
    reg = Registry(tmp_path / "r")
    reg.seed_shipped(tiny_model_dir, names=("gan",))
    first = reg.champion("gan").version
    v = reg.next_version("gan")
    reg.add("gan", v, tiny_model_dir / "gan", parent=first, method="raft")
    reg.promote("gan", v, "challenger")

    def stats(good_champ, good_chall, n=200):
        return [ModelVersionStats("gan", first, n, 3.0, {4: good_champ, 1: n - good_champ}),
                ModelVersionStats("gan", v, n, 3.0, {5: good_chall, 2: n - good_chall})]

    assert online.check(reg, stats(60, 64), "gan").action == "wait"
    assert reg.challenger("gan").version == v
    assert online.check(reg, stats(60, 110), "gan").action == "promote"
    assert reg.champion("gan").version == v and reg.challenger("gan") is None
    assert online.check(reg, stats(60, 110), "gan") is None  # no challenger on trial
