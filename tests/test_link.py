"""One identity across channels (/lienket): a code made on one channel, typed on the other and
confirmed there, binds both to one account. End to end through the web chat and the fake
Telegram Bot API (the mechanism is the same for Zalo), the database checked afterwards.

Drafts continue on the other channel; roles of both accounts are merged; when both have a draft
the person is asked which to keep; wrong codes are counted and refused after the limit; expired
and used codes are refused; notices go to the channel used last, or to the chosen one.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, text

from chidoan.bot.app import App
from chidoan.handlers.commitments import ask_due
from chidoan.storage.models import (
    Account,
    ChannelIdentity,
    Conversation,
    ConversationStatus,
    Outbox,
    ReportKind,
    Role,
    RoleAssignment,
    table,
)
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser, add_member, make_settings, new_invite, seed_org
from tests.test_telegram import TgUser, tg_settings

A = table(Account)
IDENT = table(ChannelIdentity)
C = table(Conversation)
R = table(RoleAssignment)
OUT = table(Outbox)
CODE = re.compile(r"LK-\d{6}")


@pytest.fixture
async def both(settings, org, tg):
    """The app with the web chat and Telegram (the fake) at once."""
    application = App(tg_settings(settings, tg))
    await application.start()
    try:
        yield application
    finally:
        await application.stop()


def rows(db, stmt) -> list:
    with db.connect() as conn:
        return list(conn.execute(stmt))


def account_of(db, channel: str, external_id: str | int) -> int:
    [row] = rows(db, select(IDENT).where(IDENT.c.channel == channel, IDENT.c.external_id == str(external_id)))
    return row.account_id


def code_in(reply_text: str) -> str:
    found = CODE.search(reply_text)
    assert found, reply_text
    return found.group(0)


def active_roles(db, account_id: int) -> set[tuple[str, str]]:
    from chidoan.storage.models import OrgUnit

    U = table(OrgUnit)
    stmt = select(U.c.code, R.c.role).join(U, U.c.id == R.c.unit_id)
    return {(r.code, r.role) for r in rows(db, stmt.where(R.c.account_id == account_id, R.c.revoked_at.is_(None)))}


def conversations(db, account_id: int) -> list:
    return rows(db, select(C).where(C.c.account_id == account_id).order_by(C.c.id))


async def link_web_to_telegram(web: WebUser, user: TgUser) -> None:
    """The code made in the web chat, typed on Telegram and confirmed there."""
    await web.say("/lienket")
    code = code_in(web.text)
    await user.say(code)
    assert "Link this Telegram to that account?" in user.text
    await user.press("Link")
    assert "Linked! web chat, Telegram now lead to the same account." in user.text
    await web.replies()
    assert web.text.startswith("Telegram now uses your account too")


async def test_a_draft_started_on_the_web_continues_on_telegram_after_linking(both, db, tg):
    secretary = add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary", locale="en")
    async with WebUser(both, "sec", language="en") as web:
        await web.say("/sinhhoat")
        await web.say("hôm qua")
        await web.press("Regular")
        await web.say("Học tập Nghị quyết Đại hội Đoàn")
        asked = web.last[-1]["text"]  # how many members: where the draft stands

        await web.say("/lienket")
        code = code_in(web.text)
        assert "Within 10 minutes, send it to me from the other app" in web.text
        assert web.last[-1]["text"] == asked  # the open report is asked again, untouched

        user = TgUser(tg, db, 9001, first_name="Cường", language="en")
        await user.say("/start")  # a newcomer to this app is told how to link
        assert "Already using chidoan in another app? Send /lienket there" in user.text
        await user.say(code)
        assert "This code comes from Lê Văn Cường (web chat). Link this Telegram to that account?" in user.text
        stranger = account_of(db, "telegram", 9001)
        assert stranger != secretary  # not yet: only after the confirmation
        await user.press("Link")
        assert "Linked! web chat, Telegram now lead to the same account." in user.text
        assert "Your roles (those of both accounts are kept): Secretary of Đoàn phường Vĩnh Bảo." in user.text
        assert user.last[-1].params["text"] == asked  # the same step, now on Telegram

        await web.replies()  # the other app is told, in case someone else typed the code
        assert web.text.startswith("Telegram now uses your account too (linked ")
        assert web.text.endswith("If this was not you, please tell the union above you at once.")

        await user.say("25")
        assert "How many members were present?" in user.text
        await web.say("20")  # and back on the web, the next step
        assert "What was discussed and done?" in web.text

    assert account_of(db, "telegram", 9001) == secretary
    [merged] = rows(db, select(A).where(A.c.id == stranger))
    assert merged.merged_into == secretary  # the other account is kept, empty, for history
    [draft] = [c for c in conversations(db, secretary) if c.status == ConversationStatus.active]
    assert draft.journey == "meeting" and draft.data["a"]["total"] == 25 and draft.data["a"]["present"] == 20
    # The Telegram events sent before the link belong to the person too, none deleted.
    events = rows(db, text("SELECT account_id FROM inbound_event WHERE channel = 'telegram'"))
    assert events and {e.account_id for e in events} == {secretary}
    [used] = rows(db, text("SELECT used_at, claimed_by FROM link_code"))
    assert used.used_at is not None


async def test_roles_of_both_accounts_are_merged(both, db, tg):
    secretary = add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary", locale="en")
    staff = add_member(db, "9002", "Lê Văn Cường", "RG", "district_staff", channel="telegram", locale="en")
    add_member(db, "9003", "Lê Văn Cường", "RG-VB", "secretary", channel="telegram", locale="en")  # no one else
    async with WebUser(both, "sec", language="en") as web:
        user = TgUser(tg, db, 9002, language="en")
        await user.say("/lienket")  # made on Telegram this time, typed in the web chat
        await web.say(code_in(user.text))
        assert "Link this web chat to that account?" in web.text
        await web.press("Link")
        assert "Linked! web chat, Telegram now lead to the same account." in web.text
        assert "District staff of Thành đoàn Rạch Giá" in web.text and "Secretary of Đoàn phường Vĩnh Bảo" in web.text
        await web.say("/trogiup")
        assert "/moi" in web.text and "/dangky" in web.text  # both roles' commands, on either app
        await user.say("/trogiup")
        assert "/moi" in user.text and "/dangky" in user.text
    assert account_of(db, "web", "sec") == staff
    assert active_roles(db, staff) == {("RG", "district_staff"), ("RG-VB", "secretary")}
    assert active_roles(db, secretary) == set()
    assert rows(db, select(R).where(R.c.account_id == secretary)) == []  # moved, not copied


async def test_both_had_a_draft_the_person_chooses_which_to_keep(both, db, tg):
    web_account = add_member(db, "branch", "Phạm Minh Dũng", "RG-VB-KP1", "secretary", locale="en")
    tg_account = add_member(db, "9004", "Phạm Minh Dũng", "RG-VB", "secretary", channel="telegram", locale="en")
    async with WebUser(both, "branch", language="en") as web:
        await web.say("/sinhhoat")  # the older draft
        await web.say("hôm qua")
        user = TgUser(tg, db, 9004, language="en")
        await user.say("/doithoai")  # the newer one
        await user.say("hôm qua")
        asked = user.last[-1].params["text"]

        await user.say("/lienket")
        await web.say(code_in(user.text))
        await web.press("Link")
        assert "Both accounts have something unfinished. Which one do you want to keep?" in web.text
        labels = [b["label"] for row in web.last[-1]["buttons"] for b in row]
        assert labels[0].startswith("Dialogue report,") and labels[0].endswith("(newer)")
        assert labels[1].startswith("Meeting report,")
        assert account_of(db, "web", "branch") == web_account  # nothing merged before the answer

        await web.press("(newer)")
        assert "Linked!" in web.text
        assert web.last[-1]["text"] == asked  # the dialogue report goes on here, at its step
    assert account_of(db, "web", "branch") == tg_account
    by_journey = {c.journey: c.status for c in conversations(db, tg_account)}
    assert by_journey == {"dialogue": ConversationStatus.active, "meeting": ConversationStatus.cancelled}
    assert active_roles(db, tg_account) == {("RG-VB", "secretary"), ("RG-VB-KP1", "secretary")}


async def test_a_link_code_typed_in_the_middle_of_a_number_step_is_not_an_answer(both, db, tg):
    add_member(db, "branch", "Phạm Minh Dũng", "RG-VB-KP1", "secretary", locale="en")
    async with WebUser(both, "branch", language="en") as web:
        await web.say("/sinhhoat")
        await web.say("hôm qua")
        await web.press("Regular")
        await web.say("Học tập Nghị quyết")
        user = TgUser(tg, db, 9005, language="en")
        await user.say("/lienket")
        await web.say(code_in(user.text))  # at "how many members": a code, not 482913 members
        assert "Link this web chat to that account?" in web.text
    [draft] = conversations(db, account_of(db, "web", "branch"))
    assert "total" not in draft.data["a"]


async def test_wrong_codes_are_counted_and_refused_after_the_limit(both, db, tg):
    add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary", locale="en")
    async with WebUser(both, "sec", language="en") as web:
        await web.say("/lienket")
        code = code_in(web.text)
        user = TgUser(tg, db, 9006, language="en")
        wrong = [f"LK-{(int(code[3:]) + n) % 1_000_000:06d}" for n in range(1, 6)]
        for attempt in wrong:
            await user.say(attempt)
            assert user.text == "That link code is not right. Please check it, or make a new one with /lienket."
        await user.say(code)  # the right one, too late: refused for an hour
        assert user.text == "Too many wrong link codes. Please wait an hour, then make a new code with /lienket."
    stranger = account_of(db, "telegram", 9006)
    assert stranger != account_of(db, "web", "sec")
    [attempts] = rows(db, text(f"SELECT count(*) AS n FROM link_attempt WHERE account_id = {stranger}"))
    assert attempts.n == 5
    [link] = rows(db, text("SELECT claimed_by, used_at FROM link_code"))
    assert (link.claimed_by, link.used_at) == (None, None)


async def test_an_expired_or_used_code_is_refused(both, db, tg):
    secretary = add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary", locale="en")
    async with WebUser(both, "sec", language="en") as web:
        await web.say("/lienket")
        old = code_in(web.text)
        await web.say(old)
        assert web.text == "This is your own link code. Send it from the other app you want to link."
        with db.begin() as conn:  # eleven minutes later
            conn.execute(text("UPDATE link_code SET expires_at = :t"), {"t": datetime.now(UTC)})
        first = TgUser(tg, db, 9007, language="en")
        await first.say(old)
        assert first.text == "This link code has expired or has already been used. Make a new one with /lienket."

        await web.say("/link")  # the English alias
        fresh = code_in(web.text)
        await first.say(fresh)
        await first.press("Link")
        assert "Linked!" in first.text
        second = TgUser(tg, db, 9008, language="en")
        await second.say(fresh)
        assert second.text == "This link code has expired or has already been used. Make a new one with /lienket."
        await first.press("Link")  # a second press of the same button links nothing again
        assert "expired or has already been used" in first.text
    assert account_of(db, "telegram", 9007) == secretary
    assert account_of(db, "telegram", 9008) != secretary
    [attempts] = rows(db, text("SELECT count(*) AS n FROM link_attempt"))
    assert attempts.n == 2  # the expired code and the used one


def notices_to(db, channel: str, chat_id: str, needle: str) -> list:
    return [
        r
        for r in rows(db, select(OUT).where(OUT.c.channel == channel, OUT.c.chat_id == chat_id))
        if needle in r.body["text"]
    ]


async def join(both, user_id: str, unit: str, role: Role) -> None:
    async with WebUser(both, user_id, language="en") as person:
        await person.say(new_invite(both.db, unit, role))
        await person.say("Người Mới " + user_id)
        await person.say("Bí thư")
        await person.press("Confirm")
        assert "Done!" in person.text


async def test_a_notice_goes_only_to_the_channel_used_last_or_the_chosen_one(both, db, tg):
    staff = add_member(db, "staff", "Trần Thị Bình", "RG", "district_staff", locale="en")
    async with WebUser(both, "staff", language="en") as web:
        user = TgUser(tg, db, 9009, language="en")
        await link_web_to_telegram(web, user)  # Telegram was used last

        await join(both, "new1", "RG-VB", Role.secretary)
        assert notices_to(db, "telegram", "9009", "joined as") and not notices_to(db, "web", "staff", "joined as")
        await user.replies()

        await web.say("/toi")  # now the web chat is the one used last
        await join(both, "new2", "RG-VB", Role.deputy)
        assert len(notices_to(db, "web", "staff", "Người Mới new2 joined")) == 1
        assert not notices_to(db, "telegram", "9009", "Người Mới new2")
        await web.replies()

        await user.say("/lienket")  # choose Telegram for notices, then write on the web
        assert "Linked apps:" in user.text and "notices go here" in user.text
        await user.press("🔔 Telegram")
        assert user.text == "Notices will go to Telegram."
        await web.say("/toi")
        await join(both, "new3", "RG-VB-KP1", Role.secretary)
        assert len(notices_to(db, "telegram", "9009", "Người Mới new3 joined")) == 1
        assert not notices_to(db, "web", "staff", "Người Mới new3")

        await web.say("/lienket")
        await web.press("The app I used last")
        assert web.text == "Notices will go to the app you used last."
        await join(both, "new4", "CT-ML", Role.secretary)  # not under RG: no notice at all
    with unit_of_work(db) as uow:
        assert [i.preferred for i in uow.accounts.identities(staff)] == [False, False]


async def test_a_commitment_follow_up_goes_once_to_the_channel_used_last(both, db, tg):
    secretary = add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary", locale="en")
    now = datetime.now(UTC)
    with unit_of_work(db) as uow:
        unit = uow.units.by_code("RG-VB")
        report = uow.reports.add(
            unit_id=unit.id, kind=ReportKind.dialogue, held_on=date.today(), data={}, account_id=secretary, now=now
        )
        uow.reports.add_commitment(
            report_id=report,
            unit_id=unit.id,
            promise="Sửa sân bóng",
            promised_by="UBND",
            due_on=date.today() - timedelta(days=1),
            now=now,
        )
    async with WebUser(both, "sec", language="en") as web:
        user = TgUser(tg, db, 9010, language="en")
        await link_web_to_telegram(web, user)
    with unit_of_work(db) as uow:
        assert ask_due(uow, datetime.now(UTC), both.settings.tz) == 1
    with unit_of_work(db) as uow:
        assert ask_due(uow, datetime.now(UTC), both.settings.tz) == 0  # asked once, whatever the channels
    asked = [r for r in rows(db, select(OUT)) if "Sửa sân bóng" in r.body["text"]]
    assert [(r.channel, r.chat_id) for r in asked] == [("telegram", "9010")]


@pytest.mark.postgres
async def test_linking_merges_roles_and_drafts_in_one_transaction_on_postgresql(pg_url, tg):
    from chidoan.storage.db import make_engine, upgrade

    db = make_engine(pg_url)
    upgrade(db)
    seed_org(db)
    web_account = add_member(db, "branch", "Phạm Minh Dũng", "RG-VB-KP1", "secretary", locale="en")
    tg_account = add_member(db, "9011", "Phạm Minh Dũng", "RG-VB", "secretary", channel="telegram", locale="en")
    app = App(tg_settings(make_settings(pg_url), tg))
    await app.start()
    try:
        async with WebUser(app, "branch", language="en") as web:
            await web.say("/sinhhoat")
            await web.say("hôm qua")
            user = TgUser(tg, db, 9011, language="en")
            await user.say("/doithoai")
            await user.say("/lienket")
            await web.say(code_in(user.text))
            await web.press("Link")
            await web.press("Meeting report")  # the older one, this time
            assert "Linked!" in web.text
            await web.press("Regular")  # the meeting report goes on at its step
            assert user.text  # (Telegram got its own replies before)
    finally:
        await app.stop()
    assert account_of(db, "web", "branch") == tg_account
    assert {c.journey: c.status for c in conversations(db, tg_account)} == {
        "meeting": ConversationStatus.active,
        "dialogue": ConversationStatus.cancelled,
    }
    assert active_roles(db, tg_account) == {("RG-VB", "secretary"), ("RG-VB-KP1", "secretary")}
    assert rows(db, select(A.c.merged_into).where(A.c.id == web_account))[0].merged_into == tg_account
    db.dispose()


async def test_an_invite_code_typed_in_either_app_joins_the_one_account(both, db, tg):
    secretary = add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary", locale="en")
    async with WebUser(both, "sec", language="en") as web:
        user = TgUser(tg, db, 9012, language="en")
        await link_web_to_telegram(web, user)
        await user.say(new_invite(db, "RG-VB-KP1", Role.deputy))  # on Telegram, as on the web
        await user.press("Lê Văn Cường")  # the name the account already has, offered
        await user.say("Phó Bí thư chi đoàn")
        await user.press("Confirm")
        assert "Done! You are now Deputy secretary of Chi đoàn Khu phố 1." in user.text
        await web.say("/toi")
        assert "Secretary of Đoàn phường Vĩnh Bảo" in web.text and "Deputy secretary of Chi đoàn Khu phố 1" in web.text
    assert active_roles(db, secretary) == {("RG-VB", "secretary"), ("RG-VB-KP1", "deputy")}
