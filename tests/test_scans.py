"""A chat's or an account's rows are read through an index and only as many as asked (issue 12):
the web chat's history, a platform's refusal, the registration's set-aside drafts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import event, inspect, text

from chidoan.bot.channels.web import read_history
from chidoan.storage.db import make_db
from chidoan.storage.models import (
    Conversation,
    ConversationStatus,
    InboundEvent,
    Outbox,
    OutboxStatus,
    table,
)
from chidoan.storage.uow import unit_of_work
from tests.test_storage import migrator, schema_drift

T0 = datetime(2026, 11, 1, tzinfo=UTC)
USERS = ["u0", "u1", "u2"]
EACH = 300  # events and outbox rows a chat
STATUSES = [ConversationStatus.active, ConversationStatus.paused, ConversationStatus.completed]


@pytest.fixture
def busy(db) -> dict[str, int]:
    """Three web chats, their events and outbox rows interleaved (every third event without a
    text, every fourth message still pending), and conversations of two journeys in each status."""
    accounts = {}
    with unit_of_work(db) as uow:
        for user in USERS:
            accounts[user] = uow.accounts.create_with_identity(
                channel="web", external_id=user, chat_id=user, display_name=user, locale="vi", now=T0
            ).account_id
    events, out, convs = [], [], []
    for n in range(EACH):
        at = T0 + timedelta(seconds=n)
        for user in USERS:
            text_ = None if n % 3 == 0 else f"{user} says {n}"
            events.append(
                {"channel": "web", "event_id": f"{user}-{n}", "account_id": accounts[user], "kind": "text"}
                | {"text": text_, "received_at": at, "processed_at": at}
            )
            status = OutboxStatus.pending if n % 4 == 0 else OutboxStatus.sent
            out.append(
                {"channel": "web", "chat_id": user, "account_id": accounts[user], "body": {"text": f"to {user} {n}"}}
                | {"status": status, "not_before": at, "created_at": at, "sent_at": at}
            )
    for n in range(30):
        for user in USERS:
            status = STATUSES[n % 3] if n >= 27 else ConversationStatus.completed
            convs.append(
                {"account_id": accounts[user], "journey": "report" if n % 2 else "plan", "step": "s", "data": {}}
                | {"status": status, "created_at": T0, "updated_at": T0}
            )
    with db.begin() as conn:
        conn.execute(table(InboundEvent).insert(), events)
        conn.execute(table(Outbox).insert(), out)
        conn.execute(table(Conversation).insert(), convs)
    return accounts


class Statements:
    """The SQL statements run on an engine, and how many rows each of them returned."""

    def __init__(self, engine) -> None:
        self.engine, self.seen = engine, []

    def __enter__(self) -> list[str]:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self.seen

    def __exit__(self, *exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.seen.append(statement)


def plan(engine, sql: str, **params) -> str:
    with engine.connect() as conn:
        return " / ".join(row[-1] for row in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"), params))


@pytest.mark.sqlite_only("SQLite's query plan; PostgreSQL's is read below")
def test_a_chats_rows_are_found_through_an_index(db, busy):
    """Before: the outbox and the identities were scanned whole for one chat."""
    for sql in (
        "SELECT * FROM outbox WHERE channel = 'web' AND chat_id = 'u1' ORDER BY id DESC LIMIT 40",
        "UPDATE outbox SET status = 'unreachable' WHERE channel = 'web' AND chat_id = 'u1' AND status = 'pending'",
        "UPDATE outbox SET status = 'held' WHERE channel = 'web' AND chat_id = 'u1' AND status = 'pending'",
    ):
        shown = plan(db, sql)
        assert "ix_outbox_chat" in shown and "SCAN outbox" not in shown, (sql, shown)
    shown = plan(db, "UPDATE channel_identity SET reachable = 0 WHERE channel = 'web' AND chat_id = 'u1'")
    assert "ix_channel_identity_chat" in shown and "SCAN channel_identity" not in shown, shown
    shown = plan(db, "SELECT * FROM inbound_event WHERE account_id = 2 ORDER BY id DESC LIMIT 40")
    assert "ix_inbound_event_account" in shown and "TEMP B-TREE" not in shown, shown


def test_the_web_chats_history_reads_only_its_newest_rows(db, busy):
    """Same page as when every row of the chat was loaded and sliced in Python; before, the
    statements had no LIMIT and 300 events and 300 messages reached Python."""
    with unit_of_work(db) as uow:
        every_event = uow.events.of_account(busy["u1"])
        every_message = uow.outbox.for_chat("web", "u1")
    assert len(every_event) == len(every_message) == EACH
    said = [(e.received_at, e.id, {"type": "mine", "text": e.text}) for e in every_event[-40:] if e.text is not None]
    sent = [
        (o.created_at, o.id, {"type": "message", **o.body})
        for o in every_message[-40:]
        if o.status == OutboxStatus.sent
    ]
    ordered = sorted(said + sent, key=lambda x: (x[0], x[2]["type"] == "message", x[1]))
    expected = [item for _at, _id, item in ordered][-40:]

    with Statements(db) as seen, unit_of_work(db) as uow:
        page = read_history(uow, "u1")
    assert page == expected and len(page) == 40
    reads = [s for s in seen if "FROM outbox" in s or "FROM inbound_event" in s]
    assert len(reads) == 2 and all("LIMIT" in s for s in reads), reads
    with unit_of_work(db) as uow:
        assert uow.events.of_account(busy["u1"], 40) == every_event[-40:]
        assert uow.outbox.for_chat("web", "u1", 40) == every_message[-40:]
        assert uow.outbox.for_chat("web", "u1", 1000) == every_message


@pytest.mark.sqlite_only("SQLite's query plan; PostgreSQL's is read below")
def test_an_accounts_conversations_are_filtered_by_the_database(db, busy):
    """The set-aside drafts and the other editor's open ones: the same rows as filtering all of
    them in Python, but only those reach Python (before: all 30 of the account's)."""
    with unit_of_work(db) as uow:
        everything = uow.conversations.history(busy["u2"])
        wanted = [ConversationStatus.active, ConversationStatus.paused]
        with Statements(db) as seen:
            open_ones = uow.conversations.history(busy["u2"], statuses=wanted)
            paused_plans = uow.conversations.history(busy["u2"], journey="plan", statuses=[ConversationStatus.paused])
    assert len(everything) == 30
    assert open_ones == [c for c in everything if c.status in wanted] and len(open_ones) == 2
    assert paused_plans == [c for c in everything if c.journey == "plan" and c.status == "paused"] != []
    assert all("status IN" in s for s in seen) and "journey =" in seen[1]
    shown = plan(db, "SELECT * FROM conversation WHERE account_id = 3 AND status IN ('active', 'paused') ORDER BY id")
    assert "ix_conversation_account_id" in shown and "SCAN conversation" not in shown, shown


def test_the_chat_indexes_migrate_up_and_down(tmp_path):
    engine = make_db(f"sqlite:///{tmp_path}/m.sqlite3")
    to = migrator(engine)
    to("head")
    assert schema_drift(engine) == []

    def names(name: str) -> set[str]:
        return {i["name"] for i in inspect(engine).get_indexes(name)}

    assert "ix_outbox_chat" in names("outbox") and "ix_channel_identity_chat" in names("channel_identity")
    assert "ix_inbound_event_account" in names("inbound_event") and "ix_inbound_event_account_id" not in names(
        "inbound_event"
    )
    to("0018", command.downgrade)
    assert "ix_outbox_chat" not in names("outbox") and "ix_channel_identity_chat" not in names("channel_identity")
    assert "ix_inbound_event_account_id" in names("inbound_event") and "ix_inbound_event_account" not in names(
        "inbound_event"
    )
    assert "ix_outbox_held" in names("outbox")
    to("head")
    assert schema_drift(engine) == []
    engine.dispose()


@pytest.mark.postgres
def test_the_newest_rows_of_a_chat_need_no_sort_on_postgresql(pg_url):
    """PostgreSQL reads a chat's and an account's newest rows from an index's end (before: the
    account's events were found by account_id alone and sorted; the outbox had no chat index)."""
    from chidoan.storage.db import upgrade

    engine = make_db(pg_url)
    upgrade(engine)
    with engine.connect() as conn:
        conn.execute(text("SET enable_seqscan = off"))
        for sql, index in (
            (
                "SELECT * FROM outbox WHERE channel = 'web' AND chat_id = 'u1' ORDER BY id DESC LIMIT 40",
                "ix_outbox_chat",
            ),
            ("SELECT * FROM inbound_event WHERE account_id = 2 ORDER BY id DESC LIMIT 40", "ix_inbound_event_account"),
        ):
            shown = " / ".join(row[0] for row in conn.execute(text(f"EXPLAIN {sql}")))
            assert index in shown and "Sort" not in shown, shown
    engine.dispose()
