"""The file store (storage/files.py): documents' bytes out of the database, in a local folder or
S3-compatible storage; written before their row commits, deleted after their deletion commits;
existing rows moved by migration 0020 (and back by its downgrade)."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from alembic import command
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text

from chidoan.bot.app import App
from chidoan.storage.db import make_db, upgrade
from chidoan.storage.documents import DOC, FILE_DELETION, FileDamaged, forget
from chidoan.storage.files import TEMP_MARK, FileMissing, LocalFiles, S3Files, attach, store_of
from chidoan.storage.uow import unit_of_work
from tests.conftest import (
    ROOT,
    WebUser,
    add_member,
    command_env,
    document_bytes,
    free_port,
    make_settings,
    seed_org,
)
from tests.test_meetings import report_until_photos
from tests.test_storage import migrator

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def picture(n: int) -> bytes:
    """A PNG (by its signature) with a marker of its own, to be looked for byte for byte."""
    return PNG + f"marker-{n}-{os.urandom(8).hex()}".encode() * 50


def test_a_local_store_keeps_whole_files_under_their_keys(tmp_path):
    files = LocalFiles(tmp_path / "files")
    assert list(files.iter_keys()) == []  # no folder yet
    files.put("2026/11/abc", b"one")
    files.put("2026/11/abc", b"two")  # replaced whole
    files.put("2026/12/def", b"")
    assert files.get("2026/11/abc") == b"two" and files.get("2026/12/def") == b""
    assert sorted(files.iter_keys()) == ["2026/11/abc", "2026/12/def"]
    assert not [p for p in (tmp_path / "files").rglob("*") if TEMP_MARK in p.name]  # no temporary left
    files.delete("2026/11/abc")
    files.delete("2026/11/abc")  # twice: nothing happens
    with pytest.raises(FileMissing):
        files.get("2026/11/abc")
    for bad in ("../x", "/etc/passwd", "a/../../b", "", f"a{TEMP_MARK}1"):
        with pytest.raises(ValueError):
            files.put(bad, b"x")


def test_a_write_that_fails_leaves_no_file(tmp_path, monkeypatch):
    files = LocalFiles(tmp_path)

    def broken(_fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError):
        files.put("2026/11/abc", b"data")
    assert list(tmp_path.rglob("*.*")) == [] and list(files.iter_keys()) == []


def test_bytes_are_written_before_the_row_and_go_after_its_deletion_commits(db, settings, dialect):
    files = store_of(db)
    assert isinstance(files, LocalFiles) and files.root == settings.files_dir
    if dialect == "sqlite":  # the default folder, files/ beside the database's file
        assert settings.files_dir == Path(settings.database_url[10:]).parent / "files"
    with unit_of_work(db) as uow:
        kept = uow.documents.add(kind="upload", filename="a.png", content=b"kept", now=NOW)
        gone = uow.documents.add(kind="upload", filename="b.png", content=b"gone", now=NOW)
    with unit_of_work(db) as uow:
        kept_row, gone_row = uow.documents.one(kept), uow.documents.one(gone)
        assert (kept_row.size, kept_row.mime, kept_row.storage_key.startswith("2026/11/")) == (4, "image/png", True)
    assert files.get(gone_row.storage_key) == b"gone"
    # A transaction that rolls back takes its files with it.
    with pytest.raises(RuntimeError), unit_of_work(db) as uow:
        uow.documents.add(kind="upload", filename="c.png", content=b"never", now=NOW)
        raise RuntimeError("rolled back")
    # So does a savepoint that rolls back (one update of a batch), the rest of the batch kept.
    with unit_of_work(db) as uow:
        with pytest.raises(RuntimeError), uow.savepoint():
            uow.documents.add(kind="upload", filename="d.png", content=b"undone", now=NOW)
            raise RuntimeError("one update fails")
        batch = uow.documents.add(kind="upload", filename="e.png", content=b"batch", now=NOW)
    assert sorted(files.get(k) for k in files.iter_keys()) == [b"batch", b"gone", b"kept"]
    # Deleted: the bytes stay until the deletion commits, then go; nothing left queued.
    with unit_of_work(db) as uow:
        assert forget(uow.conn, DOC.c.id == gone) == 1
        assert files.get(gone_row.storage_key) == b"gone"
    with pytest.raises(FileMissing):
        files.get(gone_row.storage_key)
    with db.connect() as conn:
        assert conn.execute(select(FILE_DELETION)).all() == []
    assert document_bytes(db, kept) == b"kept" and document_bytes(db, batch) == b"batch"
    # A deletion rolled back deletes nothing.
    with pytest.raises(RuntimeError), unit_of_work(db) as uow:
        forget(uow.conn, DOC.c.id == kept)
        raise RuntimeError("changed my mind")
    assert document_bytes(db, kept) == b"kept"
    # Bytes changed behind our back are refused, not sent.
    files.put(kept_row.storage_key, b"KEPT")
    with pytest.raises(FileDamaged):
        document_bytes(db, kept)


def test_a_commit_whose_answer_was_lost_keeps_its_files(db, monkeypatch):
    """The connection cut at COMMIT: the server may have committed. The row's bytes stay (an
    orphan file is harmless; a committed row without its bytes loses a person's photo)."""
    commit = db.dialect.do_commit

    def committed_then_cut(dbapi_conn) -> None:
        commit(dbapi_conn)
        raise ConnectionError("server closed the connection unexpectedly")

    monkeypatch.setattr(db.dialect, "do_commit", committed_then_cut)
    with pytest.raises(ConnectionError), unit_of_work(db) as uow:
        doc = uow.documents.add(kind="upload", filename="a.jpg", content=b"photo", now=NOW)
    monkeypatch.setattr(db.dialect, "do_commit", commit)
    assert document_bytes(db, doc) == b"photo"


def test_deletions_left_by_a_crash_are_done_at_the_next_start(db, settings, org):
    with unit_of_work(db) as uow:
        document_id = uow.documents.add(kind="data_export", filename="x.json", content=b"{}", now=NOW)
        key = uow.documents.one(document_id).storage_key
    # As if the process died between the commit and the deletion of the bytes.
    with db.begin() as conn:
        conn.execute(FILE_DELETION.insert().values(storage_key=key, queued_at=NOW))
        conn.execute(DOC.delete().where(DOC.c.id == document_id))
    assert store_of(db).get(key) == b"{}"
    App(settings).db.dispose()
    with pytest.raises(FileMissing):
        store_of(db).get(key)


def sqlite_bytes(settings) -> bytes:
    """Everything the SQLite database holds on disk: its file and its write-ahead log."""
    path = Path(settings.database_url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())


async def report_with_photos(app: App, photos: list[bytes]) -> list[dict]:
    """A branch secretary reports a meeting in the web chat with these photos (named .jpg); the report's
    photos ({"document": id, "name": ...}) as stored."""
    async with WebUser(app, "branch", language="en") as user:
        await report_until_photos(user)
        for n, data in enumerate(photos):
            await user.send_frame(
                {"type": "file", "name": f"anh-{n}.jpg", "mime": "image/jpeg", "data": base64.b64encode(data).decode()}
            )
        await user.press("Done")
        await user.press("Send the report")
        assert f"{len(photos)} file(s) attached" in user.text
    with unit_of_work(app.db) as uow:
        [report] = uow.reports.of_unit(uow.units.by_code("RG-VB-KP1").id, "meeting")
        return uow.reports.latest_data(report.id)["photos"]


async def downloaded(app: App, token: str) -> bytes:
    url = f"http://127.0.0.1:{app.settings.web_port}/files/{token}"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        return await response.read()


async def reported_and_downloaded(app: App, photos: list[bytes]) -> tuple[list, list[bytes]]:
    """The document rows of a report sent with these photos, and each one's bytes downloaded."""
    stored = await report_with_photos(app, photos)
    with unit_of_work(app.db) as uow:
        rows = [uow.documents.one(p["document"]) for p in stored]
    return rows, [await downloaded(app, row.token) for row in rows]


@pytest.mark.sqlite_only(
    "reads SQLite's files for the bytes; on PostgreSQL: test_photos_through_the_web_chat_on_postgresql"
)
async def test_photos_sent_in_the_web_chat_are_kept_in_the_folder_and_downloaded_as_sent(settings, org, db):
    add_member(db, "branch", "Phạm Minh Dũng", "RG-VB-KP1", "secretary", locale="en")
    photos = [picture(1), picture(2)]
    app = App(settings)
    await app.start()
    try:
        rows, served = await reported_and_downloaded(app, photos)
    finally:
        await app.stop()
    assert served == photos
    # The folder has the bytes, each under its row's key; the database has none of them.
    assert [(settings.files_dir / row.storage_key).read_bytes() for row in rows] == photos
    # PNG pictures named .jpg: the type is what the bytes are.
    assert [(row.size, row.mime) for row in rows] == [(len(p), "image/png") for p in photos]
    assert "content" not in {c["name"] for c in inspect(db).get_columns("document")}
    on_disk = sqlite_bytes(settings)
    assert on_disk and not any(p[len(PNG) : len(PNG) + 40] in on_disk for p in photos)


async def test_a_file_sent_on_telegram_is_read_from_the_store_with_the_same_bytes(settings, org, db, tg):
    from tests.test_jobs import engine_with_jobs
    from tests.test_telegram import TgUser, started_unpaced, tg_settings

    add_member(db, "8001", "Phạm Minh Dũng", "RG-VB-KP1", "secretary", channel="telegram", locale="en")
    tg_app = tg_settings(settings, tg)
    app = await started_unpaced(App(tg_app, engine=engine_with_jobs(tg_app)))
    try:
        user = TgUser(tg, db, 8001, first_name="Dũng", language="en")
        await user.say("/thu")
        await app.jobs.settled()
        await tg.wait_for(lambda calls: any(c.method == "sendDocument" and c.status == 200 for c in calls))
    finally:
        await app.stop()
    [sent] = [c for c in tg.calls_of("sendDocument") if c.status == 200]
    with db.connect() as conn:
        [(document_id, key)] = conn.execute(select(DOC.c.id, DOC.c.storage_key)).all()
    assert sent.params["document"].data == (settings.files_dir / key).read_bytes() == "xin chào 7".encode()
    assert document_bytes(db, document_id) == sent.params["document"].data


@pytest.fixture
def s3(monkeypatch):
    """moto's S3 server on a loopback port, with a bucket; the AWS settings boto3 reads."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    endpoint = f"http://127.0.0.1:{port}"
    # moto keeps its buckets in the process, across servers: start from none (the test runs twice).
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).close()
    S3Files("s3://chidoan-files", endpoint).client.create_bucket(Bucket="chidoan-files")
    yield endpoint
    server.stop()


async def test_with_an_s3_store_the_photos_go_to_the_bucket_and_come_back_as_sent(database_url, s3):
    from tests.conftest import seed_org

    settings = make_settings(
        database_url,
        CHIDOAN_FILE_STORE="s3://chidoan-files/unit-test",
        CHIDOAN_S3_ENDPOINT_URL=s3,
    )
    db = make_db(settings.database_url)
    upgrade(db)
    seed_org(db)
    add_member(db, "branch", "Phạm Minh Dũng", "RG-VB-KP1", "secretary", locale="en")
    photos = [picture(3), picture(4)]
    app = App(settings)
    await app.start()
    try:
        assert isinstance(app.files, S3Files) and store_of(db) is app.files
        rows, served = await reported_and_downloaded(app, photos)
    finally:
        await app.stop()
    assert served == photos
    bucket = S3Files("s3://chidoan-files", s3)
    assert sorted(bucket.iter_keys()) == sorted(f"unit-test/{row.storage_key}" for row in rows)
    assert [bucket.get(f"unit-test/{row.storage_key}") for row in rows] == photos
    assert not settings.files_dir.exists()  # nothing in the local folder
    # A deletion reaches the bucket once it commits.
    with unit_of_work(db) as uow:
        forget(uow.conn, DOC.c.id == rows[0].id)
    assert sorted(bucket.iter_keys()) == [f"unit-test/{rows[1].storage_key}"]
    db.dispose()


def documents_at_0019(db, contents: list[bytes]) -> None:
    """Rows as version 0019 kept them: the bytes in the `content` column; the first two are a
    submitted plan's and a compiled report's, as in every deployment (rows that reference
    `document`, which SQLite's rebuild of the table must keep)."""
    with db.begin() as conn:
        for n, content in enumerate(contents):
            conn.execute(
                text(
                    "INSERT INTO document (kind, filename, token, content, source, created_at) "
                    "VALUES (:kind, :name, :token, :content, NULL, :at)"
                ),
                {"kind": "upload", "name": f"f{n}.pdf", "token": f"t{n}", "content": content, "at": NOW},
            )
    units = seed_org(db)
    account = add_member(db, "secretary", "Phạm Minh Dũng", "RG-VB-KP1", "secretary")
    with db.begin() as conn:
        first, second = conn.execute(text("SELECT id FROM document ORDER BY id LIMIT 2")).scalars().all()
        ids = {"unit": units["RG-VB-KP1"].id, "account": account, "at": NOW}
        registration = conn.execute(
            text(
                "INSERT INTO registration (unit_id, programme, year, status, version, created_at, updated_at) "
                "VALUES (:unit, 'p', 2026, 'submitted', 1, :at, :at) RETURNING id"
            ),
            ids,
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO registration_version (registration_id, version, data, submitted_by, submitted_at, "
                "on_time, document_id) VALUES (:registration, 1, '{}', :account, :at, true, :document)"
            ),
            ids | {"registration": registration, "document": first},
        )
        conn.execute(
            text(
                "INSERT INTO compiled_report (unit_id, programme, year, document_id, sent_by, sent_at, on_time) "
                "VALUES (:unit, 'p', 2026, :document, :account, :at, true)"
            ),
            ids | {"document": second},
        )


def references(db) -> list[int]:
    """The documents a plan version and a compiled report name (they must survive the migration)."""
    with db.connect() as conn:
        return [
            conn.execute(text("SELECT document_id FROM registration_version")).scalar_one(),
            conn.execute(text("SELECT document_id FROM compiled_report")).scalar_one(),
        ]


def migrate_and_check(db, files_dir: Path, contents: list[bytes]) -> None:
    to = migrator(db)
    to("0019")
    documents_at_0019(db, contents)
    to("0020")
    for direction in ("down", "up"):
        assert references(db) == [1, 2]
        with db.connect() as conn:
            rows = conn.execute(select(DOC).order_by(DOC.c.id)).all()
        assert [document_bytes(db, row.id) for row in rows] == contents
        assert [(files_dir / row.storage_key).read_bytes() for row in rows] == contents
        assert [(row.size, row.mime) for row in rows] == [(len(c), "application/pdf") for c in contents]
        assert "content" not in {c["name"] for c in inspect(db).get_columns("document")}
        if direction == "down":
            to("0019", command.downgrade)
            with db.connect() as conn:
                back = conn.execute(text("SELECT content FROM document ORDER BY id")).scalars().all()
            assert [bytes(b) for b in back] == contents
            to("head")


# More rows than one batch of the migration, some empty, some large.
CONTENTS = [b"%PDF-1.4 " + bytes([n]) * (n * 997) for n in range(60)] + [b"", b"%PDF-1.4 " + os.urandom(3_000_000)]


def test_migration_0020_moves_existing_files_to_the_store_and_back_on_sqlite(tmp_path):
    db = make_db(f"sqlite:///{tmp_path}/old.sqlite3")
    migrate_and_check(db, tmp_path / "files", CONTENTS)
    db.dispose()


def test_the_upgrade_to_0020_clears_what_an_earlier_half_done_attempt_left(tmp_path):
    """An earlier build of 0020 left these on SQLite when it failed (its DDL outside the
    transaction), and every later attempt failed on them."""
    db = make_db(f"sqlite:///{tmp_path}/old.sqlite3")
    migrator(db)("0019")
    documents_at_0019(db, CONTENTS[:3])
    with db.begin() as conn:
        conn.execute(text("CREATE TABLE file_deletion (id INTEGER PRIMARY KEY, storage_key VARCHAR(64))"))
        conn.execute(text("CREATE TABLE _alembic_tmp_document (id INTEGER PRIMARY KEY)"))
    upgrade(db)
    assert [document_bytes(db, n) for n in range(1, 4)] == CONTENTS[:3]
    assert "_alembic_tmp_document" not in inspect(db).get_table_names()
    assert {c["name"] for c in inspect(db).get_columns("file_deletion")} == {"id", "storage_key", "queued_at"}
    db.dispose()


class FailingFiles(LocalFiles):
    """A store whose third write fails (a full disk in the middle of the upgrade)."""

    writes = 0

    def put(self, key: str, content: bytes) -> None:
        self.writes += 1
        if self.writes == 3:
            raise OSError(28, "No space left on device")
        super().put(key, content)


def test_a_failed_upgrade_to_0020_on_sqlite_leaves_0019_as_it_was_and_can_run_again(tmp_path):
    db = make_db(f"sqlite:///{tmp_path}/old.sqlite3")
    migrator(db)("0019")
    documents_at_0019(db, CONTENTS[:5])
    attach(db, FailingFiles(tmp_path / "files"))
    with pytest.raises(OSError):
        upgrade(db)
    with db.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == "0019"
        back = conn.execute(text("SELECT content FROM document ORDER BY id")).scalars().all()
    assert [bytes(b) for b in back] == CONTENTS[:5]
    assert "file_deletion" not in inspect(db).get_table_names()
    upgrade(db)  # the store has room again: the same upgrade succeeds
    assert references(db) == [1, 2]
    assert [document_bytes(db, n) for n in range(1, 6)] == CONTENTS[:5]
    db.dispose()


@pytest.mark.postgres
def test_migration_0020_moves_existing_files_to_the_store_and_back_on_postgresql(pg_url, tmp_path):
    db = make_db(pg_url)
    files_dir = tmp_path / "pg-store"
    attach(db, LocalFiles(files_dir))
    migrate_and_check(db, files_dir, CONTENTS)
    db.dispose()


@pytest.mark.postgres
async def test_photos_through_the_web_chat_on_postgresql(pg_url, tmp_path):
    settings = make_settings(pg_url, CHIDOAN_FILES_DIR=str(tmp_path / "store"))
    db = make_db(pg_url)
    upgrade(db)
    seed_org(db)
    add_member(db, "branch", "Phạm Minh Dũng", "RG-VB-KP1", "secretary", locale="en")
    photos = [picture(5)]
    app = App(settings)
    await app.start()
    try:
        [stored] = await report_with_photos(app, photos)
        with unit_of_work(db) as uow:
            row = uow.documents.one(stored["document"])
        assert await downloaded(app, row.token) == photos[0]
    finally:
        await app.stop()
    assert (tmp_path / "store" / row.storage_key).read_bytes() == photos[0]
    db.dispose()


def test_chidoan_migrate_moves_the_files_to_the_folder_the_settings_name(tmp_path):
    """The upgrade learns the store from the command's settings (CHIDOAN_FILES_DIR here), not
    from the database's location."""
    from tests.test_command_line import chidoan

    db = make_db(f"sqlite:///{tmp_path}/chidoan.sqlite3")
    migrator(db)("0019")
    documents_at_0019(db, [b"%PDF-1.4 one", b"%PDF-1.4 two"])
    db.dispose()
    elsewhere = tmp_path / "elsewhere"
    done = chidoan("migrate", cwd=tmp_path, CHIDOAN_DATA_DIR=str(tmp_path), CHIDOAN_FILES_DIR=str(elsewhere))
    assert done.returncode == 0, done.stderr
    with db.connect() as conn:
        keys = conn.execute(select(DOC.c.storage_key).order_by(DOC.c.id)).scalars().all()
    assert [(elsewhere / key).read_bytes() for key in keys] == [b"%PDF-1.4 one", b"%PDF-1.4 two"]
    assert not (tmp_path / "files").exists()  # not beside the database, the default
    db.dispose()


def test_the_service_does_not_load_boto3_with_the_local_store(settings):
    """boto3 takes time and memory at start: only an S3 store imports it, on its first call."""
    probe = (
        "import sys; from chidoan.bot.app import App; from tests.conftest import make_settings; "
        f"App(make_settings({settings.database_url!r})).db.dispose(); "
        "print('boto3' in sys.modules, 'botocore' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=command_env(), capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]
