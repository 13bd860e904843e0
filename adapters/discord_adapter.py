"""Discord glue: slash commands and persistent ★ rating buttons over `bot.service.BotService`.

Every slash command defers first (Discord wants a first response within 3 s), asks the service,
then sends the reply as a followup. A poem comes with five rating buttons whose custom ids carry the
poem id (`yinshi:rate:<poem_id>:<score>`); they are a `DynamicItem`, so a tap on an old message
still works after a restart. Bad input is answered privately (ephemeral), in Chinese and English.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.render import bilingual, error_text
from bot.replies import Reply, UserRef
from engine.errors import YinshiError

if TYPE_CHECKING:
    from app.settings import Settings
    from bot.service import BotService

log = logging.getLogger(__name__)

PLATFORM = "discord"
MESSAGE_LIMIT = 2000  # Discord's limit on a message's content
RATE_TEMPLATE = r"yinshi:rate:(?P<poem_id>\d+):(?P<score>[1-5])"

FORM_CHOICES = [
    app_commands.Choice(name="五绝 五言绝句 (5×4)", value="wujue"),
    app_commands.Choice(name="七绝 七言绝句 (7×4)", value="qijue"),
    app_commands.Choice(name="五律 五言律诗 (5×8)", value="wulv"),
    app_commands.Choice(name="七律 七言律诗 (7×8)", value="qilv"),
]
# An acrostic's line count comes from its heads (4 or 8), so a line length alone is enough there.
ACROSTIC_FORM_CHOICES = [
    app_commands.Choice(name="五言 (5-character lines)", value="五言"),
    app_commands.Choice(name="七言 (7-character lines)", value="七言"),
    *FORM_CHOICES,
]
MODEL_CHOICES = [
    app_commands.Choice(name="GAN", value="gan"),
    app_commands.Choice(name="VAE", value="vae"),
]

STALE_OPTION = bilingual(
    "这个选项已失效，请重新输入命令（Discord 可能还在用旧的命令列表）。",
    "That option is no longer valid; please retype the command (Discord may be showing an old command list).",
)
INTERNAL_ERROR = bilingual("出了点问题，请稍后再试。", "Something went wrong; please try again later.")
NO_TOKEN_ZH = "未设置 DISCORD_BOT_TOKEN：请在 Discord 开发者页面创建机器人并导出其令牌。"
NO_TOKEN_EN = "DISCORD_BOT_TOKEN is not set: create a bot in the Discord developer portal and export its token."


def user_ref(user: discord.abc.User) -> UserRef:
    return UserRef(platform=PLATFORM, user_id=str(user.id), name=user.name)


def clip(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """Discord rejects longer messages; cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def rate_custom_id(poem_id: int, score: int) -> str:
    return f"yinshi:rate:{poem_id}:{score}"


def choice_value(choice: app_commands.Choice[str] | None) -> str | None:
    return None if choice is None else choice.value


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
        service: BotService = interaction.client.service  # type: ignore[attr-defined]
        try:
            reply = await service.rate(user_ref(interaction.user), self.poem_id, self.score)
        except YinshiError as e:
            reply = Reply(text=error_text(e), error=True)
        await interaction.response.send_message(clip(reply.text), ephemeral=True)


def rating_view(poem_id: int, rating: int | None = None) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for score in range(1, 6):
        view.add_item(RateButton(poem_id, score, filled=rating is not None and score <= rating))
    return view


async def answer(
    interaction: discord.Interaction, ask: Callable[[], Awaitable[Reply]], *, private: bool = False
) -> None:
    """Defer, ask the service, send the reply as a followup.

    The first followup after a defer inherits the defer's visibility, so an error after a public
    defer deletes the "thinking…" message and sends the explanation as a private followup.
    """
    await interaction.response.defer(ephemeral=private, thinking=True)
    try:
        reply = await ask()
    except YinshiError as e:
        reply = Reply(text=error_text(e), error=True)
    hidden = private or reply.ephemeral or reply.error
    if hidden and not private:
        await interaction.delete_original_response()
    kwargs: dict[str, Any] = {"ephemeral": hidden, "wait": True}
    if reply.poem_id is not None and not reply.error:
        kwargs["view"] = rating_view(reply.poem_id, reply.rating)
    await interaction.followup.send(clip(reply.text), **kwargs)


class PoetryCommands(commands.Cog):
    """The slash commands; each is one service call."""

    def __init__(self, service: BotService) -> None:
        self.service = service

    @app_commands.command(name="poem", description="以关键词作诗 · Write a poem on a keyword")
    @app_commands.describe(
        keyword="主题，一至四字，如「春」 · the theme, 1–4 Chinese characters",
        form="诗体 · form",
        model="模型 · generator",
    )
    @app_commands.choices(form=FORM_CHOICES, model=MODEL_CHOICES)
    async def poem(
        self,
        interaction: discord.Interaction,
        keyword: str,
        form: app_commands.Choice[str] | None = None,
        model: app_commands.Choice[str] | None = None,
    ) -> None:
        user = user_ref(interaction.user)
        await answer(
            interaction,
            lambda: self.service.poem(user, keyword, form=choice_value(form), model=choice_value(model)),
        )

    @app_commands.command(name="acrostic", description="藏头诗 · Acrostic: your characters open the lines")
    @app_commands.describe(
        heads="四或八个藏头字，如「春夏秋冬」 · 4 or 8 characters that open the lines",
        form="五言、七言或诗体 · line length or form",
        model="模型 · generator",
    )
    @app_commands.choices(form=ACROSTIC_FORM_CHOICES, model=MODEL_CHOICES)
    async def acrostic(
        self,
        interaction: discord.Interaction,
        heads: str,
        form: app_commands.Choice[str] | None = None,
        model: app_commands.Choice[str] | None = None,
    ) -> None:
        user = user_ref(interaction.user)
        await answer(
            interaction,
            lambda: self.service.acrostic(user, heads, form=choice_value(form), model=choice_value(model)),
        )

    @app_commands.command(name="check", description="检查格律 · Check a poem's tones and rhymes")
    @app_commands.describe(poem="一首五言或七言绝句、律诗 · a 5- or 7-character quatrain or regulated verse")
    async def check(self, interaction: discord.Interaction, poem: str) -> None:
        user = user_ref(interaction.user)
        await answer(interaction, lambda: self.service.check(user, poem))

    @app_commands.command(name="more", description="再来一首 · Another poem like the last one")
    async def more(self, interaction: discord.Interaction) -> None:
        user = user_ref(interaction.user)
        await answer(interaction, lambda: self.service.more(user))

    @app_commands.command(name="forget", description="删除我的数据 · Delete my data")
    async def forget(self, interaction: discord.Interaction) -> None:
        user = user_ref(interaction.user)
        await answer(interaction, lambda: self.service.forget(user), private=True)

    @app_commands.command(name="stats", description="统计 · Statistics")
    async def stats(self, interaction: discord.Interaction) -> None:
        user = user_ref(interaction.user)
        await answer(interaction, lambda: self.service.stats(user), private=True)

    @app_commands.command(name="help", description="用法 · How to use Yinshi")
    async def help(self, interaction: discord.Interaction) -> None:
        reply = self.service.help("discord")
        await interaction.response.send_message(clip(reply.text), ephemeral=True)

    async def cog_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """Stale options and unexpected failures: tell the user, in both languages, without crashing."""
        if isinstance(error, app_commands.TransformerError):  # e.g. a choice a client cached before a deploy
            text = STALE_OPTION
        else:
            text = INTERNAL_ERROR
            log.error("Discord command %s failed", interaction.command and interaction.command.name, exc_info=error)
        with contextlib.suppress(discord.HTTPException):
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True)
            else:
                await interaction.response.send_message(text, ephemeral=True)


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
        await self.add_cog(PoetryCommands(self.service))
        if self.sync_commands:
            synced = await self.tree.sync()
            log.info("Discord: synced %d slash commands", len(synced))


def use_api_base(url: str) -> None:
    """Point discord.py's REST (and so its `/gateway/bot` lookup) at `url`, e.g. a local fake."""
    discord.http.Route.BASE = url.rstrip("/")


async def run_discord(
    service: BotService, settings: Settings, stop_event: asyncio.Event, **options: Any
) -> None:
    """Run the bot until `stop_event` is set (or the connection fails for good), then close it."""
    if not settings.discord_bot_token:
        raise YinshiError(NO_TOKEN_ZH, NO_TOKEN_EN)
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
