"""The outbox: replies are rows written in the same transaction as the state that caused them;
the sender drains them at each platform's pace."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, Row, bindparam, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from chidoan.storage.models import Outbox, OutboxKind, OutboxStatus, Priority, table
from chidoan.storage.prepared import Prepared
from chidoan.storage.rows import in_order
from chidoan.storage.wakeup import notify

OUT = table(Outbox)
_COLUMNS = (
    "channel",
    "chat_id",
    "account_id",
    "body",
    "status",
    "attempts",
    "not_before",
    "dedupe_key",
    "created_at",
    "sent_at",
    "error",
    "kind",
    "priority",
)
_INSERT = Prepared(OUT.insert().values({c: bindparam(c) for c in _COLUMNS}))
# The same, skipping a row whose dedupe_key exists (a reminder another sweep queued already).
_INSERT_ONCE = {
    d.dialect.name: Prepared(
        d.insert(OUT).values({c: bindparam(c) for c in _COLUMNS}).on_conflict_do_nothing(index_elements=["dedupe_key"])
    )
    for d in (sqlite, postgresql)
}


class OutboxRepo:
    def __init__(self, conn: Connection):
        self.conn = conn
        self._queued: list[dict] = []
        self._notified = False  # this transaction wakes the leader's sender at its commit

    def _wake(self) -> None:
        if not self._notified:
            self._notified = True
            notify(self.conn, "outbox")

    def add_many(self, rows: list[dict]) -> None:
        if rows:  # a row that says no kind is a reply; one that says no priority has its kind's
            _INSERT.many(self.conn, [_defaults(r) for r in rows])
            self._wake()

    def add_once(self, row: dict) -> bool:
        """Insert unless a row with the same dedupe_key exists (sent once, even by two workers)."""
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        stmt = (
            dialect.insert(OUT)
            .values(**_defaults(row))
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(OUT.c.id)
        )
        added = self.conn.execute(stmt).first() is not None
        if added:
            self._wake()
        return added

    def add_many_once(self, rows: list[dict]) -> None:
        """`add_once` for many rows in one statement (a reminder sweep): those whose dedupe_key
        exists are skipped."""
        if rows:
            _INSERT_ONCE[self.conn.dialect.name].many(self.conn, rows)
            self._wake()

    def keyed_ids(self, family: str, account_ids: set[int]) -> set[tuple[int, int]]:
        """(id, account) of every row queued for these accounts under a key `<family><id>:...`
        (which commitments each was asked about, old per-identity keys included)."""
        if not account_ids:
            return set()
        stmt = select(OUT.c.dedupe_key, OUT.c.account_id).where(
            OUT.c.dedupe_key.startswith(family, autoescape=True), OUT.c.account_id.in_(sorted(account_ids))
        )
        found = set()
        for key, account_id in self.conn.execute(stmt):
            ident = key[len(family) :].partition(":")[0]
            if ident.isdigit():
                found.add((int(ident), account_id))
        return found

    def queue(self, rows: list[dict]) -> None:
        """Insert at `flush` (one executemany for a whole batch of updates)."""
        self._queued += rows

    def flush(self) -> None:
        rows, self._queued = self._queued, []
        self.add_many(rows)

    def due(
        self,
        now: datetime,
        limit: int,
        channels: list[str],
        *,
        priorities: tuple[int, int] = (0, 9),
        skip: list[tuple[str, str]] = [],  # noqa: B006 (never changed)
    ) -> list[Row]:
        """Pending rows due by `now`, priority first (replies before notices before bulk), then
        in the order they were queued; `priorities` is the inclusive range to take, `skip` the
        (channel, chat) whose rows are not taken (their sender is still delivering to them)."""
        stmt = (
            select(OUT)
            .where(
                OUT.c.status == OutboxStatus.pending,
                OUT.c.priority.between(*priorities),
                OUT.c.not_before <= now,
                OUT.c.channel.in_(channels),
            )
            .order_by(OUT.c.priority, OUT.c.id)
            .limit(limit)
        )
        if skip:
            stmt = stmt.where(tuple_(OUT.c.channel, OUT.c.chat_id).not_in(skip))
        if self.conn.dialect.name == "postgresql":
            # Several senders on one PostgreSQL: each takes rows nobody else holds.
            stmt = stmt.with_for_update(skip_locked=True)
        return list(self.conn.execute(stmt))

    def postpone(self, ids: list[int], until: datetime) -> None:
        """Claim rows for a while (a lease, renewed by a live sender): a sender that dies lets
        them come back when the lease ends."""
        if ids:
            self.conn.execute(OUT.update().where(OUT.c.id.in_(ids)).values(not_before=until))

    def mark_sending(self, ids: list[int], now: datetime, until: datetime) -> None:
        """Before-send intent, committed just before the send: the row stays pending, its
        `sent_at` says since when it is being sent (and its lease runs to `until`). One claimed
        again with `sent_at` set was in flight when its sender died: it may have gone out."""
        if ids:
            self.conn.execute(OUT.update().where(OUT.c.id.in_(ids)).values(sent_at=now, not_before=until))

    def unsend(self, ids: list[int]) -> None:
        """Rows tried and not sent (retry later, refused): no longer in flight."""
        if ids:
            self.conn.execute(
                OUT.update().where(OUT.c.id.in_(ids), OUT.c.status == OutboxStatus.pending).values(sent_at=None)
            )

    def mark_sent(self, outbox_id: int, now: datetime) -> None:
        self.conn.execute(
            OUT.update()
            .where(OUT.c.id == outbox_id)
            .values(status=OutboxStatus.sent, sent_at=now, attempts=OUT.c.attempts + 1)
        )

    def mark_retry(self, outbox_id: int, *, error: str, retry_at: datetime, counts: bool, max_attempts: int) -> None:
        row = self.conn.execute(select(OUT.c.attempts).where(OUT.c.id == outbox_id)).first()
        attempts = (row.attempts if row else 0) + (1 if counts else 0)
        status = OutboxStatus.failed if attempts >= max_attempts else OutboxStatus.pending
        self.conn.execute(
            OUT.update()
            .where(OUT.c.id == outbox_id)
            .values(status=status, attempts=attempts, error=error[:500], not_before=retry_at)
        )

    def mark_failed(self, outbox_id: int, error: str, now: datetime) -> None:
        """Given up at once (it can never be sent); counted from `now` like a last retry."""
        self.conn.execute(
            OUT.update()
            .where(OUT.c.id == outbox_id)
            .values(status=OutboxStatus.failed, attempts=OUT.c.attempts + 1, error=error[:500], not_before=now)
        )

    def mark_unreachable(self, channel: str, chat_id: str, error: str) -> None:
        """The user blocked the bot: this and every pending message to them stop here."""
        self.conn.execute(
            OUT.update()
            .where(OUT.c.channel == channel, OUT.c.chat_id == chat_id, OUT.c.status == OutboxStatus.pending)
            .values(status=OutboxStatus.unreachable, error=error[:500])
        )

    def mark_held(self, channel: str, chat_id: str, error: str) -> None:
        """The person cannot be written to for now (outside the platform's window): this and every
        pending message to them are kept as held, not retried; what comes after they write again
        goes out as usual."""
        self.conn.execute(
            OUT.update()
            .where(OUT.c.channel == channel, OUT.c.chat_id == chat_id, OUT.c.status == OutboxStatus.pending)
            .values(status=OutboxStatus.held, error=error[:500])
        )

    def release_held(self, channel: str, chat_id: str, now: datetime) -> list[Row]:
        """The person wrote or followed again: what was held for them goes now, in its order,
        and before the reply to what they wrote (released as replies: priority 0, older ids).
        Returns the rows released (id, body)."""
        held = list(
            self.conn.execute(
                select(OUT.c.id, OUT.c.body)
                .where(OUT.c.status == OutboxStatus.held, OUT.c.channel == channel, OUT.c.chat_id == chat_id)
                .order_by(OUT.c.id)
            )
        )
        if held:
            self.conn.execute(
                OUT.update()
                .where(OUT.c.id.in_([r.id for r in held]))
                .values(status=OutboxStatus.pending, not_before=now, priority=Priority.reply)
            )
            self._wake()
        return held

    def pending_notices(self, channel: str, chat_id: str) -> list[Row]:
        """The chat's notices not sent yet (claimed ones included), in their order."""
        return list(
            self.conn.execute(
                select(OUT)
                .where(
                    OUT.c.channel == channel,
                    OUT.c.chat_id == chat_id,
                    OUT.c.status == OutboxStatus.pending,
                    OUT.c.kind != OutboxKind.reply,
                )
                .order_by(OUT.c.id)
            )
        )

    def mark_rerouted(self, outbox_id: int, error: str) -> None:
        self.conn.execute(
            OUT.update().where(OUT.c.id == outbox_id).values(status=OutboxStatus.rerouted, error=error[:500])
        )

    def held_by_account(self, account_ids: list[int]) -> dict[int, int]:
        """How many messages to each account are held (unreachable for now: outside Zalo's window,
        or refused by the platform until the person writes again): for a district's status."""
        if not account_ids:
            return {}
        stmt = (
            select(OUT.c.account_id, func.count())
            .where(OUT.c.status == OutboxStatus.held, OUT.c.account_id.in_(account_ids))
            .group_by(OUT.c.account_id)
        )
        return {row[0]: row[1] for row in self.conn.execute(stmt)}

    def for_chat(self, channel: str, chat_id: str, limit: int | None = None) -> list[Row]:
        """The chat's rows in their order (with `limit`, only its newest so many)."""
        return in_order(
            self.conn, select(OUT).where(OUT.c.channel == channel, OUT.c.chat_id == chat_id), OUT.c.id, limit
        )

    def count(self, status: OutboxStatus) -> int:
        return self.conn.execute(select(func.count()).select_from(OUT).where(OUT.c.status == status)).scalar_one()

    def failed_since(self, since: datetime) -> int:
        """How many rows were given up after every retry since `since` (not those whose stored
        file is unreadable: `unreadable_files_since`): a failed row's not_before is its last
        attempt's retry time (the claim index holds both)."""
        stmt = (
            select(func.count())
            .select_from(OUT)
            .where(
                OUT.c.status == OutboxStatus.failed,
                OUT.c.not_before >= since,
                func.coalesce(OUT.c.error, "").not_like(f"{UNREADABLE_FILE}%"),
            )
        )
        return self.conn.execute(stmt).scalar_one()

    def unreadable_files_since(self, since: datetime) -> list[str]:
        """What was said of the stored files that could not be read for rows given up since `since`."""
        stmt = (
            select(OUT.c.error)
            .where(
                OUT.c.status == OutboxStatus.failed,
                OUT.c.not_before >= since,
                OUT.c.error.like(f"{UNREADABLE_FILE}%"),
            )
            .distinct()
            .order_by(OUT.c.error)
        )
        return [error.removeprefix(UNREADABLE_FILE) for error in self.conn.execute(stmt).scalars()]

    def backlog(self, now: datetime) -> tuple[int, datetime | None]:
        """How many rows wait to be sent (at most BACKLOG_COUNTED, so a season's backlog is counted
        in bounded time), and when the oldest of those due by `now` was queued: /healthz, /metrics
        and the admins' alert. Both read the claim index (status, priority, id, not_before): the
        oldest due row is the first due one of each priority, in id order."""
        pending = select(OUT.c.id).where(OUT.c.status == OutboxStatus.pending).limit(BACKLOG_COUNTED).subquery()
        count = self.conn.execute(select(func.count()).select_from(pending)).scalar_one()
        oldest: datetime | None = None
        for priority in Priority:
            first = self.conn.execute(
                select(OUT.c.created_at)
                .where(OUT.c.status == OutboxStatus.pending, OUT.c.priority == priority, OUT.c.not_before <= now)
                .order_by(OUT.c.id)
                .limit(1)
            ).scalar_one_or_none()
            if first is not None and (oldest is None or first < oldest):
                oldest = first
        return count, oldest


# A claim's lease: a live sender renews it every RENEW (bot/sender.py), so a new leader takes
# over a dead one's rows within LEASE of its death.
LEASE = timedelta(seconds=10)
# A row given up at once because its stored file is missing or damaged: its error starts so.
UNREADABLE_FILE = "stored file unreadable: "
BACKLOG_COUNTED = 1_000_000  # pending rows counted at most (a scrape stays well under a second)


def _defaults(row: dict) -> dict:
    kind = row.get("kind", OutboxKind.reply)
    priority = row.get("priority", Priority.reply if kind == OutboxKind.reply else Priority.notice)
    return row | {"kind": kind, "priority": priority}
