"""Jobs left by a handler for after its commit (engine/jobs.py, bot/jobs.py): done off the event,
answered in the asker's chat with a file or a text; a failing job tells the asker and is not
retried forever; a job left by a stopped service is done at the next start."""

from __future__ import annotations

import threading

from sqlalchemy import select

from chidoan.bot.app import App
from chidoan.engine.commands import Command
from chidoan.engine.context import Ctx
from chidoan.engine.dispatch import Engine
from chidoan.engine.jobs import JobContext
from chidoan.handlers import ACTIONS, COMMANDS, JOURNEYS
from chidoan.handlers.onboarding import start_with_code
from chidoan.storage.models import Document, Job
from tests.conftest import WebUser, document_bytes

RENDERED_ON: list[str] = []


def ask(ctx: Ctx, args: str) -> None:
    if ctx.later(args or "echo", text="xin chào"):
        ctx.say("Đang chuẩn bị…")
    else:
        ctx.say("Vẫn đang chuẩn bị…")


async def echo(job: JobContext) -> None:
    count = await job.read(lambda uow: uow.units.count())

    def render(text: str) -> bytes:
        RENDERED_ON.append(threading.current_thread().name)
        return f"{text} {count}".encode()

    content = await job.render(render, job.params["text"])
    await job.reply_file(content, "echo.txt", "Here it is.", kind="test")


async def boom(job: JobContext) -> None:
    raise RuntimeError("broken on purpose")


def engine_with_jobs(settings) -> Engine:
    return Engine(
        settings,
        commands=[*COMMANDS, Command("thu", (), "try a job", ask)],
        journeys=JOURNEYS,
        actions=ACTIONS,
        on_code=start_with_code,
        jobs={"echo": echo, "boom": boom},
    )


def jobs(db) -> list:
    with db.connect() as conn:
        return list(conn.execute(select(Job.__table__).order_by(Job.__table__.c.id)))


async def test_a_job_is_done_after_the_commit_off_the_database_thread_and_answered_with_a_file(settings, org, db):
    app = App(settings, engine=engine_with_jobs(settings))
    await app.start()
    try:
        async with WebUser(app, "u1") as user:
            replies = await user.say("/thu")
            await app.jobs.settled()
            replies += await user.replies()  # the file may already have come with the first answer
        assert replies[0]["text"] == "Đang chuẩn bị…"
        assert replies[1]["document"]["filename"] == "echo.txt"
        [job] = jobs(db)
        assert job.done_at is not None and job.error is None and job.params == {"text": "xin chào"}
        with db.connect() as conn:
            document_id = conn.execute(select(Document.__table__.c.id)).scalar_one()
        content = document_bytes(db, document_id)
        assert content == "xin chào 7".encode()  # the seven units of the seeded org
        assert RENDERED_ON and not RENDERED_ON[-1].startswith("chidoan-db")
    finally:
        await app.stop()


async def test_a_failing_job_tells_the_asker_and_is_kept_with_its_error(settings, org, db):
    app = App(settings, engine=engine_with_jobs(settings))
    await app.start()
    try:
        async with WebUser(app, "u1") as user:
            replies = await user.say("/thu boom")
            await app.jobs.settled()
            replies += await user.replies()
        assert "lỗi" in replies[-1]["text"]
        [job] = jobs(db)
        assert job.done_at is not None and "broken on purpose" in job.error
    finally:
        await app.stop()


async def test_a_job_left_by_a_stopped_service_is_done_at_the_next_start(settings, org, db):
    app = App(settings, engine=engine_with_jobs(settings))
    await app.start()
    async with WebUser(app, "u1") as user:
        await app.jobs.stop()  # the service stops before it gets to the job
        await user.say("/thu")
    await app.stop()
    assert jobs(db)[0].done_at is None
    app = App(settings, engine=engine_with_jobs(settings))
    await app.start()
    try:
        await app.jobs.settled()
        assert jobs(db)[0].done_at is not None
    finally:
        await app.stop()


async def test_the_same_job_asked_again_while_pending_is_not_stored_twice(settings, org, db):
    app = App(settings, engine=engine_with_jobs(settings))
    await app.start()
    try:
        async with WebUser(app, "u1") as user:
            await app.jobs.stop()  # the first job is still pending when it is asked again
            first = await user.say("/thu")
            second = await user.say("/thu")
            other = await user.say("/thu boom")  # another kind: a job of its own
        assert first[-1]["text"] == "Đang chuẩn bị…"
        assert second[-1]["text"] == "Vẫn đang chuẩn bị…"
        assert other[-1]["text"] == "Đang chuẩn bị…"
        assert [j.kind for j in jobs(db)] == ["echo", "boom"]
    finally:
        await app.stop()


def test_jobs_add_skips_a_job_identical_to_a_pending_one(db, org):
    from datetime import UTC, datetime

    from chidoan.storage.uow import unit_of_work
    from tests.conftest import add_member

    one, two = add_member(db, "a1", "Một", "RG", "district_staff"), add_member(db, "a2", "Hai", "RG", "district_staff")
    now = datetime.now(UTC)
    base = {"kind": "export", "account_id": one, "channel": "web", "chat_id": "c1", "now": now}
    with unit_of_work(db) as uow:
        first = uow.jobs.add(params={"unit_id": 2, "year": 2026}, **base)
        assert first is not None
        assert uow.jobs.add(params={"year": 2026, "unit_id": 2}, **base) is None
        for change in (
            {"params": {"unit_id": 3, "year": 2026}},
            {"chat_id": "c2"},
            {"channel": "telegram"},
            {"account_id": two},
            {"kind": "compiled"},
        ):
            assert uow.jobs.add(**({"params": {"unit_id": 2, "year": 2026}} | base | change)) is not None, change
        uow.jobs.done(first, now)
        assert uow.jobs.add(params={"unit_id": 2, "year": 2026}, **base) is not None


def test_a_job_is_announced_only_once_its_own_transaction_has_committed(db):
    """Two database threads (PostgreSQL): one commits while the other's transaction, which asked
    for a job, is still open. The job service poked by the first commit must not take the name
    (it would find no row yet, and nothing would poke it after the second commit)."""
    from chidoan.storage.uow import asked_after_commit, unit_of_work

    asked = asked_after_commit(db)
    asked.clear()
    with unit_of_work(db) as asking:
        asking.asked.add("jobs")
        with unit_of_work(db) as other:  # another thread's transaction, committed first
            other.conn.exec_driver_sql("SELECT 1")
        assert "jobs" not in asked
    assert asked == {"jobs"}
    asked.clear()
    try:
        with unit_of_work(db) as rolled_back:
            rolled_back.asked.add("jobs")
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert asked == set()  # nothing to do: no row was stored
