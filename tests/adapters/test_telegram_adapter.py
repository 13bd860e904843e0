"""The Telegram adapter's pure pieces: rating buttons, callback data, command text, URLs."""

from __future__ import annotations

import pytest

from adapters.telegram_adapter import (
    command_text,
    file_url_for,
    parse_rate_data,
    rating_keyboard,
    webhook_secret,
)


def labels(markup) -> list[str]:
    return [b.text for row in markup.inline_keyboard for b in row]


def test_keyboard_has_five_star_buttons_with_rate_callback_data():
    markup = rating_keyboard(123, None)
    assert labels(markup) == ["☆1", "☆2", "☆3", "☆4", "☆5"]
    data = [b.callback_data for row in markup.inline_keyboard for b in row]
    assert data == [f"rate:123:{n}" for n in range(1, 6)]


def test_keyboard_fills_stars_up_to_the_rating():
    assert labels(rating_keyboard(5, 4)) == ["★1", "★2", "★3", "★4", "☆5"]
    assert labels(rating_keyboard(5, 1)) == ["★1", "☆2", "☆3", "☆4", "☆5"]


def test_callback_data_fits_telegrams_64_bytes_for_the_largest_poem_id():
    markup = rating_keyboard(10**18 - 1, 5)
    assert all(len(b.callback_data.encode()) <= 64 for row in markup.inline_keyboard for b in row)
    assert parse_rate_data(markup.inline_keyboard[0][4].callback_data) == (10**18 - 1, 5)


@pytest.mark.parametrize(
    "data",
    [None, "", "rate:1", "rate:1:0", "rate:1:6", "rate:x:3", "rate:-1:3", "rate:1:3:extra", "vote:1:3"],
)
def test_malformed_callback_data_is_rejected(data):
    assert parse_rate_data(data) is None


def test_command_text_drops_the_bot_name_groups_add():
    assert command_text("/poem@YinshiBot 春 五绝") == "/poem 春 五绝"
    assert command_text("  /poem 春  ") == "/poem 春"
    assert command_text("/help") == "/help"


def test_file_url_sits_beside_the_api_url():
    assert file_url_for("https://api.telegram.org/bot") == "https://api.telegram.org/file/bot"
    assert file_url_for("http://127.0.0.1:8081/bot") == "http://127.0.0.1:8081/file/bot"


def test_webhook_secret_is_stable_and_uses_allowed_characters():
    secret = webhook_secret("123:abc")
    assert secret == webhook_secret("123:abc") != webhook_secret("123:abd")
    assert secret.isalnum() and 1 <= len(secret) <= 256
