"""What one decode request asks for (`DecodeSpec`, in token ids), and the vocabulary-sized masks of a
rhyme scheme that the decoder applies (`ProsodyMasks`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from engine.corpus.vocab import Vocab
from engine.models.encoding import TONE_PING, TONE_ZE
from engine.prosody.forms import FORMS, PING, ZE, Form
from engine.prosody.usage import RhymeUsage
from engine.request import MIN_P, TEMPERATURE, TOP_P
from engine.text.script import to_simplified_per_char, to_standard


@dataclass
class DecodeSpec:
    """One request's constraints, in token ids."""

    form: str
    line_tones: list[str]  # the tone template, one string of 平/仄 per line (adjusted for heads)
    rhyme_lines: list[int]  # 0-based lines whose last character rhymes
    keyword: list[int]  # conditioning ids
    include: list[int] = field(default_factory=list)  # ids to appear contiguously (theme mode)
    heads: list[int] | None = None  # acrostic: one id per line
    strict: bool = True
    temperature: float = TEMPERATURE
    top_k: int = 0  # 0: off
    top_p: float = TOP_P  # 1.0: off
    min_p: float = MIN_P  # keep characters at least this fraction as likely as the likeliest; 0: off
    repetition_penalty: float = 1.2  # subtracted from a logit per earlier use of the character
    keyword_bonus: float = 2.0  # added to the keyword's first character where it may start
    keyword_late: bool = False  # the keyword may wait until the poem's last place for it (else the first half)
    seed: int = 0
    prefix: list[int] = field(default_factory=list)  # forced leading tokens (rollouts)
    prefix_tones: list[int] = field(default_factory=list)  # the tone inputs the prefix was decoded with
    theme: tuple[list[int], list[float]] = ((), ())  # ids and logit bonuses of the keyword's theme characters
    parallel: float = 0.0  # weight of the couplet-partner bonus in the 颔联 and 颈联 (engine/corpus/associations.py)
    words: float = 0.0  # logit bonus for a character completing a corpus word (engine/decoding/words.py)
    line_themes: list[tuple[list[int], list[float]]] = field(default_factory=list)  # per line: ids, bonuses (plan.py)

    @property
    def form_obj(self) -> Form:
        return FORMS[self.form]

    def tone_inputs(self) -> list[int]:
        """The tone feature the decoder is fed at every position: the template's tone, 0 at ，。"""
        out = []
        for line in self.line_tones:
            out += [TONE_PING if t == PING else TONE_ZE for t in line] + [0]
        return out


class ProsodyMasks:
    """Vocabulary-sized masks for one scheme: which characters may take which tone or rhyme.
    Characters that `yinshi check` would read as others (OpenCC t2s turns a lone 乾 into 干) and
    variant or Japanese forms (疎 隠: engine.text.script.to_standard) are never chosen, so a poem
    checks as it was written and reads in standard script.
    `usage` (平水韵 only; engine/prosody/usage.py): a character rhymes only in the groups real poets
    rhyme it in (`member`), and `common` marks the readings that are not rare."""

    def __init__(self, vocab: Vocab, prosody, device="cpu", usage: RhymeUsage | None = None):
        V = len(vocab)
        is_char = torch.zeros(V, dtype=torch.bool)
        ping = torch.zeros(V, dtype=torch.bool)
        ze = torch.zeros(V, dtype=torch.bool)
        groups = prosody.ping_groups()
        member = torch.zeros(len(groups), V, dtype=torch.bool)
        common = torch.zeros(len(groups), V, dtype=torch.bool)
        gidx = {g: i for i, g in enumerate(groups)}
        if prosody.scheme != "pingshui":
            usage = None  # counted under 平水韵's groups
        for i, ch in enumerate(vocab.itos):
            if i < 6 or not prosody.knows(ch) or to_standard(to_simplified_per_char(ch)) != ch:
                continue  # (the checker reads 乾 於 徵 … as 干 于 征 …: never write them unasked)
            is_char[i] = True
            tones = prosody.tones(ch)
            ping[i] = PING in tones
            ze[i] = ZE in tones
            for g in prosody.ping_rhyme_groups(ch):
                if g in gidx and (usage is None or usage.attested(ch, g)):
                    member[gidx[g], i] = True
                    common[gidx[g], i] = usage is None or not usage.rare(ch, g)
        # keep only groups with enough characters to rhyme a 律诗 (5 distinct rhyme characters)
        big = member.sum(1) >= 5
        self.member = member[big].to(device)  # (G, V)
        self.member_f = self.member.float()  # for the open-groups product at rhyme positions
        self.common = common[big].to(device)  # (G, V): member, and not a rare reading
        self.common_f = self.common.float() if usage is not None else None  # None: every reading common
        self.groups = [g for g, b in zip(groups, big.tolist(), strict=True) if b]
        self.tone_ok = torch.stack([is_char, is_char & ping, is_char & ze]).to(device)  # (3, V)
        self.is_char = is_char.to(device)
        self.prosody = prosody
        self._fit = {PING: set(ping.nonzero()[:, 0].tolist()), ZE: set(ze.nonzero()[:, 0].tolist())}

    def fits(self, token: int, tone: str) -> bool:
        return token in self._fit[tone]
