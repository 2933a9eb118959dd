"""Files in the database (schema 0019) against files in the store (0020 on), on SQLite (issue 12).

N reports with P photos each (random bytes of the given size, as a camera's JPEG does not
compress). Before: the database at revision 0019, each photo a `document` row holding its bytes.
After: the current schema, each photo's bytes in the local file store (fsynced, one file each),
its row holding name, size, type, checksum and key. Prints, for each: the database file's size
(and per report), the store's size, the time to store them, and the median time to list one
report's documents by name (the statement `documents.get` runs: every column of the rows).

Run: python bench/files.py [--reports 200] [--photos 5] [--kb 200] [--samples 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

if "PYTHONPATH" not in os.environ:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alembic import command  # noqa: E402
from sqlalchemy import Engine, bindparam, text  # noqa: E402

from chidoan.storage.db import alembic_config, make_db, upgrade  # noqa: E402
from chidoan.storage.uow import unit_of_work  # noqa: E402

NOW = datetime(2026, 11, 29, tzinfo=UTC)
LIST = text("SELECT * FROM document WHERE id IN :ids").bindparams(bindparam("ids", expanding=True))


def at_0019(db: Engine) -> None:
    cfg = alembic_config(db.url.render_as_string(hide_password=False))
    with db.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0019")


def store_before(db: Engine, reports: int, photos: int, size: int) -> list[list[int]]:
    ids = []
    insert = text(
        "INSERT INTO document (kind, filename, token, content, created_at) VALUES ('upload', :name, :token, :content, :at)"
    )
    for r in range(reports):
        with db.begin() as conn:  # one report's photos a transaction, as they arrive one by one
            ids.append(
                [
                    conn.execute(
                        insert,
                        {"name": f"anh-{p}.jpg", "token": f"t{r}-{p}", "content": os.urandom(size), "at": NOW},
                    ).lastrowid
                    for p in range(photos)
                ]
            )
    return ids


def store_after(db: Engine, reports: int, photos: int, size: int) -> list[list[int]]:
    ids = []
    for _r in range(reports):
        with unit_of_work(db) as uow:
            ids.append(
                [
                    uow.documents.add(kind="upload", filename=f"anh-{p}.jpg", content=os.urandom(size), now=NOW)
                    for p in range(photos)
                ]
            )
    return ids


def list_times(db: Engine, ids: list[list[int]], samples: int) -> float:
    """Median ms to read one report's documents (names only needed)."""
    times = []
    with db.connect() as conn:
        for n in range(samples):
            report = ids[(n * 7919) % len(ids)]
            start = time.perf_counter()
            names = [row.filename for row in conn.execute(LIST, {"ids": report})]
            times.append((time.perf_counter() - start) * 1000)
            assert len(names) == len(report)
    return statistics.median(times)


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def run(label: str, before: bool, args) -> dict:
    with tempfile.TemporaryDirectory(prefix="chidoan-files-") as tmp:
        path = Path(tmp) / "chidoan.sqlite3"
        db = make_db(f"sqlite:///{path}")
        at_0019(db) if before else upgrade(db)
        start = time.perf_counter()
        ids = (store_before if before else store_after)(db, args.reports, args.photos, args.kb * 1024)
        stored = time.perf_counter() - start
        with db.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        db_bytes = path.stat().st_size
        files = folder_size(Path(tmp) / "files")
        listed = list_times(db, ids, args.samples)
        db.dispose()
    per_photo = stored / (args.reports * args.photos) * 1000
    print(
        f"{label}: database {db_bytes / 1e6:,.1f} MB ({db_bytes / args.reports / 1e3:,.1f} kB a report), "
        f"store {files / 1e6:,.1f} MB; storing {per_photo:.2f} ms a photo; "
        f"listing a report's documents {listed:.3f} ms (median)"
    )
    return {"db": db_bytes, "list": listed, "store": per_photo}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=200)
    parser.add_argument("--photos", type=int, default=5)
    parser.add_argument("--kb", type=int, default=200, help="each photo's size")
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    print(f"{args.reports} reports x {args.photos} photos x {args.kb} kB, SQLite")
    before = run("before (bytes in the database, 0019)", True, args)
    after = run("after (bytes in the file store)", False, args)
    print(
        f"files: database {before['db'] / 1e6:,.1f} -> {after['db'] / 1e6:,.1f} MB "
        f"({before['db'] / after['db']:,.0f}x smaller); listing {before['list']:.3f} -> {after['list']:.3f} ms; "
        f"storing {before['store']:.2f} -> {after['store']:.2f} ms a photo"
    )


if __name__ == "__main__":
    main()
