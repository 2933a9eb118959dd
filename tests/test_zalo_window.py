"""Zalo's window: the OA may write to a person only within 7 days of their last interaction
(ZALO_OA_WINDOW_DAYS). A notice (a district's notice, a commitment's follow-up) for someone
outside it goes to another channel of the same account, else as the approved template message
(ZALO_OA_TEMPLATE_ID), else it is stored held (`outside_window`) and sent when the person writes
or follows again. A notice the OA refuses (-230) goes to the account's next channel. A reply to
what the person just wrote always goes back on Zalo.

End to end: chidoan's `App` with the real channels, the fake OA API (tests/fake_zalo_oa.py) and
the fake Telegram Bot API, a clock moved forward by days, the database checked afterwards.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from chidoan.bot.app import App
from chidoan.engine.notices import Window, route
from chidoan.storage.db import make_db, upgrade
from chidoan.storage.models import HELD_OUTSIDE_WINDOW, ChannelIdentity, Outbox, OutboxKind, OutboxStatus, ReportKind
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser, add_member, new_invite, seed_org
from tests.fake_zalo_oa import FakeZaloOA
from tests.test_link import WAIT, code_in
from tests.test_telegram import TgUser, sent_to
from tests.test_zalo_oa import ZaloUser, identity, until, webhook_url, zalo_settings

OUT = Outbox.__table__
IDENT = ChannelIdentity.__table__
ZALO_ID = "84920"
TG_ID = 9020


class Clock:
    """The app's clock: real time moved by `offset` (the days that pass between two steps)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture
async def zalo():
    async with FakeZaloOA() as fake:
        yield fake


@pytest.fixture
def clock() -> Clock:
    return Clock()


def start_app(settings, zalo: FakeZaloOA, tg, clock: Clock, **extra) -> App:
    """Zalo OA, Telegram and the web chat at once, on the test's clock."""
    extra = {"TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_API_URL": tg.base_url} | extra
    return App(zalo_settings(settings.database_url, zalo, **extra), clock=clock)


def rows(db, stmt) -> list:
    with db.connect() as conn:
        return list(conn.execute(stmt))


def notices(db, needle: str) -> list:
    """Outbox rows whose text holds `needle`, in their order."""
    return [r for r in rows(db, select(OUT).order_by(OUT.c.id)) if needle in r.body["text"]]


def zalo_texts(zalo: FakeZaloOA, user_id: str = ZALO_ID) -> list[str]:
    return [m.get("text", "") for m in zalo.messages(user_id)]


def tg_texts(tg) -> list[str]:
    return [c.params["text"] for c in sent_to(tg, TG_ID)]


async def link_zalo_and_telegram(app: App, db, zalo: FakeZaloOA, tg) -> tuple[ZaloUser, TgUser]:
    """The real /lienket journey: the code made on Zalo, typed on Telegram, allowed on Zalo."""
    user = ZaloUser(zalo, app, db, ZALO_ID)
    await user.say("/lienket")
    phone = TgUser(tg, db, TG_ID, language="en")
    await phone.say(code_in(user.text))
    assert phone.text == WAIT
    await user.replies()
    await user.tap("Allow")
    await phone.replies()
    assert "Linked! Zalo, Telegram now lead to the same account." in phone.text
    return user, phone


async def join(app: App, user_id: str, unit: str = "RG-VB") -> None:
    """Someone joins a unit under the district (on the web chat): the district staff is told."""
    async with WebUser(app, user_id, language="en") as person:
        await person.say(new_invite(app.db, unit))
        await person.say("Người Mới " + user_id)
        await person.say("Bí thư")
        await person.press("Confirm")
        assert "Done!" in person.text


def add_commitment(db, secretary: int, due: date) -> None:
    now = datetime.now(UTC)
    with unit_of_work(db) as uow:
        unit = uow.units.by_code("RG-VB")
        report = uow.reports.add(
            unit_id=unit.id, kind=ReportKind.dialogue, held_on=due, data={}, account_id=secretary, now=now
        )
        uow.reports.add_commitment(
            report_id=report, unit_id=unit.id, promise="Sửa sân bóng", promised_by="UBND", due_on=due, now=now
        )


# ---- the choice on its own --------------------------------------------------------------------


def test_the_window_and_the_choice():
    now = datetime(2026, 12, 1, tzinfo=UTC)
    window = Window(days=7, free_hours=48)
    assert window.open(now - timedelta(days=6, hours=23), now) and not window.open(now - timedelta(days=7), now)
    assert not window.open(None, now)  # never seen: outside
    assert window.free(now - timedelta(hours=47), now) and not window.free(now - timedelta(hours=49), now)

    class Ident:  # an identity row, as Accounts.notice_candidates gives them
        def __init__(self, id, channel, days_ago, reachable=True):
            self.id, self.channel, self.chat_id, self.reachable = id, channel, f"c{id}", reachable
            self.last_seen_at = None if days_ago is None else now - timedelta(days=days_ago)

    zalo_old, zalo_new, telegram = Ident(1, "zalo", 8), Ident(1, "zalo", 1), Ident(2, "telegram", 9)
    assert route([zalo_new, telegram], now, window).channel == "zalo"
    assert route([zalo_old, telegram], now, window).channel == "telegram"
    assert route([zalo_new, telegram], now, window, refused=1).channel == "telegram"
    held = route([zalo_old], now, window)
    assert (held.channel, held.kind, held.held) == ("zalo", OutboxKind.notice, HELD_OUTSIDE_WINDOW)
    template = route([zalo_old], now, Window(template_id="t-1"))
    assert (template.kind, template.held) == (OutboxKind.template, None)
    assert route([Ident(1, "zalo", None)], now, window).held == HELD_OUTSIDE_WINDOW
    assert route([Ident(2, "telegram", 1, reachable=False)], now, window) is None  # as before: nowhere
    assert route([zalo_new], now, Window(days=0.5)).held == HELD_OUTSIDE_WINDOW  # the setting decides


# ---- a linked account: Zalo OA and Telegram ---------------------------------------------------


async def test_a_district_notice_goes_to_telegram_when_zalo_is_outside_the_window(settings, org, db, zalo, tg, clock):
    staff = add_member(db, ZALO_ID, "Trần Thị Bình", "RG", "district_staff", channel="zalo", locale="en")
    app = start_app(settings, zalo, tg, clock)
    await app.start()
    await app.sweeps.caught_up()
    try:
        user, phone = await link_zalo_and_telegram(app, db, zalo, tg)
        await user.say("/toi")  # Zalo is now the app used last

        clock.offset = timedelta(days=8)  # and that was 8 days ago
        await join(app, "new1")
        await phone.replies()
        [notice] = notices(db, "Người Mới new1 joined")
        assert (notice.channel, notice.chat_id, notice.kind, notice.status) == (
            "telegram",
            str(TG_ID),
            OutboxKind.notice,
            OutboxStatus.sent,
        )
        assert any("Người Mới new1 joined" in t for t in tg_texts(tg))
        assert not any("new1" in t for t in zalo_texts(zalo))

        await user.say("/toi")  # a reply to what they just wrote goes back on Zalo, whatever the window
        assert "Thành đoàn Rạch Giá" in user.text
        reply = rows(db, select(OUT).where(OUT.c.channel == "zalo").order_by(OUT.c.id.desc()).limit(1))[0]
        assert (reply.kind, reply.status) == (OutboxKind.reply, OutboxStatus.sent)

        await join(app, "new2")  # within the window again, Zalo used last: the notice goes there
        await user.replies()
        [notice] = notices(db, "Người Mới new2 joined")
        assert (notice.channel, notice.status) == ("zalo", OutboxStatus.sent)
        assert any("Người Mới new2 joined" in t for t in zalo_texts(zalo))
        assert not any("new2" in t for t in tg_texts(tg))
    finally:
        await app.stop()
    with unit_of_work(db) as uow:
        assert uow.outbox.held_by_account([staff]) == {}


async def test_a_notice_refused_with_230_is_delivered_on_telegram(settings, org, db, zalo, tg, clock):
    add_member(db, ZALO_ID, "Trần Thị Bình", "RG", "district_staff", channel="zalo", locale="en")
    app = start_app(settings, zalo, tg, clock)
    await app.start()
    await app.sweeps.caught_up()
    try:
        user, phone = await link_zalo_and_telegram(app, db, zalo, tg)
        await user.say("/toi")  # Zalo used last, within the window as chidoan knows it
        zalo.fail_next(-230, ZALO_ID)  # but Zalo counts otherwise
        await join(app, "new1")
        await until(lambda: any("Người Mới new1 joined" in t for t in tg_texts(tg)), what="the notice on Telegram")
        await until(lambda: notices(db, "Người Mới new1 joined")[-1].status == OutboxStatus.sent, what="recorded")
        refused, moved = notices(db, "Người Mới new1 joined")
        assert (refused.channel, refused.status, refused.kind) == ("zalo", OutboxStatus.rerouted, OutboxKind.notice)
        assert "-230" in refused.error
        assert (moved.channel, moved.chat_id, moved.status) == ("telegram", str(TG_ID), OutboxStatus.sent)
        assert moved.body == refused.body and moved.account_id == refused.account_id
        assert [c.error for c in zalo.calls_to("message/cs")][-1] == -230
        assert not identity(db, ZALO_ID).reachable

        await join(app, "new2")  # Zalo counts as unreachable: the next notice goes to Telegram at once
        await until(lambda: any("Người Mới new2 joined" in t for t in tg_texts(tg)), what="the next notice")
        assert [r.channel for r in notices(db, "Người Mới new2 joined")] == ["telegram"]

        await user.say("/toi")  # writing on Zalo again: reachable there, and nothing is sent twice
        assert identity(db, ZALO_ID).reachable
        assert not any("joined" in t for t in zalo_texts(zalo))
        assert notices(db, "Người Mới new1 joined")[0].status == OutboxStatus.rerouted
    finally:
        await app.stop()


async def test_a_commitment_follow_up_goes_to_telegram_when_zalo_is_outside_the_window(
    settings, org, db, zalo, tg, clock
):
    secretary = add_member(db, ZALO_ID, "Lê Văn Cường", "RG-VB", "secretary", channel="zalo", locale="en")
    add_commitment(db, secretary, due=(datetime.now(UTC) + timedelta(days=8)).date())
    app = start_app(settings, zalo, tg, clock)
    await app.start()
    await app.sweeps.caught_up()
    try:
        user, phone = await link_zalo_and_telegram(app, db, zalo, tg)
        await user.say("/toi")  # Zalo used last
        clock.offset = timedelta(days=8, hours=1)
        assert await app.sweeps.follow_ups() == 1
        await phone.replies()
        assert "Sửa sân bóng" in phone.text
        await phone.press("Done")
        assert "Recorded: Done." in phone.text
    finally:
        await app.stop()
    [asked] = notices(db, "Sửa sân bóng")
    assert (asked.channel, asked.kind, asked.status) == ("telegram", OutboxKind.notice, OutboxStatus.sent)
    assert not any("Sửa sân bóng" in t for t in zalo_texts(zalo))


# ---- a person on Zalo only --------------------------------------------------------------------


async def test_zalo_only_outside_the_window_is_held_and_sent_when_they_write_again(settings, org, db, zalo, tg, clock):
    secretary = add_member(db, ZALO_ID, "Lê Văn Cường", "RG-VB", "secretary", channel="zalo", locale="en")
    add_commitment(db, secretary, due=(datetime.now(UTC) + timedelta(days=8)).date())
    app = start_app(settings, zalo, tg, clock)
    await app.start()
    await app.sweeps.caught_up()
    try:
        clock.offset = timedelta(days=8)  # their last interaction (joining) was 8 days ago
        assert await app.sweeps.follow_ups() == 1
        assert await app.sweeps.follow_ups() == 0  # asked once: held counts as asked
        await app.sender.drain_once()
        [asked] = notices(db, "Sửa sân bóng")
        assert (asked.channel, asked.status, asked.error) == ("zalo", OutboxStatus.held, HELD_OUTSIDE_WINDOW)
        assert zalo.calls_to("message/cs") == []  # nothing sent
        assert identity(db, ZALO_ID).reachable  # nothing refused: chidoan knows the window
        with unit_of_work(db) as uow:
            assert uow.outbox.held_by_account([secretary]) == {secretary: 1}  # for the district's status

        user = ZaloUser(zalo, app, db, ZALO_ID)
        await user.say("/toi")  # back: the held question goes first, then the reply
        texts = [m.get("text", "") for m in user.last]
        assert len(texts) == 2 and "Sửa sân bóng" in texts[0] and "Đoàn phường Vĩnh Bảo" in texts[1]
        await user.say("in progress")  # the held question, not the reply after it, is answered
        assert "Recorded: In progress." in user.text
    finally:
        await app.stop()
    assert notices(db, "Sửa sân bóng")[0].status == OutboxStatus.sent
    with unit_of_work(db) as uow:
        assert uow.outbox.held_by_account([secretary]) == {}


async def test_zalo_only_outside_the_window_gets_the_template_when_one_is_set(settings, org, db, zalo, tg, clock):
    secretary = add_member(db, ZALO_ID, "Lê Văn Cường", "RG-VB", "secretary", channel="zalo", locale="en")
    add_commitment(db, secretary, due=(datetime.now(UTC) + timedelta(days=8)).date())
    app = start_app(settings, zalo, tg, clock, ZALO_OA_TEMPLATE_ID="tmpl-nhac-viec")
    await app.start()
    await app.sweeps.caught_up()
    try:
        clock.offset = timedelta(days=8)
        assert await app.sweeps.follow_ups() == 1
        await until(lambda: zalo.templates(ZALO_ID), what="the template message")
    finally:
        await app.stop()
    [sent] = zalo.templates(ZALO_ID)
    assert sent["template_id"] == "tmpl-nhac-viec" and "Sửa sân bóng" in sent["template_data"]["content"]
    assert zalo.calls_to("message/cs") == []
    [asked] = notices(db, "Sửa sân bóng")
    assert (asked.kind, asked.status) == (OutboxKind.template, OutboxStatus.sent)


async def test_zalo_only_refused_notice_is_held_and_sent_when_they_follow_again(settings, org, db, zalo, tg, clock):
    add_member(db, ZALO_ID, "Trần Thị Bình", "RG", "district_staff", channel="zalo", locale="en")
    app = start_app(settings, zalo, tg, clock)
    await app.start()
    await app.sweeps.caught_up()
    try:
        zalo.fail_next(-213, ZALO_ID)  # not following (the unfollow was missed)
        await join(app, "new1")
        await until(lambda: notices(db, "new1 joined")[0].status == OutboxStatus.held, what="held")
        [held] = notices(db, "new1 joined")
        assert held.channel == "zalo" and "-213" in held.error and zalo.messages(ZALO_ID) == []

        await join(app, "new2")  # unreachable, no other channel: kept held as well, not dropped
        [later] = notices(db, "new2 joined")
        assert (later.channel, later.status) == ("zalo", OutboxStatus.held)

        assert (await zalo.deliver(webhook_url(app), zalo.event("follow", ZALO_ID)))[0] == 200
        await until(lambda: len(zalo.messages(ZALO_ID)) == 2, what="both sent after the follow")
        assert ["new1" in zalo_texts(zalo)[0], "new2" in zalo_texts(zalo)[1]] == [True, True]  # in order
    finally:
        await app.stop()


@pytest.mark.postgres
async def test_refused_notice_rerouted_on_postgresql(pg_url, zalo, tg):
    database = make_db(pg_url)
    upgrade(database)
    seed_org(database)
    add_member(database, ZALO_ID, "Trần Thị Bình", "RG", "district_staff", channel="zalo", locale="en")
    clock = Clock()
    from tests.conftest import make_settings

    app = start_app(make_settings(pg_url), zalo, tg, clock)
    await app.start()
    await app.sweeps.caught_up()
    try:
        user, phone = await link_zalo_and_telegram(app, database, zalo, tg)
        await user.say("/toi")
        zalo.fail_next(-230, ZALO_ID)
        await join(app, "new1")
        await until(lambda: any("Người Mới new1 joined" in t for t in tg_texts(tg)), what="the notice on Telegram")
        await until(lambda: notices(database, "Người Mới new1 joined")[-1].status == "sent", what="recorded")
        assert [(r.channel, r.status) for r in notices(database, "Người Mới new1 joined")] == [
            ("zalo", OutboxStatus.rerouted),
            ("telegram", OutboxStatus.sent),
        ]
    finally:
        await app.stop()
        database.dispose()
