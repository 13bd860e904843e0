"""`yinshi poem KEYWORD --image PATH` and `--script traditional`, as a user runs them."""

from __future__ import annotations

import json

from PIL import Image
from typer.testing import CliRunner

from app.cli import app
from engine.text.script import to_traditional

runner = CliRunner()


def poem(tiny_model_dir, *args: str, input: str | None = None):
    return runner.invoke(app, ["poem", *args, "--model-dir", str(tiny_model_dir), "--device", "cpu"], input=input)


def test_image_writes_the_card_and_the_text_is_printed_as_before(tiny_model_dir, tmp_path):
    card = tmp_path / "cards" / "spring.png"
    plain = poem(tiny_model_dir, "春", "--form", "七律", "--seed", "5")
    with_card = poem(tiny_model_dir, "春", "--form", "七律", "--seed", "5", "--image", str(card))
    assert with_card.exit_code == 0, with_card.output
    assert with_card.stdout == plain.stdout  # the poem's text, unchanged
    assert str(card) in with_card.stderr
    with Image.open(card) as image:
        assert image.format == "PNG" and image.size == (1440, 1080)


def test_several_poems_get_numbered_cards(tiny_model_dir, tmp_path):
    r = poem(tiny_model_dir, "-", "--n", "2", "--json", "--image", str(tmp_path / "c.png"), input="春\n秋\n")
    assert r.exit_code == 0, r.output
    written = [json.loads(line)["image"] for line in r.stdout.splitlines()]
    assert written == [str(tmp_path / f"c-{i}.png") for i in (1, 2, 3, 4)]
    cards = [(tmp_path / f"c-{i}.png").read_bytes() for i in (1, 2, 3, 4)]
    assert len(set(cards)) == 4


def test_script_traditional_prints_the_same_poem_in_traditional_characters(tiny_model_dir):
    simplified = json.loads(poem(tiny_model_dir, "月", "--seed", "2", "--json").stdout)
    r = poem(tiny_model_dir, "月", "--seed", "2", "--json", "--script", "traditional")
    assert r.exit_code == 0, r.output
    traditional = json.loads(r.stdout)
    assert traditional["script"] == "traditional"
    assert traditional["text"] == "\n".join(to_traditional(line) for line in simplified["text"].split("\n"))
    assert traditional["check"] == simplified["check"]  # checked as the model wrote it


def test_an_unknown_script_is_a_bilingual_error(tiny_model_dir):
    r = poem(tiny_model_dir, "月", "--script", "fan")
    assert r.exit_code == 2
    assert "--script" in r.stderr and "选项有误" in r.stderr and "Bad option" in r.stderr
