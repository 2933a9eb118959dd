"""Link codes (/lienket) and merging two accounts into one, so a person has one identity across
channels.

A link code is "LK-" and six digits: it cannot be taken for an invite code (invites never use L,
0 or 1, see storage/invites.py) and is recognised wherever it is typed, even in the middle of a
conversation. Only its hash is stored. Typing it on the other channel claims it for the account
there (single use); confirming consumes it, and the two accounts are merged in the same
transaction as the event that confirmed.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import Connection, Row, func, select
from sqlmodel import SQLModel

from chidoan.storage.models import (
    Account,
    ChannelIdentity,
    Conversation,
    ConversationStatus,
    LinkAttempt,
    LinkCode,
    Prompt,
    RoleAssignment,
    table,
)

L = table(LinkCode)
LA = table(LinkAttempt)
A = table(Account)
IDENT = table(ChannelIdentity)
R = table(RoleAssignment)
C = table(Conversation)
P = table(Prompt)

PREFIX = "LK"
DIGITS = 6
LIFETIME = timedelta(minutes=10)
MAX_WRONG = 5  # wrong codes an account may type ...
WRONG_WINDOW = timedelta(hours=1)  # ... within this time, then codes are refused
_SHAPE = re.compile(rf"^{PREFIX}\d{{{DIGITS}}}$")


def normalise_link_code(text: str) -> str:
    return "".join(ch for ch in text.upper() if ch.isascii() and ch.isalnum())


def looks_like_link_code(text: str) -> bool:
    """ "LK-482913", "lk 482 913", "LK482913"."""
    return len(text.strip()) <= len(PREFIX) + DIGITS + 4 and bool(_SHAPE.match(normalise_link_code(text)))


def _hash(code: str) -> str:
    return hashlib.sha256(normalise_link_code(code).encode()).hexdigest()


def shown(code: str) -> str:
    return f"{code[: len(PREFIX)]}-{code[len(PREFIX) :]}"


class Links:
    def __init__(self, conn: Connection):
        self.conn = conn

    def issue(self, account_id: int, now: datetime) -> str:
        """A new code for the account (its earlier unused ones stop working), as the person sees it."""
        self.conn.execute(
            L.update()
            .where(L.c.account_id == account_id, L.c.used_at.is_(None), L.c.expires_at > now)
            .values(expires_at=now)
        )
        while True:
            code = PREFIX + "".join(secrets.choice("0123456789") for _ in range(DIGITS))
            if self.live(code, now) is None:  # no two live codes alike
                break
        self.conn.execute(
            L.insert().values(account_id=account_id, code_hash=_hash(code), created_at=now, expires_at=now + LIFETIME)
        )
        return shown(code)

    def live(self, code: str, now: datetime) -> Row | None:
        """The unused, unexpired code with this text, claimed or not."""
        return self.conn.execute(
            select(L).where(L.c.code_hash == _hash(code), L.c.used_at.is_(None), L.c.expires_at > now)
        ).first()

    def spent(self, code: str) -> Row | None:
        """The newest code with this text that was used or has expired (to say so)."""
        return self.conn.execute(select(L).where(L.c.code_hash == _hash(code)).order_by(L.c.id.desc())).first()

    def get(self, link_id: int) -> Row | None:
        return self.conn.execute(select(L).where(L.c.id == link_id)).first()

    def claim(self, link_id: int, account_id: int, now: datetime) -> bool:
        """The code was typed by this account: nobody else may use it. False if it was claimed
        by another account, used or expired meanwhile."""
        done = self.conn.execute(
            L.update()
            .where(
                L.c.id == link_id,
                L.c.used_at.is_(None),
                L.c.expires_at > now,
                (L.c.claimed_by.is_(None)) | (L.c.claimed_by == account_id),
            )
            .values(claimed_by=account_id, claimed_at=now)
        ).rowcount
        return done == 1

    def consume(self, link_id: int, account_id: int, now: datetime) -> bool:
        """Atomically mark the code used by the account that claimed it; False when it was used
        or expired meanwhile."""
        done = self.conn.execute(
            L.update()
            .where(L.c.id == link_id, L.c.claimed_by == account_id, L.c.used_at.is_(None), L.c.expires_at > now)
            .values(used_at=now)
        ).rowcount
        return done == 1

    def wrong(self, account_id: int, now: datetime) -> None:
        self.conn.execute(LA.insert().values(account_id=account_id, attempted_at=now))

    def wrong_recently(self, account_id: int, now: datetime) -> int:
        return self.conn.execute(
            select(func.count())
            .select_from(LA)
            .where(LA.c.account_id == account_id, LA.c.attempted_at > now - WRONG_WINDOW)
        ).scalar_one()


def draft_of(conn: Connection, account_id: int) -> Row | None:
    """The unfinished conversation a person would continue: the open one, else the newest set aside."""
    return conn.execute(
        select(C)
        .where(C.c.account_id == account_id, C.c.status.in_([ConversationStatus.active, ConversationStatus.paused]))
        .order_by((C.c.status == ConversationStatus.active).desc(), C.c.updated_at.desc(), C.c.id.desc())
    ).first()


def merge_accounts(conn: Connection, *, into: int, other: int, keep: int | None, now: datetime) -> None:
    """Move everything of account `other` to account `into`, in the caller's transaction: its
    channel identities, roles (one held by both is kept once), conversations, and every record
    that names it (events, outbox, reports and plans it wrote, invites, codes). Nothing is
    deleted but the other's last question shown, when `into` has its own: `other` stays, empty,
    with `merged_into` set.

    `keep` is the draft (conversation id) to keep when both accounts have one; the other draft
    is cancelled (it stays in the history). Of the two, the kept one is the open one."""
    mine, theirs = draft_of(conn, into), draft_of(conn, other)
    if mine is not None and theirs is not None:
        drop = theirs if keep == mine.id else mine
        conn.execute(
            C.update()
            .where(C.c.id == drop.id)
            .values(status=ConversationStatus.cancelled, version=C.c.version + 1, updated_at=now)
        )
        kept = mine if drop is theirs else theirs
        if kept.status == ConversationStatus.paused:  # the draft kept is the one to continue
            conn.execute(
                C.update()
                .where(C.c.id == kept.id)
                .values(status=ConversationStatus.active, version=C.c.version + 1, updated_at=now)
            )
    # Both may have an open conversation only if one of them is not a draft (cannot happen, since
    # the open one is the draft); still, never two open ones: the other's is set aside.
    if conn.execute(select(C.c.id).where(C.c.account_id == into, C.c.status == ConversationStatus.active)).first():
        conn.execute(
            C.update()
            .where(C.c.account_id == other, C.c.status == ConversationStatus.active)
            .values(status=ConversationStatus.paused, version=C.c.version + 1, updated_at=now)
        )
    held = {
        (r.unit_id, r.role) for r in conn.execute(select(R).where(R.c.account_id == into, R.c.revoked_at.is_(None)))
    }
    for role in conn.execute(select(R).where(R.c.account_id == other, R.c.revoked_at.is_(None))):
        if (role.unit_id, role.role) in held:  # the same role twice: one is enough
            conn.execute(R.update().where(R.c.id == role.id).values(revoked_at=now, revoked_reason="merged"))
    if conn.execute(select(IDENT.c.id).where(IDENT.c.account_id == into, IDENT.c.preferred.is_(True))).first():
        conn.execute(IDENT.update().where(IDENT.c.account_id == other).values(preferred=False))
    # The last question shown (typed choices) is one per account: the kept account's stands.
    if conn.execute(select(P.c.account_id).where(P.c.account_id == into)).first():
        conn.execute(P.delete().where(P.c.account_id == other))
    # Every column that points at an account, whatever table it is in (new ones included; an
    # account merged into `other` before now names `into`).
    for tbl in SQLModel.metadata.sorted_tables:
        for column in tbl.columns:
            if any(fk.column.table is A for fk in column.foreign_keys):
                conn.execute(tbl.update().where(column == other).values({column.name: into}))
    mine_row, theirs_row = (conn.execute(select(A).where(A.c.id == i)).one() for i in (into, other))
    filled = {
        name: getattr(theirs_row, name)
        for name in ("full_name", "position")
        if getattr(mine_row, name) is None and getattr(theirs_row, name) is not None
    }
    if filled:
        conn.execute(A.update().where(A.c.id == into).values(**filled))
    conn.execute(A.update().where(A.c.id == other).values(merged_into=into))
