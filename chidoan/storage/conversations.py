"""Conversations: the journey, the step, the collected data and a version per account."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select

from chidoan.storage.models import ACTIVE_ONLY, Conversation, ConversationStatus, table
from chidoan.storage.prepared import Prepared
from chidoan.storage.rows import among, in_order, inserted_id

CONV = table(Conversation)

# Built once: every update loads and saves its conversation.
_ACTIVE = select(CONV.c.id, CONV.c.journey, CONV.c.step, CONV.c.data, CONV.c.version).where(
    CONV.c.account_id == bindparam("account_id"), ACTIVE_ONLY
)
_SAVE = Prepared(
    CONV.update()
    .where(CONV.c.id == bindparam("cid"), CONV.c.version == bindparam("expected"))
    .values(
        step=bindparam("new_step"),
        data=bindparam("new_data"),
        status=bindparam("new_status"),
        version=bindparam("new_version"),
        updated_at=bindparam("now"),
    )
)


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

    @staticmethod
    def from_sender(sender) -> ConversationState | None:
        """The open conversation that came with the sender's row (see Accounts.sender)."""
        if sender.conversation_id is None:
            return None
        return ConversationState(
            sender.conversation_id, sender.account_id, sender.journey, sender.step, sender.data, sender.version
        )

    def busy(self, account_ids: list[int]) -> set[int]:
        """Which of these accounts are in the middle of a journey (a notice must not take the
        place of its question in the chat they last wrote from, see dispatch.becomes_question)."""
        if not account_ids:
            return set()
        stmt = select(CONV.c.account_id).where(ACTIVE_ONLY, among(CONV.c.account_id, account_ids))
        return set(self.conn.execute(stmt).scalars())

    def active(self, account_id: int) -> ConversationState | None:
        row = self.conn.execute(_ACTIVE, {"account_id": account_id}).first()
        if row is None:
            return None
        return ConversationState(row.id, account_id, row.journey, row.step, row.data, row.version)

    def paused(self, account_id: int, conversation_id: int) -> ConversationState | None:
        row = self.conn.execute(
            select(CONV).where(
                CONV.c.id == conversation_id,
                CONV.c.account_id == account_id,
                CONV.c.status == ConversationStatus.paused,
            )
        ).first()
        if row is None:
            return None
        return ConversationState(row.id, account_id, row.journey, row.step, row.data, row.version, row.status)

    def start(self, account_id: int, journey: str, step: str, data: dict, now: datetime) -> ConversationState:
        conv_id = inserted_id(
            self.conn.execute(
                CONV.insert().values(
                    account_id=account_id,
                    journey=journey,
                    step=step,
                    data=data,
                    status=ConversationStatus.active,
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
            )
        )
        return ConversationState(conv_id, account_id, journey, step, data, 1)

    def save(self, state: ConversationState, now: datetime) -> None:
        """Write the new step and data; the version check refuses a lost update."""
        params = {
            "cid": state.id,
            "expected": state.version,
            "new_step": state.step,
            "new_data": state.data,
            "new_status": state.status,
            "new_version": state.version + 1,
            "now": now,
        }
        done = _SAVE.rowcount(self.conn, params)
        if done != 1:
            raise ConcurrentUpdate(state.id)
        state.version += 1

    def set_status(self, conversation_id: int, status: ConversationStatus, now: datetime) -> None:
        self.conn.execute(
            CONV.update()
            .where(CONV.c.id == conversation_id)
            .values(status=status, version=CONV.c.version + 1, updated_at=now)
        )

    def history(
        self, account_id: int, *, journey: str | None = None, statuses: Iterable[ConversationStatus] | None = None
    ) -> list:
        """The account's conversations in their order; only those of `journey`, or in `statuses`,
        when given (filtered by the database, not after loading them all)."""
        stmt = select(CONV).where(CONV.c.account_id == account_id)
        if journey is not None:
            stmt = stmt.where(CONV.c.journey == journey)
        if statuses is not None:
            stmt = stmt.where(among(CONV.c.status, statuses))
        return in_order(self.conn, stmt, CONV.c.id)
