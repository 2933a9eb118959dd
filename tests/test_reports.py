"""/baocao: a unit's reports of the year, viewed, edited into a new version (history kept),
withdrawn, and read-only once reviewed; the dialogue report through the fake Telegram Bot API."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import update

from chidoan.bot.app import App
from chidoan.i18n import gettext
from chidoan.storage.models import Report, ReportKind, ReportStatus
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser, add_member
from tests.test_meetings import app, report_until_photos  # noqa: F401  (the app fixture)


def meeting_reports(db):
    with unit_of_work(db) as uow:
        unit = uow.units.by_code("RG-VB-KP1")
        return [
            (r, [v.data for v in uow.reports.versions(r.id)]) for r in uow.reports.of_unit(unit.id, ReportKind.meeting)
        ]


async def test_view_edit_withdraw_and_read_only_after_review(app, db):  # noqa: F811
    add_member(db, "other", "Đặng Thu Hà", "CT-ML", "secretary", locale="en")
    async with WebUser(app, "branch", language="en") as user, WebUser(app, "other", language="en") as other:
        await report_until_photos(user)
        await user.press("Done")
        await user.press("Send the report")
        await user.say("/baocao")
        assert "Reports of Chi đoàn Khu phố 1" in user.text
        await user.press("Meeting · v1")
        assert "Present: 20" in user.text and "Members: 25" in user.text
        view = user.button("Edit")
        await other.send_frame({"type": "button", "payload": view.replace("edit", "withdraw")})  # another unit's
        assert "no longer valid" in other.text
        await user.press("Edit")
        assert "Please check your answers" in user.text  # straight to the summary: nothing asked again
        await user.press("Edit")
        await user.press("Present")
        await user.say("22")
        await user.press("Send the report")
        assert "22 of 25 members present" in user.text
        [(report, versions)] = meeting_reports(db)
        assert report.version == 2 and [v["present"] for v in versions] == [20, 22]
        await user.say("/baocao")
        await user.press("Meeting · v2")
        await user.press("Withdraw")
        assert "Withdraw the meeting report of" in user.text
        await user.press("Yes")
        assert "withdrawn. It stays in the history" in user.text
        await user.say("/baocao")
        assert user.button("withdrawn")
        with unit_of_work(db) as uow:
            uow.conn.execute(update(Report.__table__).values(status=ReportStatus.reviewed))
        await user.say("/baocao")
        await user.press("reviewed")
        assert "has reviewed this report" in user.text
        assert not any(
            b["label"].startswith(("✏️", "Withdraw")) for m in user.last for row in m.get("buttons", []) for b in row
        )
        await user.send_frame({"type": "button", "payload": view})  # the old Edit button
        assert "can no longer be changed" in user.text
    [(report, versions)] = meeting_reports(db)
    assert report.status == ReportStatus.reviewed and len(versions) == 2


QUESTION = (
    "Withdraw the {kind} report of {date}? It will no longer count as reported and can no longer be edited; it stays"
    " in the history."
)


def vi(msgid: str, **params) -> str:
    return gettext("vi", msgid, **params)


def report_row(db, report_id: int):
    with unit_of_work(db) as uow:
        return uow.reports.one(report_id)


async def test_withdrawing_asks_first_and_a_stale_yes_pressed_again_withdraws_once(app, db):  # noqa: F811
    sec = add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary")
    now = datetime.now(UTC)
    with unit_of_work(db) as uow:
        unit = uow.units.by_code("RG-VB")
        report_id = uow.reports.add(
            unit_id=unit.id, kind=ReportKind.dialogue, held_on=date(2026, 3, 2), data={}, account_id=sec, now=now
        )
    async with WebUser(app, "sec") as user:
        await user.send_frame({"type": "button", "payload": f"rp:withdraw:{report_id}"})
        assert vi(QUESTION, kind=vi("Dialogue").lower(), date="02/03/2026") == user.text
        assert user.text.startswith("Rút báo cáo đối thoại ngày 02/03/2026?")
        assert [b["label"] for row in user.last[0]["buttons"] for b in row] == ["Có", "Không"]
        await user.say("khong")  # typed, not pressed
        assert vi("All right, the report of {date} was not withdrawn.", date="02/03/2026") == user.text
        assert report_row(db, report_id).status == ReportStatus.submitted
        await user.send_frame({"type": "button", "payload": f"rp:withdraw:{report_id}"})
        yes, no = user.button("Có"), user.button("Không")
        await user.say("co")
        assert vi("The report of {date} is withdrawn. It stays in the history.", date="02/03/2026") == user.text
        withdrawn = report_row(db, report_id)
        assert withdrawn.status == ReportStatus.withdrawn
        await user.send_frame({"type": "button", "payload": yes})  # the same question's button, again
        assert vi("The report of {date} is already withdrawn.", date="02/03/2026") == user.text
        await user.send_frame({"type": "button", "payload": no})  # its "No", late
        assert vi("The report of {date} is already withdrawn.", date="02/03/2026") == user.text
        assert report_row(db, report_id) == withdrawn  # nothing written again
        await user.send_frame({"type": "button", "payload": f"rp:withdraw:{report_id}"})  # an old Withdraw button
        assert vi("This report can no longer be changed.") == user.text


async def test_a_dialogue_on_telegram_with_two_commitments(settings, org, db, tg):
    from tests.test_telegram import TgUser, started_unpaced, tg_settings

    add_member(db, "9001", "Lê Văn Cường", "RG-VB", "secretary", channel="telegram", locale="en")
    telegram_app = await started_unpaced(App(tg_settings(settings, tg)))
    try:
        user = TgUser(tg, db, 9001, first_name="Cường", language="en")
        await user.say("/doithoai")
        await user.say("hôm nay")
        await user.press("Commune")
        await user.say("Nguyễn Văn Hùng")
        await user.press("Chủ tịch UBND phường")
        await user.press("No, continue")
        await user.say("60")
        for question, promise in (
            ("Sân chơi cho thiếu nhi", "Bố trí đất làm sân chơi"),
            ("Việc làm cho thanh niên", "Mở lớp dạy nghề"),
        ):
            await user.say(question)
            await user.press("Skip")
            await user.press("Yes")
            await user.say(promise)
            await user.say("Chủ tịch UBND xã")
            await user.say("31/12/2099")
            await user.press("Yes, add another" if question.startswith("Sân") else "No, continue")
        await user.press("Send the report")
        assert "1 leader(s), 2 question(s), 2 commitment(s) to follow up" in user.text
    finally:
        await telegram_app.stop()
    with unit_of_work(db) as uow:
        [report] = uow.reports.of_unit(uow.units.by_code("RG-VB").id, ReportKind.dialogue)
        assert [c.promise for c in uow.reports.commitments(report.id)] == ["Bố trí đất làm sân chơi", "Mở lớp dạy nghề"]
