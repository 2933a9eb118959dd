"""The line every command prints first, for the operator and in the command's language: which
database it uses and what chose it, so a command run from another folder cannot quietly use
another one; with a warning when the database does not exist yet (a new, empty one is made) or
is an older one in the current folder. On stderr: stdout stays the command's output (JSON, codes)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url

from chidoan.bot.config import DatabaseOrigin, Settings, default_data_dir
from chidoan.bot.voice import Voice
from chidoan.i18n import N_

# What chose the database, in words (a setting's own name stays as it is).
ORIGINS = {
    DatabaseOrigin.default: N_("the default data directory"),
    DatabaseOrigin.current_folder: N_("found in the current folder"),
}
USED = N_("Database: {where} ({origin}).")
NEW = N_("Database: {where} ({origin}). It does not exist yet: a new, empty one is made.")
ELSEWHERE = N_(
    "Database: {where} ({origin}). It is used so that nothing is lost, but the data directory is {data_dir}: move the database there (with its -wal and -shm files) or set CHIDOAN_DATA_DIR={folder}."
)


def announce_database(settings: Settings, voice: Voice, *, creates: bool = True) -> None:
    url = make_url(settings.database_url)
    origin = (
        voice.t(ORIGINS[settings.database_origin]) if settings.database_origin in ORIGINS else settings.database_origin
    )
    if not settings.is_sqlite or not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        return voice.say(USED, err=True, where=url.render_as_string(hide_password=True), origin=origin)
    path = Path(url.database).resolve()
    if settings.database_origin == DatabaseOrigin.current_folder:
        voice.say(ELSEWHERE, err=True, where=path, origin=origin, data_dir=default_data_dir(), folder=path.parent)
    else:
        voice.say(USED if path.exists() or not creates else NEW, err=True, where=path, origin=origin)
