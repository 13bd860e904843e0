"""The corpus pipeline: reading, cleaning, classifying, deduplicating, splitting, caching."""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.settings import get_settings
from engine.corpus.loader import (
    CorpusError,
    CorpusPoem,
    build_poems,
    classify,
    load_corpus,
    load_corpus_with_report,
    read_file,
    regular_poems,
    split_for,
)
from engine.text.cleaning import DamagedText, clean_paragraphs
from tests.conftest import FIXTURE_CORPUS

FIXTURE = FIXTURE_CORPUS


@pytest.fixture(scope="module")
def fixture_corpus():
    return load_corpus_with_report(FIXTURE)


def by_title(poems: list[CorpusPoem], title: str, author: str) -> CorpusPoem:
    (poem,) = [p for p in poems if p.title == title and p.author == author]
    return poem


# ---------------------------------------------------------------- the fixture slice


def test_famous_poems_are_simplified_clean_and_classified(fixture_corpus):
    poems, _ = fixture_corpus
    chunwang = by_title(poems, "春望", "杜甫")
    assert chunwang.form == "wulv" and chunwang.kind == "shi" and chunwang.dynasty == "tang"
    assert chunwang.lines == (
        "国破山河在",
        "城春草木深",
        "感时花溅泪",
        "恨别鸟惊心",
        "烽火连三月",
        "家书抵万金",
        "白头搔更短",
        "浑欲不胜簪",
    )
    assert chunwang.text.startswith("国破山河在，城春草木深。感时花溅泪，")
    assert chunwang.text.endswith("白头搔更短，浑欲不胜簪。")
    assert chunwang.id == "e9e6425c-6c14-4f69-8694-87a8b96a43de"
    assert by_title(poems, "登鹳雀楼", "王之涣").lines == (
        "白日依山尽",
        "黄河入海流",
        "欲穷千里目",
        "更上一层楼",
    )
    assert by_title(poems, "春晓", "孟浩然").form == "wujue"
    assert by_title(poems, "山居秋暝", "王维").form == "wulv"
    assert by_title(poems, "静夜思", "李白").lines[0] == "床前看月光"


def test_fixture_has_enough_regular_poems_of_every_form(fixture_corpus):
    poems, _ = fixture_corpus
    regular = regular_poems(poems)
    assert len(regular) >= 300
    forms = Counter(p.form for p in regular)
    assert set(forms) == {"wujue", "qijue", "wulv", "qilv"} and min(forms.values()) >= 60
    for p in regular:
        n_lines = 4 if p.form.endswith("jue") else 8
        line_len = 5 if p.form.startswith("wu") else 7
        assert len(p.lines) == n_lines and all(len(line) == line_len for line in p.lines), p


def test_fixture_ci_keep_their_tune_and_all_lines_are_clean(fixture_corpus):
    poems, _ = fixture_corpus
    ci = [p for p in poems if p.kind == "ci"]
    assert len(ci) >= 45
    assert all(p.form is None and p.rhythmic and p.title == p.rhythmic and p.dynasty == "song" for p in ci)
    assert all(len(p.id) == 16 for p in ci)  # no corpus id: a hash of the text
    assert len({p.id for p in poems}) == len(poems)
    assert {p.split for p in poems} <= {"train", "valid", "test"}
    for p in poems:
        assert p.lines and all(line and "，" not in line and "。" not in line for line in p.lines)


def test_fixture_damaged_and_duplicate_records_are_dropped(fixture_corpus):
    poems, report = fixture_corpus
    assert report.records == 435 and report.files == 3
    assert report.damaged >= 8 and report.duplicates >= 1
    assert report.kept == len(poems) == report.records - report.dropped - report.duplicates
    # one Tang text appears under two titles: the first record wins
    titles = {p.title for p in poems}
    assert "唐享昊天乐 第八" in titles and "郊庙歌辞 武后大享昊天乐章 八" not in titles
    assert not any("□" in line for p in poems for line in p.lines)


# ---------------------------------------------------------------- cleaning rules


@pytest.mark.parametrize(
    ("paragraphs", "kind", "lines"),
    [
        # notes in brackets go, traditional becomes simplified
        (["邏人（一作「叉」）橫鳥道，江祖出魚梁。"], "shi", ("逻人横鸟道", "江祖出鱼梁")),
        (["白日依山盡〔一作落〕，黃河【注】入海流。"], "shi", ("白日依山尽", "黄河入海流")),
        # a note opened in one paragraph and closed in the next
        (["春眠不覺曉，（注：", "此句一作某某）處處聞啼鳥。"], "shi", ("春眠不觉晓", "处处闻啼鸟")),
        # a note left open runs to the end
        (
            ["香風引上大羅天，月地花宮拜洞仙。", "（《唐詩紀事》二九引"],
            "shi",
            ("香风引上大罗天", "月地花宫拜洞仙"),
        ),
        # [字] are characters restored by the editors; [一] is a footnote number
        (["停杯試北望，還欲淚沾[襟]。"], "shi", ("停杯试北望", "还欲泪沾襟")),
        (["巫峽徘徊雨，陽臺潭[一]蕩雲。"], "shi", ("巫峡徘徊雨", "阳台潭荡云")),
        # half-width and variant punctuation are clause separators too
        (
            ["白日依山尽,黄河入海流.欲穷千里目;更上一层楼!"],
            "shi",
            ("白日依山尽", "黄河入海流", "欲穷千里目", "更上一层楼"),
        ),
        # title and quotation marks go, their content stays
        (["閒讀《離騷》罷，「秋風」滿小樓。"], "shi", ("闲读离骚罢", "秋风满小楼")),
        # 、 lists items inside a 诗 line, but marks a pause that ends a clause in 词
        (["宛是釣臺臺下路，楊梅、盧橘正青青。"], "shi", ("宛是钓台台下路", "杨梅卢橘正青青")),
        (["记阴阴、绿遍江南，夜窗听暗雨。"], "ci", ("记阴阴", "绿遍江南", "夜窗听暗雨")),
        # a real question mark ends a clause
        (["何處寄相思？南風吹五兩。"], "shi", ("何处寄相思", "南风吹五两")),
        (["沉淪苦海裏，何日更逢明？。"], "shi", ("沉沦苦海里", "何日更逢明")),
        # rare characters outside the BMP are characters
        (["𥳌𥫗一席眠還坐，蛙噪螢飛夜未央。"], "shi", ("𥳌𥫗一席眠还坐", "蛙噪萤飞夜未央")),
        # nothing left
        (["（缺詞文）"], "ci", ()),
        (["。"], "shi", ()),
    ],
)
def test_cleaning(paragraphs, kind, lines):
    assert clean_paragraphs(paragraphs, kind) == lines


@pytest.mark.parametrize(
    "paragraphs",
    [
        ["誰占百花頭上魁，花神推許□□□。"],  # lost characters
        ["林藏●●多殘笋，樹過猩猩少落花。"],
        ["囗囗囗囗囗，留心禁漏川。"],  # a real character used only as a box
        ["茶○壇火猶在，延壽堂中人又終。"],
        ["星斗闌干曉，窗扉曨{日怱}明。"],  # a character described, not encoded
        ["勁兵重卒付胡奴，⿰區支雀計自疏。"],
        ["\ue829身思狡兔，俱目似愁胡。"],  # private-use code point
        ["千尺絲輪0直下垂，一波才動萬波隨。"],  # junk
        ["……風度優囊笏，恩光遶賜鞭。"],  # omitted text
        ["神兵合？來天上，猛虎逡巡落檻中。"],  # ？ standing for a lost character
        ["？覺凉風入，軒窗自亦幽。"],
        ["居人笑老子，醉髮亂鬅鬙）。"],  # unbalanced brackets
        ["空（〖1〗作劉長卿詩〗）。"],
    ],
)
def test_damaged_text_is_rejected(paragraphs):
    with pytest.raises(DamagedText):
        clean_paragraphs(paragraphs, "shi")


@pytest.mark.parametrize(
    ("lines", "form"),
    [
        (("白日依山尽", "黄河入海流", "欲穷千里目", "更上一层楼"), "wujue"),
        (("朝辞白帝彩云间", "千里江陵一日还", "两岸猿声啼不住", "轻舟已过万重山"), "qijue"),
        (("国破山河在",) * 8, "wulv"),
        (("风急天高猿啸哀",) * 8, "qilv"),
        (("国破山河在",) * 6, None),  # 6 lines
        (("国破山河在",) * 3 + ("城春草木深处",), None),  # mixed lengths
        (("国破山河",) * 4, None),  # 4 characters
    ],
)
def test_classify(lines, form):
    assert classify(lines) == form


# ---------------------------------------------------------------- dedupe and split


def record(text: str, title: str = "t", rid: str = "") -> tuple:
    lines = tuple(text[i : i + 5] for i in range(0, len(text), 5))
    return (rid, title, "a", "tang", "shi", None, lines)


def test_dedupe_keeps_the_first_of_the_same_text():
    poems, duplicates = build_poems(
        [
            record("白日依山尽黄河入海流", "first", "1"),
            record("春眠不觉晓处处闻啼鸟"),
            record("白日依山尽黄河入海流", "second", "2"),
        ]
    )
    assert duplicates == 1 and [p.title for p in poems] == ["first", "t"]
    assert poems[0].id == "1" and len(poems[1].id) == 16


def random_text(rng: random.Random) -> str:
    return "".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(20))


def test_split_is_stable_when_the_corpus_grows():
    rng = random.Random(7)
    old = [record(random_text(rng), f"old{i}") for i in range(3000)]
    new = [record(random_text(rng), f"new{i}") for i in range(1000)]
    before = {p.title: p.split for p in build_poems(old)[0]}
    grown = build_poems(new[:500] + old + new[500:])[0]  # new poems before and after the old ones
    after = {p.title: p.split for p in grown if p.title.startswith("old")}
    assert after == before
    share = Counter(before.values())
    assert 0.93 < share["train"] / 3000 < 0.99 and share["valid"] > 20 and share["test"] > 20


def test_split_depends_on_the_text_only():
    lines = ("白日依山尽", "黄河入海流", "欲穷千里目", "更上一层楼")
    assert split_for(lines) == split_for(list(lines))
    assert len({split_for((random_text(random.Random(i)),)) for i in range(500)}) == 3


def test_regular_poems_filters_by_split_and_form(fixture_corpus):
    poems, _ = fixture_corpus
    train_jue = regular_poems(poems, split="train", forms=["wujue", "qijue"])
    assert train_jue and all(p.split == "train" and p.form in ("wujue", "qijue") for p in train_jue)
    assert len(regular_poems(poems, split="train")) + len(regular_poems(poems, split="valid")) + len(
        regular_poems(poems, split="test")
    ) == len(regular_poems(poems))
    assert not any(p.kind == "ci" for p in regular_poems(poems))


# ---------------------------------------------------------------- files, errors, cache


def write_corpus(root: Path, tang: list, ci: list | None = None) -> Path:
    (root / "全唐诗").mkdir(parents=True)
    (root / "全唐诗" / "poet.tang.0.json").write_text(json.dumps(tang, ensure_ascii=False), "utf-8")
    if ci is not None:
        (root / "宋词").mkdir()
        (root / "宋词" / "ci.song.0.json").write_text(json.dumps(ci, ensure_ascii=False), "utf-8")
        (root / "宋词" / "宋词三百首.json").write_text(json.dumps(ci * 2, ensure_ascii=False), "utf-8")
    return root


CHUNXIAO = {
    "author": "孟浩然",
    "title": "春曉",
    "id": "x1",
    "paragraphs": ["春眠不覺曉，處處聞啼鳥。", "夜來風雨聲，花落知多少。"],
}


def test_malformed_records_are_counted_not_fatal(tmp_path):
    path = write_corpus(tmp_path, [CHUNXIAO, {"title": "no paragraphs"}, "junk", {"paragraphs": [1, 2]}])
    records, counts = read_file(path / "全唐诗" / "poet.tang.0.json", "tang", "shi")
    assert [r[1] for r in records] == ["春晓"] and counts["malformed"] == 3


def test_only_poem_files_are_read(tmp_path):
    ci = [{"author": "苏轼", "rhythmic": "水調歌頭", "paragraphs": ["明月幾時有，把酒問青天。"]}]
    poems = load_corpus(write_corpus(tmp_path, [CHUNXIAO], ci))
    assert [(p.kind, p.title, p.rhythmic) for p in poems] == [
        ("shi", "春晓", None),
        ("ci", "水调歌头", "水调歌头"),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [("[{]", "Cannot read corpus file"), ('{"a": 1}', "is not a JSON array")],
)
def test_unreadable_files_give_a_bilingual_error(tmp_path, content, message):
    write_corpus(tmp_path, [])
    (tmp_path / "全唐诗" / "poet.tang.0.json").write_text(content, "utf-8")
    with pytest.raises(CorpusError) as err:
        load_corpus(tmp_path)
    assert message in err.value.en and "语料文件" in err.value.zh


def test_missing_or_empty_corpus_dir_gives_a_bilingual_error(tmp_path):
    with pytest.raises(CorpusError, match="语料目录不存在.*Corpus directory not found"):
        load_corpus(tmp_path / "nope")
    with pytest.raises(CorpusError, match="找不到语料文件.*No corpus files"):
        load_corpus(tmp_path)


def test_cache_is_reused_and_invalidated_when_a_file_changes(tmp_path):
    corpus_dir = write_corpus(tmp_path / "corpus", [CHUNXIAO])
    cache = tmp_path / "cache"
    first, report = load_corpus_with_report(corpus_dir, cache_dir=cache)
    assert not report.from_cache and list(cache.glob("corpus-*.pkl"))
    again, report = load_corpus_with_report(corpus_dir, cache_dir=cache)
    assert report.from_cache and again == first
    path = corpus_dir / "全唐诗" / "poet.tang.0.json"
    path.write_text(
        json.dumps([CHUNXIAO, {**CHUNXIAO, "id": "x2", "paragraphs": ["床前明月光，疑是地上霜。"]}]), "utf-8"
    )
    os.utime(path, ns=(1, 1))
    changed, report = load_corpus_with_report(corpus_dir, cache_dir=cache)
    assert not report.from_cache and len(changed) == 2


def test_a_corrupt_cache_is_rebuilt(tmp_path):
    corpus_dir = write_corpus(tmp_path / "corpus", [CHUNXIAO])
    cache = tmp_path / "cache"
    load_corpus(corpus_dir, cache_dir=cache)
    (cache_file,) = cache.glob("corpus-*.pkl")
    cache_file.write_bytes(b"not a pickle")
    poems, report = load_corpus_with_report(corpus_dir, cache_dir=cache)
    assert not report.from_cache and poems[0].title == "春晓"


# ---------------------------------------------------------------- command line


def test_data_stats_command_prints_the_counts():
    from app.cli import app

    result = CliRunner().invoke(app, ["data", "stats", "--corpus-dir", str(FIXTURE), "--no-cache"])
    assert result.exit_code == 0, result.output
    assert "五律 wulv" in result.output and "词 ci" in result.output and "duplicates removed" in result.output
    assert "435 in 3 files" in result.output


def test_data_stats_command_reports_a_missing_directory(tmp_path):
    from app.cli import app

    result = CliRunner().invoke(app, ["data", "stats", "--corpus-dir", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert "语料目录不存在" in result.output and "Corpus directory not found" in result.output


# ---------------------------------------------------------------- the full corpus


@pytest.mark.corpus
@pytest.mark.skipif(not (get_settings().corpus_dir / "全唐诗").is_dir(), reason="full corpus not present")
def test_full_corpus_counts_are_in_the_expected_range():
    poems = load_corpus(get_settings().corpus_dir)
    count = Counter((p.dynasty, p.kind) for p in poems)
    assert 52_000 < count[("tang", "shi")] < 58_000
    assert 240_000 < count[("song", "shi")] < 255_000
    assert 19_000 < count[("song", "ci")] < 21_100
    forms = Counter((p.dynasty, p.form) for p in poems if p.form)
    expected = {  # SOURCE.md's rough counts
        ("tang", "wujue"): 3_985,
        ("tang", "wulv"): 14_583,
        ("tang", "qijue"): 10_584,
        ("tang", "qilv"): 8_020,
        ("song", "wujue"): 13_204,
        ("song", "wulv"): 46_170,
        ("song", "qijue"): 73_079,
        ("song", "qilv"): 61_020,
    }
    for key, n in expected.items():
        assert 0.9 * n < forms[key] < 1.1 * n, (key, forms[key], n)
    splits = Counter(p.split for p in regular_poems(poems))
    assert 0.95 < splits["train"] / sum(splits.values()) < 0.97
