"""Accounts and the channel identities (platform + external id) that lead to them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Row, bindparam, select

from chidoan.storage.models import ACTIVE_ONLY, Account, ChannelIdentity, Conversation, table
from chidoan.storage.prepared import Prepared
from chidoan.storage.rows import among, found, inserted_id

ACCOUNT = table(Account)
IDENT = table(ChannelIdentity)
CONV = table(Conversation)

# One query gives the engine everything it needs about the sender, open conversation included.
_SENDER = (
    select(
        IDENT.c.id.label("identity_id"),
        IDENT.c.channel,
        IDENT.c.chat_id,
        IDENT.c.display_name,
        IDENT.c.reachable,
        IDENT.c.last_seen_at,
        ACCOUNT.c.id.label("account_id"),
        ACCOUNT.c.full_name,
        ACCOUNT.c.position,
        ACCOUNT.c.locale,
        ACCOUNT.c.consent,
        CONV.c.id.label("conversation_id"),
        CONV.c.journey,
        CONV.c.step,
        CONV.c.data,
        CONV.c.version,
    )
    .join(ACCOUNT, ACCOUNT.c.id == IDENT.c.account_id)
    .outerjoin(CONV, (CONV.c.account_id == ACCOUNT.c.id) & ACTIVE_ONLY)
)
# What engine/notices.py needs to choose an identity (a sweep reads it for thousands at once).
_ROUTING = (
    IDENT.c.id,
    IDENT.c.account_id,
    IDENT.c.channel,
    IDENT.c.chat_id,
    IDENT.c.reachable,
    IDENT.c.preferred,
    IDENT.c.last_seen_at,
)
_SEEN = Prepared(IDENT.update().where(IDENT.c.id == bindparam("iid")).values(last_seen_at=bindparam("now")))
_SENDER_BY_KEY = Prepared(
    _SENDER.where(IDENT.c.channel == bindparam("channel"), IDENT.c.external_id == bindparam("external_id"))
)


class Accounts:
    def __init__(self, conn: Connection):
        self.conn = conn

    def sender(self, channel: str, external_id: str) -> Row | None:
        return _SENDER_BY_KEY.first(self.conn, {"channel": channel, "external_id": external_id})

    def create_with_identity(
        self,
        *,
        channel: str,
        external_id: str,
        chat_id: str,
        display_name: str | None,
        locale: str,
        now: datetime,
        full_name: str | None = None,
    ) -> Row:
        account_id = inserted_id(
            self.conn.execute(ACCOUNT.insert().values(locale=locale, created_at=now, full_name=full_name))
        )
        self.conn.execute(
            IDENT.insert().values(
                channel=channel,
                external_id=external_id,
                chat_id=chat_id,
                account_id=account_id,
                display_name=display_name,
                reachable=True,
                created_at=now,
                last_seen_at=now,
                preferred=False,
            )
        )
        return found(self.sender(channel, external_id), "identity", (channel, external_id))

    def touch_identity(self, identity_id: int, *, chat_id: str, display_name: str | None) -> None:
        """A message from the user proves they can be reached again."""
        self.conn.execute(
            IDENT.update()
            .where(IDENT.c.id == identity_id)
            .values(chat_id=chat_id, display_name=display_name, reachable=True, unreachable_since=None)
        )

    def seen(self, identity_id: int, now: datetime) -> None:
        """The person wrote from this identity now: notices follow them to the channel used last."""
        _SEEN.rowcount(self.conn, {"iid": identity_id, "now": now})

    def notice_candidates(self, account_id: int) -> list[Row]:
        """All the account's identities, in the order a notice tries them (engine/notices.py
        chooses among them): the reachable ones first; of those, the preferred one, then the most
        recently used (the next ones are the fallbacks); then the unreachable ones."""
        return self.notice_candidates_of([account_id]).get(account_id, [])

    def notice_candidates_of(self, account_ids: list[int]) -> dict[int, list[Row]]:
        """`notice_candidates` of many accounts in one query (a reminder sweep), with each
        account's locale."""
        found: dict[int, list[Row]] = {}
        if not account_ids:
            return found
        stmt = (
            select(*_ROUTING, ACCOUNT.c.locale)
            .join(ACCOUNT, ACCOUNT.c.id == IDENT.c.account_id)
            .where(among(IDENT.c.account_id, account_ids))
            .order_by(
                IDENT.c.account_id,
                IDENT.c.reachable.desc(),
                IDENT.c.preferred.desc(),
                IDENT.c.last_seen_at.is_(None),
                IDENT.c.last_seen_at.desc(),
                IDENT.c.id.desc(),
            )
        )
        for row in self.conn.execute(stmt):
            found.setdefault(row.account_id, []).append(row)
        return found

    def prefer(self, account_id: int, identity_id: int | None) -> bool:
        """Make one identity the preferred one for notices (None: the one used last). False when
        the identity is not the account's."""
        if (
            identity_id is not None
            and not self.conn.execute(
                select(IDENT.c.id).where(IDENT.c.id == identity_id, IDENT.c.account_id == account_id)
            ).first()
        ):
            return False
        self.conn.execute(IDENT.update().where(IDENT.c.account_id == account_id).values(preferred=False))
        if identity_id is not None:
            self.conn.execute(IDENT.update().where(IDENT.c.id == identity_id).values(preferred=True))
        return True

    def one(self, account_id: int) -> Row:
        """The account, which must exist (fetch-or-fail; `get` when it may not)."""
        return found(self.get(account_id), "account", account_id)

    def get(self, account_id: int) -> Row | None:
        return self.conn.execute(select(ACCOUNT).where(ACCOUNT.c.id == account_id)).first()

    def update(self, account_id: int, **values) -> None:
        self.conn.execute(ACCOUNT.update().where(ACCOUNT.c.id == account_id).values(**values))

    def identities(self, account_id: int) -> list[Row]:
        return list(self.conn.execute(select(IDENT).where(IDENT.c.account_id == account_id).order_by(IDENT.c.id)))

    def locale_of_chat(self, channel: str, chat_id: str) -> str | None:
        """The language of whoever is reached at this chat (a channel rendering its own words)."""
        return self.conn.execute(
            select(ACCOUNT.c.locale)
            .join(IDENT, IDENT.c.account_id == ACCOUNT.c.id)
            .where(IDENT.c.channel == channel, IDENT.c.chat_id == chat_id)
            .order_by(IDENT.c.id)
            .limit(1)
        ).scalar()

    def identities_of(self, channel: str) -> list[Row]:
        return list(
            self.conn.execute(
                select(IDENT, ACCOUNT.c.full_name)
                .join(ACCOUNT, ACCOUNT.c.id == IDENT.c.account_id)
                .where(IDENT.c.channel == channel)
                .order_by(IDENT.c.id)
            )
        )

    def set_reachable(self, identity_id: int, reachable: bool, now: datetime) -> None:
        """What a platform told of the person (blocked, unblocked, …); the time is when it changed."""
        self.conn.execute(
            IDENT.update()
            .where(IDENT.c.id == identity_id, IDENT.c.reachable.is_(not reachable))
            .values(reachable=reachable, unreachable_since=None if reachable else now)
        )

    def mark_unreachable(self, channel: str, chat_id: str, now: datetime) -> int:
        return self.conn.execute(
            IDENT.update()
            .where(IDENT.c.channel == channel, IDENT.c.chat_id == chat_id, IDENT.c.reachable.is_(True))
            .values(reachable=False, unreachable_since=now)
        ).rowcount
