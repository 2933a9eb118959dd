"""What is kept how long, and what goes with what: the files sent in a report never filed go
with its conversation (erased, pruned, or an abandoned draft expired); a reminder's or
follow-up's message keeps only its once-only key after the cut; the /dulieu copy goes after
CHIDOAN_KEEP_EXPORTS_DAYS."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from chidoan.bot.channels.web import read_history
from chidoan.bot.retention import prune
from chidoan.storage.files import store_of
from chidoan.storage.models import Conversation, Document, Outbox, PrivacyAction, Role, table
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser, add_member, make_settings, new_invite
from tests.test_meetings import PNG, report_until_photos
from tests.test_privacy import count

DOC = table(Document)


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, CHIDOAN_ASK_CONSENT=True)


def branch_secretary(db) -> int:
    """The branch's secretary (English), who agreed to the notice already."""
    sec = add_member(db, "branch", "Phạm Minh Dũng", "RG-VB-KP1", Role.secretary, locale="en")
    with unit_of_work(db) as uow:
        uow.privacy.answer(sec, "given", "2026-01", source="chat", now=datetime.now(UTC))
    return sec


async def send_photo(user: WebUser, name: str) -> None:
    await user.send_frame({"type": "file", "name": name, "mime": "image/png", "data": base64.b64encode(PNG).decode()})
    assert "Received" in user.text


async def file_a_report_with(user: WebUser, name: str) -> None:
    await report_until_photos(user)
    await send_photo(user, name)
    await user.press("Done")
    await user.press("Send the report")
    assert "1 file(s) attached" in user.text


async def start_another_report_with(user: WebUser, name: str) -> None:
    """A second meeting the same day, left at its photos step after one file."""
    await user.say("/sinhhoat")
    await user.say("hôm qua")
    await user.press("Yes")  # another meeting that day
    await user.press("Regular")
    await user.say("Sinh hoạt chuyên đề")
    await user.say("25")
    await user.say("18")
    await user.say("Trao đổi về kế hoạch tình nguyện hè.")
    await user.say("Không có")
    await user.press("Skip")
    assert "Photos of the minutes" in user.text
    await send_photo(user, name)


def uploads(db) -> list[str]:
    """The names of the uploads kept; the file store holds the bytes of the documents kept, no more."""
    with db.connect() as conn:
        names = sorted(conn.execute(select(DOC.c.filename).where(DOC.c.kind == "upload")).scalars())
        keys = set(conn.execute(select(DOC.c.storage_key)).scalars())
    assert set(store_of(db).iter_keys()) == keys
    return names


async def run_in(db):
    async def run(work):
        with unit_of_work(db) as uow:
            return work(uow)

    return run


async def test_erasure_takes_the_photos_of_an_unfinished_report_and_keeps_the_filed_ones(app, db):
    sec = branch_secretary(db)
    async with WebUser(app, "branch", language="en") as user:
        await file_a_report_with(user, "filed.png")
        await start_another_report_with(user, "draft.png")
        assert uploads(db) == ["draft.png", "filed.png"]
        await user.say("/dulieu")
        await user.press("Erase my data")
        await user.press("Erase")
        await user.replies()
    with db.connect() as conn:
        [told] = conn.execute(select(table(Outbox).c.body).where(table(Outbox).c.chat_id == "branch")).scalars()
    assert "has been erased" in told["text"]
    # The attendance sheet of the report never filed is gone; the filed report's stays with it.
    assert uploads(db) == ["filed.png"]
    assert count(db, Conversation, table(Conversation).c.account_id == sec) == 0
    with db.connect() as conn:
        t = table(PrivacyAction)
        detail = conn.execute(select(t.c.detail).where(t.c.account_id == sec, t.c.action == "erased")).scalar_one()
    assert detail["uploads"] == 1


async def test_the_prune_takes_the_photos_of_a_cancelled_report_and_of_an_abandoned_draft(app, db, settings):
    branch_secretary(db)
    async with WebUser(app, "branch", language="en") as user:
        await file_a_report_with(user, "filed.png")
        await start_another_report_with(user, "cancelled.png")
        await user.say("/huy")
        await start_another_report_with(user, "abandoned.png")  # left open
    assert uploads(db) == ["abandoned.png", "cancelled.png", "filed.png"]
    run = await run_in(db)
    now = datetime.now(UTC)

    pruned = await prune(run, settings, now + timedelta(days=settings.keep_messages_days + 1), batch=1)
    # Finished (filed, cancelled) conversations go with the cancelled one's file; the draft stays.
    assert (pruned["conversations"], pruned["drafts"], pruned["uploads"]) == (2, 0, 1)
    assert uploads(db) == ["abandoned.png", "filed.png"]

    pruned = await prune(run, settings, now + timedelta(days=settings.keep_drafts_days + 1), batch=1)
    assert (pruned["drafts"], pruned["uploads"]) == (1, 1)
    assert uploads(db) == ["filed.png"] and count(db, Conversation) == 0

    # Back after months: the draft has expired, a report starts afresh.
    async with WebUser(app, "branch", language="en") as user:
        await user.say("/sinhhoat")
        assert "Meeting report for" in user.text and "When was the meeting?" in user.text


async def test_after_the_cut_a_follow_up_keeps_only_its_key_and_is_not_asked_again(settings, org, db):
    from chidoan.handlers.commitments import ask_due
    from tests.test_commitments import a_dialogue_with_a_promise

    commitment_id = a_dialogue_with_a_promise(db)
    asked_at = datetime(2026, 12, 10, 1, 0, tzinfo=UTC)
    out = table(Outbox)
    with unit_of_work(db) as uow:
        assert ask_due(uow, asked_at, settings.tz) == 1
        [row] = uow.conn.execute(select(out).where(out.c.dedupe_key.is_not(None))).all()
        assert "Khảo sát mặt bằng sân bóng" in row.body["text"]
        uow.outbox.mark_sent(row.id, asked_at)

    later = asked_at + timedelta(days=settings.keep_messages_days + 1)
    pruned = await prune(await run_in(db), settings, later)
    assert (pruned["messages"], pruned["messages_blanked"]) == (0, 1)
    with db.connect() as conn:
        kept = conn.execute(select(out).where(out.c.id == row.id)).one()
    # The leader's name and the promise are gone; the key and whom it was for stay.
    assert kept.body == {} and kept.chat_id == "" and kept.error is None
    assert (kept.dedupe_key, kept.account_id, kept.status) == (row.dedupe_key, row.account_id, "sent")
    assert kept.dedupe_key.startswith(f"commitment:{commitment_id}:")
    with unit_of_work(db) as uow:
        assert ask_due(uow, later, settings.tz) == 0  # the guard still holds: not asked again
    assert (await prune(await run_in(db), settings, later))["messages_blanked"] == 0  # reduced once


async def test_the_copy_of_ones_data_goes_after_a_week(app, db, settings):
    sec = branch_secretary(db)
    async with WebUser(app, "branch", language="en") as user:
        await user.say("/dulieu")
        await user.press("Send me a copy")
        await app.jobs.settled()
        await user.replies()
    assert count(db, Document, DOC.c.kind == "data_export") == 1
    run = await run_in(db)
    now = datetime.now(UTC)
    assert (await prune(run, settings, now + timedelta(days=settings.keep_exports_days - 1)))["exports"] == 0
    assert (await prune(run, settings, now + timedelta(days=settings.keep_exports_days + 1)))["exports"] == 1
    assert count(db, Document, DOC.c.kind == "data_export") == 0
    assert settings.keep_exports_days == 7 and settings.keep_drafts_days == 180
    # The message that carried it is still in the web chat's history: shown without the file.
    with unit_of_work(db) as uow:
        history = read_history(uow, "branch")
    [caption] = [item for item in history if "A copy of the data" in item.get("text", "")]
    assert "file" not in caption and sec


async def test_the_notice_says_how_long_drafts_copies_and_reminders_are_kept(app, db):
    code = new_invite(db, "RG-VB")
    async with WebUser(app, "u-binh", "Bình") as binh:
        await binh.say(code)
    for said in (
        "tin nhắn gửi đến đồng chí 90 ngày (với lời nhắc và câu hỏi theo dõi cam kết, sau đó chỉ giữ dấu đã gửi",
        "bản nháp chưa hoàn thành 180 ngày kể từ lần sửa cuối, cùng ảnh đã gửi trong bản nháp",
        "bản sao dữ liệu gửi qua /dulieu 7 ngày",
    ):
        assert said in binh.text, (said, binh.text)


@pytest.mark.postgres
async def test_the_same_on_postgresql(pg_url):
    """The prune's and the erasure's statements on PostgreSQL: files of cancelled reports and of
    expired drafts go, a filed report's stays; a keyed message is reduced; the copy goes."""
    from datetime import date

    from chidoan.storage.db import make_db, upgrade
    from tests.conftest import seed_org

    engine = make_db(pg_url)
    upgrade(engine)
    seed_org(engine)
    sec = add_member(engine, "pg-sec", "Võ Thị Hạnh", "RG-VB-KP1", Role.secretary)
    now = datetime.now(UTC)
    old = now - timedelta(days=200)
    conv, out = table(Conversation), table(Outbox)
    with unit_of_work(engine) as uow:
        unit = uow.units.by_code("RG-VB-KP1").id

        def conversation(name: str, status: str, at: datetime = old) -> list[dict]:
            photos = [{"document": uow.documents.add(kind="upload", filename=name, content=PNG, now=at), "name": name}]
            data = {"a": {"photos": photos}, "ctx": {"unit": unit}}
            uow.conn.execute(
                conv.insert().values(
                    account_id=sec,
                    journey="meeting",
                    step="photos",
                    data=data,
                    status=status,
                    created_at=at,
                    updated_at=at,
                )
            )
            return photos

        filed = conversation("filed.png", "completed")
        uow.reports.add(
            unit_id=unit, kind="meeting", held_on=date(2026, 5, 1), data={"photos": filed}, account_id=sec, now=old
        )
        conversation("cancelled.png", "cancelled")
        conversation("abandoned.png", "paused")
        conversation("open.png", "active", now)
        uow.documents.add(kind="data_export", filename="chidoan-data-1.json", content=b"{}", now=old)
        uow.conn.execute(
            out.insert().values(
                channel="web",
                chat_id="pg-sec",
                account_id=sec,
                body={"text": "Nhắc: báo cáo sinh hoạt"},
                status="sent",
                attempts=1,
                not_before=old,
                dedupe_key="reminder:x:1:0",
                created_at=old,
                kind="notice",
                priority=5,
            )
        )
    pruned = await prune(await run_in(engine), make_settings(pg_url), now, batch=1)
    assert (pruned["conversations"], pruned["drafts"], pruned["uploads"]) == (2, 1, 2)
    assert (pruned["messages_blanked"], pruned["exports"]) == (1, 1)
    assert uploads(engine) == ["filed.png", "open.png"]
    with engine.connect() as conn:
        assert conn.execute(select(out.c.body, out.c.chat_id, out.c.dedupe_key)).one() == ({}, "", "reminder:x:1:0")
    with unit_of_work(engine) as uow:
        assert uow.privacy.erase(sec, pseudonym="(đã xóa)", source="cli", now=now)["uploads"] == 1
    assert uploads(engine) == ["filed.png"]
    engine.dispose()
