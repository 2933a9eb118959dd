"""The commands' log: one format; the libraries' routine lines (Alembic's plugins and context on
every command, the scheduler's jobs) only at CHIDOAN_LOG_LEVEL=DEBUG. Which database a command
uses is said to the operator, in the command's language (announce.py)."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CHATTY = ("alembic", "apscheduler")  # their INFO lines say nothing an operator acts on


def configure(level: str) -> None:
    logging.basicConfig(level=level.upper(), format=FORMAT)
    quiet = logging.getLogger().getEffectiveLevel() > logging.DEBUG
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING if quiet else logging.NOTSET)
