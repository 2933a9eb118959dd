"""`chidoan backup <dest>` and `chidoan restore <backup>`: the database and the file store.

SQLite is copied with its online backup API (a consistent copy while the bot writes: WAL
readers see one committed state); PostgreSQL with pg_dump's custom format when pg_dump is on the
PATH, else the file store is still copied and the command to run for the database is printed
(the Docker image has no pg_dump: the database's container does). The file store's folder
(CHIDOAN_FILES_DIR) is copied beside it. A backup is a dated folder `chidoan-YYYYMMDD-HHMMSS` in <dest>, or that folder as a
.tar.gz when <dest> ends so. Restore puts a SQLite backup and its files where the settings say
(the bot stopped); a PostgreSQL dump is restored with pg_restore (the README's steps).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from chidoan.bot.voice import Voice
from chidoan.i18n import N_
from chidoan.storage.clock import utcnow
from chidoan.storage.files import TEMP_MARK

DATABASE = "chidoan.sqlite3"  # a SQLite backup's database, in the backup's folder
DUMP = "chidoan.dump"  # a PostgreSQL backup's pg_dump -Fc file
FILES = "files"  # the file store's copy
PAGES_A_STEP = 1024  # the online backup copies this many pages, then lets writers in


def add_parser(sub) -> None:
    backup = sub.add_parser(
        "backup", help="copy the database (online, while the bot runs) and the file store into a dated folder"
    )
    backup.add_argument("dest", type=Path, help="a folder to put the dated backup in, or a file name ending .tar.gz")
    backup.add_argument(
        "--files-only",
        action="store_true",
        help="copy the file store only (PostgreSQL dumped another way, e.g. pg_dump in the database's container)",
    )
    restore = sub.add_parser("restore", help="put a SQLite backup (a folder or .tar.gz) back; the bot must be stopped")
    restore.add_argument("backup", type=Path, help="what `chidoan backup` made")
    restore.add_argument("--replace", action="store_true", help="overwrite an existing database and file store")


def cmd_backup(settings, args: argparse.Namespace, voice: Voice) -> int:
    stamp = f"chidoan-{utcnow():%Y%m%d-%H%M%S}"
    archive = str(args.dest).endswith(".tar.gz")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / stamp if archive else args.dest / stamp
        folder.mkdir(parents=True)
        database = True
        if args.files_only:
            pass
        elif settings.is_sqlite:
            copy_sqlite(Path(make_url(settings.database_url).database or ""), folder / DATABASE)
        else:
            database = dump_postgres(settings.database_url, folder / DUMP, voice)
        # The files are copied even when the dump could not be made: they exist nowhere else.
        if settings.files_dir is not None and Path(settings.files_dir).is_dir():
            shutil.copytree(
                settings.files_dir, folder / FILES, ignore=shutil.ignore_patterns(f"*{TEMP_MARK}*"), copy_function=_copy
            )
        if archive:
            args.dest.parent.mkdir(parents=True, exist_ok=True)
            with tarfile.open(args.dest, "w:gz") as tar:
                tar.add(folder, arcname=stamp)
            folder = args.dest
    if not database:
        voice.say(N_("The file store is copied to {path}, without the database."), err=True, path=str(folder))
        return 1
    voice.say(N_("Backup written to {path}."), path=str(folder))
    return 0


def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database (the backup API, a step at a time)."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst, pages=PAGES_A_STEP)
    finally:
        dst.close()
        src.close()


def pg_command(url: str, program: str, *args: str) -> tuple[list[str], dict[str, str]]:
    """A pg_dump or pg_restore command line for the database at `url` (SQLAlchemy's form), the
    password in the child's environment (PGPASSWORD), never on the command line (`ps` shows
    it) nor in what is printed."""
    parsed = make_url(url)
    env = {"PGPASSWORD": str(parsed.password)} if parsed.password else {}
    # URL.set(password=None) keeps the password (None there means "unchanged"): build it anew.
    conninfo = URL.create(
        "postgresql", parsed.username, None, parsed.host, parsed.port, parsed.database, parsed.query
    ).render_as_string(hide_password=False)
    return [program, *args, "--dbname", conninfo], env


def dump_postgres(url: str, target: Path, voice: Voice) -> bool:
    command, env = pg_command(url, "pg_dump", "--format=custom", "--file", str(target))
    if shutil.which("pg_dump") is None:
        voice.say(
            N_("pg_dump is not installed here: back the database up yourself, e.g. with {command}"),
            err=True,
            command=" ".join(command),
        )
        return False
    result = subprocess.run(command, env=os.environ | env, check=False)
    return result.returncode == 0


def cmd_restore(settings, args: argparse.Namespace, voice: Voice) -> int:
    if not settings.is_sqlite:
        dump = args.backup / DUMP if args.backup.is_dir() else args.backup
        command, _env = pg_command(
            settings.database_url, "pg_restore", "--clean", "--if-exists", "--no-owner", str(dump)
        )
        voice.say(
            N_(
                "On PostgreSQL, stop the bot and restore the dump with: {command}; then copy the folder files/ to {files}."
            ),
            command=" ".join(command),
            files=str(settings.files_dir),
        )
        return 1
    target = Path(make_url(settings.database_url).database or "")
    files = Path(settings.files_dir) if settings.files_dir is not None else None
    if not args.replace and (target.exists() or (files is not None and files.exists() and any(files.iterdir()))):
        voice.say(
            N_("{path} exists: stop the bot, then run again with --replace to overwrite it."), err=True, path=target
        )
        return 1
    with tempfile.TemporaryDirectory() as scratch:
        folder = unpacked(args.backup, Path(scratch))
        if not (folder / DATABASE).is_file():
            voice.say(N_("{path} is not a SQLite backup made by chidoan backup."), err=True, path=str(args.backup))
            return 1
        target.parent.mkdir(parents=True, exist_ok=True)
        for stale in (target, target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
            stale.unlink(missing_ok=True)
        copy_sqlite(folder / DATABASE, target)
        if files is not None and (folder / FILES).is_dir():
            shutil.rmtree(files, ignore_errors=True)
            shutil.copytree(folder / FILES, files)
    voice.say(N_("Restored from {path}."), path=str(args.backup))
    return 0


def unpacked(backup: Path, scratch: Path) -> Path:
    """The backup's folder: itself, or the one its .tar.gz holds (unpacked into `scratch`)."""
    if backup.is_dir():
        return backup
    with tarfile.open(backup, "r:gz") as tar:
        tar.extractall(scratch, filter="data")
    folders = [p for p in scratch.iterdir() if p.is_dir()]
    return folders[0] if len(folders) == 1 else scratch


def _copy(source: str, destination: str) -> None:
    """A file deleted while the store is copied (retention, an erasure) is left out, not an error."""
    with contextlib.suppress(FileNotFoundError):
        shutil.copy2(source, destination)
