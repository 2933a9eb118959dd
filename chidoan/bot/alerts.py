"""The admins told in chat when something needs a person: events kept as failed piling up,
messages given up after every retry piling up, the outbox's oldest due message waiting too long, a platform refusing the bot's token, this worker
losing the leadership. Checked every minute; each alert goes once per condition per
CHIDOAN_ALERT_HOURS (the outbox's dedupe key), so every worker may check, and a worker that lost
the leadership can still say so. The log gets the same line, for when no chat reaches anyone.

An alert goes to every reachable identity of every admin (as the Zalo token store's warning,
bot/channels/zalo_tokens.py), except on the channel whose token is refused: it would not arrive.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from chidoan.bot.metrics import Metrics
from chidoan.bot.processor import Processor
from chidoan.bot.tasks import cancel
from chidoan.engine.admins import tell_admins
from chidoan.i18n import N_
from chidoan.storage.uow import UnitOfWork

log = logging.getLogger(__name__)

EVERY = 60.0  # seconds between checks
PLATFORMS = {"telegram": "Telegram", "zalo": "Zalo", "zalo_bot": "Zalo Bot", "web": "web chat"}

FAILED_EVENTS = N_(
    "Warning for administrators: {count} messages people sent in the last {hours} hours could not be handled and were kept as failed. Please ask the server's administrator to run “chidoan failed” and to look at the log."
)
GIVEN_UP = N_(
    "Warning for administrators: {count} messages could not be sent in the last {hours} hours, after every retry, and were given up. The bot may not reach Telegram or Zalo: please ask the server's administrator to look at its log."
)
BACKLOG = N_(
    "Warning for administrators: {pending} messages are waiting to be sent, and the oldest one has waited {minutes} minutes. The bot may not reach Telegram or Zalo, or may be overloaded: please ask the server's administrator to look at its log and at /healthz."
)
TOKEN_REFUSED = N_(
    "Warning for administrators: {platform} refused the bot's token, so the bot cannot write to anyone on {platform}. Please ask the server's administrator to check the token in the settings (Telegram: TELEGRAM_BOT_TOKEN; Zalo: “chidoan zalo status”)."
)
LEADER_LOST = N_(
    "Warning for administrators: a worker of the bot stopped being the leader (the one that sends the reminders) at {time}. Another worker takes over within a minute; if this warning comes again, please ask the server's administrator to check the connection to the database."
)


@dataclass(frozen=True)
class Alert:
    condition: str  # in the dedupe key: one alert per condition per period
    msgid: str
    params: dict
    skip: str | None = None  # a channel not to send it on (its token is refused)


class Alerts:
    def __init__(self, processor: Processor, settings, metrics: Metrics, leading: Callable[[], bool]):
        self.processor = processor
        self.settings = settings
        self.metrics = metrics
        self.leading = leading  # whether this worker holds the leadership now
        self._was_leading = False
        self._refusals_seen: Counter[str] = Counter()
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._was_leading = self.leading()
        self._task = asyncio.create_task(self._loop(), name="chidoan-alerts")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel(self._task)
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(EVERY)
            try:
                await self.check()
            except Exception as exc:  # the database away: /healthz says so; tried again next minute
                log.warning("alerts: the check failed (%s)", type(exc).__name__)

    def _due(self, now: datetime) -> list[Alert]:
        """What needs a person, from this process's own view (the database is read in `check`)."""
        alerts = []
        refusals = self.metrics.token_refusals
        for channel in sorted(refusals):
            if refusals[channel] > self._refusals_seen[channel]:
                platform = PLATFORMS.get(channel, channel)
                alerts.append(Alert(f"token-{channel}", TOKEN_REFUSED, {"platform": platform}, skip=channel))
        self._refusals_seen = Counter(refusals)
        leading = self.leading()
        if self._was_leading and not leading:
            at = f"{now.astimezone(self.settings.tz):%H:%M %d/%m/%Y}"
            alerts.append(Alert("leader", LEADER_LOST, {"time": at}))
        self._was_leading = leading
        return alerts

    async def check(self) -> int:
        """One check: what needs a person is logged, and queued to the admins unless they were
        told of it within the period. Returns how many messages were queued."""
        now = self.processor.clock()
        alerts = self._due(now)
        told = await self.processor.run(lambda uow: self._tell(uow, alerts, now))
        if told:
            for wake in self.processor.committed:
                wake()
        return told

    def _tell(self, uow: UnitOfWork, alerts: list[Alert], now: datetime) -> int:
        settings = self.settings
        hours = settings.alert_hours
        failed = uow.events.failed_since(now - timedelta(hours=hours))
        if failed >= settings.alert_failed_events:
            alerts.append(Alert("failed-events", FAILED_EVENTS, {"count": failed, "hours": f"{hours:g}"}))
        given_up = uow.outbox.failed_since(now - timedelta(hours=hours))
        if given_up >= settings.alert_failed_events:
            alerts.append(Alert("given-up", GIVEN_UP, {"count": given_up, "hours": f"{hours:g}"}))
        pending, oldest = uow.outbox.backlog(now)
        if oldest is not None and now - oldest >= timedelta(minutes=settings.alert_backlog_minutes):
            minutes = int((now - oldest).total_seconds() // 60)
            alerts.append(Alert("backlog", BACKLOG, {"pending": pending, "minutes": minutes}))
        period = int(now.timestamp() // (hours * 3600))
        told = 0
        for alert in alerts:
            log.error("alert for the admins: %s", alert.msgid.format(**alert.params))
            key = f"alert:{alert.condition}:{period}"
            told += tell_admins(uow, alert.msgid, key, now, skip=alert.skip, **alert.params)
        return told
