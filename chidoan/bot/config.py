"""Settings from environment variables and `.env` (pydantic-settings).

Secrets are `SecretStr`, so `repr()` and logs show `**********`, never the value.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import date, time
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DATABASE_FILE = "chidoan.sqlite3"  # the SQLite database's name in the data directory
# Where commands looked before CHIDOAN_DATA_DIR: data/ in whatever folder they were run from.
# A database found there is still used (with a warning), so an upgrade never starts empty.
CWD_DATA_DIR = Path("data")
FILES_DIR = "files"  # the file store's folder in the data directory


def default_data_dir() -> Path:
    """The data directory when CHIDOAN_DATA_DIR is not set: `data/` in the project's folder when
    chidoan runs from its source (as `scripts/run.sh` does), else the user's data folder
    (`$XDG_DATA_HOME/chidoan`, by default `~/.local/share/chidoan`). Either way the same from
    whichever folder a command is run."""
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and (root / "chidoan" / "bot").is_dir():
        return root / "data"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "chidoan"


class DatabaseOrigin:
    """Why a database was chosen, for the one log line each command writes about it."""

    url = "CHIDOAN_DATABASE_URL"
    data_dir = "CHIDOAN_DATA_DIR"
    default = "the default data directory"
    current_folder = "found in the current folder"


def normalise_database_url(url: str) -> str:
    """Pick the drivers we ship: psycopg 3 for PostgreSQL, the stdlib for SQLite."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _files_beside(database_url: str) -> Path | None:
    """files/ beside a SQLite database file (one folder holds all of a deployment's data)."""
    if not database_url.startswith("sqlite:///"):
        return None
    database = database_url.removeprefix("sqlite:///").partition("?")[0]
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser().resolve().parent / FILES_DIR


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = Field(
        default="",
        validation_alias="CHIDOAN_DATABASE_URL",
        description="the database; unset: the SQLite file chidoan.sqlite3 in the data directory",
    )
    data_dir: Path | None = Field(
        default=None,
        validation_alias="CHIDOAN_DATA_DIR",
        description="the folder of the SQLite database (default: data/ in the project's folder, or "
        "~/.local/share/chidoan for an installed package)",
    )
    files_dir: Path | None = Field(
        default=None,
        validation_alias="CHIDOAN_FILES_DIR",
        description="the folder of the file store (received files, generated documents); default: files/ "
        "beside the SQLite database, or in the data directory",
    )
    file_store: str = Field(
        default="",
        validation_alias="CHIDOAN_FILE_STORE",
        description="s3://bucket/prefix: keep files in S3-compatible object storage (credentials from "
        "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION) instead of CHIDOAN_FILES_DIR",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        validation_alias="CHIDOAN_S3_ENDPOINT_URL",
        description="the S3-compatible server's address (MinIO, Ceph, ...); unset: AWS",
    )
    _database_origin: str = PrivateAttr(default=DatabaseOrigin.url)
    telegram_bot_token: SecretStr | None = Field(default=None, validation_alias="TELEGRAM_BOT_TOKEN")
    telegram_api_url: str = Field(default="https://api.telegram.org", validation_alias="TELEGRAM_API_URL")
    telegram_bot_username: str | None = Field(default=None, validation_alias="TELEGRAM_BOT_USERNAME")
    telegram_webhook_url: str | None = Field(default=None, validation_alias="TELEGRAM_WEBHOOK_URL")
    telegram_webhook_secret: SecretStr | None = Field(default=None, validation_alias="TELEGRAM_WEBHOOK_SECRET")
    telegram_webhook_path: str = Field(default="/telegram/webhook", validation_alias="TELEGRAM_WEBHOOK_PATH")
    telegram_rate_per_second: float = Field(
        default=25.0,
        gt=0,
        validation_alias="TELEGRAM_RATE_PER_SECOND",
        description="messages a second the bot sends at most (Telegram allows about 30; bulk seasons run at this)",
    )
    zalo_bot_token: SecretStr | None = Field(default=None, validation_alias="ZALO_BOT_TOKEN")
    zalo_bot_api_url: str = Field(default="https://bot-api.zaloplatforms.com", validation_alias="ZALO_BOT_API_URL")
    zalo_bot_webhook_url: str | None = Field(default=None, validation_alias="ZALO_BOT_WEBHOOK_URL")
    zalo_bot_webhook_secret: SecretStr | None = Field(default=None, validation_alias="ZALO_BOT_WEBHOOK_SECRET")
    zalo_bot_webhook_path: str = Field(default="/zalo-bot/webhook", validation_alias="ZALO_BOT_WEBHOOK_PATH")
    # Zalo Official Account (Open API v3): the channel is on when the app id and secret key are set.
    zalo_oa_app_id: str | None = Field(default=None, validation_alias="ZALO_OA_APP_ID")
    zalo_oa_secret_key: SecretStr | None = Field(
        default=None,
        validation_alias="ZALO_OA_SECRET_KEY",
        description="the key in the webhook signature (the OA Secret Key of the app's webhook page: unconfirmed)",
    )
    zalo_oa_api_url: str = Field(default="https://openapi.zalo.me", validation_alias="ZALO_OA_API_URL")
    zalo_oa_webhook_path: str = Field(default="/zalo/webhook", validation_alias="ZALO_OA_WEBHOOK_PATH")
    zalo_oa_access_token: SecretStr | None = Field(
        default=None,
        validation_alias="ZALO_OA_ACCESS_TOKEN",
        description="a static access token, used (never refreshed) when ZALO_OA_APP_SECRET is not set",
    )
    # Zalo's window (C): a consultation message only within this long after the person's last
    # interaction, free within the first hours; beyond it only an approved template message.
    zalo_oa_window_days: float = Field(
        default=7.0,
        gt=0,
        validation_alias="ZALO_OA_WINDOW_DAYS",
        description="days after a person's last message within which the OA may write to them",
    )
    zalo_oa_free_hours: float = Field(
        default=48.0,
        ge=0,
        validation_alias="ZALO_OA_FREE_HOURS",
        description="hours after a person's last message within which a message is free (beyond: billed)",
    )
    zalo_oa_template_id: str | None = Field(
        default=None,
        validation_alias="ZALO_OA_TEMPLATE_ID",
        description="an approved template for notices to people outside the window (optional)",
    )
    web_enabled: bool = Field(default=True, validation_alias="CHIDOAN_WEB_ENABLED")
    web_host: str = Field(default="127.0.0.1", validation_alias="CHIDOAN_WEB_HOST")
    web_port: int = Field(default=8080, validation_alias="CHIDOAN_WEB_PORT")
    web_public: bool = Field(
        default=False,
        validation_alias="CHIDOAN_WEB_PUBLIC",
        description="the web chat (no login) may listen on an interface other than loopback",
    )
    public_url: str | None = Field(
        default=None,
        validation_alias="CHIDOAN_PUBLIC_URL",
        description="the address people reach this service at (https://…): download links for files a "
        "channel cannot carry (Zalo) start with it; unset, no link is sent",
    )
    link_hours: float = Field(
        default=24.0,
        gt=0,
        le=24 * 30,
        validation_alias="CHIDOAN_LINK_HOURS",
        description="hours a download link works",
    )
    timezone: str = Field(default="Asia/Ho_Chi_Minh", validation_alias="CHIDOAN_TIMEZONE")
    default_locale: str = Field(default="vi", validation_alias="CHIDOAN_DEFAULT_LOCALE")
    invite_days: int = Field(default=14, ge=1, le=365, validation_alias="CHIDOAN_INVITE_DAYS")
    max_file_kb: int = Field(default=10 * 1024, ge=1, validation_alias="CHIDOAN_MAX_FILE_KB")
    programmes_dir: Path | None = Field(
        default=None,
        validation_alias="CHIDOAN_PROGRAMMES_DIR",
        description="a folder of programme files to use instead of the shipped ones",
    )
    demo: bool = Field(
        default=False,
        validation_alias=AliasChoices("CHIDOAN_DEMO"),
        description="load the demo data on first start",
    )
    log_level: str = Field(default="INFO", validation_alias="CHIDOAN_LOG_LEVEL")
    log_format: str = Field(
        default="text",
        pattern=r"^(text|json)$",
        validation_alias="CHIDOAN_LOG_FORMAT",
        description="text (one line for a person) or json (one JSON object a line, for a log collector)",
    )
    alert_backlog_minutes: int = Field(
        default=15,
        ge=1,
        validation_alias="CHIDOAN_ALERT_BACKLOG_MINUTES",
        description="the admins are told in chat when a message due to be sent has waited this long",
    )
    alert_failed_events: int = Field(
        default=5,
        ge=1,
        validation_alias="CHIDOAN_ALERT_FAILED_EVENTS",
        description="the admins are told when this many events were kept as failed (or this many messages "
        "were given up after every retry) within CHIDOAN_ALERT_HOURS",
    )
    alert_hours: float = Field(
        default=6.0,
        gt=0,
        validation_alias="CHIDOAN_ALERT_HOURS",
        description="an alert to the admins is repeated at most once in this many hours while its cause lasts",
    )
    reminders: bool = Field(
        default=True,
        validation_alias="CHIDOAN_REMINDERS",
        description="remind people of what is due, and send the districts their digests",
    )
    ask_consent: bool = Field(
        default=True,
        validation_alias="CHIDOAN_ASK_CONSENT",
        description="show the personal data notice and ask for consent before joining, and once of accounts that joined before",
    )
    data_controller: str | None = Field(
        default=None,
        validation_alias="CHIDOAN_DATA_CONTROLLER",
        description="who is responsible for the personal data, named in the notice (e.g. Tỉnh đoàn Kiên Giang)",
    )
    keep_events_days: int = Field(
        default=30,
        ge=1,
        validation_alias="CHIDOAN_KEEP_EVENTS_DAYS",
        description="days the raw incoming messages are kept (their text); then pruned every night",
    )
    keep_messages_days: int = Field(
        default=90,
        ge=1,
        validation_alias="CHIDOAN_KEEP_MESSAGES_DAYS",
        description="days the sent messages (the outbox) and finished conversations are kept; then pruned",
    )
    keep_drafts_days: int = Field(
        default=180,
        ge=1,
        validation_alias="CHIDOAN_KEEP_DRAFTS_DAYS",
        description="days an unfinished report or plan draft is kept after its last change; then pruned",
    )
    keep_exports_days: int = Field(
        default=7,
        ge=1,
        validation_alias="CHIDOAN_KEEP_EXPORTS_DAYS",
        description="days the copy /dulieu sends a person is kept (its download link works that long)",
    )
    sweep_process: bool = Field(
        default=True,
        validation_alias="CHIDOAN_SWEEP_PROCESS",
        description="run the reminder sweep in a child process (false: on the database thread, in chunks)",
    )
    reminder_hours: str = Field(
        default="07:30-20:30",
        pattern=r"^\d{1,2}:\d{2}-\d{1,2}:\d{2}$",
        validation_alias="CHIDOAN_REMINDER_HOURS",
        description="local hours within which reminders and digests go out (a stage due at night waits)",
    )
    reminder_policy: Path | None = Field(
        default=None,
        validation_alias="CHIDOAN_REMINDER_POLICY",
        description="a reminder policy file to use instead of the shipped chidoan/reminders/policy.yaml",
    )
    obligations_from: date | None = Field(
        default=None,
        validation_alias="CHIDOAN_OBLIGATIONS_FROM",
        description="the province's season start: units nobody has joined owe what is due after it",
    )
    # Zalo OA's OAuth (the tokens; see bot/channels/zalo_tokens.py). The app id and secret are
    # on the app's page at developers.zalo.me.
    zalo_oa_app_secret: SecretStr | None = Field(default=None, validation_alias="ZALO_OA_APP_SECRET")
    zalo_oa_oauth_url: str = Field(
        default="https://oauth.zaloapp.com",
        validation_alias="ZALO_OA_OAUTH_URL",
        description="base of the OAuth server: {base}/v4/oa/access_token and the consent page {base}/v4/oa/permission",
    )
    zalo_oa_redirect_uri: str | None = Field(
        default=None,
        validation_alias="ZALO_OA_REDIRECT_URI",
        description="the callback address registered for the app; `chidoan zalo connect` sends people back there",
    )
    zalo_oa_refresh_margin_hours: float = Field(
        default=12.0,
        gt=0,
        lt=25,
        validation_alias="ZALO_OA_REFRESH_MARGIN_HOURS",
        description="the access token (25 h) is refreshed when less than this is left",
    )

    @field_validator("database_url")
    @classmethod
    def _driver(cls, value: str) -> str:
        return normalise_database_url(value.strip())

    @model_validator(mode="after")
    def _database(self) -> Settings:
        """The database URL when CHIDOAN_DATABASE_URL is not given: the data directory's file,
        unless an older `data/chidoan.sqlite3` sits in the current folder (then that one)."""
        if self.database_url:
            if self.files_dir is None:
                self.files_dir = _files_beside(self.database_url) or (
                    (self.data_dir or default_data_dir()).expanduser().resolve() / FILES_DIR
                )
            return self
        if self.data_dir is not None:
            path, origin = self.data_dir.expanduser().resolve() / DATABASE_FILE, DatabaseOrigin.data_dir
        else:
            path, origin = default_data_dir() / DATABASE_FILE, DatabaseOrigin.default
            here = (CWD_DATA_DIR / DATABASE_FILE).resolve()
            if here.is_file() and here != path.resolve():
                path, origin = here, DatabaseOrigin.current_folder
        self.database_url = f"sqlite:///{path}"
        self._database_origin = origin
        if self.files_dir is None:
            self.files_dir = path.parent / FILES_DIR
        return self

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        value = (value or "").strip().rstrip("/")
        if not value:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} must start with https:// (or http://)")
        return value

    @field_validator("default_locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        from chidoan.i18n import LOCALES

        if value not in LOCALES:
            raise ValueError(f"unsupported locale {value!r}; one of {', '.join(LOCALES)}")
        return value

    @model_validator(mode="after")
    def _web_chat_stays_local(self) -> Settings:
        """The web chat has no login: whoever reaches it picks any identity and reads its history."""
        if self.web_enabled and not self.web_public and not is_loopback(self.web_host):
            raise ValueError(
                f"CHIDOAN_WEB_HOST={self.web_host!r} would put the web chat, which has no login, on a "
                "public interface: anyone reaching the port could act as any person and read their "
                "history. Bind 127.0.0.1, turn the web chat off (CHIDOAN_WEB_ENABLED=false), or set "
                "CHIDOAN_WEB_PUBLIC=true if this is really wanted."
            )
        return self

    @model_validator(mode="after")
    def _zalo_bot_webhook_has_a_secret(self) -> Settings:
        """Zalo sends the secret back with every delivery; without one, anyone who learns the URL
        could write as any person."""
        secret = self.zalo_bot_webhook_secret.get_secret_value() if self.zalo_bot_webhook_secret else ""
        if self.zalo_bot_token and self.zalo_bot_webhook_url and not secret.strip():
            raise ValueError(
                "ZALO_BOT_WEBHOOK_URL is set but ZALO_BOT_WEBHOOK_SECRET is not: the webhook would take "
                "updates from anyone who learns its URL. Set a long random ZALO_BOT_WEBHOOK_SECRET, or "
                "unset ZALO_BOT_WEBHOOK_URL to use long polling."
            )
        return self

    @field_validator("reminder_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        try:
            start, end = _hours(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a span of the day like 07:30-20:30") from None
        if start >= end:
            raise ValueError(f"{value!r}: the hours must start before they end, within one day (07:30-20:30)")
        return value

    @cached_property
    def allowed_hours(self) -> tuple[time, time]:
        return _hours(self.reminder_hours)

    @property
    def web_exposed(self) -> bool:
        return self.web_enabled and not is_loopback(self.web_host)

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def database_origin(self) -> str:
        """Which setting chose the database (a `DatabaseOrigin`)."""
        return self._database_origin


def _hours(span: str) -> tuple[time, time]:
    start, end = (time.fromisoformat(part.strip().zfill(5)) for part in span.split("-"))
    return start, end


def is_loopback(host: str) -> bool:
    """True for an address only this machine reaches ("127.0.0.1", "::1", "localhost"); an empty
    host, a wildcard, a LAN or public address, or any other name is not."""
    host = host.strip()
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
