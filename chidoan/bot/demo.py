"""Demo data: a small province tree and a few people to try the bot as, from the web chat.

The district Rạch Giá is alive, so its staff see something in /trangthai, /xem, /duyet...: the
roles date from 1 September of the current registration season (so plans are owed), one base
unit submitted the current plan year's plan on time, one late, and Vĩnh Bảo (whose secretary
the visitor can be, to try /dangky) has not; a branch reported its meetings and a base unit its
dialogue, with one commitment to follow up.

Loading is idempotent, so a demo deployment can call it on every start: what is there is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from importlib.resources import as_file, files

from sqlalchemy import Engine, Row

from chidoan.bot.orgimport import import_org
from chidoan.documents.plan import plan_filename, render_plan
from chidoan.handlers.invites import issue
from chidoan.handlers.registration import build_plan_document
from chidoan.handlers.status import current_year
from chidoan.programmes.loader import Programme, programmes
from chidoan.reminders.obligations import Calendar, plan_key
from chidoan.storage.clock import utcnow
from chidoan.storage.models import Account, ReportKind, Role, UnitKind, table
from chidoan.storage.rows import found, inserted_id
from chidoan.storage.uow import UnitOfWork, unit_of_work

CHANNEL = "web"
# The web page offers this one as "someone new": it is never created here, so the visitor
# meets the bot exactly as a stranger would.
NEW_VISITOR = "demo-new"
INVITE_KEY = "demo.invite_code"
ACCOUNT = table(Account)


@dataclass(frozen=True)
class DemoPerson:
    slug: str
    full_name: str
    unit_code: str
    role: Role
    label: str  # the role as the web page shows it
    registered: bool  # False: the role waits behind an invite code the visitor types in


DEMO_PEOPLE = (
    DemoPerson("binh", "Trần Thị Bình", "RG", Role.district_staff, "Cán bộ Thành đoàn", registered=True),
    DemoPerson("cuong", "Lê Văn Cường", "RG-VB", Role.secretary, "Bí thư", registered=True),
    DemoPerson("dung", "Phạm Minh Dũng", "RG-VB-KP1", Role.secretary, "Bí thư", registered=True),
    DemoPerson("an", "Nguyễn Văn An", "RG-PT", Role.secretary, "Bí thư", registered=False),
)
# Invites come from district staff of the unit's district, as they would in real life.
INVITER = "binh"
# The people behind the district's activity (their plans, reports): accounts with no channel
# identity, so the web page does not offer them and no message can reach them.
BACKGROUND_PEOPLE = (
    DemoPerson("vtv", "Võ Thị Hạnh", "RG-VTV", Role.secretary, "Bí thư", registered=True),
    DemoPerson("pt", "Đặng Quốc Toàn", "RG-PT", Role.deputy, "Phó Bí thư", registered=True),
)
ON_TIME_UNIT, LATE_UNIT = "RG-VTV", "RG-PT"  # RG-VB's plan is left missing (Cường's to try)
MEETING_BRANCH, DIALOGUE_UNIT = "RG-VTV-KP4", "RG-VTV"


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
        season = _season(settings, now)
        granted = season[2] if season else now
        units = {
            p.slug: found(uow.units.by_code(p.unit_code), "org unit", p.unit_code)
            for p in DEMO_PEOPLE + BACKGROUND_PEOPLE
        }
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
                        now=granted,
                    )
            accounts[person.slug] = sender.account_id
        for person in BACKGROUND_PEOPLE:
            accounts[person.slug] = _background_account(uow, person, units[person.slug], granted=granted, now=now)
        if season is not None:
            programme, year, _granted = season
            _district_activity(uow, settings, programme, year, accounts, now)

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


def _background_account(uow: UnitOfWork, person: DemoPerson, unit: Row, *, granted: datetime, now: datetime) -> int:
    key = f"demo.account.{person.slug}"
    stored = uow.kv.get(key)
    if stored is not None:
        return int(stored)
    account_id = inserted_id(
        uow.conn.execute(ACCOUNT.insert().values(locale="vi", created_at=now, full_name=person.full_name))
    )
    uow.roles.grant(account_id=account_id, unit_id=unit.id, role=person.role, invite_id=None, now=granted)
    uow.kv.put(key, str(account_id))
    return account_id


def _season(settings, now: datetime) -> tuple[Programme, int, datetime] | None:
    """The programme and plan year reviewing staff follow now, and the moment the demo roles
    date from: 1 September of that plan's registration season (a month before its deadline at
    the latest). None when no programme covers the current year."""
    today = now.astimezone(settings.tz).date()
    for programme in sorted(programmes(settings).values(), key=lambda p: p.code):
        year = current_year(programme, today)
        if year is not None:
            due = programme.registration_due(year)
            start = min(date(due.year, 9, 1), due - timedelta(days=30))
            return programme, year, datetime.combine(start, time(8), settings.tz)
    return None


def _district_activity(
    uow: UnitOfWork, settings, programme: Programme, year: int, accounts: dict[str, int], now: datetime
) -> None:
    """Rạch Giá's plans and reports, each added only if its unit has none yet (idempotent)."""
    tz = settings.tz
    today = now.astimezone(tz).date()
    calendar = Calendar.load(uow, settings)
    by_unit = {person.unit_code: accounts[person.slug] for person in BACKGROUND_PEOPLE}
    for code, days in ((ON_TIME_UNIT, -12), (LATE_UNIT, 4)):
        unit = found(uow.units.by_code(code), "org unit", code)
        due = calendar.plan_due(programme, year, unit)
        at = datetime.combine(due + timedelta(days=days), time(9, 30), tz)
        if at > now:  # the season has only begun: nothing can have been sent that day yet
            continue
        _submit_plan(uow, programme, unit, year, by_unit[code], at, on_time=at.date() < due)

    branch = found(uow.units.by_code(MEETING_BRANCH), "org unit", MEETING_BRANCH)
    if not uow.reports.of_unit(branch.id, ReportKind.meeting):
        last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=5)
        month_before = (last_month.replace(day=1) - timedelta(days=1)).replace(day=5)
        for back, held in ((2, month_before), (1, last_month)):
            uow.reports.add(
                unit_id=branch.id,
                kind=ReportKind.meeting,
                held_on=held,
                data={
                    "held_on": held.isoformat(),
                    "kind": "regular",
                    "theme": "Học tập và làm theo tư tưởng, đạo đức, phong cách Hồ Chí Minh",
                    "total": 24,
                    "present": 19 if back == 2 else 21,
                    "content": "Sơ kết hoạt động tháng, phân công đoàn viên tham gia dọn vệ sinh khu phố.",
                    "opinions": "Đề nghị tổ chức giao lưu thể thao với chi đoàn bạn.",
                    "decisions": "Ra quân ngày Chủ nhật xanh vào cuối tháng.",
                    "photos": [],
                },
                account_id=by_unit[DIALOGUE_UNIT],
                now=datetime.combine(held, time(20), tz),
            )

    base = found(uow.units.by_code(DIALOGUE_UNIT), "org unit", DIALOGUE_UNIT)
    if not uow.reports.of_unit(base.id, ReportKind.dialogue):
        held = max(date(today.year, 1, 1), today - timedelta(days=20))
        promise = "Phường bố trí mặt bằng sân bóng cho thanh niên sinh hoạt vào buổi tối."
        due_on = today + timedelta(days=40)
        data = {
            "held_on": held.isoformat(),
            "level": "commune",
            "leaders": [
                {"name": "Nguyễn Văn Hùng", "title": "Bí thư Đảng ủy"},
                {"name": "Trần Minh Tâm", "title": "Chủ tịch UBND"},
            ],
            "participants": 85,
            "questions": [
                {
                    "question": "Thanh niên khu phố thiếu chỗ chơi thể thao buổi tối.",
                    "answer": "Phường sẽ bố trí sân bóng.",
                    "promised": True,
                    "promise": promise,
                    "promised_by": "Chủ tịch UBND phường",
                    "due": due_on.isoformat(),
                },
                {
                    "question": "Đề nghị mở lớp tin học miễn phí cho đoàn viên.",
                    "answer": "Đoàn phường phối hợp Trung tâm học tập cộng đồng tổ chức.",
                    "promised": False,
                },
            ],
        }
        report_id = uow.reports.add(
            unit_id=base.id,
            kind=ReportKind.dialogue,
            held_on=held,
            data=data,
            account_id=by_unit[DIALOGUE_UNIT],
            now=datetime.combine(held, time(20), tz),
        )
        uow.reports.add_commitment(
            report_id=report_id,
            unit_id=base.id,
            promise=promise,
            promised_by="Chủ tịch UBND phường",
            due_on=due_on,
            now=datetime.combine(held, time(20), tz),
        )


def _submit_plan(
    uow: UnitOfWork, programme: Programme, unit: Row, year: int, account_id: int, at: datetime, *, on_time: bool
) -> None:
    """The plan stored as /dangky stores a submission (registration/submit): its document made
    from the answers, a version, its reminders met. Nothing when the unit already has one, even a
    draft a visitor has begun."""
    if uow.registrations.find(unit.id, programme.code, year) is not None:
        return
    registration = uow.registrations.open(unit.id, programme.code, year, at)
    answers = {
        "purpose": programme.defaults.purpose,
        "implementation": programme.defaults.implementation,
        **{
            f"area{area.number}": [
                {
                    "item": item.code,
                    "what": f"Thực hiện nội dung {item.code} tại đơn vị",
                    "when": "hằng quý",
                    "who": "Ban Thường vụ",
                    "result": None,
                }
                for item in area.items[:2]
            ]
            for area in programme.areas
        },
    }
    document = build_plan_document(uow, programme, unit, year, answers, account_id=account_id, today=at.date())
    filename = plan_filename(document.unit_abbr, year)
    document_id = uow.documents.add(
        kind="plan", filename=filename, content=render_plan(document, programme.document.template), now=at
    )
    uow.registrations.add_version(
        registration, data=answers, account_id=account_id, now=at, on_time=on_time, document_id=document_id
    )
    uow.reminders.met(plan_key(programme.code, year, unit.id), at)
