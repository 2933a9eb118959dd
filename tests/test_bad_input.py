"""Bad input gets a polite answer in the user's language; nothing is lost or stored wrong."""

import unicodedata

from sqlalchemy import func, select

from chidoan.storage.models import InboundEvent, Outbox
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser, new_invite


async def at_name_step(app, db, user: WebUser) -> None:
    await user.say(new_invite(db, "RG-VB"))
    assert "full name" in user.text


async def test_empty_whitespace_emoji_and_huge_text(app, db):
    async with WebUser(app, "bad", language="en") as user:
        await at_name_step(app, db, user)
        await user.say("")
        assert "The answer is empty" in user.text and "full name" in user.text
        await user.say("   \n\t ")
        assert "The answer is empty" in user.text
        await user.say("😀🎉👍")
        assert "emoji or symbols alone" in user.text
        huge = "Nguyễn " * 715  # 5,005 characters
        await user.say(huge)
        assert "too long: 5004 characters, at most 120" in user.text
        await user.say("Nguyễn Văn Bình")
        assert "position" in user.text
    with unit_of_work(db) as uow:
        account_id = uow.accounts.sender("web", "bad").account_id
        texts = [e.text for e in uow.events.of_account(account_id)]
        assert texts[1:6] == ["", "   \n\t ", "😀🎉👍", huge, "Nguyễn Văn Bình"]  # every event kept as sent
        assert uow.conversations.active(account_id).data["a"] == {"full_name": "Nguyễn Văn Bình"}


async def test_sql_and_html_are_stored_verbatim_and_nfc(app, db):
    sql = "Robert'); DROP TABLE account;-- <script>alert(1)</script>"
    decomposed = unicodedata.normalize("NFD", "Nguyễn Thị Ánh")
    assert decomposed != unicodedata.normalize("NFC", decomposed)
    async with WebUser(app, "sql", language="en") as user:
        await at_name_step(app, db, user)
        await user.say(sql)
        assert "position" in user.text
        await user.press("Back")
        await user.say(decomposed)
        await user.say("<b>Bí thư</b>")
        assert "Position: <b>Bí thư</b>" in user.text  # shown as typed, not rendered
    with unit_of_work(db) as uow:
        account_id = uow.accounts.sender("web", "sql").account_id
        answers = uow.conversations.active(account_id).data["a"]
        assert answers["full_name"] == unicodedata.normalize("NFC", decomposed)
        assert answers["position"] == "<b>Bí thư</b>"
        texts = [e.text for e in uow.events.of_account(account_id)]
        assert sql in texts
        assert uow.conn.execute(select(func.count()).select_from(InboundEvent.__table__)).scalar() > 0  # tables intact


async def test_unknown_command_and_stranger(app, db):
    async with WebUser(app, "stranger", language="en") as user:
        await user.say("/xoa_het")
        assert "There is no command /xoa_het" in user.text
        await user.say("xin chào")
        assert "not registered yet" in user.text
        await user.say("/moi RG-VB")
        assert "not registered yet" in user.text
        await user.say("/huy")
        assert "nothing to cancel" in user.text
    async with WebUser(app, "stranger-vi") as user:  # Vietnamese by default
        await user.say("/help")
        assert "/start" in user.text and "/trogiup" in user.text and "/moi" not in user.text


async def test_stale_button_and_double_press(app, db):
    async with WebUser(app, "presser", "Trịnh Văn Lâm", language="en") as user:
        await at_name_step(app, db, user)
        name_button = user.button("Trịnh Văn Lâm")
        await user.press("Trịnh Văn Lâm")
        assert "position" in user.text
        await user.send_frame({"type": "button", "payload": name_button})  # pressed again
        assert "from an earlier question" in user.text and "position" in user.text
        await user.send_frame({"type": "button", "payload": "j:999.1.ok"})
        assert "conversation that has ended" in user.text
        await user.send_frame({"type": "button", "payload": "nonsense"})
        assert "no longer valid" in user.text
    with unit_of_work(db) as uow:
        state = uow.conversations.active(uow.accounts.sender("web", "presser").account_id)
        assert state.step == "position" and state.data["a"] == {"full_name": "Trịnh Văn Lâm"}


async def test_same_event_delivered_twice_changes_nothing(app, db):
    async with WebUser(app, "dup", language="en") as user:
        await at_name_step(app, db, user)
        first = await user.send_frame({"type": "text", "text": "Võ Thị Sáu", "id": "evt-1"})
        assert "position" in first[0]["text"]
        second = await user.send_frame({"type": "text", "text": "Võ Thị Sáu", "id": "evt-1"})
        assert second == []
    with unit_of_work(db) as uow:
        events = uow.conn.execute(
            select(InboundEvent.__table__).where(InboundEvent.__table__.c.event_id == "dup:evt-1")  # scoped by user
        ).all()
        assert len(events) == 1
        replies = uow.conn.execute(select(Outbox.__table__).where(Outbox.__table__.c.chat_id == "dup")).all()
        assert len(replies) == 3  # welcome, name question, position question; nothing for the duplicate
        state = uow.conversations.active(uow.accounts.sender("web", "dup").account_id)
        assert state.step == "position"


async def test_cancel_and_language_switch(app, db):
    async with WebUser(app, "switcher") as user:  # first contact in Vietnamese
        await user.say(new_invite(db, "RG-VB"))
        await user.say("/language")
        await user.press("English")
        assert "Language set to English" in user.text
        assert "full name" in user.text  # the open question again, now in English
        await user.say("/cancel")
        assert "Cancelled" in user.text
    with unit_of_work(db) as uow:
        sender = uow.accounts.sender("web", "switcher")
        assert sender.locale == "en"
        assert uow.conversations.active(sender.account_id) is None
