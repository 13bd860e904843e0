"""Rhymes by usage: which 平水韵 groups poets rhyme each character in, rare readings named by the
check, and 中华新韵 read by today's standard pronunciation."""

from __future__ import annotations

import pytest

from engine.prosody import usage
from engine.prosody.check import check_poem
from engine.prosody.tables import get_prosody
from engine.prosody.xinyun import readings

PINGSHUI = get_prosody("pingshui")
# 书 is in 鱼 and (a rare reading) in 支; 诗 时 枝 only in 支
POEMS = [
    ("白日依山尽", "黄河入海流", "欲穷千里目", "更上一层楼"),  # 尤
    ("床前看月光", "案上读诗书", "举首望山月", "低头思故居"),  # 鱼: 书 居
    ("春眠不觉晓", "闲来读旧书", "夜来风雨声", "花落知多鱼"),  # 鱼: 书 鱼
    ("红豆生南国", "春来发几枝", "愿君多采撷", "此物最相思"),  # 支: 枝 思
]


@pytest.fixture(scope="module")
def rhymes() -> usage.RhymeUsage:
    return usage.RhymeUsage(usage.build(POEMS, PINGSHUI))


def test_each_rhyme_character_is_counted_in_its_poems_group(rhymes):
    assert rhymes.counts["书"] == {"上平六鱼": 2}
    assert rhymes.counts["枝"] == {"上平四支": 1} and rhymes.counts["楼"] == {"下平十一尤": 1}
    assert "光" not in rhymes.counts  # line 1 of the 鱼 poem does not rhyme
    assert rhymes.attested("书", "上平六鱼") and not rhymes.attested("书", "上平四支")


def test_a_reading_under_five_percent_of_a_characters_rhymes_is_rare():
    rhymes = usage.RhymeUsage({"书": {"上平六鱼": 99, "上平四支": 1}, "诗": {"上平四支": 50}})
    assert rhymes.rare("书", "上平四支") and not rhymes.rare("书", "上平六鱼")
    assert not rhymes.rare("诗", "上平四支") and not rhymes.rare("雁", "上平四支")  # never rhymed: no reading to call rare
    assert rhymes.common_groups("书") == ["上平六鱼"]
    assert "僻读" in rhymes.rare_note("书", "上平四支") and "rare reading" in rhymes.rare_note("书", "上平四支")


def test_the_rare_rate_of_a_set_of_poems(rhymes):
    rare_poem = ("红豆生南国", "春来发几枝", "愿君多采撷", "此物最相书")  # 书 rhymed in 支
    rate, n = usage.rare_rate([rare_poem], PINGSHUI, usage.RhymeUsage({"书": {"上平六鱼": 99, "上平四支": 1},
                                                                       "枝": {"上平四支": 9}}))
    assert (rate, n) == (0.5, 2)


def test_check_names_a_rare_reading_without_failing_the_poem():
    rhymes = usage.RhymeUsage({"书": {"上平六鱼": 99, "上平四支": 1}})
    poem = "白日依山尽，黄河入海书。欲穷千里目，更上一层诗。"
    report = check_poem(poem, usage=rhymes)
    assert report.ok and report.rhyme_group == "上平四支"
    assert any("「书」押上平四支属僻读" in note for note in report.notes)
    assert not check_poem(poem).notes  # without the usage table: nothing to say


def test_xinyun_reads_the_standard_pronunciation():
    assert {r.group for r in readings("池")} == {"十三支"}  # not tuó
    assert {r.group for r in readings("光")} == {"十唐"} and {r.tone for r in readings("光")} == {"平"}
    assert {r.tone for r in readings("长")} == {"平", "仄"}  # cháng and zhǎng are both standard
    report = check_poem("远上寒山石径斜，白云深处有人多。停车坐爱枫林晚，霜叶红于二月池。", scheme="xinyun")
    assert not report.rhyme_ok and any("「池」" in f.message for f in report.faults)


def test_cli_check_names_a_rare_reading_from_the_shipped_statistics(tiny_model_dir, tmp_path, monkeypatch):
    import shutil

    import torch
    from typer.testing import CliRunner

    from app.cli import app
    from app.settings import get_settings

    shutil.copytree(tiny_model_dir / "gan", tmp_path / "gan")
    blob = torch.load(tmp_path / "gan" / "model.pt", weights_only=False)
    blob["rhyme_usage"] = {"书": {"上平六鱼": 99, "上平四支": 1}}
    torch.save(blob, tmp_path / "gan" / "model.pt")
    monkeypatch.setenv("YINSHI_MODEL_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        out = CliRunner().invoke(app, ["check", "白日依山尽，黄河入海书。欲穷千里目，更上一层诗。"])
    finally:
        get_settings.cache_clear()
    assert out.exit_code == 0 and "合律" in out.stdout
    assert "「书」押上平四支属僻读" in out.stdout
