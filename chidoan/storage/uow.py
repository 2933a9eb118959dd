"""The unit of work: one connection, one transaction, the repositories over it.

Repositories speak SQLAlchemy Core (the hot path of every update runs through them, and Core
is several times cheaper than the ORM) and return plain, immutable rows.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

from chidoan.storage.accounts import Accounts
from chidoan.storage.compiled import CompiledReports
from chidoan.storage.conversations import Conversations
from chidoan.storage.documents import QUEUED, WRITTEN, Documents, drain_deletions
from chidoan.storage.events import Events
from chidoan.storage.files import FileStore, store_of
from chidoan.storage.invites import Invites
from chidoan.storage.jobs import Jobs
from chidoan.storage.links import Links
from chidoan.storage.orgchanges import OrgChanges
from chidoan.storage.orgs import OrgUnits
from chidoan.storage.outbox import OutboxRepo
from chidoan.storage.privacy import Privacy
from chidoan.storage.prompts import Prompts
from chidoan.storage.registrations import Registrations
from chidoan.storage.reminders import DeadlineChanges, NudgeRequests, Reminders
from chidoan.storage.reports import Reports
from chidoan.storage.reviews import Reviews
from chidoan.storage.roles import Roles
from chidoan.storage.settings_kv import KeyValues
from chidoan.storage.tokens import ChannelTokens

log = logging.getLogger(__name__)


class UnitOfWork:
    def __init__(self, conn: Connection, files: FileStore | None = None):
        self.asked: set[str] = set()  # services to run once this commits (bot/aftercommit.py)
        self.conn = conn
        self.files = files or store_of(conn.engine)
        self.accounts = Accounts(conn)
        self.conversations = Conversations(conn)
        self.events = Events(conn)
        self.invites = Invites(conn)
        self.links = Links(conn)
        self.units = OrgUnits(conn)
        self.org_changes = OrgChanges(conn)
        self.outbox = OutboxRepo(conn)
        self.roles = Roles(conn)
        self.kv = KeyValues(conn)
        self.registrations = Registrations(conn)
        self.documents = Documents(conn, self.files)
        self.reports = Reports(conn)
        self.tokens = ChannelTokens(conn)
        self.prompts = Prompts(conn)
        self.reminders = Reminders(conn)
        self.deadlines = DeadlineChanges(conn)
        self.nudges = NudgeRequests(conn)
        self.jobs = Jobs(conn)
        self.reviews = Reviews(conn)
        self.compiled = CompiledReports(conn)
        self.privacy = Privacy(conn)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Undo one update's writes without losing the rest of a batch (and the files it stored)."""
        written = self.conn.info.setdefault(WRITTEN, [])
        before = len(written)
        try:
            with self.conn.begin_nested():
                yield
        except BaseException:
            _unstore(self.files, written[before:])
            del written[before:]
            raise


@contextmanager
def unit_of_work(db: Engine) -> Iterator[UnitOfWork]:
    """Everything inside commits together, or not at all: the files it stored are deleted again
    if it rolls back, and the files of the documents it deleted go once it has committed."""
    files = store_of(db)
    with db.connect() as conn:
        conn.info[WRITTEN], conn.info[QUEUED] = [], False
        try:
            transaction = conn.begin()
            try:
                uow = UnitOfWork(conn, files)
                yield uow
                uow.outbox.flush()
            except BaseException:
                try:
                    transaction.rollback()
                finally:
                    _unstore(files, conn.info[WRITTEN])
                raise
            # Not above: a commit that fails is in doubt (the server may have committed), so its
            # files stay. An orphan file is harmless; a committed row without its bytes is not.
            if transaction.is_active:  # not committed already by the caller (conn.commit())
                transaction.commit()
            if uow.asked:
                asked_after_commit(db).update(uow.asked)
        finally:
            conn.info[WRITTEN] = []
            queued = conn.info.pop(QUEUED, False)
    if queued:
        try:
            drain_deletions(db, files)
        except Exception:  # the store unreachable: they stay queued for the next drain
            log.warning("could not delete the files of deleted documents yet", exc_info=True)


# The services that committed transactions asked for, per database (AfterCommit's names: "jobs",
# "nudges"). A name is published only once its transaction has committed: a service poked by
# another transaction's commit (another database thread's) must not take a name whose rows it
# cannot see yet, and then never be poked for them.
_asked: weakref.WeakKeyDictionary[Engine, set[str]] = weakref.WeakKeyDictionary()
_asked_lock = threading.Lock()


def asked_after_commit(db: Engine) -> set[str]:
    with _asked_lock:
        return _asked.setdefault(db, set())


def _unstore(files: FileStore, keys: list[str]) -> None:
    """Delete the bytes of documents whose rows were rolled back (never committed)."""
    for key in keys:
        try:
            files.delete(key)
        except Exception:  # left as an orphan: never named by a row, harmless but for its space
            log.warning("could not delete the rolled-back file %s", key, exc_info=True)
