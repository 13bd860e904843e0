"""The evaluation metrics on hand-made poems with known answers, and `yinshi eval` end to end."""

from __future__ import annotations

import json
import math
import random

import pytest
from typer.testing import CliRunner

from app.cli import app
from engine.errors import InvalidInput
from engine.evaluation import antithesis, metrics
from engine.evaluation.bleu import BleuReference
from engine.evaluation.classifier import discriminator_accuracy
from engine.evaluation.evaluate import GeneratedPoem, build_reference, evaluate_poems, read_jsonl
from engine.evaluation.novelty import TrainIndex
from engine.evaluation.theme import ThemeModel
from engine.prosody.tables import get_prosody
from tests.conftest import FIXTURE_CORPUS

FIXTURE_CORPUS = FIXTURE_CORPUS
JINGYESI = ("床前明月光", "疑是地上霜", "举头望明月", "低头思故乡")
DENGGUANQUELOU = ("白日依山尽", "黄河入海流", "欲穷千里目", "更上一层楼")


# ---------------------------------------------------------------- shape, diversity, keyword


def test_parse_lines_accepts_punctuation_newlines_and_traditional_characters():
    assert metrics.parse_lines("床前明月光，疑是地上霜。\n舉頭望明月，低頭思故鄉。") == JINGYESI


def test_format_validity_follows_the_requested_form():
    assert metrics.format_valid(JINGYESI, "wujue")
    assert metrics.format_valid(JINGYESI)  # any form
    assert not metrics.format_valid(JINGYESI, "qijue")
    assert not metrics.format_valid(JINGYESI[:3])
    assert not metrics.format_valid(metrics.parse_lines("床前明月光，疑是地上霜，举头望明月，低头abc"))


def test_distinct_n_counts_unique_ngrams_within_lines():
    poems = [("春风春风",), ("春风秋月",)]
    # 1-grams: 8 in all, unique 春风秋月 = 4; 2-grams: 春风 风春 春风 | 春风 风秋 秋月 → 4 unique of 6
    assert metrics.distinct_n(poems, 1) == 4 / 8
    assert metrics.distinct_n(poems, 2) == 4 / 6
    assert metrics.distinct_n([("春", "风")], 2) is None  # no bigram crosses a line break


def test_repetition_is_the_share_of_repeated_characters():
    assert metrics.repetition(("明月明月",)) == 0.5
    assert metrics.repetition(DENGGUANQUELOU) == 0.0


def test_keyword_hit_plain_and_acrostic():
    assert metrics.keyword_hit(JINGYESI, "明月")
    assert not metrics.keyword_hit(JINGYESI, "春")
    assert metrics.keyword_hit(JINGYESI, "床疑举低", acrostic=True)
    assert not metrics.keyword_hit(JINGYESI, "明月", acrostic=True)  # 明 does not open line 1
    assert metrics.keyword_in_first_couplet(JINGYESI, "霜")
    assert not metrics.keyword_in_first_couplet(JINGYESI, "乡")


# ---------------------------------------------------------------- BLEU


def test_bleu_identical_disjoint_and_partial():
    refs = BleuReference(["床前明月光疑是地上霜"])
    assert refs.score("床前明月光疑是地上霜") == pytest.approx(1.0)
    assert refs.score("白日依山尽黄河入海流") == 0.0
    # unigrams 2/4 match, bigrams 1/3 (甲乙): sqrt(1/2 * 1/3)
    assert BleuReference(["甲乙丙丁"]).score("甲乙戊己") == pytest.approx(math.sqrt(1 / 6))


def test_bleu_clips_by_the_best_single_reference_and_penalises_brevity():
    refs = BleuReference(["月月花花", "月花月花"])
    # 月 appears at most twice in one reference: 月月月月 keeps 2 of 4 unigrams, 月月 1 of 3 bigrams
    assert refs.score("月月月月") == pytest.approx(math.sqrt(2 / 4 * 1 / 3))
    assert BleuReference(["甲乙丙丁戊己"]).score("甲乙丙") == pytest.approx(math.exp(1 - 6 / 3))


# ---------------------------------------------------------------- novelty


def test_novelty_counts_copied_lines_and_seen_4grams():
    index = TrainIndex(JINGYESI)
    assert index.lines_seen(["床前明月光", "床前明月霜", "x前明月光"]).tolist() == [True, False, False]
    # 床前明月 前明月光 seen | 前明月光 seen, 明月光好 not | nothing of 月光照大地
    assert index.grams_seen(["床前明月光", "前明月光好", "月光照大地"]) == (3, 6)


# ---------------------------------------------------------------- 对仗


def test_a_famous_parallel_couplet_is_parallel_and_a_flowing_one_is_not():
    tones = get_prosody("pingshui").tones
    assert antithesis.is_parallel("两个黄鹂鸣翠柳", "一行白鹭上青天", tones)
    assert not antithesis.is_parallel("故人西辞黄鹤楼", "烟花三月下扬州", tones)  # 流水: tones clash
    assert not antithesis.is_parallel("春眠不觉晓", "处处闻啼鸟", tones)  # word classes differ


def test_couplet_stats_reads_only_the_middle_couplets_of_eight_line_poems():
    tones = get_prosody("pingshui").tones
    lushi = ("故人西辞黄鹤楼", "烟花三月下扬州", "两个黄鹂鸣翠柳", "一行白鹭上青天") * 2
    assert antithesis.couplet_stats([lushi], tones) == (1, 2)  # 颔联 parallel, 颈联 not
    assert antithesis.couplet_stats([JINGYESI], tones) == (0, 0)


# ---------------------------------------------------------------- theme


def test_theme_score_is_higher_for_the_poem_s_own_theme():
    texts = ["春风花草香", "春雨花开早", "春山花落红", "雪夜寒江冷", "雪满寒山白", "雪落寒林静"]
    theme = ThemeModel(texts, [""] * len(texts), mu=1.0)
    spring = ("花开春水暖",)
    assert theme.score(spring, "春") > 0 > theme.score(spring, "雪")
    assert theme.score(spring, "龙") is None  # no training poem mentions the keyword


# ---------------------------------------------------------------- fixture corpus


@pytest.fixture(scope="session")
def fixture_reference(fixture_poems):
    return build_reference(fixture_poems, "pingshui", seed=0)


def _random_like(poems, seed=0):
    """Poems of the same shapes with characters drawn from the poems' own characters."""
    rng = random.Random(seed)
    chars = [ch for p in poems for line in p.lines for ch in line]
    return [tuple("".join(rng.choices(chars, k=len(line))) for line in p.lines) for p in poems]


def test_real_poems_beat_random_character_poems(fixture_poems, fixture_reference):
    real = [p for p in fixture_poems if p.form and p.split == "train"][:120]
    fake = _random_like(real)
    real_result = evaluate_poems(
        [GeneratedPoem("\n".join(p.lines), form=p.form) for p in real], fixture_reference, per_form=False
    )
    fake_result = evaluate_poems(
        [GeneratedPoem("\n".join(lines), form=p.form) for p, lines in zip(real, fake, strict=True)],
        fixture_reference,
        per_form=False,
    )
    assert real_result["format_valid"] == fake_result["format_valid"] == 1.0
    assert real_result["tone_lenient"] > fake_result["tone_lenient"] + 0.3
    assert real_result["rhyme_rate"] > fake_result["rhyme_rate"] + 0.3
    assert real_result["line_copy_rate"] == 1.0  # fixture training poems are in the training split
    assert fake_result["line_copy_rate"] == 0.0


def test_discriminator_tells_random_poems_from_real_ones_but_not_real_from_real(fixture_poems):
    real = [p.lines for p in fixture_poems if p.form]
    rng = random.Random(1)
    rng.shuffle(real)
    half = len(real) // 2
    alphabet = sorted({ch for lines in real for line in lines for ch in line})
    fake = [tuple("".join(rng.choices(alphabet, k=len(line))) for line in lines) for lines in real[:half]]
    assert discriminator_accuracy(fake, real[half:]) > 0.9
    assert discriminator_accuracy(real[:half], real[half:]) < 0.6
    assert discriminator_accuracy(real[:3], real[3:6]) is None  # too few for 5 folds


# ---------------------------------------------------------------- command line


def test_read_jsonl_names_the_bad_line(tmp_path):
    path = tmp_path / "poems.jsonl"
    path.write_text('{"text": "床前明月光"}\n{"text": 5}\n', encoding="utf-8")
    with pytest.raises(InvalidInput) as err:
        read_jsonl(path)
    assert "第 2 行" in err.value.zh and "line 2" in err.value.en


def test_eval_command_scores_a_jsonl_file(tmp_path):
    path = tmp_path / "poems.jsonl"
    rows = [
        {"text": "床前明月光，疑是地上霜。举头望明月，低头思故乡。", "keyword": "月", "form": "wujue"},
        {"text": "白日依山尽\n黄河入海流\n欲穷千里目\n更上一层楼", "keyword": "白黄欲更", "acrostic": True},
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    out = tmp_path / "result.json"
    result = CliRunner().invoke(
        app, ["eval", str(path), "--corpus-dir", str(FIXTURE_CORPUS), "--no-cache", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text(encoding="utf-8"))["results"]["poems.jsonl"]
    assert figures["n"] == 2 and figures["format_valid"] == 1.0 and figures["keyword_hit"] == 1.0


def test_eval_command_refuses_bad_input_in_both_languages():
    runner = CliRunner()
    result = runner.invoke(app, ["eval", "--corpus-dir", str(FIXTURE_CORPUS), "--no-cache"])
    assert result.exit_code == 2 and "JSONL" in result.output and "baseline" in result.output
    result = runner.invoke(app, ["eval", "--baseline", "nonsense", "--no-cache"])
    assert result.exit_code == 2 and "未知基线" in result.output and "Unknown baseline" in result.output


def test_character_figures_against_the_corpus():
    import numpy as np

    from engine.evaluation.vocabulary import char_figures
    from engine.prosody.usage import RhymeUsage

    chars = "".join(chr(0x4E00 + i) for i in range(2000))  # the corpus: 2,000 characters, the first commonest
    probs = np.linspace(2.0, 1.0, 2000)
    probs /= probs.sum()
    poems = [("一丁七万", "丈三上下"), ("一一一一", "疎影隠居")]
    fig = char_figures(poems, chars, probs)
    assert fig["distinct_chars"] == 12 and fig["variant_poems"] == 1
    assert fig["beyond_top_share"] == pytest.approx(4 / 16)  # 疎影隠居 lie beyond the 1,000 commonest
    assert fig["overused_chars"] >= 1 and fig["overused"].startswith("一")
    usage = RhymeUsage({"书": {"上平六鱼": 99, "上平四支": 1}, "枝": {"上平四支": 9}})
    fig = char_figures([("红豆生南国", "春来发几枝", "愿君多采撷", "此物最相书")], chars, probs,
                       get_prosody("pingshui"), usage)
    assert fig["rare_rhyme_rate"] == 0.5 and fig["rhyme_chars"] == 2
