"""Edges of the reminders found by a review, each reproduced first: a plan submitted while the
sweep's child process was composing, a snooze spanning a newer stage, the previous month's
meeting late in the month, a deadline moved after its last stages, a child process that dies,
a withdrawn or edited dialogue report's commitments, a reminder moved to another app, and
stages held for someone out of reach."""

from __future__ import annotations

import os
import signal
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from chidoan.bot.sender import Sender
from chidoan.engine.notices import Window
from chidoan.reminders.run import calendar, child_chunk, run_sweep
from chidoan.reminders.sweep import store
from chidoan.storage.db import make_db, upgrade
from chidoan.storage.models import ChannelIdentity, Outbox, OutboxStatus, ReportKind
from chidoan.storage.uow import unit_of_work
from tests.conftest import add_member, make_settings, seed_org
from tests.test_reminders import (
    PLAN,
    REMINDING,
    TZ,
    backdate,
    bind_people,
    local,
    outbox,
    reminders,
    submit_plan,
    sweeper,
)


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, CHIDOAN_SWEEP_PROCESS=False, **REMINDING)


@pytest.fixture
def people(db, org):
    return bind_people(db)


def made(db, key: str, account: int | None = None) -> list[tuple[str, str]]:
    return [
        (r.stage, r.created_at.astimezone(TZ).strftime("%d/%m %H:%M"))
        for r in reminders(db)
        if r.obligation == key and (account is None or r.account_id == account)
    ]


def test_a_reminder_composed_before_a_submission_and_stored_after_it_is_dropped(settings, db, org, people):
    at = local(2026, 10, 8, 8, 0)
    batch, after = child_chunk(settings, at, 0)  # composed in the child, not stored yet
    assert after is None and batch
    submit_plan(db, "RG-VB", at + timedelta(seconds=1))
    with unit_of_work(db) as uow:  # the service's database thread stores the child's rows after it
        store(uow, batch)
    keys = [r.dedupe_key for r in outbox(db)]
    assert not [k for k in keys if f":{org['RG-VB'].id}:" in k and k.startswith(f"reminder:{PLAN}")]
    assert [k for k in keys if f":{org['CT-ML'].id}:" in k]  # the others' are stored as usual


def test_a_snooze_that_ends_after_a_newer_stage_sends_only_the_newer(settings, db, org, people):
    key = f"{PLAN}:{org['RG-VB'].id}"
    run_sweep(db, settings, local(2026, 10, 8, 8, 0))  # before_7
    with unit_of_work(db) as uow:  # "remind me tomorrow", pressed on 11/10 at 09:00
        uow.reminders.snooze(key, people["vb"], local(2026, 10, 12, 9, 0))
    for at in (local(2026, 10, 12, 8, 0), local(2026, 10, 12, 9, 10), local(2026, 10, 12, 9, 20)):
        run_sweep(db, settings, at)
    assert [s for s, _when in made(db, key, people["vb"])] == ["before_7", "before_3"]


def test_the_previous_months_meeting_keeps_its_last_repeat_late_in_the_month(settings, db, org, people):
    """The service was down on 20 and 21/11: the October meeting's second weekly repeat (due 20/11,
    current until 27/11) goes with the first sweep after."""
    assert (2026, 10) in [(y, m) for _p, y, m in calendar(db, settings).meeting_periods(date(2026, 11, 22))]
    season = run_sweep(db, settings, local(2026, 11, 22, 9, 0), dry_run=True)
    meeting = [(p.obligation.key, p.stage.name) for p in season.planned if p.obligation.kind == "meeting"]
    assert (f"meeting:{org['RG-VB-KP1'].id}:2026-10", "weekly_2") in meeting


def test_a_deadline_moved_later_gets_its_own_stages(settings, db, org, people):
    key = f"{PLAN}:{org['RG-VB'].id}"
    at = local(2026, 10, 1, 8, 0)
    while at < local(2026, 10, 14, 12, 0):
        run_sweep(db, settings, at)
        at += timedelta(hours=12)
    with unit_of_work(db) as uow:  # on 14/10 the district moves it to "before 25/10"
        uow.deadlines.move(
            reviewer_id=org["RG"].id,
            obligation="plan",
            programme="three_proactives_2023_2027",
            year=2027,
            due_on=date(2026, 10, 25),
            by=people["rg"],
            now=at.astimezone(UTC),
        )
    while at < local(2026, 10, 26, 12, 0):
        run_sweep(db, settings, at)
        at += timedelta(hours=12)
    after_move = [m for m in made(db, key, people["vb"]) if "@" in m[0]]
    assert after_move == [
        ("before_7@2026-10-25", "18/10 08:00"),
        ("before_3@2026-10-25", "22/10 08:00"),
        ("last_day@2026-10-25", "24/10 08:00"),
        ("overdue@2026-10-25", "25/10 08:00"),
    ]


async def test_a_child_process_that_died_is_replaced(settings, db, org, people):
    sweeps = await sweeper(make_settings(settings.database_url, **REMINDING))  # sweeps in a child process
    try:
        await sweeps.reminders(local(2026, 10, 8, 8, 0))
        assert sweeps._pool is not None
        for pid in list(sweeps._pool._processes):
            os.kill(pid, signal.SIGKILL)
        season = await sweeps.reminders(local(2026, 10, 12, 8, 0))
        assert season.created == 2  # before_3 of RG-VB and CT-ML
        assert (await sweeps.reminders(local(2026, 10, 12, 8, 10))).created == 0
    finally:
        await sweeps.stop()
        await sweeps.processor.stop()


def _dialogue_with_commitment(db, org, secretary: dict[str, int]) -> int:
    at = local(2026, 9, 10, 12, 0).astimezone(UTC)
    with unit_of_work(db) as uow:
        report = uow.reports.add(
            unit_id=org["RG-VB"].id,
            kind=ReportKind.dialogue,
            held_on=date(2026, 9, 10),
            data={},
            account_id=secretary["vb"],
            now=at,
        )
        promise(uow, report, org, at)
    return report


def promise(uow, report: int, org, at: datetime) -> None:
    """The street lights the commune's chairman promised to mend by 1/10."""
    uow.reports.add_commitment(
        report_id=report,
        unit_id=org["RG-VB"].id,
        promise="Sửa đèn đường",
        promised_by="Chủ tịch UBND",
        due_on=date(2026, 10, 1),
        now=at,
    )


def commitment_reminders(db) -> list[tuple[str, str, str]]:
    return [
        (r.obligation, r.stage, r.created_at.astimezone(TZ).strftime("%d/%m %H:%M"))
        for r in reminders(db)
        if r.obligation.startswith("commitment:")
    ]


def test_a_withdrawn_dialogue_reports_commitments_are_not_chased(settings, db, org, people):
    report = _dialogue_with_commitment(db, org, people)
    with unit_of_work(db) as uow:
        uow.reports.withdraw(report, local(2026, 10, 2, 9, 0).astimezone(UTC))
    for at in (local(2026, 10, 4, 9, 0), local(2026, 10, 11, 9, 0), local(2026, 10, 18, 9, 0)):
        run_sweep(db, settings, at)
    assert commitment_reminders(db) == []


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_an_edited_dialogue_report_keeps_its_commitments_reminders(backend, request, tmp_path):
    """An edit states the open commitments afresh (new rows): an unchanged promise is not reminded
    again at once (on PostgreSQL its id changes; on SQLite it may be reused)."""
    url = f"sqlite:///{tmp_path}/e.sqlite3" if backend == "sqlite" else request.getfixturevalue("pg_url")
    on = make_settings(url, CHIDOAN_SWEEP_PROCESS=False, **REMINDING)
    db = make_db(url)
    upgrade(db)
    org = seed_org(db)
    secretary = {"vb": add_member(db, "vb", "Lê Văn Cường", "RG-VB", "secretary")}
    backdate(db)
    report = _dialogue_with_commitment(db, org, secretary)
    run_sweep(db, on, local(2026, 10, 4, 9, 0))
    with unit_of_work(db) as uow:  # what an edit of the report does
        uow.reports.drop_open_commitments(report)
        promise(uow, report, org, local(2026, 10, 4, 10, 0).astimezone(UTC))
    run_sweep(db, on, local(2026, 10, 4, 10, 10))
    assert [(s, when) for _key, s, when in commitment_reminders(db)] == [("overdue", "04/10 09:00")]
    db.dispose()


def test_a_reminder_moved_to_another_app_is_still_cancelled(settings, db, org, people):
    with unit_of_work(db) as uow:
        uow.conn.execute(
            ChannelIdentity.__table__.insert().values(
                channel="telegram",
                external_id="tg-vb",
                chat_id="tg-vb",
                account_id=people["vb"],
                display_name=None,
                reachable=True,
                created_at=datetime(2026, 9, 1, tzinfo=UTC),
                last_seen_at=datetime(2026, 9, 1, tzinfo=UTC),
                preferred=False,
            )
        )
    at = local(2026, 10, 8, 8, 0)
    run_sweep(db, settings, at)  # queued on the web chat, used last
    sender = Sender.__new__(Sender)  # only its rerouting is used here
    sender.window = Window.of(settings)
    with unit_of_work(db) as uow:  # the web chat refuses the chat for now: notices go to Telegram
        sender._reroute(uow, "web", "vb", "refused", at.astimezone(UTC))
    submit_plan(db, "RG-VB", at + timedelta(minutes=1))
    table = Outbox.__table__
    with db.connect() as conn:
        rows = [(r.channel, r.status) for r in conn.execute(select(table).where(table.c.account_id == people["vb"]))]
    assert ("telegram", OutboxStatus.cancelled) in rows and ("telegram", OutboxStatus.pending) not in rows


def test_someone_out_of_reach_gets_only_the_newest_reminder_when_they_write_again(settings, db, org):
    add_member(db, "ml-zalo", "Đặng Thu Hà", "CT-ML", "secretary", channel="zalo")
    backdate(db)
    with unit_of_work(db) as uow:  # last wrote on 1/8: outside Zalo's window all season
        identity = uow.accounts.sender("zalo", "ml-zalo")
        uow.accounts.seen(identity.identity_id, local(2026, 8, 1, 9, 0).astimezone(UTC))
    at = local(2026, 9, 15, 8, 0)
    while at < local(2026, 11, 1):
        run_sweep(db, settings, at)
        at += timedelta(days=1)
    with unit_of_work(db) as uow:  # on 1/11 she writes: what is held for her goes now
        released = uow.outbox.release_held("zalo", "ml-zalo", local(2026, 11, 1, 9, 0).astimezone(UTC))
    texts = [r.body["text"] for r in released]
    assert len(texts) == 2, texts  # the plan's newest (weekly_2) and the dialogue's opening
    assert any("trễ" in t and "kế hoạch" in t for t in texts) and any("đối thoại" in t for t in texts)
