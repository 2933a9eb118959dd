"""Link codes (/lienket) and merging two accounts into one, so a person has one identity across
channels.

A link code is "LK-" and six digits: it cannot be taken for an invite code (invites never use L,
0 or 1, see storage/invites.py) and is recognised wherever it is typed, even in the middle of a
conversation. Only its hash is stored. Typing it on the other channel claims it for the account
there (single use) and asks the code's owner, in the app where it was made, to allow the link;
the owner's Allow consumes it, and the two accounts are merged in the same transaction as that
event (both account rows locked first, in id order, and the code read again: see `lock_pair`).

Six digits can be guessed, so wrong codes are limited twice: per account (a few an hour), and
across all accounts (`GLOBAL_MAX_WRONG` within `GLOBAL_WINDOW`, counted one at a time under the
`link_guard` row's lock whatever the number of workers), after which every code is refused for
`LOCKOUT`. And a right guess still needs the owner's approval.
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
    LinkGuard,
    Prompt,
    RoleAssignment,
    table,
)

LINK = table(LinkCode)
ATTEMPT = table(LinkAttempt)
GUARD = table(LinkGuard)
ACCOUNT = table(Account)
IDENT = table(ChannelIdentity)
ROLE = table(RoleAssignment)
CONV = table(Conversation)
PROMPT = table(Prompt)

PREFIX = "LK"
DIGITS = 6
LIFETIME = timedelta(minutes=10)
MAX_WRONG = 5  # wrong codes an account may type ...
WRONG_WINDOW = timedelta(hours=1)  # ... within this time, then codes are refused for it
GLOBAL_MAX_WRONG = 20  # wrong codes typed by all accounts together ...
GLOBAL_WINDOW = timedelta(minutes=10)  # ... within this time, then every code is refused ...
LOCKOUT = timedelta(minutes=30)  # ... for this long (longer than the window), and admins are told
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

    def issue(self, account_id: int, identity_id: int, now: datetime) -> str:
        """A new code for the account, made in the app `identity_id` (where the owner is asked to
        allow the link); its earlier unused ones stop working. The code as the person sees it."""
        self.conn.execute(
            LINK.update()
            .where(LINK.c.account_id == account_id, LINK.c.used_at.is_(None), LINK.c.expires_at > now)
            .values(expires_at=now)
        )
        while True:
            code = PREFIX + "".join(secrets.choice("0123456789") for _ in range(DIGITS))
            if self.live(code, now) is None:  # no two live codes alike
                break
        self.conn.execute(
            LINK.insert().values(
                account_id=account_id,
                identity_id=identity_id,
                code_hash=_hash(code),
                created_at=now,
                expires_at=now + LIFETIME,
            )
        )
        return shown(code)

    def live(self, code: str, now: datetime) -> Row | None:
        """The unused, unexpired code with this text, claimed or not."""
        return self.conn.execute(
            select(LINK).where(LINK.c.code_hash == _hash(code), LINK.c.used_at.is_(None), LINK.c.expires_at > now)
        ).first()

    def get(self, link_id: int) -> Row | None:
        return self.conn.execute(select(LINK).where(LINK.c.id == link_id)).first()

    def claim(self, link_id: int, account_id: int, identity_id: int, now: datetime) -> bool:
        """The code was typed by this account, in the app `identity_id`: nobody else may use it,
        and the owner now has `LIFETIME` to answer. False if it was claimed before (by anyone),
        used or expired meanwhile."""
        done = self.conn.execute(
            LINK.update()
            .where(LINK.c.id == link_id, LINK.c.used_at.is_(None), LINK.c.expires_at > now, LINK.c.claimed_by.is_(None))
            .values(claimed_by=account_id, claimed_identity_id=identity_id, claimed_at=now, expires_at=now + LIFETIME)
        ).rowcount
        return done == 1

    def consume(self, link_id: int, account_id: int, now: datetime) -> bool:
        """Atomically mark the code used by the account that claimed it; False when it was used
        or expired meanwhile."""
        done = self.conn.execute(
            LINK.update()
            .where(
                LINK.c.id == link_id, LINK.c.claimed_by == account_id, LINK.c.used_at.is_(None), LINK.c.expires_at > now
            )
            .values(used_at=now)
        ).rowcount
        return done == 1

    def refuse(self, link_id: int, owner_id: int, now: datetime) -> bool:
        """The owner refused the link: the code is used up, nothing is merged. False when it was
        answered or expired meanwhile."""
        done = self.conn.execute(
            LINK.update()
            .where(
                LINK.c.id == link_id,
                LINK.c.account_id == owner_id,
                LINK.c.claimed_by.is_not(None),
                LINK.c.used_at.is_(None),
                LINK.c.expires_at > now,
            )
            .values(used_at=now, refused_at=now)
        ).rowcount
        return done == 1

    def lock_pair(self, link_id: int) -> Row | None:
        """The code read again once its owner's and its claimer's account rows are locked, in id
        order (SELECT … FOR UPDATE on PostgreSQL; SQLite has one writer anyway): until the end of
        the transaction no other worker can merge either account, and what is read here stays
        true. Two people answering crossed codes at once are then taken one after the other, and
        the second finds the accounts already one."""
        link = self.get(link_id)
        for _ in range(3):  # a merge that committed meanwhile moved the code to other accounts
            if link is None:
                return None
            pair = sorted({link.account_id, link.claimed_by or link.account_id})
            for account_id in pair:
                self.conn.execute(select(ACCOUNT.c.id).where(ACCOUNT.c.id == account_id).with_for_update()).all()
            link = self.get(link_id)
            if link is None or sorted({link.account_id, link.claimed_by or link.account_id}) == pair:
                return link
        return None

    def guard(self, now: datetime) -> datetime | None:
        """Taken before a link code is looked at: the `link_guard` row, locked until the end of
        the transaction, so every worker counts wrong codes one after the other. The time until
        which all codes are refused, if that is now."""
        stmt = select(GUARD.c.locked_until).where(GUARD.c.id == 1).with_for_update()
        row = self.conn.execute(stmt).first()
        if row is None:  # a database made from the models, not the migrations
            self.conn.execute(GUARD.insert().values(id=1, locked_until=None))
            row = self.conn.execute(stmt).one()
        return row.locked_until if row.locked_until is not None and row.locked_until > now else None

    def wrong(self, account_id: int, now: datetime) -> datetime | None:
        """A wrong code typed (under `guard`'s lock). When it is one too many across all
        accounts, every code is refused from now on for `LOCKOUT`: the time until then (once:
        the admins are to be told)."""
        self.conn.execute(ATTEMPT.insert().values(account_id=account_id, attempted_at=now))
        recent = self.conn.execute(
            select(func.count()).select_from(ATTEMPT).where(ATTEMPT.c.attempted_at > now - GLOBAL_WINDOW)
        ).scalar_one()
        if recent < GLOBAL_MAX_WRONG:
            return None
        until = now + LOCKOUT
        self.conn.execute(GUARD.update().where(GUARD.c.id == 1).values(locked_until=until))
        return until

    def wrong_recently(self, account_id: int, now: datetime) -> int:
        return self.conn.execute(
            select(func.count())
            .select_from(ATTEMPT)
            .where(ATTEMPT.c.account_id == account_id, ATTEMPT.c.attempted_at > now - WRONG_WINDOW)
        ).scalar_one()

    def identity(self, identity_id: int | None) -> Row | None:
        """A channel identity named by a code (where it was made, where it was typed)."""
        if identity_id is None:
            return None
        return self.conn.execute(select(IDENT).where(IDENT.c.id == identity_id)).first()


def draft_of(conn: Connection, account_id: int) -> Row | None:
    """The unfinished conversation a person would continue: the open one, else the newest set aside."""
    return conn.execute(
        select(CONV)
        .where(
            CONV.c.account_id == account_id, CONV.c.status.in_([ConversationStatus.active, ConversationStatus.paused])
        )
        .order_by((CONV.c.status == ConversationStatus.active).desc(), CONV.c.updated_at.desc(), CONV.c.id.desc())
    ).first()


def _check_apart(conn: Connection, into: int, other: int) -> None:
    if into == other:
        raise ValueError(f"account {into} cannot be merged into itself")
    merged = conn.execute(
        select(ACCOUNT.c.id).where(ACCOUNT.c.id.in_((into, other)), ACCOUNT.c.merged_into.is_not(None))
    ).first()
    if merged is not None:
        raise ValueError(f"account {merged.id} was merged into another already")


def merge_accounts(conn: Connection, *, into: int, other: int, keep: int | None, now: datetime) -> None:
    """Move everything of account `other` to account `into`, in the caller's transaction: its
    channel identities, roles (one held by both is kept once), conversations, and every record
    that names it (events, outbox, reports and plans it wrote, invites, codes). Nothing is
    deleted but the other's last question shown, when `into` has its own: `other` stays, empty,
    with `merged_into` set.

    `keep` is the draft (conversation id) to keep when both accounts have one; the other draft
    is cancelled (it stays in the history). Of the two, the kept one is the open one.

    Refused (ValueError, nothing written) when both are the same account or either was merged
    away already: the caller locks both rows first (`Links.lock_pair`) and checks."""
    _check_apart(conn, into, other)
    mine, theirs = draft_of(conn, into), draft_of(conn, other)
    if mine is not None and theirs is not None:
        drop = theirs if keep == mine.id else mine
        conn.execute(
            CONV.update()
            .where(CONV.c.id == drop.id)
            .values(status=ConversationStatus.cancelled, version=CONV.c.version + 1, updated_at=now)
        )
        kept = mine if drop is theirs else theirs
        if kept.status == ConversationStatus.paused:  # the draft kept is the one to continue
            conn.execute(
                CONV.update()
                .where(CONV.c.id == kept.id)
                .values(status=ConversationStatus.active, version=CONV.c.version + 1, updated_at=now)
            )
    # Both may have an open conversation only if one of them is not a draft (cannot happen, since
    # the open one is the draft); still, never two open ones: the other's is set aside.
    if conn.execute(
        select(CONV.c.id).where(CONV.c.account_id == into, CONV.c.status == ConversationStatus.active)
    ).first():
        conn.execute(
            CONV.update()
            .where(CONV.c.account_id == other, CONV.c.status == ConversationStatus.active)
            .values(status=ConversationStatus.paused, version=CONV.c.version + 1, updated_at=now)
        )
    held = {
        (r.unit_id, r.role)
        for r in conn.execute(select(ROLE).where(ROLE.c.account_id == into, ROLE.c.revoked_at.is_(None)))
    }
    for role in conn.execute(select(ROLE).where(ROLE.c.account_id == other, ROLE.c.revoked_at.is_(None))):
        if (role.unit_id, role.role) in held:  # the same role twice: one is enough
            conn.execute(ROLE.update().where(ROLE.c.id == role.id).values(revoked_at=now, revoked_reason="merged"))
    if conn.execute(select(IDENT.c.id).where(IDENT.c.account_id == into, IDENT.c.preferred.is_(True))).first():
        conn.execute(IDENT.update().where(IDENT.c.account_id == other).values(preferred=False))
    # The last question shown (typed choices) is one per account: the kept account's stands.
    if conn.execute(select(PROMPT.c.account_id).where(PROMPT.c.account_id == into)).first():
        conn.execute(PROMPT.delete().where(PROMPT.c.account_id == other))
    # Every column that points at an account, whatever table it is in (new ones included; an
    # account merged into `other` before now names `into`).
    for tbl in SQLModel.metadata.sorted_tables:
        for column in tbl.columns:
            if any(fk.column.table is ACCOUNT for fk in column.foreign_keys):
                conn.execute(tbl.update().where(column == other).values({column.name: into}))
    mine_row, theirs_row = (conn.execute(select(ACCOUNT).where(ACCOUNT.c.id == i)).one() for i in (into, other))
    filled = {
        name: getattr(theirs_row, name)
        # The answer to the personal data notice too (its three columns are set together).
        for name in ("full_name", "position", "consent", "consent_version", "consent_at")
        if getattr(mine_row, name) is None and getattr(theirs_row, name) is not None
    }
    if filled:
        conn.execute(ACCOUNT.update().where(ACCOUNT.c.id == into).values(**filled))
    conn.execute(ACCOUNT.update().where(ACCOUNT.c.id == other).values(merged_into=into))
