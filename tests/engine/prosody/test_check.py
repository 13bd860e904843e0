"""`check_poem` and `yinshi check`: 平仄, rhyme, forms, faults, bad input.

Which famous poems are *strictly* regular was verified position by position under 平水韵 (the
tables in engine/data/prosody): most famous 律诗/绝句 vary a free position (一三五不论) and so
pass only the lenient check; those are asserted as such.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from app.cli import app
from engine.errors import InvalidInput
from engine.prosody.check import check_poem
from engine.prosody.forms import PING, ZE
from engine.prosody.meter import is_gu_ping, is_san_ping_wei, line_tone_ok

P, Z, B = frozenset({PING}), frozenset({ZE}), frozenset({PING, ZE})

TING_ZHENG = "鸣筝金粟柱，素手玉房前。欲得周郎顾，时时误拂弦。"  # 李端《听筝》
ZHENG_YUAN = "岁岁金河复玉关，朝朝马策与刀环。三春白雪归青冢，万里黄河绕黑山。"  # 柳中庸《征怨》
CHUN_WANG = "国破山河在，城春草木深。感时花溅泪，恨别鸟惊心。烽火连三月，家书抵万金。白头搔更短，浑欲不胜簪。"

STRICT = [
    # (poem, form, template, rhyme group)
    (TING_ZHENG, "wujue", "平起首句不入韵", "下平一先"),
    (ZHENG_YUAN, "qijue", "仄起首句入韵", "上平十五删"),
    # 刘禹锡《元和十一年自朗州召至京戏赠看花诸君子》: 看 (kàn) and 观 (guàn) read 仄 here.
    ("紫陌红尘拂面来，无人不道看花回。玄都观里桃千树，尽是刘郎去后栽。", "qijue", "仄起首句入韵", "上平十灰"),
    (
        "遗庙丹青落，空山草木长。犹闻辞后主，不复卧南阳。",
        "wujue",
        "仄起首句不入韵",
        "下平七阳",
    ),  # 杜甫《武侯庙》
    (
        "秋来相顾尚飘蓬，未就丹砂愧葛洪。痛饮狂歌空度日，飞扬跋扈为谁雄。",
        "qijue",
        "平起首句入韵",
        "上平一东",
    ),  # 杜甫《赠李白》
    (  # 杜甫《堂成》
        "背郭堂成荫白茅，缘江路熟俯青郊。桤林碍日吟风叶，笼竹和烟滴露梢。"
        "暂止飞乌将数子，频来语燕定新巢。旁人错比扬雄宅，懒惰无心作解嘲。",
        "qilv",
        "仄起首句入韵",
        "下平三肴",
    ),
    (  # 杜甫《归梦》
        "道路时通塞，江山日寂寥。偷生唯一老，伐叛已三朝。雨急青枫暮，云深黑水遥。梦归归未得，不用楚辞招。",
        "wulv",
        "仄起首句不入韵",
        "下平二萧",
    ),
]

# Regular only under 一三五不论: (poem, form, rhyme group, the free positions they vary).
LENIENT = [
    (
        CHUN_WANG,
        "wulv",
        "下平十二侵",
        ["第三句第一字应平而仄", "第五句第一字应仄而平", "第七句第一字应平而仄"],
    ),
    (
        "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。",
        "wujue",
        "下平十一尤",
        ["第三句第一字应平而仄"],
    ),  # 欲
    (
        "空山新雨后，天气晚来秋。明月松间照，清泉石上流。竹喧归浣女，莲动下渔舟。随意春芳歇，王孙自可留。",
        "wulv",
        "下平十一尤",
        None,
    ),
    (
        "风急天高猿啸哀，渚清沙白鸟飞回。无边落木萧萧下，不尽长江滚滚来。"
        "万里悲秋常作客，百年多病独登台。艰难苦恨繁霜鬓，潦倒新停浊酒杯。",
        "qilv",
        "上平十灰",
        None,
    ),
    ("秦时明月汉时关，万里长征人未还。但使龙城飞将在，不教胡马度阴山。", "qijue", "上平十五删", None),
    ("烟笼寒水月笼沙，夜泊秦淮近酒家。商女不知亡国恨，隔江犹唱后庭花。", "qijue", "下平六麻", None),
]


@pytest.mark.parametrize(("poem", "form", "template", "group"), STRICT)
def test_strictly_regular_poems(poem, form, template, group):
    r = check_poem(poem)
    assert r.form.name == form and r.template.name == template and r.rhyme_group == group
    assert r.strict_ok and r.ok and r.rhyme_ok and r.faults == ()


@pytest.mark.parametrize(("poem", "form", "group", "messages"), LENIENT)
def test_famous_poems_regular_under_yi_san_wu_bu_lun(poem, form, group, messages):
    r = check_poem(poem)
    assert r.form.name == form and r.rhyme_group == group
    assert r.ok and r.rhyme_ok and not r.strict_ok
    assert all(f.excused == "一三五不论" and f.kind == "tone" for f in r.faults)
    if messages is not None:
        assert [f.message for f in r.faults] == messages


def test_te_ao_and_ao_jiu_pass_leniently():
    # 孟浩然《宿建德江》: 移舟泊烟渚 is 平平仄平仄 (特拗) in place of 平平平仄仄.
    r = check_poem("移舟泊烟渚，日暮客愁新。野旷天低树，江清月近人。")
    assert r.ok and not r.strict_ok
    assert {f.message: f.excused for f in r.faults}["第一句第四字应仄而平"] == "特拗"
    # 王之涣《凉州词》: 羌笛何须怨杨柳 (仄仄平平仄平仄).
    r = check_poem("黄河远上白云间，一片孤城万仞山。羌笛何须怨杨柳，春风不度玉门关。")
    assert r.ok and {f.message: f.excused for f in r.faults}["第三句第六字应仄而平"] == "特拗"
    # 拗救: the 4th character of 仄仄平平仄 made 仄 (郎 → 镜) is a fault unless the next line's
    # 3rd character is 平 (误 → 今). (野火烧不尽 would not show it: 不 also reads 平, fǒu.)
    broken = check_poem("鸣筝金粟柱，素手玉房前。欲得周镜顾，时时误拂弦。")
    assert not broken.ok and [f.message for f in broken.faults if f.lenient] == ["第三句第四字应平而仄"]
    rescued = check_poem("鸣筝金粟柱，素手玉房前。欲得周镜顾，时时今拂弦。")
    assert rescued.ok and not rescued.strict_ok
    assert {f.message: f.excused for f in rescued.faults}["第三句第四字应平而仄"] == "拗救"


def test_first_line_may_borrow_a_neighbouring_group():
    # 王安石《元日》: 除 (六鱼) in line 1, 苏/符 (七虞): 首句借邻韵 passes only leniently.
    r = check_poem("爆竹声中一岁除，春风送暖入屠苏。千门万户曈曈日，总把新桃换旧符。")
    assert r.rhyme_group == "上平七虞" and r.ok and r.rhyme_ok and not r.strict_ok
    assert [f.excused for f in r.faults] == ["首句邻韵"]


def test_jing_ye_si_is_not_regular():
    r = check_poem("床前明月光，疑是地上霜。举头望明月，低头思故乡。")  # 李白《静夜思》
    assert r.form.name == "wujue" and r.rhyme_group == "下平七阳" and r.rhyme_ok
    assert not r.ok
    messages = [f.message for f in r.faults if f.lenient]
    assert "第二句第四字应平而仄" in messages and "第二、三句失粘" in messages


def test_chun_xiao_rhymes_in_ze():
    r = check_poem("春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。")  # 孟浩然《春晓》
    assert not r.ok and not r.rhyme_ok and r.rhyme_group is None
    messages = [f.message for f in r.faults]
    assert "第二句押仄声" in messages and "第四句押仄声" in messages
    assert any("上声十七筱" in note for note in r.notes)


@pytest.mark.parametrize(
    ("poem", "lenient_messages"),
    [
        # 粟 → 山: a 平 where the template needs 仄, at a fixed position.
        ("鸣筝金山柱，素手玉房前。欲得周郎顾，时时误拂弦。", ["第一句第四字应仄而平"]),
        ("岁岁金河复玉关，朝朝马策与刀环。三春白云归青冢，万里黄河绕黑山。", ["第三句第四字应仄而平"]),
        # 弦 → 琴: another 平声 group.
        (
            "鸣筝金粟柱，素手玉房前。欲得周郎顾，时时误拂琴。",
            ["第二、四句不同韵：「琴」属下平十二侵，不属下平一先"],
        ),
        ("鸣筝金粟柱，素手玉房前。欲得周郎顾，时时误拂面。", ["第四句押仄声"]),
        ("岁岁金河复玉关，朝朝马策与刀关。三春白雪归青冢，万里黄河绕黑山。", ["韵脚「关」重复"]),
        # 金 → 玉 at the free third position: 仄仄仄平仄仄平 leaves one 平 before the rhyme.
        ("岁岁玉河复玉关，朝朝马策与刀环。三春白雪归青冢，万里黄河绕黑山。", ["第一句犯孤平"]),
        # 玉 → 金 at the free third position: 仄仄平平平.
        ("鸣筝金粟柱，素手金房前。欲得周郎顾，时时误拂弦。", ["第二句三平尾"]),
    ],
)
def test_broken_variants_get_exactly_the_right_fault(poem, lenient_messages):
    r = check_poem(poem)
    assert not r.ok and not r.strict_ok
    assert [f.message for f in r.faults if f.lenient] == lenient_messages
    for f in r.faults:
        if f.kind == "tone":
            assert r.lines[f.line - 1].fault_positions and f.position in r.lines[f.line - 1].fault_positions


def test_broken_rhyme_clears_rhyme_ok():
    r = check_poem("鸣筝金粟柱，素手玉房前。欲得周郎顾，时时误拂琴。")
    assert not r.rhyme_ok
    fault = r.faults[0]
    assert (fault.line, fault.position, fault.kind) == (4, None, "rhyme")


def test_shi_nian_is_named():
    r = check_poem("鸣筝金粟柱，素手玉房前。鸣筝金粟柱，时时误拂弦。")
    messages = [f.message for f in r.faults]
    assert "第二、三句失粘" in messages and "第三、四句失对" in messages


def test_traditional_input_is_converted():
    trad = check_poem(
        "國破山河在，城春草木深。感時花濺淚，恨別鳥驚心。烽火連三月，家書抵萬金。白頭搔更短，渾欲不勝簪。"
    )
    simp = check_poem(CHUN_WANG)
    assert trad.to_dict() == simp.to_dict()
    assert trad.lines[0].text == "国破山河在"


def test_traditional_form_keeps_its_rhyme():
    # 蘋 rhymes in 十一真 although t2s turns it into 苹 (八庚).
    r = check_poem(
        "獨有宦遊人，偏驚物候新。雲霞出海曙，梅柳渡江春。淑氣催黃鳥，晴光轉綠蘋。忽聞歌古調，歸思欲沾巾。"
    )
    assert r.rhyme_group == "上平十一真" and r.rhyme_ok


@pytest.mark.parametrize(
    "typed",
    [
        "鸣筝金粟柱素手玉房前欲得周郎顾时时误拂弦",
        "鸣筝金粟柱\n素手玉房前\n欲得周郎顾\n时时误拂弦\n",
        "鸣筝金粟柱 素手玉房前 欲得周郎顾 时时误拂弦",
        "鸣筝金粟柱素手玉房前\n欲得周郎顾时时误拂弦",
        "「鸣筝金粟柱，素手玉房前！欲得周郎顾？时时误拂弦。」",
    ],
)
def test_the_ways_users_type_a_poem(typed):
    r = check_poem(typed)
    assert r.form.name == "wujue" and r.strict_ok
    assert [line.text for line in r.lines] == ["鸣筝金粟柱", "素手玉房前", "欲得周郎顾", "时时误拂弦"]


def test_tone_annotation():
    r = check_poem(CHUN_WANG)
    d = r.to_dict()
    assert d["lines"][0]["tones"] == [ZE, ZE, PING, PING, ZE]
    assert d["lines"][0]["template"] == "仄仄平平仄"
    assert d["lines"][2]["tones"][3] == "中"  # 溅: jiān 平 / jiàn 仄
    assert d["lines"][1]["rhymes"] and d["lines"][1]["rhyme_groups"] == ["下平十二侵"]


def test_irregular_shape_is_a_report_not_an_error():
    r = check_poem("床前明月光，疑是地上霜。举头望明月，低头思故乡。床前明月光，疑是地上霜。")
    assert r.form is None and not r.ok and not r.strict_ok
    assert r.faults[0].kind == "shape" and "五绝" in r.faults[0].message and "6句" in r.faults[0].message
    assert len(r.lines) == 6 and all(len(line.tones) == 5 for line in r.lines)
    six = check_poem("一二三四五六，七八九十百千")
    assert six.form is None and "每句6字" in six.faults[0].message


def test_requested_form_must_match_the_shape():
    assert check_poem(TING_ZHENG, form="五绝").strict_ok
    r = check_poem(TING_ZHENG, form="七律")
    assert r.form is None and not r.ok and "七律" in r.faults[0].message
    with pytest.raises(InvalidInput):
        check_poem(TING_ZHENG, form="sonnet")


def test_xinyun_scheme():
    r = check_poem(CHUN_WANG, scheme="xinyun")
    assert r.scheme == "xinyun" and r.rhyme_group == "九文"
    assert not r.rhyme_ok  # 簪 (zān) is 八寒 in modern Chinese
    assert any("「簪」" in f.message for f in r.faults)
    with pytest.raises(InvalidInput):
        check_poem(CHUN_WANG, scheme="cilin")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   \n",
        "hello world",
        "床前明月光abc，疑是地上霜",
        "床前明月光🌙疑是地上霜",
        "，。！",
        "床前明月光" * 2000,
    ],
)
def test_bad_input_raises_a_bilingual_error(bad):
    with pytest.raises(InvalidInput) as e:
        check_poem(bad)
    assert e.value.zh and e.value.en


def test_to_dict_and_render():
    r = check_poem("鸣筝金山柱，素手玉房前。欲得周郎顾，时时误拂弦。")
    d = json.loads(json.dumps(r.to_dict(), ensure_ascii=False))
    assert {
        "form",
        "ok",
        "strict_ok",
        "rhyme_ok",
        "faults",
        "lines",
        "template",
        "rhyme_group",
        "scheme",
    } <= d.keys()
    assert d["faults"] == [
        {
            "line": 1,
            "position": 4,
            "message": "第一句第四字应仄而平",
            "message_en": "Line 1, character 4 should be oblique (仄) but is level (平)",
            "kind": "tone",
            "lenient": True,
            "excused": None,
        }
    ]
    text = r.render()
    assert "鸣 筝 金 山 柱" in text and "平 平 平 仄 仄   （格）" in text
    assert "韵：下平一先" in text and "不合律" in text and "第一句第四字应仄而平" in text


def test_meter_helpers():
    assert line_tone_ok([Z, P, P, Z, Z], "平平平仄仄")  # first position is free
    assert not line_tone_ok([Z, P, P, Z, Z], "平平平仄仄", lenient=False)
    assert line_tone_ok([B, B, P, Z, Z], "平平平仄仄", lenient=False)  # a 多音字 fits either way
    assert is_gu_ping([Z, P, Z, Z, P], "平平仄仄平")
    assert not is_gu_ping([Z, P, P, Z, P], "平平仄仄平")  # 孤平拗救
    assert is_san_ping_wei([Z, Z, P, P, P]) and not is_san_ping_wei([Z, Z, B, P, P])


# ---------------------------------------------------------------- properties

POEM_CHARS = st.sampled_from(list(TING_ZHENG + ZHENG_YUAN + CHUN_WANG + "，。\n 、？！a1🌙「」國"))


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(max_size=80), st.text(POEM_CHARS, max_size=80)))
def test_check_never_crashes(text):
    try:
        r = check_poem(text)
    except InvalidInput as e:
        assert e.zh and e.en
        return
    json.dumps(r.to_dict(), ensure_ascii=False)
    assert isinstance(r.render(), str)
    assert r.ok <= r.rhyme_ok and r.strict_ok <= r.ok


# ---------------------------------------------------------------- command line

runner = CliRunner()


def test_cli_check_prints_the_annotation():
    result = runner.invoke(app, ["check", TING_ZHENG])
    assert result.exit_code == 0
    assert "五绝 · 平起首句不入韵 · 平水韵" in result.output and "合律（严格）" in result.output


def test_cli_check_json():
    result = runner.invoke(app, ["check", CHUN_WANG, "--json", "--scheme", "xinyun"])
    assert result.exit_code == 0
    d = json.loads(result.output)
    assert d["scheme"] == "xinyun" and d["form"] == "wulv"


def test_cli_check_bad_input_exits_2_without_traceback():
    result = runner.invoke(app, ["check", "hello"])
    assert result.exit_code == 2
    assert "Chinese" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["check", TING_ZHENG, "--scheme", "nope"])
    assert result.exit_code == 2 and "pingshui" in result.output
