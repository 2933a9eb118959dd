"""The file store: the bytes of documents (generated .docx/.xlsx, received photos and scans), kept
out of the database, which holds each document's name, size, type, checksum and key here.

Two kinds: a local folder (the default, `CHIDOAN_FILES_DIR`) and S3-compatible object storage
(`CHIDOAN_FILE_STORE=s3://bucket/prefix`, for several machines). Both are blocking calls: they
run where the database calls run (the database thread, a worker thread), never on the event loop.

A key names one document's bytes, never shared: `2026/11/<32 hex>` (the month it was stored,
then random). A document's bytes are written before its row commits, so a committed row never
points at nothing; they are deleted after the row's deletion commits (storage/documents.py).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

TEMP_MARK = ".tmp-"  # a local write in progress (or left by a crash): never a key


class FileMissing(LookupError):
    """The store has no bytes under this key."""


class FileStore(ABC):
    where = ""  # for logs and `chidoan` messages: the folder or the bucket

    @abstractmethod
    def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key`, whole or not at all."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """The bytes under `key`; FileMissing if there are none."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Forget `key` (nothing happens when it is not there)."""

    @abstractmethod
    def iter_keys(self) -> Iterator[str]:
        """Every key held, in no particular order."""


def new_key(now: datetime) -> str:
    return f"{now:%Y/%m}/{secrets.token_hex(16)}"


def checksum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class LocalFiles(FileStore):
    """A folder: the key is the path below it. Written to a temporary file beside the target,
    flushed to disk, then renamed over it (atomic on one file system), so a reader or a crash
    sees the whole file or none."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.where = str(self.root)

    def _path(self, key: str) -> Path:
        if not key or key.startswith("/") or ".." in key.split("/") or TEMP_MARK in key:
            raise ValueError(f"not a file store key: {key!r}")
        return self.root / key

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f"{path.name}{TEMP_MARK}{secrets.token_hex(4)}")
        try:
            with open(temp, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)  # the rename itself survives a power cut

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise FileMissing(key) from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def iter_keys(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for folder, _dirs, names in os.walk(self.root):
            for name in names:
                if TEMP_MARK not in name:
                    yield Path(folder, name).relative_to(self.root).as_posix()


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # a platform without directory handles (Windows): the rename is what it is
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class S3Files(FileStore):
    """A bucket (and a prefix in it) of S3-compatible object storage: AWS, MinIO, Ceph, ...
    Credentials and region come from boto3's usual sources (AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, ~/.aws). boto3 is imported on first use, so a
    service on the local store never pays its start-up time or memory."""

    def __init__(self, url: str, endpoint_url: str | None = None):
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError(f"{url!r} names no bucket (s3://bucket/prefix)")
        self.bucket, self.prefix = bucket, prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url or None
        self.where = f"s3://{bucket}/{self.prefix}" + (f" at {endpoint_url}" if endpoint_url else "")
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._lock:  # boto3's clients are thread-safe once made; making one is not
            if self._client is None:
                import boto3

                self._client = boto3.client("s3", endpoint_url=self.endpoint_url)
            return self._client

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)

    def get(self, key: str) -> bytes:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
        except self.client.exceptions.NoSuchKey:
            raise FileMissing(key) from None
        return answer["Body"].read()

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)

    def iter_keys(self) -> Iterator[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
        for page in pages:
            for item in page.get("Contents", []):
                yield item["Key"][len(self.prefix) :]


def store_from(settings: Any) -> FileStore:
    """The store the settings choose: CHIDOAN_FILE_STORE=s3://... or the folder CHIDOAN_FILES_DIR."""
    url = (settings.file_store or "").strip()
    if url.startswith("s3://"):
        return S3Files(url, settings.s3_endpoint_url)
    return LocalFiles(settings.files_dir)


# The store of each database (by URL): every engine on one database (the service's, the accept
# path's, a test's own) reaches the same files.
_stores: dict[str, FileStore] = {}
_stores_lock = threading.Lock()
_of_engine: weakref.WeakKeyDictionary[Engine, FileStore] = weakref.WeakKeyDictionary()  # every transaction asks


def _database(db: Engine | str) -> str:
    url = db if isinstance(db, str) else db.url.render_as_string(hide_password=False)
    return make_url(url).render_as_string(hide_password=False)


def attach(db: Engine | str, store: FileStore) -> FileStore:
    """Use `store` for the documents of this database (the service does it from its settings)."""
    with _stores_lock:
        _stores[_database(db)] = store
        _of_engine.clear()
    return store


def store_of(db: Engine | str) -> FileStore:
    """The store of this database: the one attached, else the one the environment's settings
    give for it (CHIDOAN_FILE_STORE, CHIDOAN_FILES_DIR; by default files/ beside a SQLite file)."""
    if isinstance(db, Engine) and (known := _of_engine.get(db)) is not None:
        return known
    url = _database(db)
    with _stores_lock:
        store = _stores.get(url)
    if store is None:
        from chidoan.bot.config import Settings

        store = attach(url, store_from(Settings(CHIDOAN_DATABASE_URL=url)))
    if isinstance(db, Engine):
        _of_engine[db] = store
    return store
