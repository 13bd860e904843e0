"""Batch forming (engine.serving.batching), without an event loop: size cap, grouping, age order, gone callers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.request import PoemRequest
from engine.serving.batching import Pending, count_live, group_key, take_batch


def pending(specs: list[tuple[str, str]], gone: set[int] = frozenset()) -> list[Pending[bool]]:
    """Requests in arrival order, given as (model, form); `ticket` says whether the caller has gone."""
    return [
        Pending(PoemRequest("春", form=form, model=model), seq=i, ticket=i in gone)
        for i, (model, form) in enumerate(specs)
    ]


def is_gone(p: Pending[bool]) -> bool:
    return p.ticket


def seqs(items) -> list[int]:
    return [p.seq for p in items]


def test_group_key_normalises_aliases_so_they_share_a_decode_pass():
    assert group_key(PoemRequest("春", form="五绝", model="对抗")) == ("gan", "wujue", "pingshui")
    assert group_key(PoemRequest("春", form="七言律诗", model="VAE", scheme="xinyun")) == (
        "vae",
        "qilv",
        "xinyun",
    )
    assert group_key(PoemRequest("春", form="", acrostic=True)) == ("gan", "", "pingshui")


def test_unparseable_names_keep_their_own_group_instead_of_failing():
    assert group_key(PoemRequest("春", form="sonnet", model="gpt")) == ("gpt", "sonnet", "pingshui")


def test_a_batch_never_exceeds_the_cap_and_the_oldest_go_first():
    items = pending([("gan", "wujue")] * 10)
    batch, rest = take_batch(items, 4)
    assert seqs(batch) == [0, 1, 2, 3]
    assert seqs(rest) == [4, 5, 6, 7, 8, 9]


def test_requests_of_the_oldest_group_are_taken_before_older_requests_of_other_groups():
    items = pending(
        [
            ("gan", "wujue"),
            ("vae", "qilv"),
            ("gan", "qijue"),
            ("gan", "wujue"),
            ("vae", "qilv"),
            ("gan", "wujue"),
        ]
    )
    batch, rest = take_batch(items, 4)
    # the oldest group (gan, wujue) whole, then the next-oldest group (vae, qilv) while room is left
    assert seqs(batch) == [0, 3, 5, 1]
    assert seqs(rest) == [2, 4]
    batch, rest = take_batch(rest, 4)
    assert seqs(batch) == [2, 4] and rest == []


def test_a_batch_with_room_takes_every_group():
    items = pending([("gan", "wujue"), ("vae", "wulv"), ("gan", "qilv"), ("vae", "wulv")])
    batch, rest = take_batch(items, 64)
    assert sorted(seqs(batch)) == [0, 1, 2, 3] and rest == []
    assert seqs(batch) == [0, 1, 3, 2]  # grouped for the decoder


def test_requests_whose_caller_has_gone_are_dropped_not_decoded():
    items = pending([("gan", "wujue")] * 6, gone={0, 2, 3})
    batch, rest = take_batch(items, 2, is_gone)
    assert seqs(batch) == [1, 4]
    assert seqs(rest) == [5]  # the gone ones are not kept waiting either
    assert count_live(items, is_gone) == 3


def test_nothing_pending_gives_an_empty_batch():
    assert take_batch([], 8) == ([], [])
    assert take_batch(pending([("gan", "wujue")], gone={0}), 8, is_gone) == ([], [])


def test_a_cap_below_one_is_refused():
    with pytest.raises(ValueError):
        take_batch(pending([("gan", "wujue")]), 0)


KEYS = st.sampled_from([("gan", "wujue"), ("gan", "qilv"), ("vae", "wujue"), ("vae", "wulv")])


@given(st.lists(st.tuples(KEYS, st.booleans()), max_size=40), st.integers(1, 12))
def test_batches_partition_the_live_requests_and_the_oldest_is_never_starved(specs, cap):
    items = pending([k for k, _ in specs], gone={i for i, (_, g) in enumerate(specs) if g})
    live = [p for p in items if not p.ticket]
    batch, rest = take_batch(items, cap, is_gone)
    assert len(batch) == min(cap, len(live))
    assert sorted(seqs(batch + rest)) == seqs(live)  # nothing lost, nothing duplicated, no gone caller
    assert seqs(rest) == sorted(seqs(rest))  # the waiting keep arrival order
    if live:
        assert batch[0] is live[0]  # the oldest live request is always served next
        oldest_group = [p for p in live if p.key == live[0].key]
        assert batch[: min(cap, len(oldest_group))] == oldest_group[:cap]
