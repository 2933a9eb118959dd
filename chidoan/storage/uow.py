"""The unit of work: one connection, one transaction, the repositories over it.

Repositories speak SQLAlchemy Core (the hot path of every update runs through them, and Core
is several times cheaper than the ORM) and return plain, immutable rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

from chidoan.storage.accounts import Accounts
from chidoan.storage.compiled import CompiledReports
from chidoan.storage.conversations import Conversations
from chidoan.storage.documents import Documents
from chidoan.storage.events import Events
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


class UnitOfWork:
    def __init__(self, conn: Connection):
        self.conn = conn
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
        self.documents = Documents(conn)
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
        """Undo one update's writes without losing the rest of a batch."""
        with self.conn.begin_nested():
            yield


@contextmanager
def unit_of_work(db: Engine) -> Iterator[UnitOfWork]:
    """Everything inside commits together, or not at all."""
    with db.begin() as conn:
        uow = UnitOfWork(conn)
        yield uow
        uow.outbox.flush()
