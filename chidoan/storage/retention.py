"""Retention: rows kept only for a while (CHIDOAN_KEEP_EVENTS_DAYS, CHIDOAN_KEEP_MESSAGES_DAYS),
deleted once expired in batches, one short transaction each (bot/retention.py runs them).

What goes: inbound events handled (or dead) before the cut: the raw text people sent, kept for
de-duplication and the dead letters, long after a platform could deliver them again; outbox rows
done with (sent, failed, ...) before the cut; conversations finished before the cut (their
answers are in the reports they made). What stays: an event not handled yet, an outbox row still
to send or held, and an outbox row with a dedupe key (a reminder's or follow-up's: the key is what
makes it go once). Reports, plans and their photos are the units' records: never pruned here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, select

from chidoan.storage.models import Conversation, ConversationStatus, InboundEvent, Outbox, OutboxStatus, table

EVENT = table(InboundEvent)
OUT = table(Outbox)
CONV = table(Conversation)

DONE = (
    OutboxStatus.sent,
    OutboxStatus.failed,
    OutboxStatus.unreachable,
    OutboxStatus.rerouted,
    OutboxStatus.cancelled,
)
FINISHED = (ConversationStatus.completed, ConversationStatus.cancelled)


def prune_events(conn: Connection, before: datetime, limit: int) -> int:
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
    return conn.execute(delete(EVENT).where(EVENT.c.id.in_(expired.scalar_subquery()))).rowcount


def prune_messages(conn: Connection, before: datetime, limit: int) -> int:
    """Delete up to `limit` expired outbox rows, oldest first (ix_outbox_created)."""
    expired = (
        select(OUT.c.id)
        .where(OUT.c.created_at < before, OUT.c.status.in_(DONE), OUT.c.dedupe_key.is_(None))
        .order_by(OUT.c.created_at)
        .limit(limit)
    )
    return conn.execute(delete(OUT).where(OUT.c.id.in_(expired.scalar_subquery()))).rowcount


def prune_conversations(conn: Connection, before: datetime, limit: int) -> int:
    expired = (
        select(CONV.c.id)
        .where(CONV.c.status.in_(FINISHED), CONV.c.updated_at < before)
        .order_by(CONV.c.id)
        .limit(limit)
    )
    return conn.execute(delete(CONV).where(CONV.c.id.in_(expired.scalar_subquery()))).rowcount
