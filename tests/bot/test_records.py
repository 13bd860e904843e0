"""A stored poem carries the decoding settings of the request that wrote it, so a rating can be tied
to them (engine.request.DECODING: scheme, strict and the sampling settings)."""

from __future__ import annotations

from sqlmodel import Session

from bot.records import Records
from engine.request import DECODING, PoemRequest
from storage.models import Decoding, Poem
from tests.bot.helpers import ALICE


def test_the_poem_row_records_every_decoding_field_of_its_request(tiny_poet, db, settings):
    assert tuple(Decoding.model_fields) == DECODING  # one column per declared field
    request = PoemRequest("江", form="qijue", model="vae", scheme="xinyun", strict=False, temperature=0.8,
                          top_k=20, top_p=0.95, min_p=0.05, theme=0.5, parallel=0.0, seed=5)
    [result] = tiny_poet.generate_batch([request])
    poem_id = Records(db, settings.user_id_salt).store_poem(ALICE, request, result)
    with Session(db) as s:
        poem = s.get(Poem, poem_id)
        assert poem is not None and poem.text == result.text
        assert {name: getattr(poem, name) for name in DECODING} == {name: getattr(request, name) for name in DECODING}
