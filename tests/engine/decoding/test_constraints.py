"""What decoding guarantees beyond form and tones: no variant forms, rhymes only where poets rhyme a
character, theme keywords placed as a unit of their line and so that the poem passes its own check, and the per-character
calibration towards the corpus's frequencies."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

from engine.corpus.vocab import Vocab
from engine.decoding import calibration
from engine.decoding.decode import MASKED, rhyme_fallback
from engine.decoding.output_head import BOTH, PURE_PING, RHYME, OutputHead
from engine.decoding.poet import Poet
from engine.decoding.spec import ProsodyMasks
from engine.prosody.check import check_poem
from engine.prosody.forms import FORMS
from engine.prosody.tables import get_prosody
from engine.prosody.usage import RhymeUsage
from engine.request import PoemRequest

PINGSHUI = get_prosody("pingshui")


@pytest.fixture(scope="module")
def poet(tiny_model_dir) -> Poet:
    return Poet.load(tiny_model_dir, device="cpu", names=("gan",))


def test_variant_and_japanese_forms_are_never_written():
    vocab = Vocab.build(["疎影隠居鴈蘂粧衹春月疏隐雁蕊妆只"])
    masks = ProsodyMasks(vocab, PINGSHUI)
    assert not any(masks.is_char[vocab.stoi[ch]] for ch in "疎隠鴈蘂粧衹")
    assert all(masks.is_char[vocab.stoi[ch]] for ch in "春月疏隐雁蕊妆只")


def test_a_character_rhymes_only_in_groups_poets_rhyme_it_in():
    vocab = Vocab.build(["书诗时枝知思期丝居鱼初余"])
    usage = RhymeUsage({"书": {"上平六鱼": 99, "上平四支": 1}, **{ch: {"上平四支": 9} for ch in "诗时枝知思"},
                        **{ch: {"上平六鱼": 9} for ch in "居鱼初余"}})
    masks = ProsodyMasks(vocab, PINGSHUI, usage=usage)
    zhi, yu = masks.groups.index("上平四支"), masks.groups.index("上平六鱼")
    shu = vocab.stoi["书"]
    assert masks.member[zhi, shu] and not masks.common[zhi, shu]  # a rare reading: held back
    assert masks.member[yu, shu] and masks.common[yu, shu]
    assert not masks.member[:, vocab.stoi["期"]].any() and not masks.member[:, vocab.stoi["丝"]].any()  # never rhymed
    assert ProsodyMasks(vocab, PINGSHUI).member[:, vocab.stoi["期"]].any()  # (without usage: any reading)


def test_generated_rhymes_share_a_group_each_is_rhymed_in(poet):
    m = poet.models["gan"]
    assert m.rhyme_usage is not None  # written with the checkpoint by corpus_statistics
    reqs = [PoemRequest("春", form=f, seed=s) for f in FORMS for s in range(8)]
    for res in poet.generate_batch(reqs):
        rhymes = [line[-2] for line in res.lines[1::2]]
        shared = set.intersection(*({g for g in PINGSHUI.ping_rhyme_groups(ch) if m.rhyme_usage.attested(ch, g)}
                                    for ch in rhymes))
        assert shared, res.text


@pytest.mark.parametrize("keyword", ["春夏秋冬", "一二三四", "明月清风"])
def test_four_character_theme_keywords_give_poems_that_pass_their_check(tiny_model_dir, keyword):
    poet = Poet.load(tiny_model_dir, device="cpu", names=("gan",))
    poet.models["gan"].lexicon = frozenset()  # the tiny corpus lacks these words: take them as they are
    reqs = [PoemRequest(keyword, form=f, seed=s) for f in FORMS for s in range(4)]
    for req, res in zip(reqs, poet.generate_batch(reqs), strict=True):
        assert keyword in res.text.replace("\n", "").replace("，", "").replace("。", ""), res.text
        assert check_poem(res.text, form=req.form).ok, res.text


@pytest.mark.parametrize("keyword", ["明月", "故人", "白云"])
def test_a_two_character_keyword_is_written_as_a_unit_of_its_line(poet, keyword):
    """Not 松明月照间 (松明 / 月照), where a reader no longer sees the keyword: 五言 lines divide 2|2|1 or
    2|1|2, 七言 lines 2|2|2|1 or 2|2|1|2."""
    starts = {5: (0, 2, 3), 7: (0, 2, 4, 5)}
    reqs = [PoemRequest(keyword, form=f, seed=s) for f in FORMS for s in range(6)]
    for res in poet.generate_batch(reqs):
        assert res.keyword == keyword  # in the tiny vocabulary: no fallback
        hits = [line[:-1].find(keyword) for line in res.lines if keyword in line]
        assert hits and hits[0] in starts[len(res.lines[0]) - 1], res.text


def test_a_character_bias_shifts_its_logit(poet):
    m = poet.models["gan"]
    masks = m.masks_for("pingshui", "cpu")
    bias = torch.zeros(len(m.vocab))
    bias[m.vocab.stoi["月"]] = 1.5
    plain, shifted = OutputHead(m.decoder, masks), OutputHead(m.decoder, masks, char_bias=bias)
    e = torch.randn(3, m.decoder.cfg.n_embd if hasattr(m.decoder, "cfg") else plain._w[0][0].shape[1])
    for k in range(len(plain.cols)):
        diff = shifted.logits(e, k) - plain.logits(e, k)
        col = plain.inv[k][m.vocab.stoi["月"]]
        if col >= 0:
            assert torch.allclose(diff[:, col], torch.tensor(1.5), atol=0.05)
            diff[:, col] = 0
        assert diff.abs().max() < 0.05


def test_calibration_lowers_the_characters_the_model_overuses(tiny_model_dir, fixture_poems):
    poet = Poet.load(tiny_model_dir, device="cpu", names=("gan",))
    m = poet.models["gan"]
    train = [(p.lines, p.form, p.title) for p in fixture_poems if p.form in FORMS]
    reqs = calibration.training_requests(train, 64, "gan", known=lambda ch: ch in m.vocab)
    assert len({r.seed for r in reqs}) == 64 and all(r.keyword in m.vocab for r in reqs)

    def counts() -> Counter:
        return Counter(ch for res in poet.generate_batch(reqs) for line in res.lines for ch in line[:-1])

    before = counts()
    ratio, figures = calibration.measure(poet, "gan", reqs)
    assert ratio.shape == (len(m.vocab),) and (ratio[:6] == 0).all()
    assert figures["distinct_chars"] == len(before) and figures["poems"] == 64
    bias = calibration.offsets(ratio)
    assert bias.min() >= -calibration.CLIP_DOWN and bias.max() <= calibration.CLIP_UP
    corpus = m.associations["char_counts"].double()
    share = {ch: n / (corpus[m.vocab.stoi[ch]] + 1) for ch, n in before.items()}
    worst = max(share, key=share.get)
    assert bias[m.vocab.stoi[worst]] < 0
    m.associations["char_ratio"] = ratio
    m.heads.clear()
    again = counts()
    assert again[worst] < before[worst]  # the calibrated head is in use

    # a refining round writes under those offsets and adds what is left over to the stored ratio
    ratio2, figures2 = calibration.measure(poet, "gan", reqs, refine=True)
    assert figures2["distinct_chars"] == len(again)
    assert torch.equal(m.associations["char_ratio"], ratio)
    share = corpus / corpus.sum()
    for ch in (worst, *list(again)[:5]):
        i = m.vocab.stoi[ch]
        left = math.log((again[ch] + calibration.PSEUDO) / (share[i] * again.total() + calibration.PSEUDO))
        assert abs(float(ratio2[i]) - float(ratio[i]) - left) < 0.02, ch


def test_both_tone_characters_rhyme_as_poets_rhyme_them(poet):
    """Told 平 at every rhyme position, the model never rhymed 中 空 间 知 行 (多音字), which real poems
    rhyme about once in twelve: rhyme positions draw the both-tone class with poets' share there."""
    m = poet.models["gan"]
    head = m.head_for("pingshui", "cpu")
    masks = m.masks_for("pingshui", "cpu")
    assert 0.0 < head.p_both_rhyme < 1.0
    both = masks.tone_ok[1] & masks.tone_ok[2]
    reqs = [PoemRequest(kw, form=f, seed=s) for kw in "春月山" for f in FORMS for s in range(8)]
    rhymes = 0
    for req, res in zip(reqs, poet.generate_batch(reqs), strict=True):
        assert check_poem(res.text, form=req.form).ok, res.text
        rhymes += sum(bool(both[m.vocab.stoi[line[-2]]]) for line in res.lines[1::2])
    assert rhymes > 0


def test_a_both_tone_rhyme_with_none_left_in_its_groups_takes_any_rhyme(poet):
    head = poet.models["gan"].head_for("pingshui", "cpu")
    V = len(poet.models["gan"].vocab)
    rmask = torch.zeros(3, V)
    rmask[1, head.cols[BOTH]] = MASKED  # row 1: no both-tone character open
    classes = [(BOTH, torch.tensor([0, 1])), (PURE_PING, torch.tensor([2]))]
    got = dict(rhyme_fallback(classes, rmask, torch.tensor([True, True, False]), head))
    assert got[BOTH].tolist() == [0] and got[RHYME].tolist() == [1] and got[PURE_PING].tolist() == [2]
    assert rhyme_fallback(classes, torch.zeros(3, V), torch.tensor([True, True, False]), head) is classes
