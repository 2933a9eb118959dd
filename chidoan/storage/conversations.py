"""Conversations: the journey, the step, the collected data and a version per account."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from chidoan.storage.models import Conversation, ConversationStatus

C = Conversation.__table__


class ConcurrentUpdate(Exception):
    """Another worker changed this conversation first (several workers on one PostgreSQL)."""


@dataclass
class ConversationState:
    id: int | None
    account_id: int
    journey: str
    step: str
    data: dict[str, Any] = field(default_factory=dict)
    version: int = 1
    status: str = ConversationStatus.active


class Conversations:
    def __init__(self, conn: Connection):
        self.conn = conn

    def active(self, account_id: int) -> ConversationState | None:
        row = self.conn.execute(
            select(C.c.id, C.c.journey, C.c.step, C.c.data, C.c.version).where(
                C.c.account_id == account_id, C.c.status == ConversationStatus.active
            )
        ).first()
        if row is None:
            return None
        return ConversationState(row.id, account_id, row.journey, row.step, row.data, row.version)

    def start(self, account_id: int, journey: str, step: str, data: dict, now: datetime) -> ConversationState:
        conv_id = self.conn.execute(
            C.insert().values(
                account_id=account_id,
                journey=journey,
                step=step,
                data=data,
                status=ConversationStatus.active,
                version=1,
                created_at=now,
                updated_at=now,
            )
        ).inserted_primary_key[0]
        return ConversationState(conv_id, account_id, journey, step, data, 1)

    def save(self, state: ConversationState, now: datetime) -> None:
        """Write the new step and data; the version check refuses a lost update."""
        done = self.conn.execute(
            C.update()
            .where(C.c.id == state.id, C.c.version == state.version)
            .values(step=state.step, data=state.data, status=state.status, version=state.version + 1, updated_at=now)
        ).rowcount
        if done != 1:
            raise ConcurrentUpdate(state.id)
        state.version += 1

    def history(self, account_id: int) -> list:
        return list(self.conn.execute(select(C).where(C.c.account_id == account_id).order_by(C.c.id)))
