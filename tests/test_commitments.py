"""Commitment follow-up: asked on the due date (with an injected clock), exactly once however
often the sweep runs, answered with buttons and a note, stored for the district."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select

from chidoan.bot.app import App
from chidoan.storage.models import CommitmentStatus, Outbox, ReportKind
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser, add_member
from tests.test_registration import clock_at

DUE = date(2026, 12, 10)


def a_promise(
    db, unit_code: str, account_id: int, *, held_on: date, promise: str, promised_by: str, due_on: date
) -> int:
    """A dialogue of the unit, reported by the account, with one commitment: the commitment's id."""
    now = datetime.now(UTC)
    with unit_of_work(db) as uow:
        unit = uow.units.by_code(unit_code)
        report = uow.reports.add(
            unit_id=unit.id, kind=ReportKind.dialogue, held_on=held_on, data={}, account_id=account_id, now=now
        )
        return uow.reports.add_commitment(
            report_id=report, unit_id=unit.id, promise=promise, promised_by=promised_by, due_on=due_on, now=now
        )


def a_dialogue_with_a_promise(db) -> int:
    secretary = add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary", locale="en")
    add_member(db, "other", "Đặng Thu Hà", "CT-ML", "secretary", locale="en")
    return a_promise(
        db,
        "RG-VB",
        secretary,
        held_on=date(2026, 11, 20),
        promise="Khảo sát mặt bằng sân bóng",
        promised_by="Chủ tịch UBND phường",
        due_on=DUE,
    )


def questions(db) -> list:
    with db.connect() as conn:
        return list(conn.execute(select(Outbox.__table__).where(Outbox.__table__.c.dedupe_key.is_not(None))))


async def test_nothing_is_asked_before_the_due_date(settings, org, db):
    a_dialogue_with_a_promise(db)
    app = App(settings, clock=clock_at(2026, 12, 9, 23, 0))
    await app.start()  # the sweep runs at start
    await app.sweeps.caught_up()
    try:
        assert await app.sweeps.follow_ups() == 0
    finally:
        await app.stop()
    assert questions(db) == []


async def test_the_secretary_is_asked_once_on_the_due_date_and_answers(settings, org, db):
    commitment_id = a_dialogue_with_a_promise(db)
    app = App(settings, clock=clock_at(2026, 12, 10, 8, 0))
    await app.start()  # the start-up sweep asks
    await app.sweeps.caught_up()
    second = App(settings, clock=clock_at(2026, 12, 10, 8, 5))  # another worker, same database
    try:
        assert await app.sweeps.follow_ups() == 0  # asked already
        assert await second.sweeps.follow_ups() == 0
        async with WebUser(app, "sec", language="en") as sec, WebUser(app, "other", language="en") as other:
            await sec.replies()
            assert "committed to “Khảo sát mặt bằng sân bóng”, due 10/12/2026. Has it been done?" in sec.text
            done = sec.button("Done")
            await other.send_frame({"type": "button", "payload": done})  # not their unit's
            assert "no longer valid" in other.text
            await sec.press("In progress")
            assert "Recorded: In progress." in sec.text
            await sec.say("Đã khảo sát, chờ phê duyệt kinh phí")
            await sec.press("Save")
            assert "the follow-up is saved" in sec.text
    finally:
        second.db.dispose()
        await app.stop()
    [question] = questions(db)
    assert question.dedupe_key.startswith(f"commitment:{commitment_id}:")
    with unit_of_work(db) as uow:
        commitment = uow.reports.commitment(commitment_id)
    assert (commitment.status, commitment.note) == (CommitmentStatus.in_progress, "Đã khảo sát, chờ phê duyệt kinh phí")


def test_a_person_asked_under_the_older_per_identity_key_is_not_asked_again(settings, org, db):
    """Before one identity across channels, the key was per identity; after the upgrade the
    person asked that way is not asked a second time under the per-person key."""
    from chidoan.engine.dispatch import outbox_row
    from chidoan.engine.messages import Outgoing
    from chidoan.handlers.commitments import ask_due

    commitment_id = a_dialogue_with_a_promise(db)
    now = datetime(2026, 12, 10, 1, 0, tzinfo=UTC)
    with unit_of_work(db) as uow:
        [holder] = uow.roles.holders(uow.units.by_code("RG-VB").id, "secretary")
        [identity] = uow.accounts.identities(holder.account_id)
        old = outbox_row("web", identity.chat_id, holder.account_id, Outgoing("asked before the upgrade"), now)
        assert uow.outbox.add_once(old | {"dedupe_key": f"commitment:{commitment_id}:{identity.id}"})
    with unit_of_work(db) as uow:
        assert ask_due(uow, now, settings.tz) == 0
    assert len(questions(db)) == 1


def test_the_daily_revisit_of_overdue_commitments_reads_them_in_chunks_of_set_queries(settings, org, db, monkeypatch):
    """Every overdue commitment still open is looked at each day, most asked about already: a
    few statements per chunk, not a few per commitment; each is asked about once, across chunks."""
    from sqlalchemy import event

    from chidoan.handlers import commitments

    monkeypatch.setattr(commitments, "CHUNK", 7)
    secretary = add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary", locale="en")
    add_member(db, "other", "Đặng Thu Hà", "CT-ML", "secretary", locale="en")
    for n in range(30):
        unit = "RG-VB" if n % 2 else "CT-ML"
        a_promise(db, unit, secretary, held_on=date(2026, 11, 2), promise=f"việc {n}", promised_by="Bí thư", due_on=DUE)
    now = datetime(2026, 12, 11, 1, 0, tzinfo=UTC)
    with unit_of_work(db) as uow:
        assert commitments.ask_due(uow, now, settings.tz) == 30
    statements = []
    event.listen(db, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with unit_of_work(db) as uow:
        assert commitments.ask_due(uow, now, settings.tz) == 0  # the next run: all asked already
    assert len(statements) <= 5 * 4  # five chunks of seven, four statements each (was three a commitment)
    assert len(questions(db)) == 30
