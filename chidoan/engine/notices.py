"""Where a notice goes: a message to a person who did not just write (a district's notice, a
commitment's follow-up, a reminder, a digest). One choice, made here, for all of them.

A reply always goes to the chat the person wrote from. A notice goes to one of the account's
channels: the chosen one, else the one used last, else the next reachable one (see
`Accounts.notice_candidates`), skipping a Zalo Official Account identity outside Zalo's window:
Zalo takes a consultation message only within `ZALO_OA_WINDOW_DAYS` of the person's last
interaction (C), which chidoan knows as the identity's `last_seen_at` (the last event from it;
unknown counts as outside). When the account has no other channel, the notice goes to Zalo as
the approved template message (`ZALO_OA_TEMPLATE_ID`, optional), or else it is stored held with
the reason `outside_window`: not sent, counted as unreachable for now (`held_by_account`), and
sent when the person writes or follows again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chidoan.storage.models import HELD_OUTSIDE_WINDOW, OutboxKind

log = logging.getLogger(__name__)

# Channels with a window after the person's last interaction: Zalo's OA (bot/channels/zalo_oa.py).
WINDOWED = frozenset({"zalo"})
HELD_UNREACHABLE = "unreachable_now"  # outbox.error: a notice held for a person the platform refused


@dataclass(frozen=True)
class Window:
    """Zalo's window (settings ZALO_OA_WINDOW_DAYS, ZALO_OA_FREE_HOURS, ZALO_OA_TEMPLATE_ID)."""

    days: float = 7.0
    free_hours: float = 48.0
    template_id: str | None = None

    @classmethod
    def of(cls, settings: Any) -> Window:
        return cls(settings.zalo_oa_window_days, settings.zalo_oa_free_hours, settings.zalo_oa_template_id or None)

    def open(self, last_seen: datetime | None, now: datetime) -> bool:
        """Whether a consultation message may go now (an unknown last interaction: no)."""
        return last_seen is not None and now - last_seen < timedelta(days=self.days)

    def free(self, last_seen: datetime | None, now: datetime) -> bool:
        return last_seen is not None and now - last_seen < timedelta(hours=self.free_hours)


@dataclass(frozen=True)
class Route:
    channel: str
    chat_id: str
    identity_id: int
    kind: str = OutboxKind.notice
    held: str | None = None  # stored held, not sent, for this reason


def route(identities: Sequence[Any], now: datetime, window: Window, *, refused: int | None = None) -> Route | None:
    """Where a notice to an account goes. `identities` are all the account's identities in the
    order notices try them (`Accounts.notice_candidates`); `refused` is one whose platform has just
    refused this notice (it is not tried again for it). None: nowhere (no channel at all, or none
    reachable and no Zalo identity to hold it for)."""
    usable = [
        i
        for i in identities
        if i.reachable and i.id != refused and (i.channel not in WINDOWED or window.open(i.last_seen_at, now))
    ]
    if usable:
        first = usable[0]
        if first.channel in WINDOWED and not window.free(first.last_seen_at, now):
            log.debug("a notice to identity %s goes within Zalo's window but after its free hours", first.id)
        return Route(first.channel, first.chat_id, first.id)
    zalo = next((i for i in identities if i.channel in WINDOWED), None)
    if zalo is None:
        return None
    if not zalo.reachable or zalo.id == refused:
        return Route(zalo.channel, zalo.chat_id, zalo.id, held=HELD_UNREACHABLE)
    if window.template_id:
        return Route(zalo.channel, zalo.chat_id, zalo.id, kind=OutboxKind.template)
    return Route(zalo.channel, zalo.chat_id, zalo.id, held=HELD_OUTSIDE_WINDOW)
