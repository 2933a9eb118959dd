"""One leader per deployment on PostgreSQL (bot/leader.py): a killed leader (kill -9, a real
process) is followed within seconds, a leader whose connection dies steps down at once, and of
two Apps on one database only the leader runs the sweeps and the sender; a clean stop hands over."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

from sqlalchemy import text

from chidoan.bot.app import App
from chidoan.bot.leader import Leader
from chidoan.storage.db import make_db, upgrade
from tests.conftest import command_env, make_settings

CHILD = """
import asyncio, sys
from chidoan.bot.leader import Leader

async def main():
    leader = Leader(sys.argv[1], retry=0.2, check=0.5)
    await leader.start()
    while not leader.held:
        await asyncio.sleep(0.05)
    print("held", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def until(check, within: float, what: str) -> float:
    """Poll `check()` until truthy; returns the seconds it took."""
    began = time.monotonic()
    while not check():
        assert time.monotonic() - began < within, f"{what}: not within {within} s"
        await asyncio.sleep(0.02)
    return time.monotonic() - began


def events(leader: Leader) -> list[str]:
    seen: list[str] = []

    async def gained() -> None:
        seen.append("gained")

    async def lost() -> None:
        seen.append("lost")

    leader.gained.append(gained)
    leader.lost.append(lost)
    return seen


async def test_a_leader_killed_with_sigkill_is_followed_within_seconds(pg_url):
    child = subprocess.Popen([sys.executable, "-c", CHILD, pg_url], stdout=subprocess.PIPE, env=command_env())
    try:
        line = await asyncio.wait_for(asyncio.to_thread(child.stdout.readline), 60)
        assert line == b"held\n"
        follower = Leader(pg_url, retry=0.5, check=0.5)
        seen = events(follower)
        await follower.start()
        await asyncio.sleep(1.3)  # three tries: the child holds the lock (killed between two tries)
        assert not follower.held and seen == []
        os.kill(child.pid, signal.SIGKILL)
        took = await until(lambda: follower.held, 30, "taken over")
        print(f"\nleader: taken over {took:.2f} s after kill -9 (retry 0.5 s)")
        assert took < 10  # headroom for a loaded machine; within seconds, not a lease's minutes
        assert seen == ["gained"] and follower.since is not None
        await follower.stop()
        assert not follower.held and seen == ["gained", "lost"]
    finally:
        child.kill()
        child.wait()


async def test_a_leader_whose_connection_dies_steps_down_and_leads_again(pg_url):
    leader = Leader(pg_url, retry=0.3, check=0.3)
    seen = events(leader)
    await leader.start()
    await until(lambda: leader.held, 30, "leading")
    assert leader._conn is not None
    pid = leader._conn.info.backend_pid
    db = make_db(pg_url)
    try:
        with db.begin() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        took = await until(lambda: "lost" in seen, 30, "stepped down")
        print(f"\nleader: stepped down {took:.2f} s after its connection was closed (check 0.3 s)")
        assert took < 5  # at its next check, with headroom for a loaded machine
        await until(lambda: leader.held, 30, "leading again")  # its lock went with the session: free again
        assert seen == ["gained", "lost", "gained"]
    finally:
        await leader.stop()
        db.dispose()
    with db.connect() as conn:  # a clean stop gives the lock back
        held = text(
            "SELECT count(*) FROM pg_locks JOIN pg_database d ON d.oid = pg_locks.database"
            " WHERE locktype = 'advisory' AND d.datname = current_database()"
        )
        assert conn.execute(held).scalar_one() == 0  # in this test's database (the server is shared)
    db.dispose()


async def test_of_two_apps_only_the_leader_sweeps_and_sends_and_a_clean_stop_hands_over(pg_url):
    db = make_db(pg_url)
    upgrade(db)
    db.dispose()
    sweeps: dict[str, int] = {"a": 0, "b": 0}
    apps = {}
    for name in ("a", "b"):
        app = App(make_settings(pg_url, CHIDOAN_REMINDERS=True, CHIDOAN_SWEEP_PROCESS=False))
        app.leader.retry = app.leader.check = 0.3
        counted = app.sweeps.reminders

        async def counting(*args, name=name, counted=counted, **kwargs):
            sweeps[name] += 1
            return await counted(*args, **kwargs)

        app.sweeps.reminders = counting  # type: ignore[method-assign]
        apps[name] = app
    a, b = apps["a"], apps["b"]
    running = [a]
    await a.start()
    try:
        await until(lambda: a.leader.held, 30, "a leads")
        await b.start()
        running.append(b)
        await a.sweeps.caught_up()
        await asyncio.sleep(1.0)  # b tries three times
        assert a.leader.held and not b.leader.held
        assert sweeps == {"a": 1, "b": 0}  # the start's catch-up: on the leader only
        assert a.sender.running and not b.sender.running
        assert a.sweeps.scheduler.running and not b.sweeps.scheduler.running
        running.remove(a)
        await a.stop()
        took = await until(lambda: b.leader.held, 30, "b takes over")
        print(f"\nleader: handed over {took:.2f} s after a clean stop (retry 0.3 s)")
        await b.sweeps.caught_up()
        assert sweeps == {"a": 1, "b": 1}
        assert b.sender.running and b.sweeps.scheduler.running
    finally:
        for app in running:
            await app.stop()


async def test_a_job_stored_on_a_follower_is_done_once_by_the_leader_at_once(pg_url):
    """Jobs (and nudge requests) are read as "all pending", not claimed: only the leader does
    them, woken by the NOTIFY of the transaction that stored one on another worker."""
    db = make_db(pg_url)
    upgrade(db)
    apps = [App(make_settings(pg_url)) for _ in range(2)]
    for app in apps:
        app.leader.retry = app.leader.check = 0.3
        await app.start()
    try:
        await until(lambda: any(app.leader.held for app in apps), 30, "one leads")
        await asyncio.sleep(0.5)
        follower = next(app for app in apps if not app.leader.held)
        now = datetime.now(UTC)

        def store(uow) -> int | None:
            asker = uow.accounts.create_with_identity(
                channel="web", external_id="u1", chat_id="u1", display_name=None, locale="vi", now=now
            )
            return uow.jobs.add(
                kind="nothing", account_id=asker.account_id, channel="web", chat_id="u1", params={}, now=now
            )

        job_id = await follower.processor.run(store)

        def done() -> bool:
            with db.connect() as conn:
                return conn.execute(text("SELECT done_at FROM job WHERE id = :id"), {"id": job_id}).scalar() is not None

        took = await until(done, 30, "the job done")
        print(f"\nleader: a job stored on the follower done {took * 1000:.0f} ms after its commit")
        assert took < 10  # woken by the NOTIFY, not the 30 s poll (headroom for a loaded machine)
        with db.connect() as conn:  # done once: one answer (its error, an unknown kind), one reply
            assert conn.execute(text("SELECT count(*) FROM outbox WHERE chat_id = 'u1'")).scalar_one() == 1
    finally:
        for app in apps:
            await app.stop()
        db.dispose()


async def test_a_lone_worker_leads_when_its_start_returns(pg_url):
    leader = Leader(pg_url, retry=0.05, check=0.3)
    await leader.start()
    try:
        assert leader.held  # its /healthz says so at once, and the sender runs from the first update
    finally:
        await leader.stop()


async def test_a_stop_during_a_take_over_lets_it_finish_then_steps_down(pg_url):
    """Stopping half-started services (a take-over cancelled midway) could wait forever."""
    holder = Leader(pg_url, retry=0.05, check=0.3)
    await holder.start()
    follower = Leader(pg_url, retry=0.05, check=0.3)
    events: list[str] = []

    async def gained() -> None:
        events.append("gaining")
        await asyncio.sleep(0.3)
        events.append("gained")

    async def lost() -> None:
        events.append("lost")

    follower.gained.append(gained)
    follower.lost.append(lost)
    await follower.start()
    assert holder.held and not follower.held
    await holder.stop()
    for _ in range(200):
        if events:
            break
        await asyncio.sleep(0.02)
    await follower.stop()
    assert events == ["gaining", "gained", "lost"]


async def test_a_stop_during_a_step_down_lets_it_finish():
    """The connection failed and the leader is stopping its services (the sender's round takes
    a while to record) when the App stops: every service is still stopped, none left running."""
    leader = Leader("postgresql+psycopg://nobody@127.0.0.1/none", retry=0.05, check=0.05)
    checks = iter([True, False])  # the second check finds the connection dead

    async def connected() -> None:
        leader._conn = object()  # type: ignore[assignment]

    async def yes() -> bool:
        return True

    async def alive() -> bool:
        return next(checks, True)

    async def closed() -> None:
        leader._conn = None

    leader._connect, leader._try, leader._alive, leader._close = connected, yes, alive, closed  # type: ignore[method-assign]
    services: dict[str, asyncio.Task] = {}

    async def lead() -> None:
        services["sender"] = asyncio.create_task(asyncio.sleep(0.5))  # a round to record
        services["listener"] = asyncio.create_task(asyncio.sleep(3600))

    async def follow() -> None:  # as App._follow: the sender's round first, then the rest
        await asyncio.shield(services["sender"])
        services["listener"].cancel()

    leader.gained.append(lead)
    leader.lost.append(follow)
    leader._task = asyncio.create_task(leader._run())
    await until(lambda: leader.held, 5, "leading")
    await until(lambda: not leader.held, 5, "stepping down")
    await leader.stop()
    assert services["sender"].done() and services["listener"].cancelled()
