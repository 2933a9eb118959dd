"""Channels translate between a platform and the engine; they never touch the database.

Every module here with a `build(host)` function is a channel; `build` returns None when the
channel is not configured (no token, turned off). See base.py for what a channel is.
"""

from __future__ import annotations

import importlib
import pkgutil

from chidoan.bot.channels.base import Channel, Host

# A module heavy to import, and the setting without which its channel is off: it is not imported
# then. aiogram costs about 170 MB and seconds of start, for nothing where Telegram is blocked and
# the bot runs on Zalo alone.
HEAVY = {"telegram": "telegram_bot_token"}


def modules(settings) -> list[str]:
    """The channel modules worth importing under these settings (every one but a heavy one that
    is off)."""
    names = [m.name for m in pkgutil.iter_modules(__path__)]
    return [f"{__name__}.{n}" for n in names if n not in HEAVY or getattr(settings, HEAVY[n])]


def configured(host: Host) -> dict[str, Channel]:
    """The channels the settings turn on, by name."""
    channels: dict[str, Channel] = {}
    for name in modules(host.settings):
        build = getattr(importlib.import_module(name), "build", None)
        if build is not None and (channel := build(host)) is not None:
            channels[channel.name] = channel
    return channels
