"""Joining with an invite code, end to end through the web chat, checked in the database."""

from sqlalchemy import select

from chidoan.bot.app import App
from chidoan.i18n import gettext
from chidoan.storage.models import ConversationStatus, Invite, RoleAssignment
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser, add_member, expire, new_invite


async def test_secretary_onboards_and_district_is_told(app, db):
    staff_id = add_member(db, "staff-1", "Trần Thị Bình", "RG", "district_staff")
    code = new_invite(db, "RG-VB")
    async with WebUser(app, "u-an", "An Nguyễn", language="en") as an, WebUser(app, "staff-1") as staff:
        await an.say("/start")
        assert "invite code" in an.text
        await an.say(code.lower())  # codes are typed in any case
        assert "Secretary of Đoàn phường Vĩnh Bảo" in an.text
        assert "full name" in an.text
        await an.say("Nguyễn Văn An")
        assert "position" in an.text
        await an.press("Secretary")
        assert "Full name: Nguyễn Văn An" in an.text and "Position: Secretary" in an.text
        await an.press("Confirm")
        assert "You are now Secretary of Đoàn phường Vĩnh Bảo" in an.text
        await an.say("/me")
        assert "Secretary of Đoàn phường Vĩnh Bảo" in an.text and "Thành đoàn Rạch Giá" in an.text
        await staff.replies()  # rendered in the staff's own language, role label included
        role = gettext("vi", "Secretary")
        assert staff.text == gettext(
            "vi", "{name} joined as {role} of {unit}.", name="Nguyễn Văn An", role=role, unit="Đoàn phường Vĩnh Bảo"
        )

    with unit_of_work(db) as uow:
        sender = uow.accounts.sender("web", "u-an")
        account = uow.accounts.get(sender.account_id)
        assert (account.full_name, account.position, account.locale) == ("Nguyễn Văn An", "Secretary", "en")
        roles = uow.roles.active_of(sender.account_id)
        assert [(r.role, r.code) for r in roles] == [("secretary", "RG-VB")]
        invite = uow.invites.by_code(code)
        assert invite.used_by == sender.account_id and invite.used_at is not None
        [conversation] = uow.conversations.history(sender.account_id)
        assert conversation.status == ConversationStatus.completed
        assert conversation.data["a"] == {"full_name": "Nguyễn Văn An", "position": "Secretary"}
        texts = [e.text for e in uow.events.of_account(sender.account_id)]
        assert texts[:3] == ["/start", code.lower(), "Nguyễn Văn An"]
        assert staff_id != sender.account_id


async def test_new_secretary_replaces_the_old_one(app, db):
    old_id = add_member(db, "old-sec", "Lê Văn Cường", "RG-VB", "secretary")
    code = new_invite(db, "RG-VB")
    async with WebUser(app, "new-sec", language="en") as new, WebUser(app, "old-sec", language="en") as old:
        await new.say(code)
        await new.say("Phạm Thị Hoa")
        await new.say("Bí thư")
        await new.press("Confirm")
        notice = await old.replies()  # in the old secretary's own language (vi)
        expected = gettext(
            "vi",
            "{name} is now the secretary of {unit}. Your secretary access to this unit has ended. Thank you for your work!",
            name="Phạm Thị Hoa",
            unit="Đoàn phường Vĩnh Bảo",
        )
        assert [m["text"] for m in notice] == [expected]
        await old.say("/toi")
        assert (
            gettext("vi", "You are not registered with any unit yet. Send the invite code you were given.") in old.text
        )
    with unit_of_work(db) as uow:
        history = uow.roles.history(uow.units.by_code("RG-VB").id)
        old_row = next(r for r in history if r.account_id == old_id)
        assert old_row.revoked_at is not None and old_row.revoked_reason == "handover"
        assert [r.account_id for r in history if r.revoked_at is None and r.role == "secretary"] != [old_id]


async def test_used_expired_and_unknown_codes(app, db):
    code = new_invite(db, "RG-VB")
    stale = new_invite(db, "RG-VB")
    expire(db, stale)
    async with WebUser(app, "a", language="en") as a, WebUser(app, "b", language="en") as b:
        await a.say(code)
        await a.say("Nguyễn Văn A")
        await a.say("Bí thư")
        await a.press("Confirm")
        await b.say(f"/start {code}")
        assert "already been used" in b.text
        await a.say(f"/start {code}")
        assert "already joined" in a.text
        await b.say(stale)
        assert "expired on" in b.text
        await b.say("/start ZZZZZZZZ")
        assert "do not know the code" in b.text
    with unit_of_work(db) as uow:
        assert uow.invites.by_code(stale).used_at is None
        assert uow.roles.active_of(uow.accounts.sender("web", "b").account_id) == []


async def test_two_people_racing_for_one_code(app, db):
    """Both reach the summary; only the first to confirm gets the role."""
    code = new_invite(db, "RG-VB")
    async with WebUser(app, "r1", language="en") as r1, WebUser(app, "r2", language="en") as r2:
        for user, name in ((r1, "Người Một"), (r2, "Người Hai")):
            await user.say(code)
            await user.say(name)
            await user.say("Bí thư")
        await r1.press("Confirm")
        await r2.press("Confirm")
        assert "used or expired in the meantime" in r2.text
    with unit_of_work(db) as uow:
        holders = uow.roles.holders(uow.units.by_code("RG-VB").id, "secretary")
        assert len(holders) == 1
        assert holders[0].account_id == uow.accounts.sender("web", "r1").account_id


async def test_restart_mid_journey_resumes_at_the_same_step(settings, org, db):
    code = new_invite(db, "RG-VB")
    first = App(settings)
    await first.start()
    async with WebUser(first, "resumer", language="en") as user:
        await user.say(code)
        await user.say("Đặng Thu Hà")
        assert "position" in user.text
    await first.stop()

    second = App(settings)  # a new process: nothing in memory, everything from the database
    await second.start()
    try:
        async with WebUser(second, "resumer", language="en") as user:
            user._seen = len(await_rows(db, "resumer"))
            await user.say("Phó Bí thư")
            assert "Full name: Đặng Thu Hà" in user.text and "Position: Phó Bí thư" in user.text
            await user.press("Confirm")
            assert "You are now" in user.text
    finally:
        await second.stop()


def await_rows(db, chat_id):
    from chidoan.storage.models import Outbox

    t = Outbox.__table__
    with db.connect() as conn:
        return list(conn.execute(select(t.c.id).where(t.c.chat_id == chat_id)))


async def test_district_staff_issue_invites_only_inside_their_district(app, db):
    add_member(db, "staff", "Trần Thị Bình", "RG", "district_staff", locale="en")
    add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary", locale="en")
    async with WebUser(app, "staff", language="en") as staff, WebUser(app, "sec", language="en") as sec:
        await staff.say("/moi RG-VB-KP1 bithu")
        assert "Invite code for Secretary of Chi đoàn Khu phố 1" in staff.text
        await staff.say("/invite CT-ML")
        assert "There is no unit with code CT-ML among the units you manage" in staff.text
        await staff.say("/invite KG-CD")  # under the province, not under this district
        assert "no unit with code KG-CD" in staff.text
        await sec.say("/moi RG-VB-KP1")
        assert "Your role does not allow /moi" in sec.text
        await sec.say("/help")
        assert "/moi" not in sec.text and "/toi" in sec.text
        await staff.say("/help")
        assert "/moi" in staff.text
    with unit_of_work(db) as uow:
        invites = uow.conn.execute(select(Invite.__table__)).all()
        assert [uow.units.get(i.unit_id).code for i in invites] == ["RG-VB-KP1"]
        assert invites[0].role == "secretary" and invites[0].issued_by is not None
        assert uow.conn.execute(select(RoleAssignment.__table__)).all()  # untouched


async def test_a_period_typed_with_nothing_open_is_not_taken_for_an_invite_code(app, db):
    """ "thang 9/27" has eight letters and digits of the codes' alphabet, but a code is typed with
    spaces or dashes at most: a slash makes it something else (here, a period for a question that
    is not open), not an unknown code."""
    code = new_invite(db, "RG-VB")
    async with WebUser(app, "a", language="en") as a:
        for text in ("thang 9/27", "Q2/2027!"):
            await a.say(text)
            assert "do not know the code" not in a.text, text
        await a.say(code.lower()[:4] + " - " + code.lower()[4:])  # still a code, as people type it
        assert "This code makes you" in a.text
    with unit_of_work(db) as uow:
        assert uow.invites.by_code(code) is not None
