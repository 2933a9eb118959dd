"""Telling the admins of a fault that needs a person (a Zalo token that cannot be renewed,
bot/channels/zalo_tokens.py; the service's alerts, bot/alerts.py)."""

from __future__ import annotations

from datetime import datetime

from chidoan.engine.dispatch import outbox_row
from chidoan.engine.messages import Outgoing
from chidoan.i18n import gettext
from chidoan.storage.models import Role
from chidoan.storage.uow import UnitOfWork


def tell_admins(
    uow: UnitOfWork, msgid: str, key: str, now: datetime, *, skip: str | None = None, **params: object
) -> int:
    """Queue `msgid` in each admin's language on each of their reachable identities (on every one:
    a fault may be the very channel a notice would pick), except on the channel `skip`; once per
    `key` and identity (the dedupe key `<key>:<identity id>`). Returns how many rows were queued."""
    told = 0
    for account_id in uow.roles.accounts_holding(Role.admin):
        message = Outgoing(gettext(uow.accounts.one(account_id).locale, msgid, **params))
        for identity in uow.accounts.identities(account_id):
            if identity.reachable and identity.channel != skip:
                row = outbox_row(identity.channel, identity.chat_id, account_id, message, now)
                told += uow.outbox.add_once(row | {"dedupe_key": f"{key}:{identity.id}"})
    return told
