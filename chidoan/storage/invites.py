"""Single-use invite codes, issued for a unit and a role by its district (or the CLI)."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import Connection, Row, select

from chidoan.storage.models import Invite, table
from chidoan.storage.rows import found

INV = table(Invite)

# No 0/O, 1/I/L: codes are read aloud on the phone and typed on small keyboards.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(text: str) -> str:
    """Users type codes with spaces, dashes or lower case."""
    return "".join(ch for ch in text.upper() if ch.isalnum())


def looks_like_code(text: str) -> bool:
    """Eight letters and digits of the alphabet, apart only by spaces or dashes: "thang 9/27" has the
    eight, but its slash says it is something else (a period typed where no question is open)."""
    code = normalise_code(text)
    return (
        len(code) == CODE_LENGTH
        and all(ch in ALPHABET for ch in code)
        and len(text.strip()) <= CODE_LENGTH + 3
        and all(ch.isalnum() or ch in " -" for ch in text.strip())
    )


class Invites:
    def __init__(self, conn: Connection):
        self.conn = conn

    def issue(self, *, unit_id: int, role: str, issued_by: int | None, now: datetime, expires_at: datetime) -> Row:
        while True:
            code = new_code()
            if self.by_code(code) is None:
                break
        self.conn.execute(
            INV.insert().values(
                code=code, unit_id=unit_id, role=role, issued_by=issued_by, created_at=now, expires_at=expires_at
            )
        )
        return found(self.by_code(code), "invite", code)

    def by_code(self, code: str) -> Row | None:
        return self.conn.execute(select(INV).where(INV.c.code == normalise_code(code))).first()

    def one(self, invite_id: int) -> Row:
        """The invite, which must exist (fetch-or-fail; `get` when it may not)."""
        return found(self.get(invite_id), "invite", invite_id)

    def get(self, invite_id: int) -> Row | None:
        return self.conn.execute(select(INV).where(INV.c.id == invite_id)).first()

    def consume(self, invite_id: int, account_id: int, now: datetime) -> bool:
        """Atomically mark the invite used; False if it was used or expired meanwhile."""
        return (
            self.conn.execute(
                INV.update()
                .where(INV.c.id == invite_id, INV.c.used_at.is_(None), INV.c.expires_at > now)
                .values(used_at=now, used_by=account_id)
            ).rowcount
            == 1
        )
