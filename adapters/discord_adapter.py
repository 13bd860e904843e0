"""Discord glue: slash commands and persistent ★ rating buttons over `bot.service.BotService`.

Every slash command asks the service and answers with its reply: at once when it is ready within a
second, else after a defer (Discord wants a first response within 3 s), as a followup. A poem comes with five rating buttons whose custom ids carry the
poem id (`yinshi:rate:<poem_id>:<score>`); they are a `DynamicItem`, so a tap on an old message
still works after a restart. Every reply comes from the service; bad input is answered privately
(ephemeral). A command that raises (a send that failed) gets bot.replies' apology.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import discord
from discord import app_commands
from discord.ext import commands

from bot.menu import DESCRIPTIONS
from bot.render import LINE_LENGTHS, MODEL_TITLES, form_title, line_length_name
from bot.replies import Reply, UserRef, apology
from bot.service import BotService
from engine.errors import YinshiError
from engine.prosody.forms import FORMS

log = logging.getLogger(__name__)

PLATFORM = "discord"
MESSAGE_LIMIT = 2000  # Discord's limit on a message's content
ALT_TEXT_LIMIT = 1024  # an attachment's description (alt text)
CARD_FILE = "poem.png"
CARD_COLOUR = discord.Colour.from_rgb(184, 43, 36)  # the embed's edge: the card's seal red (朱砂)
RATE_TEMPLATE = r"yinshi:rate:(?P<poem_id>\d+):(?P<score>[1-5])"
QUICK_S = 1.0  # a reply ready this soon answers at once; a slower one is deferred (Discord's limit: 3 s)

# Choices are plain strings: a value a client cached before a deploy reaches the service, which
# explains what it does not know, like any other bad input.
FORM_CHOICES = [
    app_commands.Choice(name=f"{f.chinese} {form_title(f)} ({f.line_len}×{f.n_lines})", value=f.name)
    for f in FORMS.values()
]
# An acrostic's line count comes from its heads (4 or 8), so a line length alone is enough there.
ACROSTIC_FORM_CHOICES = [
    *(
        app_commands.Choice(name=f"{line_length_name(n)} ({n}-character lines)", value=line_length_name(n))
        for n in LINE_LENGTHS
    ),
    *FORM_CHOICES,
]
MODEL_CHOICES = [app_commands.Choice(name=title, value=name) for name, title in MODEL_TITLES.items()]
NO_TOKEN_ZH = "未设置 DISCORD_BOT_TOKEN：请在 Discord 开发者页面创建机器人并导出其令牌。"
NO_TOKEN_EN = (
    "DISCORD_BOT_TOKEN is not set: create a bot in the Discord developer portal and export its token."
)


class DiscordSettings(Protocol):
    """What the adapter reads of its configuration (app.settings.Settings has it all)."""

    discord_bot_token: str | None
    discord_api_base_url: str  # discord.py's Route.BASE: https://discord.com/api/v10


def user_ref(user: discord.abc.User) -> UserRef:
    return UserRef(platform=PLATFORM, user_id=str(user.id), name=user.name)


def service_of(interaction: discord.Interaction) -> BotService:
    return interaction.client.service  # type: ignore[attr-defined]


def clip(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """Discord rejects longer messages; cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def rate_custom_id(poem_id: int, score: int) -> str:
    return f"yinshi:rate:{poem_id}:{score}"


class RateButton(discord.ui.DynamicItem[discord.ui.Button], template=RATE_TEMPLATE):
    """One ★ button; its custom id alone says which poem and score, so it outlives the process."""

    def __init__(self, poem_id: int, score: int, *, filled: bool = False) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"{'★' if filled else '☆'}{score}",
                style=discord.ButtonStyle.primary if filled else discord.ButtonStyle.secondary,
                custom_id=rate_custom_id(poem_id, score),
            )
        )
        self.poem_id = poem_id
        self.score = score

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> RateButton:
        return cls(int(match["poem_id"]), int(match["score"]))

    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        """Store the rating, then answer privately; a user's taps are taken one at a time, in order."""

        async def show(reply: Reply) -> None:
            await interaction.response.send_message(clip(reply.text), ephemeral=True)

        await service_of(interaction).rate(user_ref(interaction.user), self.poem_id, self.score, show=show)


def rating_view(poem_id: int, rating: int | None = None) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for score in range(1, 6):
        view.add_item(RateButton(poem_id, score, filled=rating is not None and score <= rating))
    return view


async def answer(
    interaction: discord.Interaction, ask: Callable[[], Awaitable[Reply]], *, private: bool = False
) -> None:
    """Ask the service. A reply ready within QUICK_S is the interaction's response itself (one
    request); a slower one is deferred first ("thinking…": Discord wants a first response within
    3 s) and sent as a followup. The first followup after a defer inherits the defer's visibility,
    so an error after a public defer deletes the "thinking…" message and explains privately.
    """
    asking = asyncio.ensure_future(ask())
    await asyncio.wait({asking}, timeout=QUICK_S)
    if not asking.done():
        await interaction.response.defer(ephemeral=private, thinking=True)
    reply = await asking
    hidden = private or reply.ephemeral or reply.error
    kwargs: dict[str, Any] = {"ephemeral": hidden}
    if reply.poem_id is not None and not reply.error:
        kwargs["view"] = rating_view(reply.poem_id, reply.rating)
    if reply.card is not None and not reply.error:
        kwargs.update(card_attachment(reply.card, reply.text))
    if not interaction.response.is_done():
        await interaction.response.send_message(clip(reply.text), **kwargs)
        return
    if hidden and not private:
        await interaction.delete_original_response()
    await interaction.followup.send(clip(reply.text), wait=True, **kwargs)


def card_attachment(card: bytes, text: str) -> dict[str, Any]:
    """A poem's card as an embed's image, uploaded with the message (multipart: payload_json and
    files[0]); the poem's text is the message itself and the image's alt text, for screen readers."""
    return {
        "file": discord.File(io.BytesIO(card), filename=CARD_FILE, description=clip(text, ALT_TEXT_LIMIT)),
        "embed": discord.Embed(colour=CARD_COLOUR).set_image(url=f"attachment://{CARD_FILE}"),
    }


# ---------------------------------------------------------------- slash commands

Write = Callable[[BotService, UserRef, str, str | None, str | None], Awaitable[Reply]]  # text, form, model
Ask = Callable[[BotService, UserRef], Awaitable[Reply]]
Choose = Callable[[BotService, UserRef, str], Awaitable[Reply]]  # /card on, /script 繁


def writing_command(
    name: str, option: str, option_help: str, forms: list[app_commands.Choice[str]], write: Write
) -> app_commands.Command:
    """/poem and /acrostic: a text (the option `option`: keyword or heads), a form and a model."""

    @app_commands.rename(text=option)
    @app_commands.describe(text=option_help, form="诗体 · form", model="模型 · generator")
    @app_commands.choices(form=forms, model=MODEL_CHOICES)
    async def command(
        interaction: discord.Interaction, text: str, form: str | None = None, model: str | None = None
    ) -> None:
        user = user_ref(interaction.user)
        await answer(interaction, lambda: write(service_of(interaction), user, text, form, model))

    return app_commands.Command(name=name, description=DESCRIPTIONS[name], callback=command)


def setting_command(name: str, choices: list[app_commands.Choice[str]], ask: Choose) -> app_commands.Command:
    """/card and /script: one optional choice (none: show the setting), answered privately."""

    @app_commands.describe(choice="不选则显示当前设置 · leave out to see the current setting")
    @app_commands.choices(choice=choices)
    async def command(interaction: discord.Interaction, choice: str | None = None) -> None:
        user = user_ref(interaction.user)
        await answer(interaction, lambda: ask(service_of(interaction), user, choice or ""), private=True)

    return app_commands.Command(name=name, description=DESCRIPTIONS[name], callback=command)


CARD_CHOICES = [app_commands.Choice(name="开 · on", value="on"), app_commands.Choice(name="关 · off", value="off")]
SCRIPT_CHOICES = [
    app_commands.Choice(name="繁體 · traditional", value="traditional"),
    app_commands.Choice(name="简体 · simplified", value="simplified"),
]


def plain_command(name: str, ask: Ask, *, private: bool = False) -> app_commands.Command:
    """A command without arguments: one service call."""

    async def command(interaction: discord.Interaction) -> None:
        user = user_ref(interaction.user)
        await answer(interaction, lambda: ask(service_of(interaction), user), private=private)

    return app_commands.Command(name=name, description=DESCRIPTIONS[name], callback=command)


@app_commands.describe(poem="一首五言或七言绝句、律诗 · a 5- or 7-character quatrain or regulated verse")
async def check(interaction: discord.Interaction, poem: str) -> None:
    user = user_ref(interaction.user)
    await answer(interaction, lambda: service_of(interaction).check(user, poem))


async def help_(interaction: discord.Interaction) -> None:
    reply = service_of(interaction).help(PLATFORM)
    await interaction.response.send_message(clip(reply.text), ephemeral=True)


def slash_commands() -> list[app_commands.Command]:
    """Every slash command, built afresh for each bot."""
    return [
        writing_command(
            "poem",
            "keyword",
            "主题，一至四字，如「春」 · the theme, 1–4 Chinese characters",
            FORM_CHOICES,
            BotService.poem,
        ),
        writing_command(
            "acrostic",
            "heads",
            "四或八个藏头字，如「春夏秋冬」 · 4 or 8 characters that open the lines",
            ACROSTIC_FORM_CHOICES,
            BotService.acrostic,
        ),
        app_commands.Command(name="check", description=DESCRIPTIONS["check"], callback=check),
        plain_command("more", BotService.more),
        setting_command("card", CARD_CHOICES, BotService.card),
        setting_command("script", SCRIPT_CHOICES, BotService.script),
        plain_command("forget", BotService.forget, private=True),
        plain_command("stats", BotService.stats, private=True),
        app_commands.Command(name="help", description=DESCRIPTIONS["help"], callback=help_),
    ]


async def on_command_error(interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
    """The last resort: a command raised (a send that failed). Logged; the user gets the apology."""
    name = interaction.command.name if interaction.command else "?"
    reply = apology(f"discord command /{name}", error)
    with contextlib.suppress(discord.HTTPException):
        if interaction.response.is_done():
            await interaction.followup.send(reply.text, ephemeral=True)
        else:
            await interaction.response.send_message(reply.text, ephemeral=True)


class YinshiBot(commands.AutoShardedBot):
    """Slash commands only: no privileged intents, no member cache, shards from `/gateway/bot`."""

    def __init__(self, service: BotService, *, sync_commands: bool = True, **options: Any) -> None:
        options.setdefault("intents", discord.Intents(guilds=True))
        options.setdefault("member_cache_flags", discord.MemberCacheFlags.none())
        options.setdefault("chunk_guilds_at_startup", False)
        options.setdefault("max_messages", None)
        super().__init__(command_prefix=commands.when_mentioned, help_command=None, **options)
        self.service = service
        self.sync_commands = sync_commands

    async def setup_hook(self) -> None:
        self.add_dynamic_items(RateButton)
        for command in slash_commands():
            self.tree.add_command(command)
        self.tree.error(on_command_error)
        if self.sync_commands:
            synced = await self.tree.sync()
            log.info("Discord: synced %d slash commands", len(synced))


def use_api_base(url: str) -> None:
    """Point discord.py's REST (and so its `/gateway/bot` lookup) at `url`, e.g. a local fake."""
    discord.http.Route.BASE = url.rstrip("/")


async def run_discord(
    service: BotService, settings: DiscordSettings, stop_event: asyncio.Event, **options: Any
) -> None:
    """Run the bot until `stop_event` is set (or the connection fails for good), then close it."""
    if not settings.discord_bot_token:
        raise YinshiError(NO_TOKEN_ZH, NO_TOKEN_EN)
    service.require_secret_salt(PLATFORM)
    use_api_base(settings.discord_api_base_url)
    bot = YinshiBot(service, **options)
    async with bot:
        running = asyncio.create_task(bot.start(settings.discord_bot_token), name="discord-bot")
        stopping = asyncio.create_task(stop_event.wait(), name="discord-stop")
        try:
            await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not running.done():
                await bot.close()
            await running  # re-raises a login or connection failure
