"""The gate a fine-tuned candidate must pass before it may serve, on a fixed evaluation set.

The evaluation set is the same for every version: keywords and forms of real held-out poems (all
four forms), fixed seeds, and the real poems themselves. The candidate passes when, against the
champion it came from,
- format, rhyme and tones do not fall (they are 100 % by construction, and must stay so);
- keyword hit, distinct-2, repetition, the held-out corpus NLL and the real-vs-generated classifier
  (engine/evaluation/classifier.py) stay within the tolerances of `GateConfig`;
- KL(candidate || champion) per sampled position, on the candidate's own poems under the decoder's
  constraint masks, is within budget;
- the reward model is worth listening to: its AUC on held-out ratings (newer than any it trained
  on) is at least `auc_z` null standard deviations above 0.5 — with random raters it is not, and
  the gate refuses;
- and the candidate wins: the reward model prefers its poem to the champion's for the same prompt
  and seed, with the lower end of a bootstrap 95 % interval of the win rate above 0.5.
A refusal lists every reason; the figures are kept either way.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from engine.corpus.vocab import BOS
from engine.decoding.poet import LoadedModel, Poet
from engine.errors import YinshiError
from engine.evaluation import metrics
from engine.evaluation.classifier import discriminator_accuracy
from engine.evaluation.evaluate import ReferenceData
from engine.models.encoding import FORM_IDS, encode_form, keyword_ids, slots
from engine.prosody.check import check_poem
from engine.prosody.forms import FORMS
from engine.prosody.tables import get_prosody
from engine.request import PoemRequest
from engine.training.preference import chosen, draw, kl_per_position, lm_of, policy_logprobs

EVAL_SEED = 10_000  # seeds of the evaluation poems: EVAL_SEED + i


@dataclass
class GateConfig:
    keyword_drop: float = 0.0  # keyword hit may not fall
    distinct2_drop: float = 0.03  # absolute fall allowed in distinct-2
    repetition_rise: float = 0.01  # absolute rise allowed in repetition
    nll_rise: float = 0.05  # nats per character on held-out real poems
    classifier_rise: float = 0.04  # real-vs-generated accuracy (0.5 = indistinguishable)
    kl_budget: float = 0.15  # nats per sampled position
    drift_factor: float = 2.0  # against the lineage's shipped model: at most this many times each tolerance
    auc_z: float = 2.33  # one-sided p < 0.01 that a knowing-nothing reward model looks this good
    min_heldout: int = 20  # fewest held-out ratings of each label for the AUC to count
    bootstrap: int = 2000

    def to_dict(self) -> dict:
        return asdict(self)

    def tolerances(self) -> list[tuple[str, float]]:
        """(figure, tolerance): negative, the fall allowed; positive, the rise allowed."""
        return [
            ("keyword_hit", -self.keyword_drop), ("distinct_2", -self.distinct2_drop),
            ("repetition", self.repetition_rise), ("nll", self.nll_rise), ("classifier", self.classifier_rise),
        ]


@dataclass
class EvalSet:
    requests: list[PoemRequest]  # model-less prompts: keyword, form, seed
    real: list[tuple[str, ...]]  # the real poems the prompts come from (classifier, NLL)
    real_keywords: list[str]
    real_forms: list[str]


def build_evalset(ref: ReferenceData, per_form: int = 100, seed: int = 0) -> EvalSet:
    """`per_form` prompts of each form: the keyword a reader might have asked for each real
    held-out poem (valid split, then test), cycled with fresh seeds when the split is small."""
    rng = random.Random(seed)
    reqs, real, kws, forms = [], [], [], []
    for f in FORMS:
        pool = list(ref.valid[f]) + list(ref.test[f])
        if not pool:
            continue
        rng.shuffle(pool)
        for i in range(per_form):
            p = pool[i % len(pool)]
            kw = ref.theme.real_keyword(p.title, p.lines, rng) or p.lines[0][0]
            reqs.append(PoemRequest(keyword=kw, form=f, seed=EVAL_SEED + len(reqs)))
            if i < len(pool):
                real.append(tuple(p.lines))
                kws.append(kw)
                forms.append(f)
    return EvalSet(reqs, real, kws, forms)


def write(m: LoadedModel, poet: Poet, ev: EvalSet, batch: int = 256) -> list[str]:
    """The evaluation poems of a model, as production writes them."""
    reqs = [PoemRequest(**{**r.__dict__, "model": m.kind}) for r in ev.requests]
    out = []
    for i in range(0, len(reqs), batch):
        for r in poet.generate_batch(reqs[i : i + batch]):
            if isinstance(r, YinshiError):
                raise r
            out.append(r.text)
    return out


def poem_figures(texts: Sequence[str], ev: EvalSet, ref: ReferenceData, seed: int = 0) -> dict:
    """Format, rhyme, tones, keyword, diversity and the classifier of a model's evaluation poems."""
    lines = [metrics.parse_lines(t) for t in texts]
    fmt, rhyme, tone = [], [], []
    for t, ls, r in zip(texts, lines, ev.requests, strict=True):
        ok = metrics.format_valid(ls, r.form)
        report = check_poem(t, form=r.form) if ok else None
        fmt.append(ok)
        rhyme.append(bool(report and report.rhyme_ok))
        tone.append(bool(report and report.ok))
    hits = [metrics.keyword_hit(ls, r.keyword, r.acrostic) for ls, r in zip(lines, ev.requests, strict=True)]
    return {
        "format": metrics.mean(fmt),
        "rhyme": metrics.mean(rhyme),
        "tone": metrics.mean(tone),
        "keyword_hit": metrics.mean(hits),
        "distinct_2": metrics.distinct_n(lines, 2),
        "repetition": metrics.mean(metrics.repetition(ls) for ls in lines),
        "classifier": discriminator_accuracy(lines, ev.real, seed=seed, pairs=ref.pairs),
    }


@torch.no_grad()
def corpus_nll(m: LoadedModel, ev: EvalSet, scheme: str = "pingshui", batch: int = 64) -> float:
    """Mean teacher-forced NLL per token of the held-out real poems (the VAE: its decoder given
    the encoder's mean latent)."""
    lm = lm_of(m)
    tones = get_prosody(scheme).tones
    total, count = 0.0, 0
    for f in FORMS:
        idx = [i for i, form in enumerate(ev.real_forms) if form == f]
        if not idx:
            continue
        data = encode_form([ev.real[i] for i in idx], f, m.vocab, tones)
        kw = torch.tensor([keyword_ids(ev.real_keywords[i], m.vocab) for i in idx])
        for s in range(0, len(idx), batch):
            tok, tone, k = data.tokens[s : s + batch], data.tones[s : s + batch], kw[s : s + batch]
            B, T = tok.shape
            prev = torch.cat([torch.full((B, 1), BOS), tok[:, :-1]], dim=1)
            slot = torch.tensor(slots(FORMS[f])).expand(B, T)
            z = m.net.encode(tok)[0] if m.kind == "vae" else None
            logits, _ = lm(prev, slot, tone, torch.full((B,), FORM_IDS[f]), k, z=z)
            total += F.cross_entropy(logits.flatten(0, 1).float(), tok.flatten(), reduction="sum").item()
            count += B * T
    return total / max(count, 1)


@torch.no_grad()
def kl_to_champion(cand: LoadedModel, champ: LoadedModel, poet: Poet, ev: EvalSet, batch: int = 32) -> float:
    """KL(candidate || champion) per sampled position, over the candidate's own evaluation poems,
    both policies under the constraint masks the decoder recorded."""
    total, count = 0.0, 0
    lm_c, lm_0 = lm_of(cand), lm_of(champ)
    for f in FORMS:
        reqs = [PoemRequest(**{**r.__dict__, "model": cand.kind}) for r in ev.requests if r.form == f]
        for s in range(0, len(reqs), batch):
            part = reqs[s : s + batch]
            d = draw(cand, poet, part, [r.seed for r in part], record=True)
            logp, logq = policy_logprobs(lm_c, d), policy_logprobs(lm_0, d)
            _, free = chosen(logp, d)
            total += (kl_per_position(logp, logq) * free).sum().item()
            count += int(free.sum())
    return total / max(count, 1)


def win_rate(reward: Callable[[list[str], list[str], list[str]], torch.Tensor], ev: EvalSet,
             cand_texts: list[str], champ_texts: list[str], n_boot: int = 2000, seed: int = 0) -> dict:
    """How often the reward model scores the candidate's poem above the champion's (ties half),
    per prompt, with a percentile bootstrap 95 % interval."""
    kws, forms = [r.keyword for r in ev.requests], [r.form for r in ev.requests]
    rc, r0 = reward(cand_texts, kws, forms), reward(champ_texts, kws, forms)
    wins = ((rc > r0).float() + 0.5 * (rc == r0).float()).numpy()
    boot = np.random.default_rng(seed).integers(0, len(wins), (n_boot, len(wins)))
    means = np.sort(wins[boot].mean(1))
    return {"win_rate": float(wins.mean()), "ci_low": float(means[int(0.025 * n_boot)]),
            "ci_high": float(means[int(0.975 * n_boot) - 1]), "reward_candidate": float(rc.mean()),
            "reward_champion": float(r0.mean())}


def reward_credible(auc: float | None, n_pos: int, n_neg: int, null_sd: float, cfg: GateConfig) -> list[str]:
    """Reasons not to trust the reward model (empty: trust it)."""
    if min(n_pos, n_neg) < cfg.min_heldout:
        return [f"too few held-out ratings to judge the reward model ({n_pos} liked, {n_neg} disliked; "
                f"at least {cfg.min_heldout} of each)"]
    if auc is None or auc < 0.5 + cfg.auc_z * null_sd:
        return [f"reward model not above chance on held-out ratings: AUC {auc:.3f} < "
                f"{0.5 + cfg.auc_z * null_sd:.3f} (0.5 + {cfg.auc_z} null SD)"]
    return []


def judge(cand: dict, champ: dict, cfg: GateConfig) -> list[str]:
    """Reasons the candidate fails, from the figures of both (empty: it passes). `cand` also holds
    `kl` and `win` (the output of win_rate)."""
    reasons = []
    for key in ("format", "rhyme", "tone"):
        if cand[key] < champ[key]:
            reasons.append(f"{key} fell: {cand[key]:.3f} < {champ[key]:.3f}")
    reasons += [f"{key} beyond tolerance: {a:.4f} against {b:.4f} (tolerance {abs(tol)})"
                for key, a, b, tol in beyond(cand, champ, cfg.tolerances())]
    if cand["kl"] > cfg.kl_budget:
        reasons.append(f"KL to the champion {cand['kl']:.4f} over budget {cfg.kl_budget}")
    if cand["win"]["ci_low"] <= 0.5:
        w = cand["win"]
        reasons.append(f"reward model does not prefer the candidate: win rate {w['win_rate']:.3f}, "
                       f"95% CI [{w['ci_low']:.3f}, {w['ci_high']:.3f}]")
    return reasons


def beyond(cand: dict, ref: dict, tolerances: list[tuple[str, float]]) -> list[tuple[str, float, float, float]]:
    """(figure, candidate's, reference's, tolerance) for each figure outside its tolerance of `ref`."""
    out = []
    for key, tol in tolerances:
        a, b = cand.get(key), ref.get(key)
        if a is not None and b is not None and ((tol < 0 and a < b + tol) or (tol >= 0 and a > b + tol)):
            out.append((key, a, b, tol))
    return out


def drift(cand: dict, base: dict, base_version: str, cfg: GateConfig) -> list[str]:
    """Reasons the candidate has drifted too far from the shipped model its lineage began with:
    each gate compares with the parent only, so allowed steps would otherwise add up over cycles
    (six simulated cycles took distinct-2 0.903 -> 0.865, docs/finetune.md)."""
    scaled = [(key, tol * cfg.drift_factor) for key, tol in cfg.tolerances()]
    return [f"{key} drifted from the shipped {base_version}: {a:.4f} against {b:.4f} "
            f"(allowed {abs(tol):g} over all cycles)" for key, a, b, tol in beyond(cand, base, scaled)]


def compare(cand: LoadedModel, champ: LoadedModel, ev: EvalSet, ref: ReferenceData, reward, cfg: GateConfig,
            base: tuple[str, dict] | None = None) -> dict:
    """Every gate figure of the candidate and of the champion, and the reasons it fails (empty:
    it passes). `base`: the version and gate figures of the shipped model the champion descends
    from, when it is not the champion itself."""
    texts = {}
    figs = {}
    for key, m in (("candidate", cand), ("champion", champ)):
        poet = Poet({m.kind: m}, m.net.tok_emb.weight.device if m.kind == "gan" else m.net.decoder.tok_emb.weight.device)
        texts[key] = write(m, poet, ev)
        figs[key] = {**poem_figures(texts[key], ev, ref), "nll": corpus_nll(m, ev, ref.scheme)}
    figs["candidate"]["kl"] = kl_to_champion(cand, champ, Poet({cand.kind: cand}, poet.device), ev)
    figs["candidate"]["win"] = win_rate(reward, ev, texts["candidate"], texts["champion"], cfg.bootstrap)
    reasons = judge(figs["candidate"], figs["champion"], cfg)
    if base is not None:
        reasons += drift(figs["candidate"], base[1], base[0], cfg)
    return {**figs, "eval_prompts": len(ev.requests), "tolerances": cfg.to_dict(), "reasons": reasons}
