"""The one typed settings object. Every other module reads configuration from here."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from learning.online import CHALLENGER_SHARE

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


class Settings(BaseSettings):
    """Read from the environment (prefix `YINSHI_`) and an optional `.env` file."""

    model_config = SettingsConfigDict(env_prefix="YINSHI_", env_file=".env", extra="ignore")

    # data
    corpus_dir: Path = SHARED_DATA / "chinese-poetry"  # a clone of chinese-poetry/chinese-poetry
    prosody_dir: Path = REPO_ROOT / "engine" / "data" / "prosody"  # 平水韵 tables, shipped (see SOURCE.md there)
    data_dir: Path = REPO_ROOT / "data"  # caches, database, runs
    model_dir: Path = REPO_ROOT / "models"  # shipped default checkpoints
    min_char_count: int = 3  # vocabulary frequency cut-off

    # generation
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    default_model: str = "gan"  # gan | vae
    default_scheme: str = "pingshui"  # pingshui | xinyun
    quantize: bool = True  # int8 decoding on CPU (engine/models/int8_lm.py): faster, same poems batched or alone

    # serving
    max_batch_size: int = 64
    max_wait_ms: float = 5.0
    max_queue: int = 1024
    request_timeout_s: float = 10.0
    check_workers: int = 1  # threads for prosody checks (/v1/check, /check), apart from poems
    max_checks: int = 64  # checks running or waiting at most; more are refused (503, "busy")
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    http_body_timeout_s: float = 5.0  # a request body not received by then: 408, connection closed
    http_api_token: str | None = None  # set: /v1/* and /metrics need `Authorization: Bearer <token>`
    http_rate_limit_per_minute: int = 0  # per client address, bursts up to as many; 0: no limit
    engine_url: str | None = None  # e.g. http://127.0.0.1:8080: use a `yinshi serve` engine over HTTP
    # (it sends http_api_token when set)

    # the learning loop (learning/, app/learning_loop.py): the registry's champions serve
    registry_poll_s: float = 5.0  # how often a running app looks for a new champion or challenger
    finetune_interval_s: float = 21600  # how often it looks for enough new ratings to fine-tune; 0: never
    finetune_min_ratings: int = 200  # new liked (4–5★) or disliked (1–2★) ratings of a generator a cycle needs
    finetune_models: list[str] = Field(default_factory=lambda: ["gan", "vae"])  # env: '["gan", "vae"]'
    challenger_share: float = Field(default=CHALLENGER_SHARE, ge=0, le=1)  # users a model on trial writes
    # for; 0: a candidate that passes the gate becomes the champion at once
    online_check_s: float = 300  # how often the ratings of a model on trial are weighed (promote or drop)

    # storage
    database_url: str | None = None  # default: sqlite file in data_dir
    user_id_salt: str = "yinshi-default-salt-change-me"

    # bot
    admin_ids: list[str] = Field(default_factory=list)  # "telegram:123", "discord:456"
    rate_limit_per_minute: int = 20
    max_input_chars: int = 2000
    cards: bool = True  # poems come with a picture card (engine/cards) unless a user says /card off

    # platforms (unprefixed names, as the platforms document them)
    telegram_bot_token: str | None = Field(
        default=None, validation_alias=AliasChoices("TELEGRAM_BOT_TOKEN", "YINSHI_TELEGRAM_BOT_TOKEN")
    )
    telegram_api_base_url: str = Field(
        default="https://api.telegram.org/bot",
        validation_alias=AliasChoices("TELEGRAM_API_BASE_URL", "YINSHI_TELEGRAM_API_BASE_URL"),
    )
    telegram_webhook_url: str | None = None  # set to use webhook mode instead of long polling
    telegram_webhook_host: str = "127.0.0.1"  # behind the TLS proxy Telegram posts to; 0.0.0.0: every interface
    telegram_webhook_port: int = 8443
    discord_bot_token: str | None = Field(
        default=None, validation_alias=AliasChoices("DISCORD_BOT_TOKEN", "YINSHI_DISCORD_BOT_TOKEN")
    )
    discord_api_base_url: str = Field(
        default="https://discord.com/api/v10",
        validation_alias=AliasChoices("DISCORD_API_BASE_URL", "YINSHI_DISCORD_API_BASE_URL"),
    )

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def registry_dir(self) -> Path:
        """The model registry (learning/registry.py): every fine-tuned version and which one serves."""
        return self.data_dir / "registry"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'yinshi.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
