"""The commands' log: one format; the libraries' routine lines (Alembic's plugins and context on
every command, the scheduler's jobs) only at CHIDOAN_LOG_LEVEL=DEBUG; and one line saying which
database a command uses, so a command run from another folder cannot quietly use another one."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy.engine import make_url

from chidoan.bot.config import DatabaseOrigin, Settings, default_data_dir

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CHATTY = ("alembic", "apscheduler")  # their INFO lines say nothing an operator acts on

log = logging.getLogger("chidoan")


def configure(level: str) -> None:
    logging.basicConfig(level=level.upper(), format=FORMAT)
    quiet = logging.getLogger().getEffectiveLevel() > logging.DEBUG
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING if quiet else logging.NOTSET)


def announce_database(settings: Settings) -> None:
    """One line: the database and what chose it; a warning when it is not where it belongs, or
    when there is none yet (a new, empty one is made)."""
    url = make_url(settings.database_url)
    origin = settings.database_origin
    if not settings.is_sqlite or not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        log.info("database %s (%s)", url.render_as_string(hide_password=True), origin)
        return
    path = Path(url.database).resolve()
    if origin == DatabaseOrigin.current_folder:
        log.warning(
            "database %s (%s): used so that nothing is lost, but the data directory is %s; move the "
            "database there (with its -wal and -shm files) or set CHIDOAN_DATA_DIR=%s",
            path,
            origin,
            default_data_dir(),
            path.parent,
        )
    elif not path.exists():
        log.warning("database %s (%s) does not exist yet: a new, empty one is made", path, origin)
    else:
        log.info("database %s (%s)", path, origin)
