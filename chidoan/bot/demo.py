"""Demo data: a small province tree and a few people to try the bot as, from the web chat.

Loading is idempotent, so a demo deployment can call it on every start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from importlib.resources import as_file, files

from sqlalchemy import Engine, Row

from chidoan.bot.orgimport import import_org
from chidoan.handlers.invites import issue
from chidoan.storage.clock import utcnow
from chidoan.storage.models import Role, UnitKind
from chidoan.storage.rows import found
from chidoan.storage.uow import UnitOfWork, unit_of_work

CHANNEL = "web"
# The web page offers this one as "someone new": it is never created here, so the visitor
# meets the bot exactly as a stranger would.
NEW_VISITOR = "demo-new"
INVITE_KEY = "demo.invite_code"


@dataclass(frozen=True)
class DemoPerson:
    slug: str
    full_name: str
    unit_code: str
    role: Role
    label: str  # the role as the web page shows it
    registered: bool  # False: the role waits behind an invite code the visitor types in


DEMO_PEOPLE = (
    DemoPerson("binh", "Trần Thị Bình", "RG", Role.district_staff, "Cán bộ Huyện đoàn", registered=True),
    DemoPerson("cuong", "Lê Văn Cường", "RG-VB", Role.secretary, "Bí thư", registered=True),
    DemoPerson("dung", "Phạm Minh Dũng", "RG-VB-KP1", Role.secretary, "Bí thư", registered=True),
    DemoPerson("an", "Nguyễn Văn An", "RG-PT", Role.secretary, "Bí thư", registered=False),
)
# Invites come from district staff of the unit's district, as they would in real life.
INVITER = "binh"


@dataclass(frozen=True)
class DemoIdentity:
    external_id: str
    full_name: str
    description: str


@dataclass(frozen=True)
class DemoInfo:
    identities: tuple[DemoIdentity, ...]
    invite_code: str  # for the one person who is not registered yet

    @property
    def descriptions(self) -> dict[str, str]:
        """external_id → description, as the web chat's picker wants them."""
        return {identity.external_id: identity.description for identity in self.identities}


def external_id(slug: str) -> str:
    return f"demo-{slug}"


def load_demo(engine: Engine, settings) -> DemoInfo:
    with as_file(files("chidoan").joinpath("demo", "org.csv")) as path:
        result = import_org(engine, path)
    if not result.ok:
        raise RuntimeError("the demo org.csv does not import: " + "; ".join(map(str, result.problems)))

    now = utcnow()
    with unit_of_work(engine) as uow:
        units = {p.slug: found(uow.units.by_code(p.unit_code), "org unit", p.unit_code) for p in DEMO_PEOPLE}
        accounts = {}
        for person in DEMO_PEOPLE:
            sender = uow.accounts.sender(CHANNEL, external_id(person.slug))
            if sender is None:
                sender = uow.accounts.create_with_identity(
                    channel=CHANNEL,
                    external_id=external_id(person.slug),
                    chat_id=external_id(person.slug),
                    display_name=person.full_name,
                    locale="vi",
                    now=now,
                    full_name=person.full_name,
                )
                if person.registered:
                    uow.roles.grant(
                        account_id=sender.account_id,
                        unit_id=units[person.slug].id,
                        role=person.role,
                        invite_id=None,
                        now=now,
                    )
            accounts[person.slug] = sender.account_id

        waiting = next(person for person in DEMO_PEOPLE if not person.registered)
        code = _open_invite(
            uow, waiting, units[waiting.slug], issued_by=accounts[INVITER], now=now, days=settings.invite_days
        )
        identities = [
            DemoIdentity(
                external_id(person.slug),
                person.full_name,
                _describe(uow, person, units[person.slug])
                if person.registered
                else f"Chưa đăng ký — mã mời: {code} ({person.label} — {units[person.slug].name})",
            )
            for person in DEMO_PEOPLE
        ]
    identities.append(DemoIdentity(NEW_VISITOR, "Người dùng mới", "Chưa có tài khoản — gặp bot như một người lạ"))
    return DemoInfo(tuple(identities), code)


def _open_invite(uow: UnitOfWork, person: DemoPerson, unit: Row, *, issued_by: int, now: datetime, days: int) -> str:
    """The code handed out last time while it can still be used, otherwise a fresh one."""
    code = uow.kv.get(INVITE_KEY)
    invite = uow.invites.by_code(code) if code else None
    if invite is None or invite.used_at is not None or invite.expires_at <= now:
        invite = issue(uow, unit=unit, role=person.role, issued_by=issued_by, now=now, days=days)
        uow.kv.put(INVITE_KEY, invite.code)
    return invite.code


def _describe(uow: UnitOfWork, person: DemoPerson, unit: Row) -> str:
    where = unit.name
    if unit.kind == UnitKind.branch:
        # "Chi đoàn Khu phố 1" exists in every ward; the base unit says which one.
        ancestors = uow.units.ancestors(unit)
        if ancestors:
            where = f"{unit.name}, {ancestors[-1].name}"
    return f"{person.label} — {where}"
