"""A commitment's follow-up is a notice like any other (engine/notices.py): the daily sweep makes
exactly the outbox row, and leaves exactly the question typed words answer, that `ctx.notify`
makes for the same message to the same person. Checked on twin databases, one notified by a
handler through the engine, one asked by the sweep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from chidoan.engine.commands import Command
from chidoan.engine.dispatch import Engine
from chidoan.engine.messages import Incoming
from chidoan.engine.notices import Window
from chidoan.handlers import ACTIONS, COMMANDS, JOURNEYS
from chidoan.handlers.commitments import ANSWERS, FOLLOW_UP, ask_due
from chidoan.handlers.onboarding import start_with_code
from chidoan.i18n import format_date
from chidoan.storage.db import make_db, upgrade
from chidoan.storage.models import ChannelIdentity, Outbox, Prompt, ReportKind
from chidoan.storage.uow import unit_of_work
from tests.conftest import add_member, make_settings, seed_org

NOW = datetime(2026, 12, 10, 2, 0, tzinfo=UTC)  # 09:00 in Vietnam, the day the commitment is due
HELD_ON = NOW.date() - timedelta(days=30)
PROMISE, PROMISED_BY = "Sửa sân bóng", "Chủ tịch UBND phường"
OUT, IDENT, PROMPT = Outbox.__table__, ChannelIdentity.__table__, Prompt.__table__
# The rows' columns that say what is sent, where and how (not the ids and the moments).
SAID = ("channel", "chat_id", "account_id", "body", "status", "error", "kind", "priority")

CASES = {
    # On Zalo only, last seen 8 days ago: outside the window, sent as the approved template.
    "zalo_template": {"channel": "zalo", "seen_days_ago": 8, "template": "tmpl-1", "busy": False, "asks_in": None},
    # The same without a template: held until they write again.
    "zalo_held": {"channel": "zalo", "seen_days_ago": 8, "template": None, "busy": False, "asks_in": None},
    # On the web chat, in the middle of a meeting report: its question stays the one typed words answer.
    "in_a_journey": {"channel": "web", "seen_days_ago": 0, "template": None, "busy": True, "asks_in": None},
    # The same, with a second app they chose for notices: the question there is the notice's.
    "in_a_journey_in_the_other_app": {
        "channel": "web",
        "seen_days_ago": 0,
        "template": None,
        "busy": True,
        "apps": 2,
        "asks_in": "sec-2",
    },
}


def twin(tmp_path, name: str, case: dict):
    """A database with a base unit's secretary (the case's app) and a commitment due today."""
    settings = make_settings(f"sqlite:///{tmp_path}/{name}.sqlite3", ZALO_OA_TEMPLATE_ID=case["template"])
    db = make_db(settings.database_url)
    upgrade(db)
    seed_org(db)
    secretary = add_member(db, "sec-1", "Lê Văn Cường", "RG-VB", "secretary", channel=case["channel"], locale="en")
    add_member(db, "staff-1", "Trần Thị Bình", "RG", "district_staff", locale="en")
    with unit_of_work(db) as uow:
        unit = uow.units.by_code("RG-VB")
        report = uow.reports.add(
            unit_id=unit.id, kind=ReportKind.dialogue, held_on=HELD_ON, data={}, account_id=secretary, now=NOW
        )
        uow.reports.add_commitment(
            report_id=report, unit_id=unit.id, promise=PROMISE, promised_by=PROMISED_BY, due_on=NOW.date(), now=NOW
        )
    engine = Engine(
        settings,
        commands=[*COMMANDS, Command("thongbao", (), "a test notice", lambda ctx, _a: notify(ctx, secretary))],
        journeys=JOURNEYS,
        actions=ACTIONS,
        on_code=start_with_code,
    )
    if case.get("apps") == 2:
        with unit_of_work(db) as uow:
            values = {"channel": case["channel"], "external_id": "sec-2", "chat_id": "sec-2", "account_id": secretary}
            uow.conn.execute(IDENT.insert().values(values | {"created_at": NOW, "last_seen_at": NOW - timedelta(1)}))
            [other] = [i.id for i in uow.accounts.identities(secretary) if i.external_id == "sec-2"]
            uow.accounts.prefer(secretary, other)
    if case["busy"]:
        event(db, engine, "sec-1", case["channel"], "/sinhhoat")  # a meeting report begun
    seen = NOW - timedelta(days=case["seen_days_ago"])
    with unit_of_work(db) as uow:
        uow.conn.execute(IDENT.update().where(IDENT.c.external_id == "sec-1").values(last_seen_at=seen))
    return settings, db, engine, secretary


def notify(ctx, secretary: int) -> None:
    [commitment] = ctx.uow.reports.due_commitments(NOW.date())
    buttons = [[(label, f"cm:{commitment.id}:{status}") for status, label in ANSWERS.items()]]
    ctx.notify(
        secretary,
        FOLLOW_UP,
        buttons=buttons,
        date=format_date(HELD_ON),
        by=PROMISED_BY,
        promise=PROMISE,
        due=format_date(NOW.date()),
    )


def event(db, engine: Engine, user_id: str, channel: str, text: str) -> None:
    with unit_of_work(db) as uow:
        engine.process(uow, Incoming(channel, f"{user_id}-{text}", user_id, user_id, text=text), NOW)


def what_they_get(db, secretary: int) -> tuple[list, list]:
    """The notice's outbox rows for the secretary and the questions remembered in their chats."""
    with db.connect() as conn:
        rows = conn.execute(select(OUT).where(OUT.c.account_id == secretary, OUT.c.kind != "reply"))
        prompts = conn.execute(
            select(PROMPT.c.channel, PROMPT.c.chat_id, PROMPT.c.body).where(PROMPT.c.account_id == secretary)
        )
        return [tuple(getattr(r, c) for c in SAID) for r in rows], sorted(map(tuple, prompts), key=repr)


@pytest.mark.parametrize("name", CASES)
def test_the_sweep_asks_exactly_as_a_notice_would(tmp_path, name):
    case = CASES[name]
    _settings, notified, engine, secretary = twin(tmp_path, "notified", case)
    event(notified, engine, "staff-1", "web", "/thongbao")  # the same message, through ctx.notify
    settings, swept, _engine, _ = twin(tmp_path, "swept", case)
    with unit_of_work(swept) as uow:
        assert ask_due(uow, NOW, settings.tz, Window.of(settings)) == 1

    expected, by_sweep = what_they_get(notified, secretary), what_they_get(swept, secretary)
    [row] = by_sweep[0]
    assert PROMISE in row[SAID.index("body")]["text"]
    assert by_sweep == expected
    # The chats where typed words answer the follow-up (a template shows no buttons; held: later).
    asks_in = [chat for _channel, chat, body in by_sweep[1] if PROMISE in body["text"]]
    assert asks_in == ([case["asks_in"]] if case["asks_in"] else [])
    notified.dispose()
    swept.dispose()
