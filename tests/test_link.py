"""One identity across channels (/lienket): a code made on one channel and typed on the other
asks the code's owner, in the app where it was made, to allow the link; the owner's Allow binds
both to one account. End to end through the web chat and the fake Telegram Bot API (the
mechanism is the same for Zalo), the database checked afterwards.

Drafts continue on the other channel; roles of both accounts are merged; when both have a draft
the owner is asked which to keep; a refusal merges nothing; the app that typed the code never
sees the owner's name, and every code that does not work gets the same answer; wrong codes are
counted per account and across all accounts (then every code is refused a while and the admins
are told once); crossed codes end in one account; notices go to the channel used last, or to
the chosen one.
"""

from __future__ import annotations

import importlib
import itertools
import pkgutil
import re
import threading
import typing
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, text

from chidoan.bot import channels
from chidoan.bot.app import App
from chidoan.engine.messages import Incoming
from chidoan.handlers import build_engine
from chidoan.handlers.commitments import ask_due
from chidoan.handlers.link import CHANNEL_LABELS
from chidoan.storage.db import make_db, upgrade
from chidoan.storage.links import merge_accounts
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
from tests.test_telegram import TgUser, sent_to, tg_settings

A = table(Account)
IDENT = table(ChannelIdentity)
C = table(Conversation)
R = table(RoleAssignment)
OUT = table(Outbox)
CODE = re.compile(r"LK-\d{6}")

WAIT = "Now please allow the link in the app where you made this code: it asks there. I will tell you here when it is done."
NOT_WORKING = "That link code does not work: it may be mistyped, expired or already used. Please check it, or make a new one with /lienket."
PAUSED = "Link codes are not accepted for a while, because too many wrong ones were typed. Please try again later."


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


def everything_sent(tg, user: TgUser) -> str:
    """Every message the Telegram user ever received."""
    return "\n".join(c.params["text"] for c in sent_to(tg, user.user_id))


async def link_web_to_telegram(web: WebUser, user: TgUser) -> None:
    """The code made in the web chat, typed on Telegram and allowed in the web chat."""
    await web.say("/lienket")
    code = code_in(web.text)
    await user.say(code)
    assert user.text == WAIT
    await web.replies()
    assert "Someone on Telegram (" in web.text and "wants to link to your account" in web.text
    await web.press("Allow")
    assert "Linked! web chat, Telegram now lead to the same account." in web.text
    await user.replies()
    assert "Linked! web chat, Telegram now lead to the same account." in user.text


def add_identity(db, account_id: int, channel: str, external_id: str) -> None:
    """Another app of the account (as if linked before)."""
    with db.begin() as conn:
        conn.execute(
            IDENT.insert().values(
                channel=channel,
                external_id=external_id,
                chat_id=external_id,
                account_id=account_id,
                created_at=datetime.now(UTC),
            )
        )


async def test_a_draft_started_on_the_web_continues_on_telegram_after_the_owner_allows(both, db, tg):
    secretary = add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary", locale="en")
    add_identity(db, secretary, "web", "sec-tablet")  # a third app of the account, told of the link
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
        assert user.text == WAIT  # nothing about whose code it is
        stranger = account_of(db, "telegram", 9001)
        assert stranger != secretary  # not yet: only once the owner allowed

        await web.replies()  # the owner is asked, in the app where the code was made
        assert web.text.startswith("Someone on Telegram (Cường) wants to link to your account with your link code.")
        assert [b["label"] for row in web.last[-1]["buttons"] for b in row] == ["✅ Allow", "❌ Refuse"]
        assert account_of(db, "telegram", 9001) == stranger
        await web.press("Allow")
        assert "Linked! web chat, Telegram now lead to the same account." in web.text
        assert "Your roles (those of both accounts are kept): Secretary of Đoàn phường Vĩnh Bảo." in web.text
        assert web.last[-1]["text"] == asked

        await user.replies()  # the app that typed the code is told, and goes on at the same step
        assert "Linked! web chat, Telegram now lead to the same account." in user.text
        assert "Your roles (those of both accounts are kept): Secretary of Đoàn phường Vĩnh Bảo." in user.text
        assert user.last[-1].params["text"] == asked

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
    [used] = rows(db, text("SELECT used_at, refused_at, claimed_by FROM link_code"))
    assert used.used_at is not None and used.refused_at is None
    # The account's third app is told at once (in case someone else allowed it).
    [warning] = rows(db, select(OUT).where(OUT.c.channel == "web", OUT.c.chat_id == "sec-tablet"))
    assert warning.body["text"].startswith("Telegram now uses your account too (linked ")
    assert warning.body["text"].endswith("If this was not you, please tell the union above you at once.")
    assert "now uses your account too" not in everything_sent(tg, user)


async def test_roles_of_both_accounts_are_merged_when_the_owner_types_allow(both, db, tg):
    secretary = add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary", locale="en")
    staff = add_member(db, "9002", "Lê Văn Cường", "RG", "district_staff", channel="telegram", locale="en")
    add_member(db, "9003", "Lê Văn Cường", "RG-VB", "secretary", channel="telegram", locale="en")  # no one else
    async with WebUser(both, "sec", language="en") as web:
        user = TgUser(tg, db, 9002, language="en")
        await user.say("/lienket")  # made on Telegram this time, typed in the web chat
        await web.say(code_in(user.text))
        assert web.text == WAIT
        await user.replies()
        assert "Someone on web chat (Lê Văn Cường) wants to link to your account" in user.text
        assert account_of(db, "web", "sec") == secretary
        await user.say("allow")  # typed instead of pressed: Allow
        assert "Linked! web chat, Telegram now lead to the same account." in user.text
        await web.replies()
        assert "Linked! web chat, Telegram now lead to the same account." in web.text
        assert "Staff of Thành đoàn Rạch Giá" in web.text and "Secretary of Đoàn phường Vĩnh Bảo" in web.text
        await web.say("/trogiup")
        assert "/moi" in web.text and "/dangky" in web.text  # both roles' commands, on either app
        await user.say("/trogiup")
        assert "/moi" in user.text and "/dangky" in user.text
    assert account_of(db, "web", "sec") == staff
    assert active_roles(db, staff) == {("RG", "district_staff"), ("RG-VB", "secretary")}
    assert active_roles(db, secretary) == set()
    assert rows(db, select(R).where(R.c.account_id == secretary)) == []  # moved, not copied


async def test_a_refusal_merges_nothing_and_the_typing_side_never_sees_the_owners_name(both, db, tg):
    owner = add_member(db, "victim", "Nguyễn Thị Bí Thư", "RG", "district_staff", locale="en")
    async with WebUser(both, "victim", language="en") as web:
        await web.say("/lienket")
        code = code_in(web.text)
        guesser = TgUser(tg, db, 9020, first_name="Kẻ", last_name="Lạ", language="en")
        await guesser.say(code)
        assert guesser.text == WAIT
        other = TgUser(tg, db, 9021, language="en")
        await other.say(code)  # a live code someone else typed first: the answer of any wrong code
        assert other.text == NOT_WORKING
        wrong = f"LK-{(int(code[3:]) + 1) % 1_000_000:06d}"
        await other.say(wrong)
        assert other.text == NOT_WORKING
        await guesser.say(code)  # typed again while the owner decides
        assert guesser.text == WAIT

        await web.replies()
        assert web.text.startswith("Someone on Telegram (Kẻ Lạ) wants to link to your account")
        allow = web.button("Allow")
        await web.press("Refuse")
        assert web.text == "Refused: nothing was linked, and that code cannot be used again."
        await guesser.replies()
        assert guesser.text == "The link was refused in the other app. Nothing was linked."
        await web.send_frame({"type": "button", "payload": allow})  # too late: the request was answered
        assert web.text.startswith("This link request was already answered")
        await guesser.say(code)  # used up
        assert guesser.text == NOT_WORKING

        with db.begin() as conn:  # an expired code, too, says nothing more
            conn.execute(text("UPDATE link_code SET expires_at = :t"), {"t": datetime.now(UTC)})
        await web.say("/lienket")
        fresh = code_in(web.text)
        with db.begin() as conn:
            conn.execute(text("UPDATE link_code SET expires_at = :t WHERE used_at IS NULL"), {"t": datetime.now(UTC)})
        await other.say(fresh)
        assert other.text == NOT_WORKING

    for person in (guesser, other):
        seen = everything_sent(tg, person)
        assert "Nguyễn Thị Bí Thư" not in seen and "Bí Thư" not in seen and "Rạch Giá" not in seen
    stranger = account_of(db, "telegram", 9020)
    assert stranger != owner and account_of(db, "web", "victim") == owner
    assert rows(db, select(A.c.merged_into).where(A.c.merged_into.is_not(None))) == []
    assert active_roles(db, stranger) == set() and active_roles(db, owner) == {("RG", "district_staff")}
    [refused, _fresh] = rows(db, text("SELECT claimed_by, used_at, refused_at FROM link_code ORDER BY id"))
    assert refused.claimed_by == stranger and refused.used_at is not None and refused.refused_at is not None


async def test_both_had_a_draft_the_owner_chooses_which_to_keep(both, db, tg):
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
        assert web.text == WAIT
        await user.replies()
        await user.press("Allow")
        assert "Both accounts have something unfinished. Which one do you want to keep?" in user.text
        labels = [b["text"] for b in user.last[-1].params["reply_markup"]["inline_keyboard"][0]] + [
            b["text"] for b in user.last[-1].params["reply_markup"]["inline_keyboard"][1]
        ]
        assert labels[0].startswith("Dialogue report,") and labels[0].endswith("(newer)")
        assert labels[1].startswith("Meeting report,")
        assert account_of(db, "web", "branch") == web_account  # nothing merged before the answer

        await user.press("(newer)")
        assert "Linked!" in user.text
        assert user.last[-1].params["text"] == asked  # the dialogue report goes on, at its step
        await web.replies()
        assert "Linked!" in web.text and web.last[-1]["text"] == asked  # in both apps
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
        assert WAIT in web.text
    [draft] = conversations(db, account_of(db, "web", "branch"))
    assert "total" not in draft.data["a"]


async def test_a_number_the_owner_types_into_a_report_never_allows_a_link(both, db, tg):
    owner = add_member(db, "branch", "Phạm Minh Dũng", "RG-VB-KP1", "secretary", locale="en")
    async with WebUser(both, "branch", language="en") as web:
        await web.say("/sinhhoat")
        await web.say("hôm qua")
        await web.press("Regular")
        await web.say("Học tập Nghị quyết")
        await web.say("/lienket")
        user = TgUser(tg, db, 9012, language="en")
        await user.say(code_in(web.text))
        await web.replies()  # the request arrives in the middle of "how many members"
        assert "wants to link to your account" in web.text
        allow = web.button("Allow")
        await web.say("1")  # one member: the step's answer, not option 1 (Allow)
        assert web.text == "How many members were present?"
        assert account_of(db, "telegram", 9012) != owner
        await web.send_frame({"type": "button", "payload": allow})  # the button still works
        assert "Linked!" in web.text
    assert account_of(db, "telegram", 9012) == owner
    [draft] = conversations(db, owner)
    assert draft.data["a"]["total"] == 1


async def test_wrong_codes_are_counted_and_refused_after_the_limit(both, db, tg):
    add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary", locale="en")
    async with WebUser(both, "sec", language="en") as web:
        await web.say("/lienket")
        code = code_in(web.text)
        user = TgUser(tg, db, 9006, language="en")
        wrong = [f"LK-{(int(code[3:]) + n) % 1_000_000:06d}" for n in range(1, 6)]
        for attempt in wrong:
            await user.say(attempt)
            assert user.text == NOT_WORKING
        await user.say(code)  # the right one, too late: refused for an hour
        assert user.text == "Too many wrong link codes. Please wait an hour, then make a new code with /lienket."
    stranger = account_of(db, "telegram", 9006)
    assert stranger != account_of(db, "web", "sec")
    [attempts] = rows(db, text(f"SELECT count(*) AS n FROM link_attempt WHERE account_id = {stranger}"))
    assert attempts.n == 5
    [link] = rows(db, text("SELECT claimed_by, used_at FROM link_code"))
    assert (link.claimed_by, link.used_at) == (None, None)


async def test_guessing_with_many_throwaway_accounts_stops_every_code_and_tells_the_admins_once(both, db, tg):
    owner = add_member(db, "victim", "Nguyễn Thị Bí Thư", "RG", "district_staff", locale="en")
    add_member(db, "admin", "Quản Trị Viên", "KG", "admin", locale="en")
    add_member(db, "9040", "Quản Trị Viên", "KG", "admin", channel="telegram", locale="en")
    async with WebUser(both, "victim", language="en") as web:
        await web.say("/lienket")
        code = code_in(web.text)
    guesses = iter(f"LK-{(int(code[3:]) + n) % 1_000_000:06d}" for n in range(1, 100))
    for n in range(5):  # five new Telegram accounts, four guesses each: under the limit per account
        throwaway = TgUser(tg, db, 9100 + n, language="en")
        for _ in range(4):
            await throwaway.say(next(guesses))
            assert throwaway.text == NOT_WORKING
    late = TgUser(tg, db, 9110, language="en")
    await late.say(code)  # the right code, from a fresh account: refused like every code now
    assert late.text == PAUSED
    async with WebUser(both, "guest", language="en") as guest:
        await guest.say(next(guesses))
        assert guest.text == PAUSED
    [link] = rows(db, text("SELECT claimed_by, used_at FROM link_code"))
    assert (link.claimed_by, link.used_at) == (None, None)
    [attempts] = rows(db, text("SELECT count(*) AS n FROM link_attempt"))
    assert attempts.n == 20
    [guard] = rows(db, text("SELECT locked_until FROM link_guard"))
    assert guard.locked_until is not None
    notices = [r for r in rows(db, select(OUT)) if "wrong link codes were typed" in r.body["text"]]
    # Each admin once, in the one app their notices go to; the owner of the code is not an admin.
    assert sorted((r.channel, r.chat_id) for r in notices) == [("telegram", "9040"), ("web", "admin")]
    assert notices[0].body["text"].startswith("Warning: 20 wrong link codes were typed within 10 minutes")

    with db.begin() as conn:  # half an hour later: codes work again
        conn.execute(text("UPDATE link_guard SET locked_until = :t"), {"t": datetime.now(UTC)})
        conn.execute(text("UPDATE link_attempt SET attempted_at = :t"), {"t": datetime.now(UTC) - timedelta(hours=2)})
        conn.execute(text("UPDATE link_code SET expires_at = :t"), {"t": datetime.now(UTC) + timedelta(minutes=5)})
    await late.say(code)
    assert late.text == WAIT
    assert account_of(db, "telegram", 9110) != owner


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
        assert first.text == NOT_WORKING

        await web.say("/link")  # the English alias
        fresh = code_in(web.text)
        await first.say(fresh)
        assert first.text == WAIT
        await web.replies()
        allow = web.button("Allow")
        await web.press("Allow")
        assert "Linked!" in web.text
        second = TgUser(tg, db, 9008, language="en")
        await second.say(fresh)
        assert second.text == NOT_WORKING
        await web.send_frame({"type": "button", "payload": allow})  # a second press links nothing again
        assert web.text.startswith("This link request was already answered")
    assert account_of(db, "telegram", 9007) == secretary
    assert account_of(db, "telegram", 9008) != secretary
    [attempts] = rows(db, text("SELECT count(*) AS n FROM link_attempt"))
    assert attempts.n == 2  # the expired code and the used one


async def test_the_old_confirm_button_of_whoever_typed_the_code_links_nothing(both, db, tg):
    owner = add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary", locale="en")
    async with WebUser(both, "sec", language="en") as web:
        await web.say("/lienket")
        user = TgUser(tg, db, 9009, language="en")
        await user.say(code_in(web.text))
        [link] = rows(db, text("SELECT id FROM link_code"))
        for payload in (f"lk:ok:{link.id}", f"lk:allow:{link.id}", f"lk:keep:{link.id}:1"):
            await user.send(user.tg.callback_update(user.user_id, payload, message_id=1, language_code="en"))
            assert user.text == "That button is no longer valid."
    assert account_of(db, "telegram", 9009) != owner
    assert rows(db, text("SELECT used_at FROM link_code"))[0].used_at is None


async def crossed_codes(app, db, tg, tg_id: int) -> tuple[int, int]:
    """Two apps of one person, each typing the other's code; both requests allowed, one after
    the other. The Telegram account has a draft."""
    web_account = add_member(db, "tele", "Lê Văn Cường", "RG-VB", "secretary", locale="en")
    tg_account = add_member(db, str(tg_id), "Lê Văn Cường", "RG-VB", "secretary", channel="telegram", locale="en")
    async with WebUser(app, "tele", language="en") as web:
        user = TgUser(tg, db, tg_id, language="en")
        await user.say("/sinhhoat")
        await user.say("hôm qua")
        await user.press("Regular")
        await user.say("Học tập Nghị quyết")
        asked = user.last[-1].params["text"]  # how many members

        await web.say("/lienket")
        await user.say(code_in(web.text))
        assert WAIT in user.text
        await web.replies()
        assert "Someone on Telegram" in web.text
        allow = web.button("Allow")
        await user.say("/lienket")
        await web.say(code_in(user.text))
        assert web.text == WAIT
        await user.replies()  # both requests are waiting
        assert "Someone on web chat" in user.text

        await web.send_frame({"type": "button", "payload": allow})  # Telegram's account merged into the web's
        assert "Linked! web chat, Telegram now lead to the same account." in web.text
        await user.replies()
        assert "Linked!" in user.text and user.last[-1].params["text"] == asked
        await user.press("Allow")  # the other request: the apps are one account already
        assert user.text == "These apps already lead to the same account. Nothing more to do."
        await user.say("25")  # the draft goes on
        assert "How many members were present?" in user.text
    return web_account, tg_account


def assert_one_account_with_the_draft(db, web_account: int, tg_account: int) -> None:
    accounts = {r.id: r.merged_into for r in rows(db, select(A.c.id, A.c.merged_into))}
    assert accounts == {web_account: None, tg_account: web_account}
    [draft] = conversations(db, web_account)
    assert draft.journey == "meeting" and draft.status == ConversationStatus.active
    assert draft.data["a"]["total"] == 25
    assert conversations(db, tg_account) == []
    codes = rows(db, text("SELECT account_id, claimed_by, used_at, refused_at FROM link_code ORDER BY id"))
    assert [(c.account_id, c.claimed_by, c.refused_at) for c in codes] == [(web_account, web_account, None)] * 2
    assert all(c.used_at is not None for c in codes)
    assert active_roles(db, web_account) == {("RG-VB", "secretary")}


async def test_crossed_codes_end_in_one_account_with_the_draft_kept(both, db, tg):
    web_account, tg_account = await crossed_codes(both, db, tg, 9050)
    assert account_of(db, "telegram", 9050) == web_account
    assert_one_account_with_the_draft(db, web_account, tg_account)


def test_an_account_is_never_merged_into_itself(db, org):
    account = add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary")
    other = add_member(db, "dep", "Lê Văn Cường", "RG-VB", "deputy")
    now = datetime.now(UTC)
    with pytest.raises(ValueError, match="itself"), unit_of_work(db) as uow:
        merge_accounts(uow.conn, into=account, other=account, keep=None, now=now)
    with unit_of_work(db) as uow:
        merge_accounts(uow.conn, into=account, other=other, keep=None, now=now)
    with pytest.raises(ValueError, match="merged into another"), unit_of_work(db) as uow:
        merge_accounts(uow.conn, into=other, other=account, keep=None, now=now)
    assert {r.id: r.merged_into for r in rows(db, select(A.c.id, A.c.merged_into))} == {account: None, other: account}


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
        await link_web_to_telegram(web, user)
        await user.say("/toi")  # Telegram is the app used last

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
        await user.say("/toi")  # Telegram is the app used last
    with unit_of_work(db) as uow:
        assert ask_due(uow, datetime.now(UTC), both.settings.tz) == 1
    with unit_of_work(db) as uow:
        assert ask_due(uow, datetime.now(UTC), both.settings.tz) == 0  # asked once, whatever the channels
    asked = [r for r in rows(db, select(OUT)) if "Sửa sân bóng" in r.body["text"]]
    assert [(r.channel, r.chat_id) for r in asked] == [("telegram", "9010")]


@pytest.mark.postgres
async def test_linking_merges_roles_and_drafts_in_one_transaction_on_postgresql(pg_url, tg):
    db = make_db(pg_url)
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
            assert web.text == WAIT
            await user.replies()
            await user.press("Allow")
            await user.press("Meeting report")  # the older one, this time
            assert "Linked!" in user.text
            await web.replies()
            await web.press("Regular")  # the meeting report goes on at its step, in either app
            assert "What was its theme?" in web.text
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


@pytest.mark.postgres
async def test_crossed_codes_end_in_one_account_with_the_draft_kept_on_postgresql(pg_url, tg):
    db = make_db(pg_url)
    upgrade(db)
    seed_org(db)
    app = App(tg_settings(make_settings(pg_url), tg))
    await app.start()
    try:
        web_account, tg_account = await crossed_codes(app, db, tg, 9050)
    finally:
        await app.stop()
    assert_one_account_with_the_draft(db, web_account, tg_account)
    db.dispose()


@pytest.mark.postgres
def test_crossed_requests_allowed_at_the_same_moment_merge_once_on_postgresql(pg_url):
    """Two workers, each handling the Allow of one of two crossed requests: the second waits for
    the first to commit (both account rows locked), then finds one account and merges nothing."""
    db = make_db(pg_url)
    upgrade(db)
    seed_org(db)
    engine = build_engine(make_settings(pg_url))
    a = add_member(db, "a", "Lê Văn Cường", "RG-VB", "secretary", locale="en")
    b = add_member(db, "b", "Lê Văn Cường", "RG-VB-KP1", "deputy", locale="en")
    ids = itertools.count()

    def event(user: str, typed: str | None = None, payload: str | None = None) -> Incoming:
        return Incoming("web", f"e{next(ids)}", user, user, text=typed, payload=payload, language_code="en")

    def handle(incoming: Incoming) -> None:
        with unit_of_work(db) as uow:
            engine.process(uow, incoming, datetime.now(UTC))

    def said(user: str) -> str:
        [last] = rows(db, select(OUT).where(OUT.c.chat_id == user).order_by(OUT.c.id.desc()).limit(1))
        return last.body["text"]

    handle(event("a", "/lienket"))
    handle(event("b", code_in(said("a"))))
    handle(event("b", "/lienket"))
    handle(event("a", code_in(said("b"))))
    [code_a, code_b] = [r.id for r in rows(db, text("SELECT id FROM link_code ORDER BY id"))]

    held, release, failures = threading.Event(), threading.Event(), []

    def first() -> None:  # "a" allows the request for its code; the commit waits
        try:
            with unit_of_work(db) as uow:
                engine.process(uow, event("a", payload=f"lk:allow:{code_a}"), datetime.now(UTC))
                held.set()
                release.wait(10)
        except Exception as exc:  # noqa: BLE001
            failures.append(exc)
            held.set()

    def second() -> None:  # meanwhile "b" allows the request for its own code
        try:
            handle(event("b", payload=f"lk:allow:{code_b}"))
        except Exception as exc:  # noqa: BLE001
            failures.append(exc)

    one = threading.Thread(target=first)
    one.start()
    assert held.wait(10)
    two = threading.Thread(target=second)
    two.start()
    two.join(0.5)
    assert two.is_alive()  # it waits for the first transaction
    release.set()
    one.join(10)
    two.join(10)
    assert not one.is_alive() and not two.is_alive() and failures == []
    assert {r.id: r.merged_into for r in rows(db, select(A.c.id, A.c.merged_into))} == {a: None, b: a}
    assert said("b") == "These apps already lead to the same account. Nothing more to do."
    assert active_roles(db, a) == {("RG-VB", "secretary"), ("RG-VB-KP1", "deputy")}
    assert all(r.used_at is not None for r in rows(db, text("SELECT used_at FROM link_code")))
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


def test_every_channel_has_a_name_people_read():
    """Each channel module (a `build` function, as bot/channels/__init__.py finds them) names its
    channel; each name has a label for /lienket and /dulieu, so no internal name ("zalo_bot")
    reaches a person, and a new channel without one fails here."""
    names = set()
    for module in pkgutil.iter_modules(channels.__path__):
        build = getattr(importlib.import_module(f"{channels.__name__}.{module.name}"), "build", None)
        if build is not None:
            [built] = [c for c in typing.get_args(typing.get_type_hints(build)["return"]) if c is not type(None)]
            names.add(built.name)
    assert {"telegram", "zalo", "zalo_bot", "web"} <= names
    assert names <= CHANNEL_LABELS.keys()
