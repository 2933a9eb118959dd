"""Personal data: the consent to the notice, what is held about an account (to show and export
it), its erasure on request, and the audit trail of all three (privacy_action).

An erasure removes what identifies the person and keeps what belongs to a unit: the reports and
plans they filed stay, signed by the account's row, which stays nameless (its name replaced by
the pseudonym the caller gives, "(đã xóa)").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, delete, func, or_, select, update

from chidoan.storage import uploads
from chidoan.storage.documents import forget
from chidoan.storage.models import (
    Account,
    ChannelIdentity,
    Conversation,
    Document,
    InboundEvent,
    Invite,
    Job,
    LinkAttempt,
    LinkCode,
    OrgUnit,
    Outbox,
    PrivacyAction,
    PrivacyActionKind,
    Prompt,
    Registration,
    RegistrationVersion,
    Reminder,
    Report,
    RoleAssignment,
    table,
)
from chidoan.storage.rows import among, inserted_id

ACCOUNT = table(Account)
IDENT = table(ChannelIdentity)
ACT = table(PrivacyAction)
CONV = table(Conversation)
EVENT = table(InboundEvent)
INV = table(Invite)
ROLE = table(RoleAssignment)
UNIT = table(OrgUnit)
REP = table(Report)
REG = table(Registration)
REG_VER = table(RegistrationVersion)
LINK = table(LinkCode)
OUT = table(Outbox)
DOC = table(Document)
ANSWERS = (PrivacyActionKind.consent_given, PrivacyActionKind.consent_refused)
ERASE_ANSWERS = (PrivacyActionKind.erased, PrivacyActionKind.erase_kept)


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


class Privacy:
    def __init__(self, conn: Connection):
        self.conn = conn

    def record(
        self,
        account_id: int,
        action: PrivacyActionKind,
        *,
        source: str,
        now: datetime,
        notice_version: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> int:
        """One row of the trail; its id."""
        result = self.conn.execute(
            ACT.insert().values(
                account_id=account_id,
                action=action,
                notice_version=notice_version,
                source=source,
                detail=detail or {},
                at=now,
            )
        )
        return inserted_id(result)

    def answer(self, account_id: int, consent: str, version: str, *, source: str, now: datetime) -> None:
        """The person's answer to the notice: on the account (the current one) and in the trail."""
        self.conn.execute(
            ACCOUNT.update()
            .where(ACCOUNT.c.id == account_id)
            .values(consent=consent, consent_version=version, consent_at=now)
        )
        kind = PrivacyActionKind.consent_given if consent == "given" else PrivacyActionKind.consent_refused
        self.record(account_id, kind, source=source, now=now, notice_version=version)

    def unanswered(
        self,
        account_id: int,
        asked_id: int | None = None,
        *,
        asked: PrivacyActionKind = PrivacyActionKind.asked,
        answers: tuple[PrivacyActionKind, ...] = ANSWERS,
    ) -> Row | None:
        """A question shown to the account (its `asked` row, by default the notice's: `asked_id`,
        else the latest) that none of `answers` has followed: what its buttons answer. None: the
        account was never shown that question (a forged or foreign button), or it was answered
        since (a stale button)."""
        shown = [ACT.c.account_id == account_id, ACT.c.action == asked]
        if asked_id is not None:
            shown.append(ACT.c.id == asked_id)
        row = self.conn.execute(select(ACT).where(*shown).order_by(ACT.c.id.desc()).limit(1)).first()
        if row is None:
            return None
        answered = self.conn.execute(
            select(ACT.c.id)
            .where(ACT.c.account_id == account_id, ACT.c.action.in_(answers), ACT.c.id > row.id)
            .limit(1)
        ).first()
        return None if answered else row

    def open_erase_question(self, account_id: int, asked_id: int | None) -> Row | None:
        """/dulieu's "Erase?" with this id, if it is the account's latest and not answered: only
        then do its buttons count (a question asked again since makes the earlier one stale)."""
        latest = self.unanswered(account_id, asked=PrivacyActionKind.erase_asked, answers=ERASE_ANSWERS)
        return latest if latest is not None and asked_id is not None and latest.id == asked_id else None

    def actions(self, account_id: int) -> list[Row]:
        return list(self.conn.execute(select(ACT).where(ACT.c.account_id == account_id).order_by(ACT.c.id)))

    def _family(self, account_id: int) -> list[int]:
        """The account and every account linked into it (/lienket), whose rows kept their names."""
        ids, frontier = [account_id], [account_id]
        while frontier:
            frontier = list(
                self.conn.execute(select(ACCOUNT.c.id).where(among(ACCOUNT.c.merged_into, frontier))).scalars()
            )
            ids += frontier
        return ids

    def holdings(self, account_id: int, now: datetime) -> dict[str, Any]:
        """Everything held about the person, as plain JSON values: what /dulieu shows and exports."""
        ids = self._family(account_id)
        account = self.conn.execute(select(ACCOUNT).where(ACCOUNT.c.id == account_id)).one()
        identities = self.conn.execute(select(IDENT).where(among(IDENT.c.account_id, ids)).order_by(IDENT.c.id))
        roles = self.conn.execute(
            select(ROLE, UNIT.c.code, UNIT.c.name)
            .join(UNIT, UNIT.c.id == ROLE.c.unit_id)
            .where(among(ROLE.c.account_id, ids))
            .order_by(ROLE.c.id)
        )
        invites = self.conn.execute(
            select(INV, UNIT.c.code.label("unit_code"))
            .join(UNIT, UNIT.c.id == INV.c.unit_id)
            .where(among(INV.c.issued_by, ids), INV.c.used_at.is_(None), INV.c.expires_at > now)
            .order_by(INV.c.id)
        )
        reports = self.conn.execute(
            select(REP.c.kind, func.count())
            .where(among(REP.c.created_by, ids))
            .group_by(REP.c.kind)
            .order_by(REP.c.kind)
        )
        plans = self.conn.execute(
            select(func.count()).select_from(REG_VER).where(among(REG_VER.c.submitted_by, ids))
        ).scalar_one()
        drafts = self.conn.execute(
            select(CONV.c.journey, CONV.c.step, CONV.c.status, CONV.c.data, CONV.c.updated_at)
            .where(among(CONV.c.account_id, ids), CONV.c.status.in_(("active", "paused")))
            .order_by(CONV.c.id)
        )
        events = self.conn.execute(
            select(EVENT.c.channel, EVENT.c.kind, EVENT.c.text, EVENT.c.received_at)
            .where(among(EVENT.c.account_id, ids))
            .order_by(EVENT.c.id)
        )
        return {
            "account": {
                "id": account.id,
                "full_name": account.full_name,
                "position": account.position,
                "language": account.locale,
                "created_at": _iso(account.created_at),
                "consent": account.consent,
                "consent_version": account.consent_version,
                "consent_at": _iso(account.consent_at),
            },
            "identities": [
                {
                    "app": i.channel,
                    "user_id": i.external_id,
                    "chat_id": i.chat_id,
                    "display_name": i.display_name,
                    "created_at": _iso(i.created_at),
                    "last_seen_at": _iso(i.last_seen_at),
                }
                for i in identities
            ],
            "roles": [
                {
                    "role": r.role,
                    "unit_code": r.code,
                    "unit": r.name,
                    "granted_at": _iso(r.granted_at),
                    "revoked_at": _iso(r.revoked_at),
                }
                for r in roles
            ],
            "pending_invites": [
                {"code": i.code, "unit_code": i.unit_code, "role": i.role, "expires_at": _iso(i.expires_at)}
                for i in invites
            ],
            "reports_filed": {kind: count for kind, count in reports},
            "plan_versions_submitted": plans,
            "open_drafts": [
                {"journey": d.journey, "step": d.step, "status": d.status, "answers": d.data, "at": _iso(d.updated_at)}
                for d in drafts
            ],
            "messages_received": [
                {"app": e.channel, "kind": e.kind, "text": e.text, "at": _iso(e.received_at)} for e in events
            ],
            "privacy_actions": [
                {"action": a.action, "notice_version": a.notice_version, "source": a.source, "at": _iso(a.at)}
                for a in self.actions(account_id)
            ],
        }

    def erase(
        self, account_id: int, *, pseudonym: str, source: str, now: datetime, exports_of: str | None = None
    ) -> dict[str, int]:
        """Remove the person's personal details, in this transaction, and record it. Kept: the
        account's row (nameless: `pseudonym`) and what it filed or decided for a unit (reports,
        plans, reviews, invites issued), so the unit's records stay whole. Returns what was
        removed, counted (also the audit row's detail). `exports_of`: the file name of the copies
        of their data sent to them (/dulieu), removed too."""
        ids = self._family(account_id)
        c = self.conn
        identities = list(c.execute(select(IDENT.c.id).where(among(IDENT.c.account_id, ids))).scalars())
        removed: dict[str, int] = {}
        # Link codes name identities and accounts: the unused ones go, the used ones forget the apps.
        removed["link_codes"] = c.execute(
            delete(LINK).where(or_(among(LINK.c.account_id, ids), among(LINK.c.claimed_by, ids)))
        ).rowcount
        if identities:
            c.execute(update(LINK).where(among(LINK.c.identity_id, identities)).values(identity_id=None))
            c.execute(
                update(LINK).where(among(LINK.c.claimed_identity_id, identities)).values(claimed_identity_id=None)
            )
        removed["identities"] = c.execute(delete(IDENT).where(among(IDENT.c.account_id, ids))).rowcount
        removed["roles_ended"] = c.execute(
            update(ROLE)
            .where(among(ROLE.c.account_id, ids), ROLE.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason="erased")
        ).rowcount
        c.execute(update(REG).where(among(REG.c.editing_by, ids)).values(editing_by=None, editing_since=None))
        # The files sent in a report never filed (attendance sheets) go with its conversation.
        removed["uploads"] = uploads.drop_orphans(
            c, c.execute(select(CONV.c.data).where(among(CONV.c.account_id, ids))).scalars()
        )
        removed["conversations"] = c.execute(delete(CONV).where(among(CONV.c.account_id, ids))).rowcount
        removed["prompts"] = c.execute(delete(table(Prompt)).where(among(table(Prompt).c.account_id, ids))).rowcount
        removed["events_cleared"] = c.execute(
            update(EVENT)
            .where(
                among(EVENT.c.account_id, ids),
                or_(EVENT.c.text.is_not(None), EVENT.c.payload.is_not(None), EVENT.c.raw.is_not(None)),
            )
            .values(text=None, payload=None, raw=None)
        ).rowcount
        removed["messages"] = c.execute(delete(OUT).where(among(OUT.c.account_id, ids))).rowcount
        removed["reminders"] = c.execute(
            delete(table(Reminder)).where(among(table(Reminder).c.account_id, ids))
        ).rowcount
        removed["jobs"] = c.execute(delete(table(Job)).where(among(table(Job).c.account_id, ids))).rowcount
        if exports_of is not None:
            removed["exports"] = forget(c, and_(DOC.c.kind == "data_export", DOC.c.filename == exports_of))
        c.execute(delete(table(LinkAttempt)).where(among(table(LinkAttempt).c.account_id, ids)))
        c.execute(
            ACCOUNT.update()
            .where(among(ACCOUNT.c.id, ids))
            .values(
                full_name=pseudonym, position=None, consent=None, consent_version=None, consent_at=None, erased_at=now
            )
        )
        self.record(account_id, PrivacyActionKind.erased, source=source, now=now, detail=removed)
        return removed
