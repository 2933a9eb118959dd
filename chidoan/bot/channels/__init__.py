"""Channels translate between a platform and the engine; they never touch the database.

Every module here with a `build(host)` function is a channel; `build` returns None when the
channel is not configured (no token, turned off). See base.py for what a channel is.
"""

from __future__ import annotations

import importlib
import pkgutil

from chidoan.bot.channels.base import Channel, Host


def configured(host: Host) -> dict[str, Channel]:
    """The channels the settings turn on, by name."""
    channels: dict[str, Channel] = {}
    for module in pkgutil.iter_modules(__path__):
        build = getattr(importlib.import_module(f"{__name__}.{module.name}"), "build", None)
        if build is not None and (channel := build(host)) is not None:
            channels[channel.name] = channel
    return channels
