"""Reminders of deadlines: a simulated October of a demo province with an injected clock (every
reminder at its moment, none at night, none after a submission, none twice across a restart
and two sweeps at once), the district's digest, "remind me tomorrow", the manual nudge, the
preview command, and a Zalo-only secretary outside the window."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from chidoan.bot.app import App
from chidoan.bot.cli import main as cli
from chidoan.bot.processor import Processor
from chidoan.bot.sweeps import Sweeps
from chidoan.handlers import build_engine
from chidoan.storage.db import make_db
from chidoan.storage.models import Outbox, OutboxStatus, Reminder, ReportKind, RoleAssignment
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser, add_member, make_settings
from tests.test_registration import clock_at

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
BOUND = datetime(2026, 9, 1, 9, 0, tzinfo=TZ)
PLAN = "plan:three_proactives_2023_2027:2027"


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=TZ)


REMINDING = {"CHIDOAN_REMINDERS": True, "CHIDOAN_OBLIGATIONS_FROM": "2026-09-01"}


@pytest.fixture
def settings(database_url):
    """Sweeps on the database thread, where they keep what they found for the test to read; the
    child process the service uses is tested by the tests that set CHIDOAN_SWEEP_PROCESS."""
    return make_settings(database_url, CHIDOAN_SWEEP_PROCESS=False, **REMINDING)


def backdate(db, when: datetime = BOUND) -> None:
    """Everyone joined on 1/9 (add_member binds them now)."""
    with unit_of_work(db) as uow:
        uow.conn.execute(update(RoleAssignment.__table__).values(granted_at=when.astimezone(UTC)))


@pytest.fixture
def people(db, org):
    return bind_people(db)


def bind_people(db) -> dict[str, int]:
    """Secretaries of RG-VB, CT-ML and the branch RG-VB-KP1, and the staff of RG, CT and KG, all
    bound on 1/9."""
    found = {
        "vb": add_member(db, "vb", "Lê Văn Cường", "RG-VB", "secretary", locale="en"),
        "ml": add_member(db, "ml", "Đặng Thu Hà", "CT-ML", "secretary"),
        "kp1": add_member(db, "kp1", "Phạm Minh Dũng", "RG-VB-KP1", "secretary"),
        "rg": add_member(db, "rg", "Trần Thị Bình", "RG", "district_staff", locale="en"),
        "ct": add_member(db, "ct", "Ngô Văn Tâm", "CT", "district_staff"),
        "kg": add_member(db, "kg", "Huỳnh Thị Mai", "KG", "district_staff", locale="en"),
    }
    backdate(db)
    return found


def reminders(db) -> list:
    with db.connect() as conn:
        return list(conn.execute(select(Reminder.__table__).order_by(Reminder.__table__.c.id)))


def outbox(db) -> list:
    table = Outbox.__table__
    with db.connect() as conn:
        return list(conn.execute(select(table).where(table.c.dedupe_key.like("reminder:%")).order_by(table.c.id)))


async def sweeper(settings) -> Sweeps:
    processor = Processor(make_db(settings.database_url), build_engine(settings))
    await processor.start()
    return Sweeps(processor, settings)


def submit_plan(db, unit_code: str, at: datetime) -> None:
    """A plan submitted (as the journey stores it, tested in test_registration.py), with the
    handler's cancellation of what is still queued."""
    with unit_of_work(db) as uow:
        unit = uow.units.by_code(unit_code)
        registration = uow.registrations.open(unit.id, "three_proactives_2023_2027", 2027, at)
        secretary = uow.roles.holders(unit.id, "secretary")[0].account_id
        uow.registrations.add_version(
            registration, data={}, account_id=secretary, now=at, on_time=True, document_id=None
        )
        uow.reminders.met(f"{PLAN}:{unit.id}", at)


def report(db, unit_code: str, kind: ReportKind, held_on: date, at: datetime) -> None:
    with unit_of_work(db) as uow:
        unit = uow.units.by_code(unit_code)
        account = uow.roles.holders(unit.id, "secretary")[0].account_id
        uow.reports.add(unit_id=unit.id, kind=kind, held_on=held_on, data={}, account_id=account, now=at)


async def test_a_simulated_october(settings, db, org, people):
    """Every 30 minutes of October 2026, with a restart on 15/10 and two sweeps at once on the
    mornings of 8/10 and 22/10: each reminder made once, at the first sweep at or after its
    moment, inside the allowed hours, and none after the obligation was met."""
    ids = {code: org[code].id for code in org}
    first, second = await sweeper(settings), await sweeper(settings)
    at = local(2026, 10, 1, 0, 0)
    try:
        while at < local(2026, 11, 1):
            if at == local(2026, 10, 7, 9, 0):
                report(db, "RG-VB-KP1", ReportKind.meeting, date(2026, 9, 20), at)  # late, after "overdue"
            if at == local(2026, 10, 14, 10, 0):
                submit_plan(db, "RG-VB", at)  # on the last day
            if at == local(2026, 10, 15):  # a restart: a new process, the same database
                await first.processor.stop()
                first = await sweeper(settings)
            if at.day in (8, 22) and at.hour == 8 and at.minute == 0:
                await asyncio.gather(first.reminders(at), second.reminders(at))
            else:
                await first.reminders(at)
            at += timedelta(minutes=30)
    finally:
        await first.processor.stop()
        await second.processor.stop()

    made = defaultdict(list)
    for r in reminders(db):
        when = r.created_at.astimezone(TZ)
        assert (7, 30) <= (when.hour, when.minute) < (20, 30), r
        made[(r.obligation, r.account_id)].append((r.stage, when.strftime("%d/%m %H:%M")))
    plan_vb, plan_ml = f"{PLAN}:{ids['RG-VB']}", f"{PLAN}:{ids['CT-ML']}"
    assert made[(plan_vb, people["vb"])] == [
        ("opening", "01/10 07:30"),  # 15/9's opening notice, caught up on the first morning
        ("before_7", "08/10 08:00"),
        ("before_3", "12/10 08:00"),
        ("last_day", "14/10 08:00"),
    ]  # submitted on 14/10: nothing after
    assert made[(plan_ml, people["ml"])] == [
        ("opening", "01/10 07:30"),
        ("before_7", "08/10 08:00"),
        ("before_3", "12/10 08:00"),
        ("last_day", "14/10 08:00"),
        ("overdue", "15/10 08:00"),
        ("weekly_1", "22/10 08:00"),
        ("weekly_2", "29/10 08:00"),
    ]
    assert made[(f"meeting:{ids['RG-VB-KP1']}:2026-09", people["kp1"])] == [
        ("before_3", "03/10 08:00"),
        ("last_day", "05/10 08:00"),
        ("overdue", "06/10 08:00"),
    ]
    for code, who in (("RG-VB", "vb"), ("CT-ML", "ml")):
        assert made[(f"dialogue:{ids[code]}:2026", people[who])] == [("opening", "16/10 08:00")]
    # The districts' digests: on the first late day and each weekly repeat of a late unit below.
    digests = {key: stages for key, stages in made.items() if key[0].startswith("digest:")}
    assert digests == {
        (f"digest:{ids['RG']}:2026-10-06", people["rg"]): [("digest", "06/10 08:00")],
        (f"digest:{ids['CT']}:2026-10-15", people["ct"]): [("digest", "15/10 08:00")],
        (f"digest:{ids['CT']}:2026-10-22", people["ct"]): [("digest", "22/10 08:00")],
        (f"digest:{ids['CT']}:2026-10-29", people["ct"]): [("digest", "29/10 08:00")],
        (f"digest:{ids['KG']}:2026-10-15", people["kg"]): [("digest", "15/10 08:00")],
        (f"digest:{ids['KG']}:2026-10-22", people["kg"]): [("digest", "22/10 08:00")],
        (f"digest:{ids['KG']}:2026-10-29", people["kg"]): [("digest", "29/10 08:00")],
    }
    assert len(made) == 1 + 1 + 1 + 2 + len(digests)  # nothing else: KG-CD has nobody to remind
    rows = outbox(db)
    assert len(rows) == len({r.dedupe_key for r in rows}) == sum(len(v) for v in made.values())
    assert {r.channel for r in rows} == {"web"}


async def test_the_reminder_says_what_is_due_and_its_buttons_work(settings, db, org, people):
    settings = make_settings(settings.database_url, **REMINDING)  # the service's way: in a child process
    app = App(settings, clock=clock_at(2026, 10, 12, 8, 5))
    await app.start()  # the start-up sweep makes the "3 days before" reminder
    await app.sweeps.caught_up()
    try:
        async with WebUser(app, "vb", language="en") as vb:
            await vb.replies()
            assert "Reminder for Đoàn phường Vĩnh Bảo" in vb.text
            assert "is due before 15/10/2026, 3 days from now. It has not been submitted yet." in vb.text
            later, start = vb.button("Remind me tomorrow"), vb.button("Register the plan")
            await vb.press("Remind me tomorrow")
            assert "reminded again tomorrow (13/10/2026" in vb.text
            await vb.send_frame({"type": "button", "payload": later})
            assert "Already put off" in vb.text  # the same button again: snoozed once
            await vb.send_frame({"type": "button", "payload": start})
            assert "Registering the “3 chủ động” plan of Đoàn phường Vĩnh Bảo for 2027" in vb.text
        # The next morning the snoozed reminder comes once more; the day after, nothing new.
        assert [r.stage for r in reminders(db) if r.account_id == people["vb"] and r.obligation.startswith(PLAN)] == [
            "before_3"
        ]
        await app.sweeps.reminders(local(2026, 10, 13, 7, 0))  # night: nothing
        await app.sweeps.reminders(local(2026, 10, 13, 8, 10))  # before the day has passed: nothing
        await app.sweeps.reminders(local(2026, 10, 13, 8, 20))
        await app.sweeps.reminders(local(2026, 10, 13, 9, 0))
        stages = [r.stage for r in reminders(db) if r.account_id == people["vb"] and r.obligation.startswith(PLAN)]
        assert stages == ["before_3", "before_3+later"]
        submit_plan(db, "RG-VB", local(2026, 10, 13, 9, 30))  # the "+later" one, still queued, is cancelled
        async with WebUser(app, "vb", language="en") as vb:  # the old button, once the plan is in
            vb._seen = len([r for r in outbox_all(db) if (r.channel, r.chat_id) == ("web", "vb")])  # read before
            await vb.send_frame({"type": "button", "payload": later})
            assert "This is done already: there will be no more reminders about it." in vb.text
    finally:
        await app.stop()


async def test_vietnamese_reminder_and_a_submission_cancels_what_is_queued(settings, db, org, people):
    sweeps = await sweeper(settings)
    try:
        await sweeps.reminders(local(2026, 10, 14, 8, 0))
        (row,) = [r for r in outbox(db) if r.account_id == people["ml"] and PLAN in r.dedupe_key]
        assert row.status == OutboxStatus.pending  # no sender runs here: still queued
        text = row.body["text"]
        assert "hôm nay là ngày cuối" in text and "trước ngày 15/10/2026" in text, text
        assert "bạn" not in text.casefold()
        submit_plan(db, "CT-ML", local(2026, 10, 14, 9, 0))
        (row,) = [r for r in outbox(db) if r.id == row.id]
        assert row.status == OutboxStatus.cancelled
    finally:
        await sweeps.processor.stop()


async def test_a_meeting_report_through_the_chat_cancels_its_reminder(settings, db, org, people):
    """The branch secretary also has Telegram, used last, so notices go there; this app runs no
    Telegram channel, so the reminder stays queued until the report made in the web chat cancels it."""
    with unit_of_work(db) as uow:
        uow.accounts.update(people["kp1"], locale="en")
        tg = uow.accounts.create_with_identity(
            channel="telegram", external_id="55", chat_id="55", display_name="D", locale="vi", now=BOUND
        )
        uow.conn.execute(
            update(table_of_identity())
            .where(table_of_identity().c.id == tg.identity_id)
            .values(account_id=people["kp1"], last_seen_at=datetime.now(UTC))
        )
    app = App(settings, clock=clock_at(2026, 10, 6, 8, 5))
    await app.start()
    await app.sweeps.caught_up()
    try:
        (queued,) = [r for r in outbox(db) if r.account_id == people["kp1"]]
        assert (queued.channel, queued.status) == ("telegram", OutboxStatus.pending)
        assert queued.dedupe_key.endswith(f":2026-09:{people['kp1']}:overdue")
        async with WebUser(app, "kp1", language="en") as kp1:
            await kp1.say("/sinhhoat")
            await kp1.say("20/09/2026")  # the September meeting, reported a day late
            await kp1.press("Regular")
            await kp1.say("Học tập Nghị quyết Đại hội Đoàn")
            await kp1.say("25")
            await kp1.say("20")
            await kp1.say("Quán triệt nghị quyết.")
            await kp1.say("Không có ý kiến")
            await kp1.press("Skip")
            await kp1.press("Done")
            await kp1.press("Send the report")
            assert "20 of 25 members present" in kp1.text, kp1.text
        assert [r.status for r in outbox(db) if r.account_id == people["kp1"]] == [OutboxStatus.cancelled]
    finally:
        await app.stop()


async def test_the_digest_and_the_nudge_are_one_action_once_a_day(settings, db, org, people):
    app = App(settings, clock=clock_at(2026, 10, 15, 8, 5))
    await app.start()
    await app.sweeps.caught_up()
    try:
        async with WebUser(app, "kg", language="en") as kg:
            await kg.replies()
            assert "Tỉnh đoàn Kiên Giang, 15/10/2026: late obligations of the units below: 1." in kg.text
            assert "KG-CD Đoàn Trường Cao đẳng Kiên Giang" in kg.text
            assert "Cannot be reached for now (1):" in kg.text and "no secretary has joined" in kg.text
        async with WebUser(app, "ct") as ct:
            await ct.replies()
            assert "CT-ML Đoàn xã Minh Lương" in ct.text
            await ct.press("Nhắc lại ngay")
            assert "đang gửi nhắc nhở" in ct.text, ct.text  # done beside the replies, then answered
            await answer_of(app, ct)
            assert "đã gửi 1 lời nhắc" in ct.text, ct.text
            before = len(outbox(db))
            await ct.say("/nhacnho")
            await answer_of(app, ct)
            assert "1 đơn vị" in ct.text, ct.text
            await ct.say("gui nhac nho")  # typed, the answer's button
            await answer_of(app, ct)
            assert "đã gửi 0 lời nhắc; 1 lời nhắc đã được gửi hôm nay" in ct.text, ct.text
            assert len(outbox(db)) == before  # one manual nudge per obligation a day
        async with WebUser(app, "vb", language="en") as vb:
            await vb.say("/nhacnho")
            assert "Your role does not allow /nhacnho" in vb.text
    finally:
        await app.stop()
    manual = [r for r in reminders(db) if r.stage.startswith("manual:")]
    assert [(r.account_id, r.stage) for r in manual] == [(people["ml"], "manual:2026-10-15")]


async def answer_of(app: App, user: WebUser) -> None:
    """A staff's count or nudge is answered after its event (bot/nudges.py), often before the
    event's own reply was read: wait, then read it beside that reply."""
    before = user.last
    await app.nudges.settled()
    user.last = before + await user.replies()


async def test_no_nudge_at_night(settings, db, org, people):
    app = App(settings, clock=clock_at(2026, 10, 15, 21, 0))
    await app.start()
    await app.sweeps.caught_up()
    try:
        assert reminders(db) == []  # the start-up sweep at night makes nothing
        async with WebUser(app, "ct") as ct:
            await ct.say("/nhacnho")
            await answer_of(app, ct)
            await ct.press("Gửi nhắc nhở")
            assert "chỉ được gửi từ 07:30 đến 20:30" in ct.text, ct.text
    finally:
        await app.stop()
    assert reminders(db) == []


async def test_a_unit_that_joined_after_the_deadline_owes_nothing_for_it(settings, db, org, people):
    add_member(db, "late", "Nguyễn Văn Mới", "KG-CD", "secretary")  # bound now: 29/11/2026 or later
    sweeps = await sweeper(settings)
    try:
        season = await sweeps.reminders(local(2026, 10, 20, 9, 0), dry_run=True)
    finally:
        await sweeps.processor.stop()
    owed = [o.kind for o in season.nobody] + [
        p.obligation.kind for p in season.planned if p.obligation.unit.code == "KG-CD"
    ]
    assert owed == ["dialogue"]  # this year's dialogue (due 15/12) is owed; October's plan is not


async def test_a_zalo_only_secretary_outside_the_window(settings, db, org):
    """Reached through their linked Telegram when Zalo's window is closed; with no other channel,
    held and shown in the digest as outside the window."""
    now = local(2026, 10, 15, 8, 0)
    old = (now - timedelta(days=9)).astimezone(UTC)
    add_member(db, "ml-zalo", "Đặng Thu Hà", "CT-ML", "secretary", channel="zalo")
    add_member(db, "vb-zalo", "Lê Văn Cường", "RG-VB", "secretary", channel="zalo")
    staff = add_member(db, "ct", "Ngô Văn Tâm", "CT", "district_staff")
    backdate(db)
    with unit_of_work(db) as uow:
        vb = uow.accounts.sender("zalo", "vb-zalo")
        uow.accounts.seen(vb.identity_id, old)
        uow.accounts.seen(uow.accounts.sender("zalo", "ml-zalo").identity_id, old)
        telegram = uow.accounts.create_with_identity(
            channel="telegram", external_id="777", chat_id="777", display_name="C", locale="vi", now=old
        )
        uow.conn.execute(
            update(table_of_identity())
            .where(table_of_identity().c.id == telegram.identity_id)
            .values(account_id=vb.account_id)
        )
    sweeps = await sweeper(settings)
    try:
        await sweeps.reminders(now)
    finally:
        await sweeps.processor.stop()
    rows = {r.account_id: r for r in outbox(db) if PLAN in r.dedupe_key}
    assert rows[vb.account_id].channel == "telegram" and rows[vb.account_id].status == OutboxStatus.pending
    ml = next(a for a in rows if a != vb.account_id)
    assert (rows[ml].channel, rows[ml].status, rows[ml].error) == ("zalo", "held", "outside_window")
    digest = next(
        r for r in outbox_all(db) if r.account_id == staff and (r.dedupe_key or "").startswith("reminder:digest:")
    )
    assert "ngoài thời hạn 7 ngày của Zalo" in digest.body["text"], digest.body["text"]


def table_of_identity():
    from chidoan.storage.models import ChannelIdentity

    return ChannelIdentity.__table__


def outbox_all(db) -> list:
    with db.connect() as conn:
        return list(conn.execute(select(Outbox.__table__)))


def test_the_preview_command(settings, db, org, people, capsys, monkeypatch):
    for key, value in {
        "CHIDOAN_DATABASE_URL": settings.database_url,
        "CHIDOAN_OBLIGATIONS_FROM": "2026-09-01",
    }.items():
        monkeypatch.setenv(key, value)
    assert cli(["--lang", "en", "reminders", "plan", "--at", "2026-10-12 08:00"]) == 0
    out = capsys.readouterr().out
    assert "12/10/2026 08:00: 3 reminder(s)" in out, out
    assert (
        "Phạm Minh Dũng (account 3) | RG-VB-KP1 Chi đoàn Khu phố 1 | meeting:4:2026-09 due 06/10/2026 | overdue" in out
    )
    assert "Đặng Thu Hà" in out and "CT-ML Đoàn xã Minh Lương" in out and "before_3" in out
    assert "KG-CD Đoàn Trường Cao đẳng Kiên Giang" in out.split("nobody to remind")[1]
    assert cli(["--lang", "en", "reminders", "plan", "--at", "2026-10-12 08:00", "--district", "CT"]) == 0
    out = capsys.readouterr().out
    assert "1 reminder(s)" in out and "RG-VB" not in out
    assert cli(["--lang", "en", "reminders", "plan", "--at", "2026-10-12 22:00"]) == 0
    assert "nothing goes out" in capsys.readouterr().out
    assert (
        cli(["--lang", "en", "reminders", "plan", "--at", "2026-10-12T01:00+00:00"]) == 0
    )  # an explicit offset is kept
    assert "12/10/2026 08:00: 3 reminder(s)" in capsys.readouterr().out
    assert reminders(db) == []  # a preview writes nothing


async def test_two_workers_on_postgresql_make_each_reminder_once(pg_url, tmp_path):
    from chidoan.storage.db import upgrade
    from tests.conftest import seed_org

    settings = make_settings(pg_url, **REMINDING)  # each worker's sweep in its own child process
    engine = make_db(pg_url)
    upgrade(engine)
    seed_org(engine)
    for n in range(40):  # forty base units under one district, each with its secretary
        with unit_of_work(engine) as uow:
            parent = uow.units.by_code("CT")
            uow.units.add(
                code=f"CT-{n}", name=f"Đoàn xã {n}", kind="base_unit", parent=parent, reviews=False, now=BOUND
            )
        add_member(engine, f"s{n}", f"Bí thư {n}", f"CT-{n}", "secretary")
    backdate(engine)
    workers = [await sweeper(settings) for _ in range(3)]
    try:
        at = local(2026, 10, 12, 8, 0)
        await asyncio.gather(*(w.reminders(at) for w in workers), *(w.reminders(at) for w in workers))
    finally:
        for w in workers:
            await w.processor.stop()
    rows = outbox(engine)
    assert len(rows) == 40 == len({r.dedupe_key for r in rows})
    assert len(reminders(engine)) == 40
    engine.dispose()


async def test_on_telegram_a_hurried_secretary_types_instead_of_tapping(settings, db, org, tg):
    """The reminder reaches the secretary through the real Telegram client (the fake Bot API);
    "nhac lai sau" typed without accents puts it off like the button, a stale tap on it says so,
    and the start button opens that year's plan; a secretary in the middle of a report keeps
    their question: "2" there is still the report's answer."""
    from tests.test_telegram import TgUser, tg_settings

    add_member(db, "7001", "Đặng Thu Hà", "CT-ML", "secretary", channel="telegram")
    add_member(db, "7002", "Phạm Minh Dũng", "RG-VB-KP1", "secretary", channel="telegram")
    backdate(db)
    quiet = tg_settings(
        settings, tg, CHIDOAN_SWEEP_PROCESS=False, CHIDOAN_REMINDERS=False, CHIDOAN_OBLIGATIONS_FROM="2026-09-01"
    )
    app = App(quiet, clock=clock_at(2026, 10, 5, 8, 0))
    await app.start()  # no sweep yet: it runs below, once Dũng is in the middle of a report
    await app.sweeps.caught_up()
    try:
        ha, dung = TgUser(tg, db, 7001, language="vi"), TgUser(tg, db, 7002, language="vi")
        await dung.say("/sinhhoat")
        await dung.say("hom qua")  # in the middle of a meeting report, at its "kind" question
        await app.sweeps.reminders(app.processor.clock())
        await ha.replies()
        assert "kế hoạch “3 chủ động” năm 2027 cần gửi trước ngày 15/10/2026" in ha.text, ha.text
        await dung.replies()
        assert "hôm nay là ngày cuối để gửi báo cáo sinh hoạt chi đoàn tháng 09/2026" in dung.text, dung.text
        await ha.say("nhac lai sau")
        assert "Chatbot sẽ nhắc lại vào ngày mai (06/10/2026" in ha.text, ha.text
        await ha.press("Nhắc lại sau")
        assert "đã được hẹn lại" in ha.text
        await ha.press("Đăng ký kế hoạch")
        assert "năm 2027 của Đoàn xã Minh Lương" in ha.text and "1/3" in ha.text, ha.text
        await dung.say("1")  # the report's first kind, not the reminder's first button
        with unit_of_work(db) as uow:
            state = uow.conversations.active(people_id(uow, "telegram", "7002"))
        assert state is not None and state.journey == "meeting" and state.step != "kind"
    finally:
        await app.stop()


async def test_a_reminder_sent_to_the_other_app_is_answered_by_typing_there_mid_report(settings, db, org, tg):
    """A secretary with the web chat and Telegram linked (/lienket), notices chosen to go to
    Telegram, is in the middle of a meeting report in the web chat when the sweep runs: on
    Telegram the reminder's number puts it off, as a notice's would (engine/dispatch.py
    `becomes_question`, one rule for both), and in the web chat "1" is still the report's answer."""
    from tests.test_link import link_web_to_telegram
    from tests.test_telegram import TgUser, buttons_of, sent_to, tg_settings

    ha = add_member(db, "ha", "Đặng Thu Hà", "CT-ML", "secretary", locale="en")
    backdate(db)
    quiet = tg_settings(
        settings, tg, CHIDOAN_SWEEP_PROCESS=False, CHIDOAN_REMINDERS=False, CHIDOAN_OBLIGATIONS_FROM="2026-09-01"
    )
    app = App(quiet, clock=clock_at(2026, 10, 5, 8, 0))
    await app.start()
    await app.sweeps.caught_up()
    try:
        async with WebUser(app, "ha", language="en") as web:
            user = TgUser(tg, db, 7003, language="en")
            await link_web_to_telegram(web, user)
            await web.say("/lienket")
            await web.press("🔔 Telegram")
            assert web.text == "Notices will go to Telegram."
            await web.say("/sinhhoat")
            await web.say("hôm qua")
            assert "What kind of meeting was it?" in web.text
            with unit_of_work(db) as uow:
                asked_on_the_web = uow.prompts.last(ha, "web", "ha")
            await app.sweeps.reminders(app.processor.clock())
            await user.replies()
            assert "Đoàn xã Minh Lương: the “3 chủ động” plan for 2027 is due before 15/10/2026" in user.text
            labels = [b["text"] for b in buttons_of(sent_to(tg, 7003)[-1])]
            later = next(n for n, label in enumerate(labels, 1) if "Remind me tomorrow" in label)
            await user.say(str(later))
            assert "reminded again tomorrow (06/10/2026" in user.text, user.text
            with unit_of_work(db) as uow:
                assert uow.prompts.last(ha, "web", "ha") == asked_on_the_web  # the report's question stays
                assert uow.conversations.active(ha).step == "kind"  # the number was not the report's
            await web.say("1")  # the report's first kind, not the reminder's first button
        with unit_of_work(db) as uow:
            state = uow.conversations.active(ha)
        assert state is not None and state.journey == "meeting" and state.step != "kind"
        assert [r.snoozed_until is not None for r in reminders(db) if r.account_id == ha] == [True]
    finally:
        await app.stop()


def people_id(uow, channel: str, external_id: str) -> int:
    return uow.accounts.sender(channel, external_id).account_id


@pytest.mark.parametrize("hours", ["20:00-07:00", "25:00-26:00", "8-20", "07:30-07:30"])
def test_allowed_hours_that_cannot_work_stop_the_start(tmp_path, hours):
    with pytest.raises(ValueError, match="CHIDOAN_REMINDER_HOURS|reminder_hours"):
        make_settings(f"sqlite:///{tmp_path}/x.sqlite3", CHIDOAN_REMINDER_HOURS=hours)


async def test_a_count_asked_before_a_restart_is_answered_after_it(settings, db, org, people):
    with unit_of_work(db) as uow:  # asked, then the service stopped before answering
        uow.nudges.add(unit_id=org["CT"].id, account_id=people["ct"], kind="count", now=datetime.now(UTC))
    app = App(settings, clock=clock_at(2026, 10, 15, 9, 0))
    await app.start()
    try:
        await app.nudges.settled()
        async with WebUser(app, "ct") as ct:
            await ct.replies()
            assert "Huyện đoàn Châu Thành: có 1 việc quá hạn" in ct.text, ct.text
    finally:
        await app.stop()
    with unit_of_work(db) as uow:
        assert uow.nudges.pending() == []


def _chunk_then_database_gone(settings, at, after):
    """The child's part (here on a thread): a first chunk, then the database is gone."""
    import time

    from sqlalchemy.exc import OperationalError

    if after == 0:
        return ["a reminder"], 1
    time.sleep(0.2)  # still composing when this process fails to store the first chunk
    raise OperationalError("SELECT", {}, ConnectionError("server closed the connection unexpectedly"))


async def test_a_sweep_cut_off_from_its_database_leaves_no_failure_unretrieved(settings, monkeypatch):
    """The database goes while the sweep stores a chunk and its child composes the next: the
    sweep fails (the next one tries again) and the next chunk's failure is not left in a future
    nobody reads (asyncio's "Future exception was never retrieved")."""
    import gc
    from collections import Counter
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy.exc import OperationalError

    from chidoan.bot import sweeps as sweeping

    loop = asyncio.get_running_loop()
    reported: list[str] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(str(context.get("message"))))
    sweeps = await sweeper(settings)
    monkeypatch.setattr(sweeping, "child_chunk", _chunk_then_database_gone)

    async def database_gone(work):
        raise OperationalError("INSERT", {}, ConnectionError("server closed the connection unexpectedly"))

    sweeps._pool = ThreadPoolExecutor(max_workers=1)  # type: ignore[assignment]
    processor, sweeps.processor.run = sweeps.processor, database_gone  # type: ignore[method-assign]
    failed = False
    try:
        await sweeps._child_sweep(datetime.now(UTC), Counter())
    except OperationalError:
        failed = True
    await asyncio.sleep(0.5)  # the next chunk has failed meanwhile
    sweeps._pool.shutdown(wait=True)
    del processor.run
    await processor.stop()
    gc.collect()
    loop.set_exception_handler(None)
    assert failed
    assert not [m for m in reported if "never retrieved" in m], reported
