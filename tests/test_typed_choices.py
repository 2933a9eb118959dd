"""Choices typed instead of pressed (Zalo has no buttons that call back): the option's number, its
words with or without accents, common synonyms; numbers for an earlier question; free-text
steps left alone. Through the web chat, never pressing a button, the database checked."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from chidoan.bot.app import App
from chidoan.handlers.commitments import ask_due
from chidoan.i18n import gettext
from chidoan.programmes.loader import programmes
from chidoan.storage.models import CommitmentStatus, ReportKind, ReportStatus
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser, add_member, new_invite
from tests.test_commitments import a_dialogue_with_a_promise, a_promise
from tests.test_registration import PROGRAMME, clock_at, secretary_in_vietnamese, started
from tests.test_registration import people as people  # noqa: F401  (the fixture)

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def vi(msgid: str, **params) -> str:
    return gettext("vi", msgid, **params)


def locale_of(db, user_id: str) -> str:
    with unit_of_work(db) as uow:
        return uow.accounts.one(uow.accounts.sender("web", user_id).account_id).locale


def answers_of(db, account_id: int) -> dict:
    with unit_of_work(db) as uow:
        return uow.conversations.active(account_id).data["a"]


async def test_a_six_option_menu_answered_by_number_and_by_words_without_accents(app, db):
    sec = add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary")
    year = datetime.now(UTC).astimezone(TZ).year
    now = datetime.now(UTC)
    with unit_of_work(db) as uow:
        unit = uow.units.by_code("RG-VB")
        ids = {
            day: uow.reports.add(
                unit_id=unit.id,
                kind=ReportKind.dialogue if day == 1 else ReportKind.meeting,
                held_on=date(year, 1, day),
                data={},
                account_id=sec,
                now=now,
            )
            for day in range(1, 7)
        }
    async with WebUser(app, "sec") as user:
        await user.say("/baocao")
        assert sum(len(row) for m in user.last for row in m.get("buttons", [])) == 6  # newest first
        await user.say("6")  # the sixth: the oldest, the dialogue of 1 January
        assert vi("{kind} of {date}, version {version}:", kind=vi("Dialogue"), date=f"01/01/{year}", version=1) in (
            user.text
        )
        await user.say("/baocao")
        await user.say(f"03/01/{year} · Sinh hoat · v1")  # the label typed without accents
        assert vi("{kind} of {date}, version {version}:", kind=vi("Meeting"), date=f"03/01/{year}", version=1) in (
            user.text
        )
        await user.say("rut bao cao")  # "Rút báo cáo"
        await user.say("co")  # "Có", at the question that follows
        assert vi("The report of {date} is withdrawn. It stays in the history.", date=f"03/01/{year}") == user.text
    with unit_of_work(db) as uow:
        statuses = {day: uow.reports.one(report_id).status for day, report_id in ids.items()}
    assert statuses == {day: ReportStatus.withdrawn if day == 3 else "submitted" for day in range(1, 7)}


async def test_the_year_question_answered_2027(settings, db, people):
    app = await started(settings, 2026, 10, 5, 8, 0)
    try:
        async with WebUser(app, "sec", language="en") as sec:
            await sec.say("/dangky")
            assert "Register the plan for which year?" in sec.text
            await sec.say("2027")
            assert "Area 1 of 3" in sec.text
    finally:
        await app.stop()
    with unit_of_work(db) as uow:
        state = uow.conversations.active(people["sec"])
        registration = uow.registrations.find(uow.units.by_code("RG-VB").id, PROGRAMME, 2027)
    assert state.journey.endswith(PROGRAMME) and state.data["ctx"]["registration_id"] == registration.id


async def test_the_suggested_text_is_taken_by_typing_dung(settings, db, people):
    async with secretary_in_vietnamese(settings, db, people) as sec:
        await sec.say("/dangky 2027")
        for _area in (1, 2, 3):
            await sec.say("1")  # the area's first item, by its number
            await sec.say("Dùng xe đạp đi thăm 20 thanh niên khó khăn")  # a text step: kept as typed
            await sec.say("tháng 3")
            await sec.say("ban chap hanh")  # the suggestion "Ban Chấp hành"
            await sec.say("bo qua")
            await sec.say("khong")  # no other task
        assert "✅ Dùng nội dung gợi ý" in str(sec.last)
        await sec.say("dung")
        assert "Section III" in sec.text or "III" in sec.text
    with unit_of_work(db) as uow:
        answers = uow.conversations.active(people["sec"]).data["a"]
    assert answers["purpose"] == programmes(settings)[PROGRAMME].defaults.purpose
    assert answers["area1"] == [
        {
            "item": "1.1",
            "what": "Dùng xe đạp đi thăm 20 thanh niên khó khăn",
            "when": "Tháng 3",
            "who": "Ban Chấp hành",
            "result": None,
        }
    ]


async def test_language_typed_with_or_without_accents_survives_a_restart(settings, org, db):
    add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary")
    app = App(settings)
    await app.start()
    try:
        async with WebUser(app, "sec") as user:
            await user.say("/ngonngu")
            await user.say("tieng anh")
            assert user.text == "Language set to English."
            assert locale_of(db, "sec") == "en"
            await user.say("/ngonngu")
    finally:
        await app.stop()
    app = App(settings)  # the question is remembered in the database, not in the process
    await app.start()
    try:
        async with WebUser(app, "sec") as user:
            user._seen = len(await user._delivered())  # what the first process sent is not new
            await user.say("Tiếng Việt")
            assert locale_of(db, "sec") == "vi"
            await user.say("/ngonngu")
            await user.say("english")
            assert locale_of(db, "sec") == "en"
    finally:
        await app.stop()


async def test_a_number_the_question_does_not_have_is_not_an_answer(app, db):
    add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary")
    async with WebUser(app, "sec") as user:
        await user.say("/ngonngu")  # two options
        await user.say("3")
        assert user.last[0]["text"] == vi("There is no option {n} here. Please choose one of these:", n=3)
        assert user.last[-1]["text"] == vi("Choose your language:") and len(user.last[-1]["buttons"][0]) == 2
        assert locale_of(db, "sec") == "vi"
        await user.say("2")
        assert locale_of(db, "sec") == "en"


async def test_a_number_for_a_replaced_menu_is_stale_and_a_text_step_keeps_its_text(app, db):
    branch = add_member(db, "branch", "Phạm Minh Dũng", "RG-VB-KP1", "secretary")
    async with WebUser(app, "branch") as user:
        await user.say("/sinhhoat")
        await user.say("hom qua")
        await user.say("dinh ky")  # "Định kỳ (hằng tháng)": four buttons with Back
        assert vi("What was its theme?") in user.text
        await user.say("3")  # meant for the kind question, now replaced by a text step
        assert user.last[0]["text"] == vi("Option {n} belongs to an earlier question. Here is the current one:", n=3)
        assert vi("What was its theme?") in user.last[-1]["text"]
        assert "theme" not in answers_of(db, branch)
        await user.say("4")  # still for that menu, however often the question is asked again
        assert user.last[0]["text"] == vi("Option {n} belongs to an earlier question. Here is the current one:", n=4)
        assert "theme" not in answers_of(db, branch)
        await user.say("2 buổi")
        assert vi("How many members does {unit} have?", unit="Chi đoàn Khu phố 1") in user.text
        assert answers_of(db, branch)["theme"] == "2 buổi"
        assert answers_of(db, branch)["kind"] == "regular"


async def test_a_whole_meeting_report_typed_without_a_button(app, db):
    add_member(db, "branch", "Phạm Minh Dũng", "RG-VB-KP1", "secretary")
    async with WebUser(app, "branch") as user:
        for text in (
            "/sinhhoat",
            "hom qua",
            "2",  # Chuyên đề
            "Chuyển đổi số trong đoàn viên",
            "25",
            "20",
            "Hướng dẫn cài ứng dụng Thanh niên Việt Nam",
            "bo qua",
            "Dùng xe đạp đi tuyên truyền",
            "xong",
        ):
            await user.say(text)
        assert vi("Please check your answers:") in user.text
        await user.say("2")  # ✏️ Sửa
        assert vi("What would you like to change?") in user.text
        await user.say("thanh phan")  # nothing is called that: the menu is asked again
        await user.say("co mat")  # "Có mặt"
        await user.say("22")
        assert vi("Please check your answers:") in user.text
        await user.say("1")  # ✅ Gửi báo cáo
        assert "22" in user.text
    with unit_of_work(db) as uow:
        unit = uow.units.by_code("RG-VB-KP1")
        [report] = uow.reports.of_unit(unit.id, ReportKind.meeting)
        data = uow.reports.latest_data(report.id)
    yesterday = (datetime.now(UTC).astimezone(TZ) - timedelta(days=1)).date()
    assert report.held_on == yesterday
    assert (data["kind"], data["theme"], data["total"], data["present"]) == (
        "themed",
        "Chuyển đổi số trong đoàn viên",
        25,
        22,
    )
    assert data["opinions"] is None and data["decisions"] == "Dùng xe đạp đi tuyên truyền" and data["photos"] == []


async def test_onboarding_position_typed_bi_thu_stores_the_suggestion(app, db):
    code = new_invite(db, "RG-VB")
    async with WebUser(app, "u-an", "An Nguyễn") as an:
        await an.say(code)
        await an.say("Nguyễn Văn An")
        await an.say("bi thu")
        assert "Bí thư" in an.text
        await an.say("xac nhan")  # "✅ Xác nhận"
    with unit_of_work(db) as uow:
        account = uow.accounts.one(uow.accounts.sender("web", "u-an").account_id)
    assert (account.full_name, account.position) == ("Nguyễn Văn An", "Bí thư")


async def test_the_commitment_follow_up_answered_dang_thuc_hien(settings, org, db):
    commitment_id = a_dialogue_with_a_promise(db)
    with unit_of_work(db) as uow:
        uow.accounts.update(uow.accounts.sender("web", "sec").account_id, locale="vi")
    app = App(settings, clock=clock_at(2026, 12, 10, 8, 0))
    await app.start()  # the start-up sweep asks
    await app.sweeps.caught_up()
    try:
        async with WebUser(app, "sec") as sec:
            await sec.replies()
            await sec.say("dang thuc hien")
            assert vi("Recorded: {answer}.", answer=vi("In progress")) in sec.text
            await sec.say("Đã khảo sát, chờ kinh phí")
            await sec.say("luu")
            assert vi("Thank you, the follow-up is saved.") in sec.text
    finally:
        await app.stop()
    with unit_of_work(db) as uow:
        commitment = uow.reports.one_commitment(commitment_id)
    assert (commitment.status, commitment.note) == (CommitmentStatus.in_progress, "Đã khảo sát, chờ kinh phí")


def test_a_choice_asked_on_one_channel_is_answered_in_that_chat_not_from_another(settings, org, db):
    """The question is the chat's: asked on the web, the words typed from the person's Zalo (where
    it was never shown) are not an answer to it; typed on the web they are."""
    from chidoan.engine.messages import Incoming
    from chidoan.handlers import build_engine
    from chidoan.storage.models import ChannelIdentity, Outbox, Prompt

    account = add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary")
    with unit_of_work(db) as uow:
        uow.conn.execute(
            ChannelIdentity.__table__.insert().values(
                channel="zalo",
                external_id="z-sec",
                chat_id="z-sec",
                account_id=account,
                reachable=True,
                created_at=datetime.now(UTC),
            )
        )
    engine = build_engine(settings)
    now = datetime.now(UTC)
    with unit_of_work(db) as uow:
        engine.process(uow, Incoming("web", "e1", "sec", "sec", text="/ngonngu"), now)
    with unit_of_work(db) as uow:
        engine.process(uow, Incoming("zalo", "e2", "z-sec", "z-sec", text="tieng anh"), now)
    assert locale_of(db, "sec") == "vi"
    out = Outbox.__table__
    with db.connect() as conn:
        [to_zalo] = conn.execute(select(out.c.body).where(out.c.channel == "zalo")).scalars()
        shown = {(r.channel, r.chat_id): r.body["text"] for r in conn.execute(select(Prompt.__table__))}
    assert to_zalo["text"] == vi("I did not understand that. Type /help to see what you can do.")
    assert shown == {("web", "sec"): vi("Choose your language:"), ("zalo", "z-sec"): to_zalo["text"]}
    with unit_of_work(db) as uow:
        engine.process(uow, Incoming("web", "e3", "sec", "sec", text="tieng anh"), now)
    assert locale_of(db, "sec") == "en"


async def test_a_follow_up_sent_to_the_other_app_does_not_take_a_number_typed_in_this_one(app, db):
    """Two linked web chats: a report open in app 1 at its kind question, a commitment follow-up
    sent to app 2 (the notice app). "2" in app 1 is the report's second kind; "2" in app 2 is
    the follow-up's "In progress"."""
    from tests.test_link import code_in

    secretary = add_member(db, "app1", "Lê Văn Cường", "RG-VB", "secretary", locale="en")
    async with WebUser(app, "app1", language="en") as one, WebUser(app, "app2", language="en") as two:
        await one.say("/lienket")
        await two.say(code_in(one.text))
        await one.replies()  # the owner is asked to allow the link
        await one.press("Allow")
        await two.replies()
        assert "Linked!" in two.text
        await one.say("/sinhhoat")
        await one.say("hôm qua")
        assert "What kind of meeting was it?" in one.text
        now = datetime.now(UTC)
        with unit_of_work(db) as uow:
            unit = uow.units.by_code("RG-VB")
            report = uow.reports.add(
                unit_id=unit.id, kind=ReportKind.dialogue, held_on=date.today(), data={}, account_id=secretary, now=now
            )
            commitment = uow.reports.add_commitment(
                report_id=report,
                unit_id=unit.id,
                promise="Sửa sân bóng",
                promised_by="UBND",
                due_on=date.today() - timedelta(days=1),
                now=now,
            )
            [app2] = [i.id for i in uow.accounts.identities(secretary) if i.external_id == "app2"]
            uow.accounts.prefer(secretary, app2)
        with unit_of_work(db) as uow:
            assert ask_due(uow, datetime.now(UTC), TZ) == 1
        await two.replies()
        assert "Sửa sân bóng" in two.text and "In progress" in str(two.last)
        await one.say("2")
        assert "What was its theme?" in one.text
        assert answers_of(db, secretary)["kind"] == "themed"
        with unit_of_work(db) as uow:
            assert uow.reports.one_commitment(commitment).status == CommitmentStatus.open
            assert uow.conversations.active(secretary).journey == "meeting"
        await two.say("2")
        assert "Recorded: In progress." in two.text
    with unit_of_work(db) as uow:
        assert uow.reports.one_commitment(commitment).status == CommitmentStatus.in_progress


async def test_a_number_for_the_open_step_is_not_taken_for_a_menu_shown_in_between(app, db):
    branch = add_member(db, "branch", "Phạm Minh Dũng", "RG-VB-KP1", "secretary")
    async with WebUser(app, "branch") as user:
        for text in ("/sinhhoat", "hom qua", "1", "Học tập Nghị quyết"):
            await user.say(text)
        assert vi("How many members does {unit} have?", unit="Chi đoàn Khu phố 1") in user.text
        await user.say("/ngonngu")  # a menu of two, and the report still open at a number step
        await user.say("25")
        assert vi("How many members were present?") in user.text
        assert answers_of(db, branch)["total"] == 25 and locale_of(db, "branch") == "vi"


async def test_at_a_text_step_a_bare_number_is_not_back_and_a_stale_number_typed_again_is_the_answer(app, db):
    branch = add_member(db, "branch", "Phạm Minh Dũng", "RG-VB-KP1", "secretary")
    async with WebUser(app, "branch") as user:
        for text in ("/sinhhoat", "hom qua", "dinh ky"):
            await user.say(text)
        assert vi("What was its theme?") in user.text  # with « Quay lại, after a menu of four
        await user.say("1")  # not Back: maybe the kind menu's first option, so asked once
        assert user.last[0]["text"] == vi("Option {n} belongs to an earlier question. Here is the current one:", n=1)
        assert vi("What was its theme?") in user.last[-1]["text"] and "theme" not in answers_of(db, branch)
        await user.say("1")  # again: it is the answer
        assert vi("How many members does {unit} have?", unit="Chi đoàn Khu phố 1") in user.text
        assert answers_of(db, branch)["theme"] == "1" and answers_of(db, branch)["kind"] == "regular"


def test_a_zero_from_another_app_is_no_option_and_the_open_step_is_asked_there(settings, org, db):
    """A report opened on the web, continued from the person's Zalo (no question shown there
    yet): "0" is no option of anything, the open step is asked in Zalo, and its answers follow."""
    from chidoan.engine.messages import Incoming
    from chidoan.handlers import build_engine
    from chidoan.storage.models import ChannelIdentity, Outbox

    branch = add_member(db, "branch", "Phạm Minh Dũng", "RG-VB-KP1", "secretary")
    with unit_of_work(db) as uow:
        uow.conn.execute(
            ChannelIdentity.__table__.insert().values(
                channel="zalo",
                external_id="z-b",
                chat_id="z-b",
                account_id=branch,
                reachable=True,
                created_at=datetime.now(UTC),
            )
        )
    engine = build_engine(settings)
    out = Outbox.__table__
    events = iter(range(1, 100))

    def say(channel: str, user: str, text: str) -> list[str]:
        with db.connect() as conn:
            before = conn.execute(select(out.c.id).order_by(out.c.id.desc())).scalar() or 0
        with unit_of_work(db) as uow:
            engine.process(uow, Incoming(channel, f"e{next(events)}", user, user, text=text), datetime.now(UTC))
        with db.connect() as conn:
            rows = conn.execute(select(out.c.chat_id, out.c.body).where(out.c.id > before).order_by(out.c.id))
            return [f"{chat}: {body['text']}" for chat, body in rows]

    say("web", "branch", "/sinhhoat")
    say("web", "branch", "hom qua")
    replies = say("zalo", "z-b", "0")
    assert replies[0] == "z-b: " + vi("Please choose one of the options: press a button or type its number.")
    assert vi("What kind of meeting was it?") in replies[-1] and "kind" not in answers_of(db, branch)
    replies = say("zalo", "z-b", "2")
    assert vi("What was its theme?") in replies[-1] and answers_of(db, branch)["kind"] == "themed"
    replies = say("zalo", "z-b", "0")  # a theme of "0" is odd, but it is what was typed
    assert vi("How many members does {unit} have?", unit="Chi đoàn Khu phố 1") in replies[-1]
    assert answers_of(db, branch)["theme"] == "0"


async def test_on_telegram_every_listed_choice_typed_without_pressing(settings, db, people, tg):
    """The cases of the issue typed into Telegram (which has buttons, but people type anyway):
    "tieng viet" at /ngonngu, "2027" at the year question, "ban chap hanh" at the one-tap "who",
    "dung" at the suggested text, "dang thuc hien" at a commitment's follow-up."""
    from tests.test_telegram import TgUser, started_unpaced, tg_settings

    secretary = add_member(db, "7001", "Đặng Thu Hà", "CT-ML", "secretary", channel="telegram", locale="en")
    app = await started_unpaced(App(tg_settings(settings, tg), clock=clock_at(2026, 10, 5, 7, 0)))
    try:
        user = TgUser(tg, db, 7001, first_name="Hà", language="en")
        await user.say("/ngonngu")
        await user.say("tieng viet")
        assert locale_of_account(db, secretary) == "vi"
        await user.say("/dangky")
        assert vi("Register the plan for which year?") in user.text
        await user.say("2027")
        for _area in (1, 2, 3):
            await user.say("1")
            await user.say("Dùng xe đạp đi thăm thanh niên")
            await user.say("tháng 3")
            await user.say("ban chap hanh")
            await user.say("bo qua")
            await user.say("khong")
        await user.say("dung")
        await user.say("dung")
        assert vi("Please check your answers:") in user.text
        answers = answers_of(db, secretary)
        assert answers["purpose"] == programmes(settings)[PROGRAMME].defaults.purpose
        assert answers["implementation"] == programmes(settings)[PROGRAMME].defaults.implementation
        assert [task["who"] for area in (1, 2, 3) for task in answers[f"area{area}"]] == ["Ban Chấp hành"] * 3
        await user.say("gui")
        commitment = a_promise(  # due today, asked by the morning sweep
            db,
            "CT-ML",
            secretary,
            held_on=date(2026, 9, 1),
            promise="Sửa sân bóng",
            promised_by="UBND",
            due_on=date(2026, 10, 5),
        )
        assert await app.sweeps.follow_ups() == 1
        await user.replies()
        assert "Sửa sân bóng" in user.text
        await user.say("dang thuc hien")
        assert vi("Recorded: {answer}.", answer=vi("In progress")) in user.text
    finally:
        await app.stop()
    with unit_of_work(db) as uow:
        assert uow.registrations.find(uow.units.by_code("CT-ML").id, PROGRAMME, 2027).version == 1
        assert uow.reports.one_commitment(commitment).status == CommitmentStatus.in_progress


def locale_of_account(db, account_id: int) -> str:
    with unit_of_work(db) as uow:
        return uow.accounts.one(account_id).locale


async def test_the_year_question_answered_nam_2027_and_asked_again_after_words_it_cannot_match(settings, db, people):
    """A plan's year is said "năm 2027": that presses the 2027 button. Text that names no
    button there (outside a journey) shows the question again with its buttons, so the "1" that
    follows is its first option, not "an earlier question" followed by nothing."""
    area_1 = vi("Area {number} of {total}: {title}\nItems:\n{items}", number=1, total=3, title="", items="")
    area_1 = area_1.split(":")[0]
    async with secretary_in_vietnamese(settings, db, people) as sec:
        for said in ("nam 2027", "Năm 2027"):
            await sec.say("/dangky")
            assert sec.text == vi("Register the plan for which year?")
            await sec.say(said)
            assert area_1 in sec.text and vi("Register the plan for which year?") not in sec.text
            await sec.say("/huy")
        await sec.say("/dangky")
        await sec.say("kế hoạch mới")  # names no button
        assert sec.last[-1]["text"] == vi("Register the plan for which year?")
        assert [b["label"] for b in sec.last[-1]["buttons"][0]] == ["2027", "2026"]
        assert sec.last[0]["text"] == vi(
            "I did not understand that. Please choose one of these (/help shows what else you can do):"
        )
        await sec.say("1")
        assert area_1 in sec.text
        await sec.say("/huy")
        await sec.say("/ngonngu")
        await sec.say("/trogiup")  # a reply without buttons is now the latest message
        await sec.say("1")  # meant for the language menu: nothing to show again, and no empty promise
        assert sec.text == vi("Option {n} belongs to an earlier question. Type /help to see what you can do.", n=1)
    with unit_of_work(db) as uow:
        history = uow.conversations.history(people["sec"])
        assert [c.data["a"]["_year"] for c in history] == [2027, 2027, 2027]
    assert locale_of(db, "sec") == "vi"
