"""Retention: rows kept only for a while (CHIDOAN_KEEP_EVENTS_DAYS, CHIDOAN_KEEP_MESSAGES_DAYS,
CHIDOAN_KEEP_DRAFTS_DAYS, CHIDOAN_KEEP_EXPORTS_DAYS), pruned once expired in batches, one short
transaction each (bot/retention.py runs them). Each step takes at most `limit` rows and returns
how many it took (the batch loop stops at fewer than `limit`) and what it did with them, counted.

What goes: inbound events handled (or dead) before the cut: the raw text people sent, kept for
de-duplication and the dead letters, long after a platform could deliver them again; outbox rows
done with (sent, failed, ...) before the cut; conversations finished before the cut (their
answers are in the reports they made) and drafts left untouched since the drafts' cut, each with
the files sent in it that no report names (storage/uploads.py); the copies of their data people
asked for with /dulieu. An outbox row with a dedupe key (a reminder's, a commitment's follow-up)
is what makes it go once, so after the cut it keeps only that: the key, its account and status;
its text, chat and error are blanked. What stays: an event not handled yet, an outbox row still
to send or held. Reports, plans and their photos are the units' records: never pruned here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, select, update

from chidoan.storage.documents import forget
from chidoan.storage.models import (
    Conversation,
    ConversationStatus,
    Document,
    InboundEvent,
    Outbox,
    OutboxStatus,
    table,
)
from chidoan.storage.rows import among
from chidoan.storage.uploads import drop_orphans

EVENT = table(InboundEvent)
OUT = table(Outbox)
CONV = table(Conversation)
DOC = table(Document)

DONE = (
    OutboxStatus.sent,
    OutboxStatus.failed,
    OutboxStatus.unreachable,
    OutboxStatus.rerouted,
    OutboxStatus.cancelled,
)
FINISHED = (ConversationStatus.completed, ConversationStatus.cancelled)
DRAFTS = (ConversationStatus.active, ConversationStatus.paused)
DATA_EXPORT = "data_export"  # the document kind of a /dulieu copy (handlers/privacy.py)
BLANK_CHAT = ""  # a keyed row past the cut: no chat, so it is not blanked again


Taken = tuple[int, dict[str, int]]  # rows taken from the batch; the counts by kind


def prune_events(conn: Connection, before: datetime, limit: int) -> Taken:
    """Delete up to `limit` expired inbound events, oldest first (ix_inbound_event_received)."""
    expired = (
        select(EVENT.c.id)
        .where(
            EVENT.c.received_at < before,
            (EVENT.c.processed_at.is_not(None)) | (EVENT.c.failed_at.is_not(None)),
        )
        .order_by(EVENT.c.received_at)
        .limit(limit)
    )
    deleted = conn.execute(delete(EVENT).where(EVENT.c.id.in_(expired.scalar_subquery()))).rowcount
    return deleted, {"events": deleted}


def prune_messages(conn: Connection, before: datetime, limit: int) -> Taken:
    """Up to `limit` expired outbox rows, oldest first (ix_outbox_created): deleted, or, keyed,
    reduced to their key ("messages_blanked")."""
    expired = list(
        conn.execute(
            select(OUT.c.id, OUT.c.dedupe_key)
            .where(OUT.c.created_at < before, OUT.c.status.in_(DONE), OUT.c.chat_id != BLANK_CHAT)
            .order_by(OUT.c.created_at)
            .limit(limit)
        )
    )
    keyed = [row.id for row in expired if row.dedupe_key is not None]
    plain = [row.id for row in expired if row.dedupe_key is None]
    if plain:
        conn.execute(delete(OUT).where(among(OUT.c.id, plain)))
    if keyed:
        conn.execute(update(OUT).where(among(OUT.c.id, keyed)).values(body={}, chat_id=BLANK_CHAT, error=None))
    return len(expired), {"messages": len(plain), "messages_blanked": len(keyed)}


def _delete_conversations(conn: Connection, which) -> tuple[int, int]:
    """Delete these conversations and their orphaned files: (conversations, files)."""
    rows = list(conn.execute(select(CONV.c.id, CONV.c.data).where(which)))
    if not rows:
        return 0, 0
    conn.execute(delete(CONV).where(among(CONV.c.id, [row.id for row in rows])))
    return len(rows), drop_orphans(conn, (row.data for row in rows))


def prune_conversations(conn: Connection, before: datetime, limit: int) -> Taken:
    """Conversations finished before the cut, with their files no report names."""
    expired = (
        select(CONV.c.id)
        .where(CONV.c.status.in_(FINISHED), CONV.c.updated_at < before)
        .order_by(CONV.c.id)
        .limit(limit)
    )
    deleted, files = _delete_conversations(conn, CONV.c.id.in_(expired.scalar_subquery()))
    return deleted, {"conversations": deleted, "uploads": files}


def prune_drafts(conn: Connection, before: datetime, limit: int) -> Taken:
    """Drafts (active or set aside) nobody touched since the cut, abandoned, with their files
    no report names."""
    expired = (
        select(CONV.c.id).where(CONV.c.status.in_(DRAFTS), CONV.c.updated_at < before).order_by(CONV.c.id).limit(limit)
    )
    deleted, files = _delete_conversations(conn, CONV.c.id.in_(expired.scalar_subquery()))
    return deleted, {"drafts": deleted, "uploads": files}


def prune_exports(conn: Connection, before: datetime, limit: int) -> Taken:
    """The copies of their data people asked for (/dulieu), made before the cut."""
    expired = (
        select(DOC.c.id).where(DOC.c.kind == DATA_EXPORT, DOC.c.created_at < before).order_by(DOC.c.id).limit(limit)
    )
    deleted = forget(conn, DOC.c.id.in_(expired.scalar_subquery()))
    return deleted, {"exports": deleted}
