"""Loaded generators and the synchronous batch API the CLI and the async engine call.

`Poet.generate_batch(requests)` validates each request, turns it into decoding constraints, decodes
every (model, form, scheme) group in one batched pass and returns one result or error per request.
A request asking for k candidates puts k rows in the batch (engine/decoding/rerank.py); the model's
scorer keeps the most real-looking. A model without a scorer decodes one, whatever k.
"""

from __future__ import annotations

import random
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import torch

from engine.corpus.associations import lexicon_words, theme_bias
from engine.corpus.vocab import Vocab
from engine.decoding import calibration, rerank
from engine.decoding.decode import decode, keyword_placement, tokens_to_lines
from engine.decoding.names import MODEL_NAMES, parse_model, resolve_keyword, validate_heads, validate_keyword
from engine.decoding.output_head import OutputHead
from engine.decoding.plan import line_bonuses, sub_topics
from engine.decoding.spec import DecodeSpec, ProsodyMasks
from engine.decoding.words import WordTable
from engine.device import resolve_device
from engine.errors import InvalidInput, UnknownKeyword, YinshiError
from engine.models import checkpoint
from engine.models.encoding import FORM_IDS, MAX_KEYWORD, keyword_ids
from engine.models.gan_discriminator import DiscConfig, Discriminator
from engine.models.int8_lm import Int8Decoder, int8_is_faster
from engine.models.poem_lm import PoemLM, PoemLMConfig
from engine.models.vae import PoemVAE, VAEConfig
from engine.prosody.forms import FORMS, PING, ZE, forms_of_length, parse_form, templates
from engine.prosody.tables import get_prosody
from engine.prosody.usage import RhymeUsage
from engine.request import PoemRequest, PoemResult
from engine.serving.schema import check_request
from engine.text.han import han_only
from engine.text.script import variant_table

# Fallback themes for keywords the classical vocabulary lacks: the commonest topics of 唐诗.
FALLBACK_THEMES = ("春", "秋", "月", "山", "风", "雪", "花", "江", "雨", "云", "夜", "柳")
KEYWORD_LATE = 0.5  # share of poems whose keyword may come anywhere, gently nudged (real poems: README)


def late_keyword(rng: random.Random) -> dict:
    """Where the keyword goes: in the first half, or (KEYWORD_LATE of poems) anywhere, with a
    smaller nudge, so that it is not always in the opening couplet."""
    return {"keyword_late": True, "keyword_bonus": 0.5} if rng.random() < KEYWORD_LATE else {}


@dataclass
class LoadedModel:
    kind: str  # gan | vae
    version: str
    net: torch.nn.Module  # PoemLM (gan) or PoemVAE (vae)
    vocab: Vocab
    meta: dict
    lexicon: frozenset[str]  # corpus words (bigrams) a multi-character keyword must come from
    int8: Int8Decoder | None = None  # the decoder's int8 copy, when decoding on CPU with int8
    associations: dict | None = None  # theme and couplet-partner tables (engine/corpus/associations.py)
    pairs: tuple[torch.Tensor, torch.Tensor] | None = None  # the partner table on the device
    rhyme_usage: RhymeUsage | None = None  # the groups poets rhyme each character in (engine/prosody/usage.py)
    scorer: Discriminator | None = None  # real-vs-generated CNN that reranks candidates (engine/training/scorer.py)
    words: WordTable | None = None  # the lexicon as a bit table, for the corpus-word bonus (engine/decoding/words.py)
    masks: dict[str, ProsodyMasks] = field(default_factory=dict)
    heads: dict[str, OutputHead] = field(default_factory=dict)

    @torch.no_grad()
    def score(self, tokens: torch.Tensor, form: str) -> list[float]:
        """The scorer's real-logit of each poem: tokens (B, T) of one form -> B floats."""
        assert self.scorer is not None
        form_t = torch.full((tokens.shape[0],), FORM_IDS[form], device=tokens.device)
        return self.scorer(tokens, form_t).float().tolist()

    @property
    def decoder(self) -> PoemLM | Int8Decoder:
        """What decodes: the int8 copy if there is one, else the fp32 decoder."""
        return self.int8 or (self.net.decoder if self.kind == "vae" else self.net)

    def masks_for(self, scheme: str, device) -> ProsodyMasks:
        if scheme not in self.masks:
            self.masks[scheme] = ProsodyMasks(self.vocab, get_prosody(scheme), device, self.rhyme_usage)
        return self.masks[scheme]

    def head_for(self, scheme: str, device) -> OutputHead:
        if scheme not in self.heads:
            assoc = self.associations or {}
            ratio = assoc.get("char_ratio")  # the calibration (engine/decoding/calibration.py)
            rhymed = None if self.rhyme_usage is None else torch.tensor(
                [float(self.rhyme_usage.total(ch)) for ch in self.vocab.itos])
            self.heads[scheme] = OutputHead(self.decoder, self.masks_for(scheme, device), assoc.get("char_counts"),
                                            None if ratio is None else calibration.offsets(ratio), rhymed)
        return self.heads[scheme]


def load_model(path: Path, device, quantize: bool = False) -> LoadedModel:
    """The checkpoint of a model directory, unchecked (serving reads it through engine.models.verify)."""
    return model_from_blob(checkpoint.load_blob(path), device, quantize)


def model_from_blob(blob: dict, device, quantize: bool = False) -> LoadedModel:
    """The loaded generator a checkpoint dict describes."""
    kind = blob["kind"]
    vocab = Vocab.from_json(blob["vocab"])
    if kind == "vae":
        net = PoemVAE(VAEConfig.from_dict(blob["config"]))
    else:
        net = PoemLM(PoemLMConfig(**blob["config"]))
    checkpoint.load_state(net, blob["model"])
    net.to(device).eval()
    int8 = None
    if quantize and device.type == "cpu" and int8_is_faster():  # int8 only where this CPU runs it faster
        int8 = Int8Decoder(net.decoder if kind == "vae" else net)
    meta = blob["meta"]
    version = meta.get("version") or f"{kind}-{meta.get('data_hash', 'dev')[:8]}"
    lexicon = blob.get("lexicon", ())
    assoc = blob.get("associations")
    words = None
    if torch.is_tensor(lexicon) and len(lexicon):  # the corpus-word bonus, graded by the model's calibration
        words = WordTable(lexicon, len(vocab), device, blob.get("lexicon_common"),
                          float((assoc or {}).get("common_word_extra", 0.0)))
    lexicon = lexicon_words(lexicon, vocab) if torch.is_tensor(lexicon) else frozenset(lexicon)
    pairs = None
    if assoc is not None:
        pairs = assoc["pair_ids"].long().to(device), assoc["pair_vals"].float().to(device)
    usage = RhymeUsage(blob["rhyme_usage"]) if "rhyme_usage" in blob else None
    scorer = scorer_from_blob(blob, device)
    variant_table()  # built once per process (a second or two): at loading, not in the first request
    return LoadedModel(kind, version, net, vocab, meta, lexicon, int8, assoc, pairs, usage, scorer, words)


def scorer_from_blob(blob: dict, device) -> Discriminator | None:
    """The reranking scorer a checkpoint holds (weights under "scorer", config in meta["scorer"]),
    or None. ValueError for NaN or infinite weights: a scorer that cannot rank is refused."""
    if "scorer" not in blob:
        return None
    state = blob["scorer"]
    if any(t.is_floating_point() and not torch.isfinite(t).all() for t in state.values()):
        raise ValueError("the scorer's weights hold NaN or infinity")
    scorer = Discriminator(DiscConfig(**blob["meta"]["scorer"]["config"]))
    checkpoint.load_state(scorer, state)
    return scorer.to(device).eval()


@dataclass(frozen=True)
class Candidate:
    """Candidate `index` of the `of` a request drew: its constraints and what its result reports."""

    request: int  # the request's position in the batch
    index: int
    of: int
    seed: int  # the request's seed (the candidate's own is spec.seed)
    spec: DecodeSpec
    keyword: str
    note: str | None


class Poet:
    """The loaded generators. Thread-safe: one decode at a time per Poet."""

    def __init__(self, models: dict[str, LoadedModel], device):
        self.models, self.device = models, device
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls, model_dir: Path, device: str = "auto", names=MODEL_NAMES, quantize: bool = True, loader=load_model
    ) -> Poet:
        """The checkpoints `model_dir/<name>/model.pt` there are. `quantize`: int8 decoding on CPU
        (engine/models/int8_lm.py; the same poems, faster). `loader(path, device, quantize)` reads
        one (what serves passes engine.models.verify's checked loader)."""
        model_dir = Path(model_dir)
        dev = resolve_device(device)
        models = {}
        for name in names:
            if (model_dir / name / "model.pt").exists():
                models[name] = loader(model_dir / name, dev, quantize)
        if not models:
            raise FileNotFoundError(f"no model checkpoints (gan/, vae/) under {model_dir}")
        return cls(models, dev)

    @property
    def model_versions(self) -> dict[str, str]:
        return {k: m.version for k, m in self.models.items()}

    @property
    def rhyme_usage(self) -> RhymeUsage | None:
        """How poets rhyme each character, for `check_poem` (every model's comes from the same corpus)."""
        return next((m.rhyme_usage for m in self.models.values() if m.rhyme_usage is not None), None)

    # -- request -> constraints -------------------------------------------------------------

    def resolve_keyword(self, m: LoadedModel, raw: str, seed: int) -> tuple[str, str | None]:
        """The keyword to write about, and a bilingual note when it is not `raw` (the rule:
        engine.decoding.names.resolve_keyword; an unrelated theme, by the text's hash, only when
        nothing related is usable)."""

        def usable(word: str) -> bool:
            if not word or len(han_only(word)) != len(word) or not all(ch in m.vocab for ch in word):
                return False
            return len(word) == 1 or not m.lexicon or all(word[i : i + 2] in m.lexicon for i in range(len(word) - 1))

        counts = (m.associations or {}).get("char_counts")

        def count(word: str) -> int:
            if counts is None or not all(ch in m.vocab for ch in word):
                return 0
            return min(int(counts[m.vocab.stoi[ch]]) for ch in word)

        theme = FALLBACK_THEMES[zlib.crc32(raw.encode()) % len(FALLBACK_THEMES)]
        return resolve_keyword(raw, usable, count, theme)

    def spec_for(self, req: PoemRequest, m: LoadedModel, masks: ProsodyMasks, seed: int):
        form = parse_form(req.form) if req.form else None
        rng = random.Random(seed)
        if req.acrostic:
            heads = validate_heads(req.keyword, form)
            if bad := "".join(ch for ch in heads if ch not in m.vocab):
                raise UnknownKeyword(
                    f"藏头字「{bad}」无法入诗，请只用常见汉字",
                    f"Acrostic characters {bad!r} cannot be used; use common Chinese characters only.",
                )
            if form is None:
                form = rng.choice(forms_of_length(len(heads)))
            keyword, note = heads, None
        else:
            keyword, note = self.resolve_keyword(m, validate_keyword(req.keyword), seed)
            form = form or FORMS["wujue"]
        tpls = list(templates(form.name))
        rng.shuffle(tpls)
        heads_ids = m.vocab.encode(keyword) if req.acrostic else None
        if heads_ids and req.strict:  # prefer a template whose line openings fit the heads' tones
            tpls.sort(
                key=lambda t: -sum(masks.fits(h, ln[0]) for h, ln in zip(heads_ids, t.lines, strict=True))
            )
        if not req.acrostic and len(keyword) > 1:  # prefer a template with a line the keyword fits
            include = m.vocab.encode(keyword)
            tpls.sort(key=lambda t: keyword_placement(
                DecodeSpec(form.name, list(t.lines), t.rhyme_lines(), [], include), masks)[0])
        tpl = tpls[0]
        line_tones = list(tpl.lines)
        if heads_ids and form.line_len == 5:  # 拗救: 平平仄仄平 opened by a 仄 head becomes 仄平平仄平
            for i, h in enumerate(heads_ids):
                if line_tones[i] == PING + PING + ZE + ZE + PING and not masks.fits(h, PING):
                    line_tones[i] = ZE + PING + PING + ZE + PING
        late = late_keyword(rng)
        line_themes = []
        if req.plan and not req.acrostic and m.associations is not None:
            kw_ids = m.vocab.encode(keyword)
            topics = sub_topics(m.associations, kw_ids, form.n_lines, rng)
            line_themes = line_bonuses(m.associations, topics, req.plan, kw_ids)
        spec = DecodeSpec(
            form=form.name,
            line_tones=line_tones,
            rhyme_lines=tpl.rhyme_lines(),
            keyword=keyword_ids(keyword[:MAX_KEYWORD], m.vocab),
            include=[] if req.acrostic else m.vocab.encode(keyword),
            heads=heads_ids,
            strict=req.strict,
            temperature=req.temperature,
            top_k=req.top_k,
            top_p=req.top_p,
            min_p=req.min_p,
            seed=seed,
            theme=self.theme_for(m, keyword, req.theme),
            **late,
            line_themes=line_themes,
            parallel=req.parallel if m.pairs is not None else 0.0,
            words=req.words if m.words is not None else 0.0,
        )
        return spec, keyword, note

    @staticmethod
    def theme_for(m: LoadedModel, keyword: str, weight: float) -> tuple[list[int], list[float]]:
        """The theme characters of the keyword (or of an acrostic's heads) and their logit bonuses."""
        if not weight or m.associations is None:
            return [], []
        ids, vals = theme_bias(m.associations, m.vocab.encode(keyword))
        return ids, [weight * v for v in vals]

    # -- decoding -----------------------------------------------------------------------------

    def generate_batch(self, requests: list[PoemRequest]) -> list[PoemResult | YinshiError]:
        results: list[PoemResult | YinshiError | None] = [None] * len(requests)
        groups: dict[tuple[str, str, str], list[Candidate]] = {}
        for i, req in enumerate(requests):
            try:
                check_request(req)  # its declared bounds: seed, min-p, candidates, a finite latent, no lone surrogate
                name = parse_model(req.model)
                if name not in self.models:
                    raise InvalidInput(f"模型「{name}」未加载", f"Model {name!r} is not loaded.")
                m = self.models[name]
                seed = req.seed if req.seed is not None else random.randrange(2**31)
                k = req.candidates if m.scorer is not None else 1
                masks = m.masks_for(req.scheme, self.device)
                drawn = []
                for j, s in enumerate(rerank.candidate_seeds(seed, k)):
                    spec, kw, note = self.spec_for(req, m, masks, s)
                    drawn.append(Candidate(i, j, k, seed, spec, kw, note))
                for c in drawn:  # (an acrostic without a form may put its candidates in several forms)
                    groups.setdefault((name, c.spec.form, req.scheme), []).append(c)
            except YinshiError as e:
                results[i] = e
        written: dict[int, list[tuple[Candidate, PoemResult, float]]] = {}
        with self._lock:
            for (name, form, scheme), items in groups.items():
                m = self.models[name]
                specs = [c.spec for c in items]
                z = self._latents(m, [requests[c.request] for c in items], specs)
                masks, head = m.masks_for(scheme, self.device), m.head_for(scheme, self.device)
                tokens = decode(m.decoder, specs, masks, z=z, head=head, pairs=m.pairs, words=m.words)
                reranked = any(c.of > 1 for c in items)
                scores = m.score(tokens, form) if reranked else [0.0] * len(items)
                for c, toks, zi, sc in zip(
                    items, tokens.tolist(), z if z is not None else [None] * len(items), scores, strict=True
                ):
                    req = requests[c.request]
                    res = PoemResult(
                        lines=tokens_to_lines(toks, FORMS[form], m.vocab),
                        form=form,
                        model=name,
                        model_version=m.version,
                        keyword=c.keyword,
                        seed=c.seed,
                        acrostic=req.acrostic,
                        requested_keyword=req.keyword if c.note else None,
                        note=c.note,
                        latent=tuple(round(float(x), 4) for x in zi) if zi is not None else None,
                    )
                    written.setdefault(c.request, []).append((c, res, sc))
        for i, cands in written.items():
            cands.sort(key=lambda d: d[0].index)
            j = rerank.best([sc for _, _, sc in cands])
            res = cands[j][1]
            if len(cands) > 1:
                res.extra["rerank"] = {"candidates": len(cands), "chosen": j, "candidate_seed": cands[j][0].spec.seed,
                                       "scores": [round(sc, 4) for _, _, sc in cands]}
            results[i] = res.in_script(requests[i].script)  # traditional: OpenCC s2t of the lines, the model's kept
        return results  # type: ignore[return-value]

    def _latents(self, m: LoadedModel, reqs: list[PoemRequest], specs: list[DecodeSpec]):
        """VAE: z from the prior, or near a given latent (for /more); seeded per request."""
        if m.kind != "vae":
            return None
        Z = m.net.cfg.lm.z_dim
        rows = []
        for r, s in zip(reqs, specs, strict=True):
            g = torch.Generator().manual_seed(s.seed ^ 0x5EED)
            eps = torch.randn(Z, generator=g)
            if r.latent is not None and len(r.latent) == Z:
                rows.append(torch.tensor(r.latent) + 0.35 * eps)
            else:
                rows.append(eps)
        return torch.stack(rows).to(self.device)
