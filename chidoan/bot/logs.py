"""The commands' log: one format; the libraries' routine lines (Alembic's plugins and context on
every command, the scheduler's jobs) only at CHIDOAN_LOG_LEVEL=DEBUG. Which database a command
uses is said to the operator, in the command's language (announce.py).

CHIDOAN_LOG_FORMAT=json writes one JSON object a line (time, level, logger, message, and the
traceback as exc_info), for a log collector; text (the default) is for a person at a console.

No line carries a token: the bot's tokens travel in Telegram's and Zalo Bot's URLs, which the
HTTP libraries' errors quote. Every line is redacted as a whole, traceback included, of the
configured secrets and of anything shaped like a Telegram bot token. What people write, their
names and numbers are not logged by chidoan (events are named by their platform id); the lines
about a failed handler or batch, whose errors may quote it, have what the events held redacted
(chidoan/redaction.py); the database's errors never quote the values of a statement
(`hide_parameters`, storage/db.py).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable

from pythonjsonlogger.json import JsonFormatter

from chidoan.redaction import hidden

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
JSON_NAMES = {"asctime": "time", "levelname": "level", "name": "logger"}
CHATTY = ("alembic", "apscheduler")  # their INFO lines say nothing an operator acts on
# A Telegram bot token (<bot id>:<35 characters>), wherever it shows: in a URL's /bot<token>/ too.
TELEGRAM_TOKEN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}")
HIDDEN = "***"
SHORTEST_SECRET = 8  # a shorter "secret" would blank out ordinary words


class Redacting(logging.Formatter):
    """Another formatter's output with the secrets replaced by ***."""

    def __init__(self, inner: logging.Formatter, secrets: Iterable[str] = ()):
        super().__init__()
        self.inner = inner
        self.secrets = sorted({s for s in secrets if len(s) >= SHORTEST_SECRET}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(self.inner.format(record))

    def redact(self, line: str) -> str:
        for secret in self.secrets:
            line = line.replace(secret, HIDDEN)
        for text in hidden():  # as written or as repr() quotes it, each as is or escaped in a JSON line
            for quoted in {text, repr(text)[1:-1]}:
                for form in {quoted, json.dumps(quoted, ensure_ascii=False)[1:-1]}:
                    line = line.replace(form, HIDDEN)
        return TELEGRAM_TOKEN.sub(HIDDEN, line)


def formatter(kind: str = "text", secrets: Iterable[str] = ()) -> Redacting:
    if kind == "json":
        inner: logging.Formatter = JsonFormatter(JSON_FIELDS, rename_fields=JSON_NAMES, json_ensure_ascii=False)
    else:
        inner = logging.Formatter(FORMAT)
    return Redacting(inner, secrets)


def configure(level: str, kind: str = "text", secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(kind, secrets))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    quiet = logging.getLogger().getEffectiveLevel() > logging.DEBUG
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING if quiet else logging.NOTSET)


def secrets_of(settings) -> list[str]:
    """The values of the settings that are secrets (pydantic's SecretStr)."""
    values = (getattr(settings, name) for name in type(settings).model_fields)
    return [v.get_secret_value() for v in values if hasattr(v, "get_secret_value") and v.get_secret_value()]
