"""Variant and Japanese forms become standard simplified characters; distinct characters stay; the
checker reads simplified text as written."""

from __future__ import annotations

from engine.text.cleaning import clean_paragraphs
from engine.text.poem_text import split_poem
from engine.text.script import to_simplified_per_char, to_standard


def test_variant_and_japanese_forms_become_standard_simplified():
    assert to_standard("隠頼浄髪疎鴈蘂") == "隐赖净发疏雁蕊"
    assert to_standard("簷髙劒歳") == "檐高剑岁"
    assert to_standard("红粧衹糭") == "红妆只粽"  # OpenCC's hk2s maps them; t2s keeps them (a shipped poem had 粧)


def test_distinct_characters_that_variant_tables_list_are_kept():
    # char-converter's table maps 园 → 圆, 机 → 几, 玖 → 九; OpenCC's jp2t maps 芸 → 藝, 欠 → 缺
    text = "园机玖芸欠郎予兹窟砂檐春江花月夜"
    assert to_standard(text) == text


def test_the_corpus_pipeline_writes_standard_forms():
    assert clean_paragraphs(["疎影横斜水清浅，暗香浮動月黄昏。"]) == ("疏影横斜水清浅", "暗香浮动月黄昏")


def test_the_checker_reads_simplified_text_as_written_and_traditional_text_by_phrase():
    """OpenCC t2s reads 一坏 as 一坯 (its traditional sense), and the checker then took 坯's tone: a
    generated line failed its own check. A character t2s keeps on its own keeps itself."""
    assert split_poem("衣上孤云羞一坏，黄尘片月妬三空。").lines == ("衣上孤云羞一坏", "黄尘片月妬三空")
    assert to_simplified_per_char("頭髮乾淨") == "头发干净"  # traditional input still converts by phrase
    assert to_simplified_per_char("樹幹") == "树干"
