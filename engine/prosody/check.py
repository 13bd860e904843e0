"""Check a poem's 平仄 and rhyme against the 近体诗 templates: `check_poem(text) -> CheckReport`.

The best-fitting template (fewest faults) is chosen among the four of the detected form.
Strict: every position counts. Lenient (一三五不论): the free positions do not count, but the
rhyme character, 孤平 and 三平尾 still do. Rhyme: the template's rhyme lines must end in
characters of one 平声 group of the scheme (a 多音字 fits if any reading does), none repeated.
The rules are in engine/prosody/faults.py, the report in engine/prosody/report.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.prosody import meter
from engine.prosody.faults import nian_dui_faults, rhyme_faults, template_faults
from engine.prosody.forms import FORMS, PING, Form, Template, form_for_shape, parse_form, templates
from engine.prosody.report import CheckReport, Fault, LineReport
from engine.prosody.tables import Prosody, get_prosody
from engine.prosody.usage import RhymeUsage
from engine.text.poem_text import PoemText, split_poem

SUPPORTED_ZH = "、".join(f"{f.chinese}（{f.n_lines}句×{f.line_len}字）" for f in FORMS.values())
SUPPORTED_EN = ", ".join(f"{f.chinese} ({f.n_lines} lines × {f.line_len})" for f in FORMS.values())


def check_poem(
    text: str, scheme: str = "pingshui", form: str | None = None, usage: RhymeUsage | None = None
) -> CheckReport:
    """Check a poem as typed. InvalidInput for an unknown scheme or form, or empty, foreign-script
    or over-long input. With `usage` (平水韵: how poets rhyme each character, shipped with the
    checkpoints) a rhyme by a rare reading is named in the notes, without failing the poem."""
    prosody = get_prosody(scheme)
    wanted = parse_form(form) if form is not None else None
    poem = split_poem(text)
    # Look each character up in the form typed when the tables know it (traditional forms keep
    # readings that t2s merges, e.g. 蘋 ≠ 苹), else in its simplified form.
    keys = [
        "".join(o if prosody.knows(o) else s for s, o in zip(simp, orig, strict=True))
        for simp, orig in zip(poem.lines, poem.original, strict=True)
    ]
    tones = [[prosody.tones(ch) for ch in line] for line in keys]
    shape = poem.shape
    detected = form_for_shape(*shape) if shape else None
    if detected is None or (wanted is not None and wanted != detected):
        return _irregular(poem, keys, tones, prosody, wanted)

    best: tuple[tuple[int, int, int], Template, list[Fault], str | None] | None = None
    line1_ping = PING in tones[0][-1]
    for t in templates(detected.name):
        rhyme_chars = [(i, keys[i][-1]) for i in t.rhyme_lines()]
        group, r_faults = rhyme_faults(prosody, rhyme_chars)
        faults = template_faults(tones, poem.lines, t) + r_faults
        key = (sum(f.lenient for f in faults), len(faults), int(t.rhymes_first_line != line1_ping))
        if best is None or key < best[0]:
            best = (key, t, faults, group)
    assert best is not None
    _, template, faults, group = best
    faults = sorted(faults + nian_dui_faults(tones), key=_fault_order)
    rhyme_lines = set(template.rhyme_lines())
    lines = tuple(
        _line_report(
            prosody, poem.lines[i], keys[i], tones[i], template.lines[i], i in rhyme_lines, faults, i
        )
        for i in range(len(poem.lines))
    )
    rhyme_ok = not any(f.kind == "rhyme" and f.lenient for f in faults)
    rhyme_chars = [keys[i][-1] for i in sorted(rhyme_lines)]
    notes = _ze_rhyme_note(prosody, rhyme_chars, group) + _rare_reading_notes(prosody, rhyme_chars, group, usage)
    return CheckReport(scheme, detected, template, lines, tuple(faults), group, rhyme_ok, notes)


def _fault_order(f: Fault) -> tuple[int, int, int]:
    return (f.line or 0, f.position or 99, 0 if f.kind == "tone" else 1)


def _line_report(
    prosody: Prosody,
    text: str,
    key: str,
    tones: Sequence[meter.ToneSet],
    pattern: str | None,
    rhymes: bool,
    faults: Sequence[Fault],
    i: int,
) -> LineReport:
    positions = tuple(sorted({f.position for f in faults if f.line == i + 1 and f.position}))
    order = prosody.ping_groups()
    groups = tuple(sorted(prosody.ping_rhyme_groups(key[-1]), key=order.index)) if rhymes else ()
    return LineReport(text, tuple(meter.tone_mark(t) for t in tones), pattern, rhymes, groups, positions)


def _rare_reading_notes(
    prosody: Prosody, rhyme_chars: Sequence[str], group: str | None, usage: RhymeUsage | None
) -> tuple[str, ...]:
    """「书」押上平四支属僻读: rhyme characters of the poem's group read in a reading poets rarely rhyme."""
    if usage is None or group is None or prosody.scheme != "pingshui":
        return ()
    found = (usage.rare_note(ch, group) for ch in dict.fromkeys(rhyme_chars) if group in prosody.ping_rhyme_groups(ch))
    return tuple(note for note in found if note)


def _ze_rhyme_note(prosody: Prosody, rhyme_chars: Sequence[str], group: str | None) -> tuple[str, ...]:
    """When every rhyme character is 仄 and they share a group: say it is a 仄韵 poem (古体)."""
    if group is not None or not rhyme_chars:
        return ()
    shared = set.intersection(*(set(prosody.rhyme_groups(c)) for c in rhyme_chars))
    if not shared:
        return ()
    name = "、".join(sorted(shared))
    return (
        f"全诗押仄声韵（{name}），属古体，不合近体格律 / It rhymes on an oblique tone ({name}): "
        "an old-style (古体) poem, not regulated verse",
    )


def _irregular(
    poem: PoemText,
    keys: Sequence[str],
    tones: Sequence[Sequence[meter.ToneSet]],
    prosody: Prosody,
    wanted: Form | None,
) -> CheckReport:
    """A report for a shape that is none of the four forms: tones annotated, rhyme of even lines."""
    lengths = sorted({len(line) for line in poem.lines})
    if len(lengths) == 1:
        shape_zh, shape_en = (
            f"共{len(poem.lines)}句、每句{lengths[0]}字",
            f"{len(poem.lines)} lines of {lengths[0]}",
        )
    else:
        shape_zh = f"共{len(poem.lines)}句、各句字数不一（{'/'.join(map(str, lengths))}字）"
        shape_en = f"{len(poem.lines)} lines of unequal length ({'/'.join(map(str, lengths))})"
    if wanted is not None:
        msg_zh = f"诗形与{wanted.chinese}（{wanted.n_lines}句×{wanted.line_len}字）不符：此诗{shape_zh}"
        msg_en = f"The shape does not match {wanted.chinese} ({wanted.n_lines} lines × {wanted.line_len}): {shape_en}"
    else:
        msg_zh = f"诗形不合近体：此诗{shape_zh}；支持{SUPPORTED_ZH}"
        msg_en = f"Not a regulated-verse shape: {shape_en}; supported: {SUPPORTED_EN}"
    faults = [Fault(None, None, msg_zh, msg_en, "shape")]
    rhyme_idx = [i for i in range(1, len(poem.lines), 2)]
    group, r_faults = rhyme_faults(prosody, [(i, keys[i][-1]) for i in rhyme_idx])
    faults += r_faults
    lines = tuple(
        _line_report(prosody, poem.lines[i], keys[i], tones[i], None, i in rhyme_idx, faults, i)
        for i in range(len(poem.lines))
    )
    rhyme_ok = bool(rhyme_idx) and not r_faults
    notes = _ze_rhyme_note(prosody, [keys[i][-1] for i in rhyme_idx], group)
    return CheckReport(prosody.scheme, None, None, lines, tuple(faults), group, rhyme_ok, notes)
