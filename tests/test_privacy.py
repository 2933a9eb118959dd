"""Personal data (Law 91/2025/QH15): the notice and consent before joining, once for those who
joined before; /dulieu shows, exports and erases; the nightly prune of what is kept only a while;
migration 0018 up and down."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from chidoan.bot.app import App
from chidoan.bot.retention import prune
from chidoan.storage.db import make_db, upgrade
from chidoan.storage.models import (
    Account,
    ChannelIdentity,
    Conversation,
    Document,
    InboundEvent,
    OrgUnit,
    Outbox,
    PrivacyAction,
    Prompt,
    Report,
    ReportKind,
    Role,
    RoleAssignment,
    table,
)
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser, add_member, document_bytes, make_settings, new_invite


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, CHIDOAN_ASK_CONSENT=True)


def db_of(settings):
    engine = make_db(settings.database_url)
    upgrade(engine)
    return engine


def account(db, account_id: int):
    with db.connect() as conn:
        return conn.execute(select(table(Account)).where(table(Account).c.id == account_id)).one()


def account_of(db, user_id: str) -> int:
    with db.connect() as conn:
        ident = table(ChannelIdentity)
        return conn.execute(select(ident.c.account_id).where(ident.c.external_id == user_id)).scalar_one()


def journey(db, account_id: int) -> str | None:
    conv = table(Conversation)
    with db.connect() as conn:
        return conn.execute(
            select(conv.c.journey).where(conv.c.account_id == account_id, conv.c.status == "active")
        ).scalar()


def count(db, model, *where) -> int:
    with db.connect() as conn:
        return conn.execute(select(func.count()).select_from(table(model)).where(*where)).scalar_one()


def actions(db, account_id: int) -> list[tuple[str, str | None]]:
    t = table(PrivacyAction)
    with db.connect() as conn:
        rows = conn.execute(select(t.c.action, t.c.notice_version).where(t.c.account_id == account_id).order_by(t.c.id))
        return [tuple(r) for r in rows]


async def test_a_newcomer_reads_the_notice_and_agrees_before_giving_a_name(app, db):
    code = new_invite(db, "RG-VB")
    async with WebUser(app, "u-an", "An Nguyễn") as an:
        await an.say(code)
        assert "Luật Bảo vệ dữ liệu cá nhân" in an.text and "Đoàn cấp trên" in an.text
        assert "đồng chí" in an.text and "bạn" not in an.text.split()
        labels = [b["label"] for row in an.last[-1]["buttons"] for b in row]
        assert labels == ["Đồng ý", "Không đồng ý"]
        an_id = account_of(db, "u-an")
        assert account(db, an_id).consent is None and journey(db, an_id) is None  # nothing personal asked yet

        await an.say("dong y")  # typed, without accents
        assert "Đã ghi nhận sự đồng ý" in an.text and journey(db, an_id) == "onboarding"
        await an.say("Nguyễn Văn An")
        await an.say("Bí thư")
        await an.press("Xác nhận")
    row = account(db, an_id)
    assert row.full_name == "Nguyễn Văn An" and row.consent == "given" and row.consent_version == "2026-01"
    assert row.consent_at is not None
    assert actions(db, an_id) == [("asked", "2026-01"), ("consent_given", "2026-01")]


async def test_a_refusal_stops_joining_politely_and_keeps_nothing_personal(app, db):
    code = new_invite(db, "RG-VB")
    async with WebUser(app, "u-binh", "Bình Trần") as binh:
        await binh.say(code)
        await binh.say("không đồng ý")
        assert "chưa tham gia" in binh.text and "gửi lại mã mời" in binh.text
        binh_id = account_of(db, "u-binh")
        row = account(db, binh_id)
        assert row.consent == "refused" and row.full_name is None and row.position is None
        ident = table(ChannelIdentity)
        with db.connect() as conn:
            assert conn.execute(select(ident.c.display_name).where(ident.c.account_id == binh_id)).scalar() is None
        assert count(db, RoleAssignment, table(RoleAssignment).c.account_id == binh_id) == 0
        assert count(db, Conversation, table(Conversation).c.account_id == binh_id) == 0
        with unit_of_work(db) as uow:
            assert uow.invites.by_code(code).used_at is None  # still theirs to use
        # Changing their mind: the code again shows the notice again, and Agree goes on.
        await binh.say(code)
        await binh.press("Đồng ý")
        assert journey(db, binh_id) == "onboarding"
    assert [a for a, _v in actions(db, binh_id)] == ["asked", "consent_refused", "asked", "consent_given"]


async def test_someone_who_joined_before_is_asked_until_they_answer_and_then_gets_what_they_asked(app, db):
    sec = add_member(db, "sec", "Trần Thị Lan", "RG-VB", Role.secretary)
    other = add_member(db, "other", "Lê Văn Tâm", "RG-VB-KP1", Role.secretary)
    async with WebUser(app, "sec") as user, WebUser(app, "other") as late:
        await user.say("/toi")
        assert "Luật Bảo vệ dữ liệu cá nhân" in user.text and "Trần Thị Lan" not in user.text
        await user.press("Đồng ý")
        assert "Đã ghi nhận sự đồng ý" in user.text and "Họ và tên: Trần Thị Lan" in user.text  # /toi answered now
        await user.say("/toi")
        assert "Luật" not in user.text and "Trần Thị Lan" in user.text

        await late.say("/toi")
        assert "Luật Bảo vệ dữ liệu cá nhân" in late.text
        await late.say("/trogiup")  # not answered: asked again, /trogiup held back now
        assert "Luật Bảo vệ dữ liệu cá nhân" in late.text and "“/trogiup”" in late.text
        await late.say("không đồng ý")  # a refusal lets them go on too
        assert "/dulieu" in late.text and "Các lệnh có thể dùng" in late.text
        await late.say("/toi")
        assert "Lê Văn Tâm" in late.text and "Luật" not in late.text
    assert actions(db, sec) == [("asked", "2026-01"), ("consent_given", "2026-01")]
    assert actions(db, other) == [("asked", "2026-01"), ("asked", "2026-01"), ("consent_refused", "2026-01")]


async def test_the_notice_never_interrupts_a_journey(app, db):
    add_member(db, "branch", "Phạm Văn Hùng", "RG-VB-KP1", Role.secretary)
    async with WebUser(app, "branch") as user:
        app.settings.ask_consent = False  # a journey begun before the notice existed
        await user.say("/sinhhoat")
        question = user.text
        app.settings.ask_consent = True
        await user.say("hôm qua")
        assert "Luật" not in user.text and user.text != question  # the answer was taken, the journey went on
        await user.say("/huy")
        assert "Luật" not in user.text
        await user.say("/toi")  # nothing open now: this is the moment
        assert "Luật Bảo vệ dữ liệu cá nhân" in user.text


async def test_dulieu_shows_exports_and_erases_keeping_the_units_reports(app, db):
    sec = add_member(db, "sec", "Trần Thị Lan", "RG-VB", Role.secretary)
    now = datetime.now(UTC)
    with unit_of_work(db) as uow:
        uow.privacy.answer(sec, "given", "2026-01", source="chat", now=now)
        vb = uow.units.by_code("RG-VB")
        report = uow.reports.add(
            unit_id=vb.id,
            kind=ReportKind.meeting,
            held_on=date(2026, 11, 2),
            data={"theme": "Sinh hoạt tháng 11"},
            account_id=sec,
            now=now,
        )
        uow.invites.issue(unit_id=vb.id, role="deputy", issued_by=sec, now=now, expires_at=now + timedelta(days=7))
    async with WebUser(app, "sec", "Lan") as user:
        await user.say("/mydata")
        shown = user.text
        for expected in (
            "Họ và tên: Trần Thị Lan",
            "Tài khoản trò chuyện trên web: sec",
            "Vai trò: Bí thư Đoàn phường Vĩnh Bảo",
            "1 báo cáo sinh hoạt",
            "Mã mời đồng chí đã cấp, chưa dùng: 1",
            "đã đồng ý lúc",
        ):
            assert expected in shown, (expected, shown)

        replies = await user.press("bản sao")
        await app.jobs.settled()
        replies += await user.replies()
        sent = replies[-1]
        assert sent["document"]["filename"] == f"chidoan-data-{sec}.json"
        copy = json.loads(document_bytes(db, sent["document"]["id"]))
        assert copy["account"]["full_name"] == "Trần Thị Lan" and copy["reports_filed"] == {"meeting": 1}
        assert copy["identities"][0]["user_id"] == "sec" and copy["roles"][0]["unit_code"] == "RG-VB"
        assert any(m["text"] == "/mydata" for m in copy["messages_received"])

        await user.say("/dulieu")
        await user.press("Xóa dữ liệu")
        assert "không thể hoàn tác" in user.text and "(đã xóa)" in user.text
        await user.press("Giữ lại")
        assert account(db, sec).full_name == "Trần Thị Lan"
        await user.say("/dulieu")
        await user.press("Xóa dữ liệu")
        await user.say("xoa")  # typed: the confirmation's button
        await user.replies()
        # Every message sent to them was erased; the last one says so (sent, not remembered).
        out = table(Outbox)
        with db.connect() as conn:
            left = conn.execute(select(out.c.body, out.c.status).where(out.c.chat_id == "sec")).all()
        assert len(left) == 1 and "đã được xóa" in left[0].body["text"]

    row = account(db, sec)
    assert row.full_name == "(đã xóa)" and row.position is None and row.erased_at is not None
    assert count(db, ChannelIdentity, table(ChannelIdentity).c.account_id == sec) == 0
    assert count(db, Conversation, table(Conversation).c.account_id == sec) == 0
    assert count(db, Prompt, table(Prompt).c.account_id == sec) == 0
    events = table(InboundEvent)
    assert count(db, InboundEvent, events.c.account_id == sec) > 0
    kept_events = (events.c.text.is_not(None)) | (events.c.payload.is_not(None))
    assert count(db, InboundEvent, events.c.account_id == sec, kept_events) == 0
    assert count(db, Document, table(Document).c.kind == "data_export") == 0
    roles = table(RoleAssignment)
    assert count(db, RoleAssignment, roles.c.account_id == sec, roles.c.revoked_at.is_(None)) == 0
    reports = table(Report)
    with db.connect() as conn:
        kept = conn.execute(select(reports).where(reports.c.id == report)).one()
    assert kept.created_by == sec and kept.status == "submitted"  # the unit's report stays
    assert [a for a, _v in actions(db, sec)] == [
        "consent_given",
        "exported",
        "erase_asked",
        "erase_kept",
        "erase_asked",
        "erased",
    ]

    # Writing again is someone new: no name, no role.
    async with WebUser(app, "sec") as again:
        again._seen = 1  # the erasure's confirmation, delivered to the socket before
        await again.say("/toi")
        assert "Trần Thị Lan" not in again.text and account_of(db, "sec") != sec


async def test_the_prune_deletes_only_what_has_expired(db, settings):
    now = datetime(2027, 3, 1, tzinfo=UTC)
    old, recent = now - timedelta(days=40), now - timedelta(days=5)
    events, out = table(InboundEvent), table(Outbox)
    with db.begin() as conn:
        for n, (at, processed) in enumerate([(old, True), (old, True), (old, False), (recent, True)]):
            conn.execute(
                events.insert().values(
                    channel="web",
                    event_id=f"e{n}",
                    kind="text",
                    text="hi",
                    received_at=at,
                    processed_at=at if processed else None,
                )
            )
        ancient = now - timedelta(days=100)
        for n, (at, status, key) in enumerate(
            [
                (ancient, "sent", None),
                (ancient, "sent", None),
                (ancient, "pending", None),
                (ancient, "sent", "reminder:x"),
                (recent, "sent", None),
            ]
        ):
            conn.execute(
                out.insert().values(
                    channel="web",
                    chat_id="c",
                    body={"text": str(n)},
                    status=status,
                    attempts=0,
                    not_before=at,
                    dedupe_key=key,
                    created_at=at,
                    kind="reply",
                    priority=0,
                )
            )

    async def run(work):
        with unit_of_work(db) as uow:
            return work(uow)

    pruned = await prune(run, settings, now, batch=1)  # one row a transaction: the loop is exercised
    nothing_else = {"conversations": 0, "uploads": 0, "drafts": 0, "exports": 0}
    assert pruned == {"events": 2, "messages": 2, "messages_blanked": 1} | nothing_else
    with db.connect() as conn:
        assert sorted(conn.execute(select(events.c.event_id)).scalars()) == ["e2", "e3"]
        left = sorted(conn.execute(select(out.c.status, out.c.dedupe_key)).all(), key=str)
    assert len(left) == 3 and ("pending", None) in left and ("sent", "reminder:x") in left
    assert await prune(run, settings, now) == {"events": 0, "messages": 0, "messages_blanked": 0} | nothing_else


def test_migration_0018_up_and_down(tmp_path):
    from alembic import command

    from tests.test_storage import migrator, schema_drift

    engine = make_db(f"sqlite:///{tmp_path}/m.sqlite3")
    to = migrator(engine)
    to("0017")
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO account (id, full_name, locale, created_at) VALUES (1, 'An', 'vi', :t)"),
            {"t": datetime(2026, 1, 1, tzinfo=UTC)},
        )
    to("head")
    assert schema_drift(engine) == []
    row = account(engine, 1)
    assert row.full_name == "An" and row.consent is None and row.erased_at is None
    to("0017", command.downgrade)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT full_name FROM account")).scalar() == "An"
        assert "privacy_action" not in {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master"))}
    engine.dispose()


async def test_the_service_prunes_every_night(app):
    job = app.sweeps.scheduler.get_job("retention")
    assert job is not None and str(job.trigger) == "cron[hour='3']"


def test_an_operator_answers_a_request_from_the_command_line(db, org, settings, tmp_path, monkeypatch, capsys):
    from chidoan.bot.cli import main

    sec = add_member(db, "4242", "Đỗ Minh Khoa", "CT-ML", Role.secretary, channel="telegram")
    monkeypatch.setenv("CHIDOAN_DATABASE_URL", settings.database_url)
    out = tmp_path / "khoa.json"
    assert main(["data", "export", "--app", "telegram", "--user", "4242", "--out", str(out)]) == 0
    copy = json.loads(out.read_text())
    assert copy["account"]["full_name"] == "Đỗ Minh Khoa" and copy["identities"][0]["user_id"] == "4242"
    assert main(["data", "show", "--account", "999"]) == 1  # no such account: said, nothing done

    monkeypatch.setattr("builtins.input", lambda _prompt: "không")
    assert main(["data", "erase", "--account", str(sec)]) == 1
    assert account(db, sec).full_name == "Đỗ Minh Khoa"
    monkeypatch.setattr("builtins.input", lambda _prompt: "xoa")
    assert main(["data", "erase", "--account", str(sec)]) == 0
    assert "Đã xóa" in capsys.readouterr().out
    assert account(db, sec).full_name == "(đã xóa)"
    assert count(db, ChannelIdentity, table(ChannelIdentity).c.account_id == sec) == 0
    with db.connect() as conn:
        t = table(PrivacyAction)
        trail = conn.execute(select(t.c.action, t.c.source).where(t.c.account_id == sec).order_by(t.c.id)).all()
    assert [tuple(r) for r in trail] == [("exported", "cli"), ("erased", "cli")]
    assert main(["data", "prune"]) == 0 and "Đã xóa 0 tin nhắn nhận" in capsys.readouterr().out


@pytest.mark.postgres
async def test_erasure_and_prune_on_postgresql(pg_url):
    """The same statements on PostgreSQL: an erasure keeps the unit's report, and the prune's
    ordered, limited deletes work there too."""
    from tests.conftest import seed_org

    engine = make_db(pg_url)
    upgrade(engine)
    seed_org(engine)
    sec = add_member(engine, "pg-sec", "Võ Thị Hạnh", "RG-VB", Role.secretary)
    now = datetime.now(UTC)
    with unit_of_work(engine) as uow:
        report = uow.reports.add(
            unit_id=uow.units.by_code("RG-VB").id,
            kind=ReportKind.dialogue,
            held_on=date(2026, 11, 2),
            data={},
            account_id=sec,
            now=now,
        )
        uow.events.record(
            channel="web", event_id="pg-1", account_id=sec, kind="text", text="/toi", payload=None, now=now
        )
        removed = uow.privacy.erase(sec, pseudonym="(đã xóa)", source="cli", now=now)
    assert removed["identities"] == 1 and removed["events_cleared"] == 1 and removed["roles_ended"] == 1
    assert account(engine, sec).full_name == "(đã xóa)"
    assert count(engine, Report, table(Report).c.id == report) == 1

    async def run(work):
        with unit_of_work(engine) as uow:
            return work(uow)

    pruned = await prune(run, make_settings(pg_url), now + timedelta(days=31), batch=1)
    assert pruned["events"] == 1 and count(engine, InboundEvent) == 0
    engine.dispose()


async def test_on_telegram_the_notice_then_the_copy_as_a_document(settings, org, tg):
    """Through the fake Bot API: someone who joined before is shown the notice at /dulieu, taps
    Đồng ý, sees their data, and gets the copy as a document."""
    from tests.test_telegram import TgUser, tg_settings

    db = db_of(settings)
    sec = add_member(db, "8801", "Ngô Thanh Tú", "RG-VB", Role.secretary, channel="telegram")
    app = App(tg_settings(settings, tg, CHIDOAN_ASK_CONSENT=True))
    await app.start()
    try:
        user = TgUser(tg, db, 8801, first_name="Tú", language="vi")
        await user.say("/dulieu")
        assert "Luật Bảo vệ dữ liệu cá nhân" in user.text and "Ngô Thanh Tú" not in user.text
        await user.press("Đồng ý")
        assert "Họ và tên: Ngô Thanh Tú" in user.text and "Tài khoản Telegram: 8801" in user.text
        await user.press("bản sao")
        await app.jobs.settled()

        def sent(c) -> bool:
            return c.method == "sendDocument" and c.status == 200

        await tg.wait_for(lambda calls: any(sent(c) for c in calls), timeout=10)
        [call] = [c for c in tg.calls_of("sendDocument") if sent(c)]
        upload = call.params["document"]
        assert str(call.params["chat_id"]) == "8801" and upload.filename == f"chidoan-data-{sec}.json"
        copy = json.loads(upload.data)
        assert copy["account"]["consent"] == "given" and copy["identities"][0]["app"] == "telegram"
    finally:
        await app.stop()
        db.dispose()


def test_linking_keeps_the_answer_to_the_notice_and_its_trail(db, org):
    """Two accounts linked (/lienket): the kept one takes the other's answer when it has none,
    and the other's privacy trail; erasing the kept one erases the name the other row kept."""
    from chidoan.storage.links import merge_accounts

    owner = add_member(db, "tg-1", "Hồ Văn Nam", "RG-VB", Role.secretary, channel="telegram")
    other = add_member(db, "web-1", "Hồ Văn Nam", "RG-VB", Role.secretary)
    now = datetime.now(UTC)
    with unit_of_work(db) as uow:
        uow.privacy.answer(other, "given", "2026-01", source="chat", now=now)
        merge_accounts(uow.conn, into=owner, other=other, keep=None, now=now)
    kept = account(db, owner)
    assert (kept.consent, kept.consent_version) == ("given", "2026-01")
    assert actions(db, owner) == [("consent_given", "2026-01")]
    with unit_of_work(db) as uow:
        removed = uow.privacy.erase(owner, pseudonym="(đã xóa)", source="cli", now=now)
    assert removed["identities"] == 2
    assert account(db, other).full_name == "(đã xóa)" and account(db, owner).full_name == "(đã xóa)"


def roles_of(db, account_id: int) -> list[tuple[str, str]]:
    roles, units = table(RoleAssignment), table(OrgUnit)
    with db.connect() as conn:
        rows = conn.execute(
            select(roles.c.role, units.c.code)
            .join(units, units.c.id == roles.c.unit_id)
            .where(roles.c.account_id == account_id, roles.c.revoked_at.is_(None))
        )
        return [tuple(r) for r in rows]


def invite_id(db, code: str) -> int:
    with unit_of_work(db) as uow:
        return uow.invites.by_code(code).id


BUTTON_GONE = "Nút này không còn dùng được nữa."


async def test_a_forged_consent_button_joins_nobody_and_records_nothing(app, db):
    """A consent button names the showing of the notice it belongs to; a press of one this
    account was never shown (forged: another's invite, another's notice) does nothing. The
    invite's code is what lets someone join, as when typed."""
    code = new_invite(db, "RG")  # an invite for someone else, its code unknown to mallory
    async with WebUser(app, "victim", "Vũ Thị Mai") as victim, WebUser(app, "mallory", "Mal") as mallory:
        await victim.say(code)  # the rightful person is shown the notice for it
        theirs = victim.button("Đồng ý")
        await mallory.say("xin chao")
        mallory_id = account_of(db, "mallory")
        for forged in (f"cs:y:i{invite_id(db, code)}", theirs, "cs:n:" + theirs.split(":")[2], "cs:y:", "cs:y:99999"):
            await mallory.send_frame({"type": "button", "payload": forged})
            assert mallory.text == BUTTON_GONE, (forged, mallory.text)
        await mallory.say("Nguyễn Văn Mal")
        assert "Xác nhận" not in mallory.text and journey(db, mallory_id) is None
        row = account(db, mallory_id)
        assert row.consent is None and row.consent_at is None and row.full_name is None
        assert actions(db, mallory_id) == [] and roles_of(db, mallory_id) == []
        with unit_of_work(db) as uow:
            assert uow.invites.by_code(code).used_at is None

        await victim.press("Đồng ý")  # the rightful one still goes on
        assert journey(db, account_of(db, "victim")) == "onboarding"


async def test_on_telegram_a_forged_consent_callback_joins_nobody(settings, org, tg):
    """Telegram passes a callback's data as the client sent it ("a bad client can send arbitrary
    data"): a forged consent press naming an invite is refused there too."""
    from tests.test_telegram import TgUser, tg_settings

    db = db_of(settings)
    code = new_invite(db, "RG-VB")
    app = App(tg_settings(settings, tg, CHIDOAN_ASK_CONSENT=True))
    await app.start()
    try:
        user = TgUser(tg, db, 6606, first_name="Mal", language="vi")
        await user.say("/start")
        update = tg.callback_update(user.user_id, f"cs:y:i{invite_id(db, code)}", language_code="vi")
        await user.send(update)
        assert user.text == BUTTON_GONE
        mallory = account_of(db, "6606")
        assert account(db, mallory).consent is None and actions(db, mallory) == []
        assert journey(db, mallory) is None and roles_of(db, mallory) == []
    finally:
        await app.stop()
        db.dispose()


async def test_a_stale_answer_to_an_answered_notice_changes_nothing(app, db):
    """The notice's buttons answer it once: pressed again after joining (or after the other
    answer), they say so and record nothing; a secretary is never told they have not joined."""
    code = new_invite(db, "RG-VB")
    async with WebUser(app, "u-an", "An Nguyễn") as an:
        await an.say(code)
        notice = an.last
        await an.press("Đồng ý")
        an.last = notice
        await an.press("Đồng ý")  # twice, before the name: the journey is not started again
        assert an.text == BUTTON_GONE
        await an.say("Nguyễn Văn An")
        await an.say("Bí thư")
        await an.press("Xác nhận")
        an_id = account_of(db, "u-an")
        assert roles_of(db, an_id) == [("secretary", "RG-VB")]
        for label in ("Không đồng ý", "Đồng ý"):
            an.last = notice
            await an.press(label)
            assert an.text == BUTTON_GONE and "chưa tham gia" not in an.text
        ident = table(ChannelIdentity)
        with db.connect() as conn:
            assert conn.execute(select(ident.c.display_name).where(ident.c.account_id == an_id)).scalar() == "An Nguyễn"
    row = account(db, an_id)
    assert row.consent == "given" and row.full_name == "Nguyễn Văn An"
    assert [a for a, _v in actions(db, an_id)] == ["asked", "consent_given"]
    assert roles_of(db, an_id) == [("secretary", "RG-VB")]

    code = new_invite(db, "RG-VB-KP1")
    async with WebUser(app, "u-binh", "Bình") as binh:
        await binh.say(code)
        notice = binh.last
        await binh.press("Không đồng ý")
        binh.last = notice
        await binh.press("Đồng ý")  # the same notice, answered: the code is sent again to change one's mind
        assert binh.text == BUTTON_GONE
    binh_id = account_of(db, "u-binh")
    assert account(db, binh_id).consent == "refused" and journey(db, binh_id) is None
    assert [a for a, _v in actions(db, binh_id)] == ["asked", "consent_refused"]


async def test_someone_who_joined_before_loses_no_command_to_the_notice(app, db):
    """Text that is no answer at the notice shows it again, saying the command waits; the answer
    typed ("1", "dong y") runs the command held back."""
    branch = add_member(db, "branch", "Phạm Minh Dũng", "RG-VB-KP1", Role.secretary)
    async with WebUser(app, "branch") as user:
        await user.say("/sinhhoat")
        assert "Luật Bảo vệ dữ liệu cá nhân" in user.text and "“/sinhhoat”" in user.text
        await user.say("hom qua")  # the answer they expected to give /sinhhoat
        assert "Luật Bảo vệ dữ liệu cá nhân" in user.text and "được giữ lại" in user.text
        assert "“/sinhhoat”" in user.text and journey(db, branch) is None
        await user.say("1")  # the notice's first button
        assert "Đã ghi nhận sự đồng ý" in user.text and journey(db, branch) == "meeting"
    assert account(db, branch).consent == "given"
    assert [a for a, _v in actions(db, branch)] == ["asked", "consent_given"]

    late = add_member(db, "late", "Lê Văn Tâm", "RG-VB", Role.deputy)
    async with WebUser(app, "late") as user:
        await user.say("/toi")
        await user.say("/trogiup")  # another command: it is the one kept now
        assert "Luật Bảo vệ dữ liệu cá nhân" in user.text and "“/trogiup”" in user.text
        await user.say("dong y")
        assert "Đã ghi nhận sự đồng ý" in user.text and "/dulieu" in user.text  # /trogiup answered
    assert [a for a, _v in actions(db, late)] == ["asked", "asked", "consent_given"]


async def test_text_at_a_newcomers_notice_shows_it_again(app, db):
    """A newcomer who types their name (or anything) at the notice is shown it again, their code
    kept, not told to send an invite code; the answer typed after a command in between still
    answers it."""
    code = new_invite(db, "RG-VB")
    async with WebUser(app, "u-binh", "Bình") as binh:
        await binh.say(code)
        binh_id = account_of(db, "u-binh")
        for text in ("Nguyễn Văn Bình", "huy"):
            await binh.say(text)
            assert "Luật Bảo vệ dữ liệu cá nhân" in binh.text and "mã mời đồng chí đã gửi" in binh.text
            assert "chưa đăng ký" not in binh.text and journey(db, binh_id) is None
        await binh.say("/trogiup")
        await binh.say("đồng ý")
        assert "Đã ghi nhận sự đồng ý" in binh.text and journey(db, binh_id) == "onboarding"
    assert account(db, binh_id).full_name is None  # the name typed at the notice was not taken
    assert [a for a, _v in actions(db, binh_id)] == ["asked", "consent_given"]


def identities(db, account_id: int) -> int:
    return count(db, ChannelIdentity, table(ChannelIdentity).c.account_id == account_id)


async def test_dulieu_buttons_act_only_for_the_account_and_the_question_they_were_shown_with(app, db):
    """The /dulieu menu's buttons name the account it was shown to, the erasure's answers the
    question they belong to: an old question (answered "keep", or asked again since) and another
    account's buttons do nothing and record nothing."""
    sec = add_member(db, "sec", "Trần Thị Lan", "RG-VB", Role.secretary)
    other = add_member(db, "other", "Lê Văn Tâm", "RG-VB-KP1", Role.secretary)
    with unit_of_work(db) as uow:
        for member in (sec, other):
            uow.privacy.answer(member, "given", "2026-01", source="chat", now=datetime.now(UTC))
    async with WebUser(app, "sec") as user, WebUser(app, "other") as them:
        await user.say("/dulieu")
        menu = {label: user.button(label) for label in ("bản sao", "Xóa dữ liệu")}
        await user.press("Xóa dữ liệu")
        kept = user.button("Giữ lại")
        first = user.button("🗑 Xóa")
        await user.press("Giữ lại")
        assert "Chưa xóa gì" in user.text
        await user.send_frame({"type": "button", "payload": first})  # that question was answered
        assert user.text == BUTTON_GONE
        await user.send_frame({"type": "button", "payload": kept})
        assert user.text == BUTTON_GONE
        await user.send_frame({"type": "button", "payload": menu["Xóa dữ liệu"]})  # the menu's button, again
        second = user.button("🗑 Xóa")
        await user.send_frame({"type": "button", "payload": menu["Xóa dữ liệu"]})  # asked again: the newest counts
        newest = user.button("🗑 Xóa")
        await user.send_frame({"type": "button", "payload": second})
        assert user.text == BUTTON_GONE and account(db, sec).full_name == "Trần Thị Lan"

        await them.say("xin chao")
        for forged in (*menu.values(), newest, "dd:erase!:", "dd:export", "dd:erase!"):
            await them.send_frame({"type": "button", "payload": forged})
            assert them.text == BUTTON_GONE, (forged, them.text)
        await app.jobs.settled()
        assert await them.replies() == []  # no copy of anyone's data comes

        await user.send_frame({"type": "button", "payload": newest})  # answered by its own account
    assert account(db, sec).erased_at is not None and identities(db, sec) == 0
    assert account(db, other).full_name == "Lê Văn Tâm" and identities(db, other) == 1
    assert [a for a, _v in actions(db, other)] == ["consent_given"]
    assert [a for a, _v in actions(db, sec)] == [
        "consent_given",
        "erase_asked",
        "erase_kept",
        "erase_asked",
        "erase_asked",
        "erased",
    ]


async def test_on_telegram_old_dulieu_buttons_do_nothing_for_the_account_made_after_an_erasure(settings, org, tg):
    """After an erasure the same Telegram user is someone new: the old menu's "Send me a copy"
    and the old question's "Erase" (or a forged one) neither export nor erase anything of theirs."""
    from tests.test_telegram import TgUser, tg_settings

    db = db_of(settings)
    sec = add_member(db, "7001", "Phạm Minh Dũng", "RG-VB-KP1", Role.secretary, channel="telegram")
    with unit_of_work(db) as uow:
        uow.privacy.answer(sec, "given", "2026-01", source="chat", now=datetime.now(UTC))
    app = App(tg_settings(settings, tg, CHIDOAN_ASK_CONSENT=True))
    await app.start()
    try:
        user = TgUser(tg, db, 7001, first_name="Dũng", language="vi")
        await user.say("/dulieu")
        await user.press("Xóa dữ liệu")
        erase = user.button("🗑 Xóa")
        await user.press("🗑 Xóa")
        assert "đã được xóa" in user.text
        await user.say("/toi")
        newcomer = account_of(db, "7001")
        assert newcomer != sec
        for label in ("bản sao", "🗑 Xóa", "Xóa dữ liệu"):
            await user.press(label)
            assert user.text == BUTTON_GONE, (label, user.text)
        question = int(erase.rpartition(":")[2])
        for forged in (f"dd:erase!:{question + 1}", f"dd:keep:{question}", f"dd:export:{sec}"):
            await user.send(tg.callback_update(7001, forged, language_code="vi"))
            assert user.text == BUTTON_GONE, (forged, user.text)
        await app.jobs.settled()
        assert not [c for c in tg.calls_of("sendDocument") if c.status == 200]
        assert actions(db, newcomer) == [] and identities(db, newcomer) == 1
        assert account(db, newcomer).erased_at is None
        assert [a for a, _v in actions(db, sec)] == ["consent_given", "erase_asked", "erased"]
    finally:
        await app.stop()
        db.dispose()
