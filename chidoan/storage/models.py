"""Tables, declared with SQLModel so Alembic sees one metadata.

Times are aware UTC datetimes (SQLModel refuses naive ones); they are shown in the configured
time zone.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import IntEnum, StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, Table, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel


def table(model: type[SQLModel]) -> Table:
    """The Core table of a model: repositories query with Core and get plain rows back."""
    return model.__table__  # type: ignore[attr-defined]  # set by SQLModel's metaclass, not declared


class UnitKind(StrEnum):
    province = "province"
    district = "district"
    base_unit = "base_unit"
    branch_group = "branch_group"
    branch = "branch"


# Which kinds sit above which: a parent must be of a strictly higher level, but levels may be
# skipped (since the 2025 reorganisation many base units hang directly under a province).
KIND_LEVEL = {
    UnitKind.province: 0,
    UnitKind.district: 1,
    UnitKind.base_unit: 2,
    UnitKind.branch_group: 3,
    UnitKind.branch: 4,
}

# Kinds whose standing committee reviews the units below them, unless an import says otherwise.
REVIEWER_KINDS = {UnitKind.province, UnitKind.district}


class Role(StrEnum):
    secretary = "secretary"
    deputy = "deputy"
    district_staff = "district_staff"
    admin = "admin"


class ConversationStatus(StrEnum):
    active = "active"
    paused = "paused"  # set aside when another journey started; can be resumed
    completed = "completed"
    cancelled = "cancelled"


class RegistrationStatus(StrEnum):
    draft = "draft"  # being written, never submitted
    submitted = "submitted"
    returned = "returned"  # sent back for correction: only the parts named in the return reopen
    reviewed = "reviewed"  # accepted (or rated) by the reviewing unit: read-only from then on


class ReviewResult(StrEnum):
    """registration.result, set at the year-end rating; item_rating.result of each task."""

    passed = "passed"
    not_passed = "not_passed"


class OutboxStatus(StrEnum):
    pending = "pending"
    sent = "sent"
    failed = "failed"
    unreachable = "unreachable"
    held = "held"  # not sent: the person is out of the platform's reach for now (kept, not retried)
    rerouted = "rerouted"  # not sent here: a notice the platform refused, queued on another channel
    cancelled = "cancelled"  # not sent: a reminder whose obligation was met before it went out


class OutboxKind(StrEnum):
    reply = "reply"  # an answer to what the person just wrote: always on that chat
    notice = "notice"  # to a person who did not just write (notices, follow-ups): may go elsewhere
    template = "template"  # a notice sent as the platform's approved template message (Zalo)


class Priority(IntEnum):
    """outbox.priority: what goes first when the sender claims rows (lower first). A reply answers
    someone who is typing; a notice reaches someone who is not; bulk is a season of them (the
    reminder sweep): it fills the platform's budget only after the others."""

    reply = 0
    notice = 1
    bulk = 2


HELD_OUTSIDE_WINDOW = "outside_window"  # outbox.error of a notice held by the window, not sent


# A path compared byte by byte (review/status.py): PostgreSQL's pattern operator class serves
# `~<~` ranges and LIKE 'prefix%' whatever the database's collation; SQLite compares bytes anyway.
PATH_BYTES = {"path": "varchar_pattern_ops"}


class OrgUnit(SQLModel, table=True):
    __tablename__ = "org_unit"
    __table_args__ = (
        # The registering units of a subtree; and any subtree (on SQLite a twin of ix_org_unit_path).
        Index("ix_org_unit_kind_path", "kind", "path", postgresql_ops=PATH_BYTES),
        Index("ix_org_unit_path_bytes", "path", postgresql_ops=PATH_BYTES),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=255)
    # The name lower-cased without accents (i18n.fold), kept by storage/orgs.py: "phi thong"
    # finds "Đoàn xã Phi Thông" in SQL, on SQLite as on PostgreSQL.
    folded_name: str = Field(default="", max_length=255, sa_column_kwargs={"server_default": ""})
    kind: str = Field(max_length=16)
    parent_id: int | None = Field(default=None, foreign_key="org_unit.id", index=True)
    # Materialised path of ids, "/1/7/42/": a subtree is one indexed prefix query.
    path: str = Field(default="/", max_length=512, index=True)
    reviews: bool = Field(default=False)
    created_at: datetime
    # A unit folded into another (the 2025 mergers): kept with its history, listed for the years
    # before `closed_on`, its roles and open work moved to `merged_into`.
    closed_on: date | None = None
    merged_into: int | None = Field(default=None, foreign_key="org_unit.id")


class OrgChangeKind(StrEnum):
    move = "move"  # to another parent (org import)
    merge = "merge"  # folded into another unit (chidoan org merge)
    rename = "rename"  # a new name (org import)


class OrgChange(SQLModel, table=True):
    """A change of the org tree: a unit moved, renamed or merged into another. Never updated:
    the audit trail of the tree. `detail` says what changed (old and new parent, old and new
    name, what a merge moved); `by` is the account that did it, None for the command line."""

    __tablename__ = "org_change"
    __table_args__ = (Index("ix_org_change_unit", "unit_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # OrgChangeKind
    unit_id: int = Field(foreign_key="org_unit.id")  # the unit moved, renamed, or merged away
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    by: int | None = Field(default=None, foreign_key="account.id")
    at: datetime


class Account(SQLModel, table=True):
    __tablename__ = "account"

    id: int | None = Field(default=None, primary_key=True)
    full_name: str | None = Field(default=None, max_length=255)
    position: str | None = Field(default=None, max_length=255)
    locale: str = Field(default="vi", max_length=8)
    created_at: datetime
    # Set when the account was linked into another one (/lienket): everything it held moved
    # there; the row stays so history that names it still resolves.
    merged_into: int | None = Field(default=None, foreign_key="account.id")
    # The answer to the personal data notice (ConsentAnswer), of which version, when (handlers/privacy.py).
    consent: str | None = Field(default=None, max_length=16)
    consent_version: str | None = Field(default=None, max_length=16)
    consent_at: datetime | None = None
    # Its personal details were erased at the person's request: the row stays, nameless, so the
    # reports it filed for a unit still resolve (shown as erased).
    erased_at: datetime | None = None


class ConsentAnswer(StrEnum):
    given = "given"
    refused = "refused"


class PrivacyActionKind(StrEnum):
    asked = "asked"  # the notice shown; `detail`: what waits for the answer (an invite, a held message)
    consent_given = "consent_given"
    consent_refused = "consent_refused"
    exported = "exported"  # a copy of what is held sent to the person (or to the operator)
    erased = "erased"  # personal details removed on the person's request
    # /dulieu's "Erase?" shown; its buttons name this row, answered by `erased` or `erase_kept`
    erase_asked = "erase_asked"
    erase_kept = "erase_kept"  # "Keep my data" pressed at that question
    # a copy asked for that this chat cannot receive (Zalo without CHIDOAN_PUBLIC_URL): nothing
    # was sent, and the trail shows the operator a request still to answer (`chidoan data export`)
    export_failed = "export_failed"


class PrivacyAction(SQLModel, table=True):
    """What was asked, answered and done about one account's personal data (Law 91/2025/QH15):
    never updated, the audit trail an operator shows when asked. `source` "chat" (the person)
    or "cli" (the operator); `detail` what an erasure removed, counted, or what a shown notice
    held back until its answer."""

    __tablename__ = "privacy_action"
    __table_args__ = (Index("ix_privacy_action_account", "account_id", "action"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id")
    action: str = Field(max_length=16)  # PrivacyActionKind
    notice_version: str | None = Field(default=None, max_length=16)
    source: str = Field(max_length=8)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    at: datetime


class ChannelIdentity(SQLModel, table=True):
    __tablename__ = "channel_identity"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        # A platform's refusal names the chat, not the person (Accounts.mark_unreachable).
        Index("ix_channel_identity_chat", "channel", "chat_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    external_id: str = Field(max_length=64)
    chat_id: str = Field(max_length=64)
    account_id: int = Field(foreign_key="account.id", index=True)
    display_name: str | None = Field(default=None, max_length=255)
    reachable: bool = Field(default=True)
    unreachable_since: datetime | None = None
    created_at: datetime
    # When the person last wrote from here: notices go to the channel used last ...
    last_seen_at: datetime | None = None
    # ... unless they chose one (at most one identity of an account is preferred).
    preferred: bool = Field(default=False)


class RoleAssignment(SQLModel, table=True):
    __tablename__ = "role_assignment"
    __table_args__ = (Index("ix_role_assignment_unit_role", "unit_id", "role"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    unit_id: int = Field(foreign_key="org_unit.id")
    role: str = Field(max_length=16)
    invite_id: int | None = Field(default=None, foreign_key="invite.id")
    granted_at: datetime
    revoked_at: datetime | None = None
    revoked_reason: str | None = Field(default=None, max_length=32)


class Invite(SQLModel, table=True):
    __tablename__ = "invite"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    unit_id: int = Field(foreign_key="org_unit.id")
    role: str = Field(max_length=16)
    issued_by: int | None = Field(default=None, foreign_key="account.id")
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    used_by: int | None = Field(default=None, foreign_key="account.id")


class LinkCode(SQLModel, table=True):
    """A one-time code (/lienket) that binds another channel to the account that asked for it.
    Only a hash of the code is kept. Typing it on the other channel claims it (single use) and
    asks the owner, in the app where the code was made, to allow the link; the owner's Allow
    consumes it and merges the two accounts, a refusal consumes it and merges nothing."""

    __tablename__ = "link_code"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    code_hash: str = Field(max_length=64, index=True)
    created_at: datetime
    expires_at: datetime
    claimed_by: int | None = Field(default=None, foreign_key="account.id")
    claimed_at: datetime | None = None
    used_at: datetime | None = None  # allowed (and merged), refused, or found already linked
    # The app where the code was made: the owner is asked there to allow the link ...
    identity_id: int | None = Field(default=None, foreign_key="channel_identity.id")
    # ... and the app where it was typed is told there what the owner decided.
    claimed_identity_id: int | None = Field(default=None, foreign_key="channel_identity.id")
    refused_at: datetime | None = None


class LinkAttempt(SQLModel, table=True):
    """A wrong link code typed by an account: a few an hour, then codes are refused for it; and a
    few more across all accounts within minutes, then for everyone a while (see LinkGuard)."""

    __tablename__ = "link_attempt"
    __table_args__ = (
        Index("ix_link_attempt_account_at", "account_id", "attempted_at"),
        Index("ix_link_attempt_at", "attempted_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id")
    attempted_at: datetime


class LinkGuard(SQLModel, table=True):
    """One row (id 1), locked by every link code typed (FOR UPDATE on PostgreSQL) so that wrong
    codes are counted across all accounts and workers one at a time. Past the global limit,
    `locked_until` is set: every link code is refused until then, and the admins are told once."""

    __tablename__ = "link_guard"

    id: int | None = Field(default=None, primary_key=True)
    locked_until: datetime | None = None


# The partial index's predicate: queries must repeat it as a literal (a bound parameter cannot be
# matched to the index, and the lookup gets eight times slower on SQLite).
ACTIVE_ONLY = text("conversation.status = 'active'")


class Conversation(SQLModel, table=True):
    __tablename__ = "conversation"
    __table_args__ = (
        # At most one active conversation per account; finished ones stay as history.
        Index(
            "ux_conversation_active",
            "account_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    journey: str = Field(max_length=64)
    step: str = Field(max_length=64)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default=ConversationStatus.active, max_length=16)
    # Bumped on every change: buttons carry it, so a stale button is recognised.
    version: int = Field(default=1)
    created_at: datetime
    updated_at: datetime


class InboundEvent(SQLModel, table=True):
    """Every event a channel delivered, stored before it is acknowledged: de-duplication and
    the durable record of what the user actually sent.

    An event that could not be handled (the database kept refusing it, or the platform sent
    something its library cannot read) is kept here too, marked failed: a dead letter. It is the
    same row rather than a table of its own because the (channel, event_id) key is what makes a
    platform's next delivery of it a harmless duplicate instead of another failure, and because
    what the person sent then stays in one place (their history shows it)."""

    __tablename__ = "inbound_event"
    __table_args__ = (
        UniqueConstraint("channel", "event_id"),
        # Only failed events are in it: the hot path's inserts (failed_at NULL) never touch it.
        Index(
            "ix_inbound_event_failed",
            "failed_at",
            sqlite_where=text("failed_at IS NOT NULL"),
            postgresql_where=text("failed_at IS NOT NULL"),
        ),
        # An account's events in order: its newest few (the web chat's history) read from the
        # index's end, on PostgreSQL too (where an index on account_id alone leaves a sort).
        Index("ix_inbound_event_account", "account_id", "id"),
        # The retention prune's range (bot/retention.py): the oldest first.
        Index("ix_inbound_event_received", "received_at"),
        # Events stored on arrival and not handled yet (a restart finds them here): few rows.
        Index(
            "ix_inbound_event_unprocessed",
            "channel",
            sqlite_where=text("processed_at IS NULL AND failed_at IS NULL"),
            postgresql_where=text("processed_at IS NULL AND failed_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    event_id: str = Field(max_length=64)
    account_id: int | None = Field(default=None, foreign_key="account.id")
    kind: str = Field(max_length=16)
    text: str | None = Field(default=None, sa_column=Column(Text))
    payload: str | None = Field(default=None, max_length=256)
    received_at: datetime
    failed_at: datetime | None = None  # set: a dead letter, not handled (see the class's note)
    # When it was handled. Most events are stored and handled in one transaction; one stored on
    # arrival (`Events.accept`, for a platform that must be answered at once) waits with NULL.
    processed_at: datetime | None = None
    error: str | None = Field(default=None, max_length=512)  # why, for the admin (`chidoan failed`)
    # What is needed to handle it later (the platform's update, or the event as received; clipped).
    raw: str | None = Field(default=None, sa_column=Column(Text))


class Outbox(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        # The sender's claim: pending rows in (priority, id) order, read in index order up to its
        # limit (a season's 100,000 due rows are never sorted); not_before is checked in the index.
        Index("ix_outbox_claim", "status", "priority", "id", "not_before"),
        # The retention prune's range (bot/retention.py): the oldest first.
        Index("ix_outbox_created", "created_at"),
        # A chat's rows in order: its newest few (the web chat's history), and what a refusal or
        # a platform's window stops (mark_unreachable, mark_held, pending_notices).
        Index("ix_outbox_chat", "channel", "chat_id", "id"),
        # A chat's held rows, looked up at each event from a person who may have some (Zalo).
        Index(
            "ix_outbox_held",
            "channel",
            "chat_id",
            sqlite_where=text("status = 'held'"),
            postgresql_where=text("status = 'held'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    chat_id: str = Field(max_length=64)
    account_id: int | None = Field(default=None, foreign_key="account.id")
    body: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(default=OutboxStatus.pending, max_length=16)
    attempts: int = Field(default=0)
    not_before: datetime
    # Reminders later use (deadline, recipient, stage) here: a second send is a conflict.
    dedupe_key: str | None = Field(default=None, max_length=128, unique=True)
    created_at: datetime
    sent_at: datetime | None = None
    error: str | None = Field(default=None, max_length=512)
    kind: str = Field(default=OutboxKind.reply, max_length=16, sa_column_kwargs={"server_default": "reply"})
    priority: int = Field(default=Priority.reply, sa_column_kwargs={"server_default": "0"})


class Setting(SQLModel, table=True):
    """Small facts the service learns at run time (e.g. the bot's username from getMe)."""

    __tablename__ = "setting"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=512)


class Registration(SQLModel, table=True):
    """A unit's registered plan under a programme for one year: one row, many versions."""

    __tablename__ = "registration"
    __table_args__ = (UniqueConstraint("unit_id", "programme", "year"),)

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="org_unit.id")
    programme: str = Field(max_length=64)
    year: int
    status: str = Field(default=RegistrationStatus.draft, max_length=16)
    version: int = Field(default=0)  # the newest submitted version; 0 while a draft
    first_submitted_at: datetime | None = None
    on_time: bool | None = None  # of the first submission, against the programme's deadline
    result: str | None = Field(default=None, max_length=16)  # ReviewResult, once rated at year-end
    # Who has it open in a conversation: a second editor is told, not silently overwritten.
    editing_by: int | None = Field(default=None, foreign_key="account.id")
    editing_since: datetime | None = None
    created_at: datetime
    updated_at: datetime


class RegistrationVersion(SQLModel, table=True):
    __tablename__ = "registration_version"
    __table_args__ = (UniqueConstraint("registration_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    registration_id: int = Field(foreign_key="registration.id", index=True)
    version: int
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    submitted_by: int = Field(foreign_key="account.id")
    submitted_at: datetime
    on_time: bool
    document_id: int | None = Field(default=None, foreign_key="document.id")


class Document(SQLModel, table=True):
    """A generated file (the plan's .docx) or a received one (a photo of the minutes), kept so it
    can be fetched again as it was sent. Its bytes are in the file store (storage/files.py)
    under `storage_key`; the row says what they are."""

    __tablename__ = "document"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)
    filename: str = Field(max_length=128)
    token: str = Field(max_length=64, unique=True)  # the web chat's download link
    storage_key: str = Field(max_length=64, unique=True)
    size: int  # bytes
    mime: str = Field(max_length=100)
    sha256: str = Field(max_length=64)  # checked when the bytes are read back
    # Where a received file came from (Telegram's file_id): kept beside our own copy.
    source: str | None = Field(default=None, max_length=255)
    created_at: datetime


class FileDeletion(SQLModel, table=True):
    """Bytes to delete from the file store: queued in the transaction that deletes their
    document, deleted after it commits (and retried from here after a crash)."""

    __tablename__ = "file_deletion"

    id: int | None = Field(default=None, primary_key=True)
    storage_key: str = Field(max_length=64)
    queued_at: datetime


class ReportKind(StrEnum):
    meeting = "meeting"
    dialogue = "dialogue"


class ReportStatus(StrEnum):
    submitted = "submitted"
    withdrawn = "withdrawn"  # taken back by the unit; kept, with its versions
    reviewed = "reviewed"  # the district has rated it: read-only from then on


class Report(SQLModel, table=True):
    """A report of one event (a branch meeting, a dialogue with leaders): many versions."""

    __tablename__ = "report"
    __table_args__ = (
        Index("ix_report_unit_kind_date", "unit_id", "kind", "held_on"),
        # A unit's reports of a year, kind and status read from the index alone (review/status.py).
        Index("ix_report_unit_held", "unit_id", "held_on", "kind", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="org_unit.id")
    kind: str = Field(max_length=16)
    held_on: date
    status: str = Field(default="submitted", max_length=16)
    version: int = Field(default=1)
    created_by: int = Field(foreign_key="account.id")
    created_at: datetime
    updated_at: datetime


class ReportVersion(SQLModel, table=True):
    __tablename__ = "report_version"
    __table_args__ = (UniqueConstraint("report_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="report.id", index=True)
    version: int
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    submitted_by: int = Field(foreign_key="account.id")
    submitted_at: datetime


class CommitmentStatus(StrEnum):
    open = "open"  # promised, not yet followed up
    done = "done"
    in_progress = "in_progress"
    not_done = "not_done"


# The commitments counted as open ("Cam kết chưa hoàn thành"): promised, not yet followed up. One
# definition for the reviewing level's status and the export.
OPEN_COMMITMENTS: frozenset[CommitmentStatus] = frozenset({CommitmentStatus.open})


class Commitment(SQLModel, table=True):
    """Something a leader promised in a dialogue: followed up on its due date."""

    __tablename__ = "commitment"
    __table_args__ = (
        Index("ix_commitment_due", "status", "due_on"),
        Index("ix_commitment_unit_status", "unit_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="report.id", index=True)
    unit_id: int = Field(foreign_key="org_unit.id")
    promise: str = Field(sa_column=Column(Text, nullable=False))
    promised_by: str = Field(max_length=255)
    due_on: date | None = None
    status: str = Field(default=CommitmentStatus.open, max_length=16)
    note: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime
    updated_at: datetime


class ChannelToken(SQLModel, table=True):
    """A platform's OAuth pair (Zalo OA): the access token and the refresh token that renews it,
    always written together. Zalo's refresh token is single-use and rotates, so losing the new
    pair loses the channel: it is committed before it is used. The tokens are never shown;
    `last_error` says why the newest refresh failed (never with a token in it)."""

    __tablename__ = "channel_token"

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16, unique=True)
    access_token: str = Field(sa_column=Column(Text, nullable=False))
    refresh_token: str = Field(sa_column=Column(Text, nullable=False))
    expires_at: datetime  # of the access token
    refreshed_at: datetime  # when this pair was issued (by a refresh or by `chidoan zalo connect`)
    last_error: str | None = Field(default=None, max_length=512)
    last_error_at: datetime | None = None


class Prompt(SQLModel, table=True):
    """The last question shown in each chat of an account (its text, buttons and how typed text
    is read): a choice typed in that chat instead of pressed is matched against it, never against
    what another of the person's apps shows (see engine/typed.py). One row per account and chat
    (`channel`, `chat_id`: where it was shown), replaced by every new question there; `seq`
    counts them."""

    __tablename__ = "prompt"

    account_id: int = Field(primary_key=True, foreign_key="account.id")
    channel: str = Field(primary_key=True, max_length=16)
    chat_id: str = Field(primary_key=True, max_length=64)
    seq: int = Field(default=1)
    body: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime


class Reminder(SQLModel, table=True):
    """One reminder of one obligation to one account at one stage of the reminder policy
    (chidoan/reminders). The unique key is what makes it go once: a repeated sweep, a restart or
    a second worker inserts nothing, and its outbox row (dedupe key `reminder:<id key>`) is
    written in the same transaction. `obligation` names what is owed: "plan:<programme>:<year>:<unit
    id>", "meeting:<unit id>:<yyyy-mm>", "dialogue:<unit id>:<year>", "commitment:<id>", or a
    district's digest "digest:<unit id>:<yyyy-mm-dd>"."""

    __tablename__ = "reminder"
    __table_args__ = (UniqueConstraint("obligation", "account_id", "stage"),)

    id: int | None = Field(default=None, primary_key=True)
    obligation: str = Field(max_length=96)
    account_id: int = Field(foreign_key="account.id")
    stage: str = Field(max_length=32)
    unit_id: int = Field(foreign_key="org_unit.id", index=True)
    due_on: date
    created_at: datetime
    snoozed_until: datetime | None = None  # "remind me later": nothing before, then once again


class ObligationMet(SQLModel, table=True):
    """When an obligation was last met (a plan submitted, a meeting or dialogue reported, a
    follow-up answered): a reminder composed before that moment and stored after it (a sweep's
    child process composes, the service stores) is dropped, not sent."""

    __tablename__ = "obligation_met"

    obligation: str = Field(primary_key=True, max_length=96)
    met_at: datetime


class NudgeRequest(SQLModel, table=True):
    """A reviewing unit's staff asked to count (`/nhacnho`) or to remind (its button) the units
    below: done by the service beside the replies, in short transactions (bot/sweeps.py), and
    answered with a message; `done_at` once answered."""

    __tablename__ = "nudge_request"
    __table_args__ = (Index("ix_nudge_request_open", "done_at"),)

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="org_unit.id")
    account_id: int = Field(foreign_key="account.id")
    kind: str = Field(max_length=8)  # "count" or "send"
    created_at: datetime
    done_at: datetime | None = None


class DeadlineChange(SQLModel, table=True):
    """A reviewing unit moved one of its deadlines for its subtree ("plan" or "dialogue" of one
    programme and year). Never updated: the newest row counts, the rows are the audit trail."""

    __tablename__ = "deadline_change"
    __table_args__ = (Index("ix_deadline_change_key", "reviewer_id", "obligation", "programme", "year"),)

    id: int | None = Field(default=None, primary_key=True)
    reviewer_id: int = Field(foreign_key="org_unit.id")
    obligation: str = Field(max_length=16)
    programme: str = Field(max_length=64)
    year: int
    due_on: date  # the first late day, as in the programme files ("before 20/10")
    changed_by: int = Field(foreign_key="account.id")
    changed_at: datetime


class ReviewAction(SQLModel, table=True):
    """What a reviewing unit's staff did to a unit's registration or report (accept, return for
    correction, rate a task, rate the year, override the proposed result): never updated, the
    audit trail of reviews. `detail` holds what the action names (the returned parts and their
    comments, a task and its result...)."""

    __tablename__ = "review_action"
    __table_args__ = (
        Index("ix_review_action_unit", "unit_id", "at"),
        Index("ix_review_action_registration", "registration_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="org_unit.id")  # the unit whose work was reviewed
    registration_id: int | None = Field(default=None, foreign_key="registration.id")
    report_id: int | None = Field(default=None, foreign_key="report.id")
    account_id: int = Field(foreign_key="account.id")  # who did it
    action: str = Field(max_length=16)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    note: str | None = Field(default=None, sa_column=Column(Text))
    at: datetime


class ItemRating(SQLModel, table=True):
    """The year-end rating of one registered task of a plan (seed 004 step 3): the newest rating
    of each task; every rating is also a review_action."""

    __tablename__ = "item_rating"
    __table_args__ = (UniqueConstraint("registration_id", "task"),)

    id: int | None = Field(default=None, primary_key=True)
    registration_id: int = Field(foreign_key="registration.id")
    task: int  # the task's position (1, 2, ...) in the registration's newest version, all areas in order
    item: str = Field(max_length=16)  # the programme item it registers, e.g. "1.2"
    result: str = Field(max_length=16)  # ReviewResult
    note: str | None = Field(default=None, sa_column=Column(Text))
    rated_by: int = Field(foreign_key="account.id")
    rated_at: datetime


class CompiledReport(SQLModel, table=True):
    """A reviewing unit's compiled registration report of one programme year, sent to the level
    above (seed 004 step 2, due 25/10): each sending is a row, the document with it."""

    __tablename__ = "compiled_report"
    __table_args__ = (Index("ix_compiled_report_unit", "unit_id", "programme", "year"),)

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="org_unit.id")  # the reviewing unit that compiled it
    programme: str = Field(max_length=64)
    year: int  # the plan year
    document_id: int = Field(foreign_key="document.id")
    sent_by: int = Field(foreign_key="account.id")
    sent_at: datetime
    on_time: bool


class Job(SQLModel, table=True):
    """Work a handler leaves for after its commit, done off the database thread and answered in
    the chat it came from (a chart, a document, an export): see bot/jobs.py. `done_at` once
    answered; a job left by a stopped service is done at the next start."""

    __tablename__ = "job"
    __table_args__ = (Index("ix_job_open", "done_at"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)
    account_id: int = Field(foreign_key="account.id")
    channel: str = Field(max_length=16)
    chat_id: str = Field(max_length=64)
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime
    done_at: datetime | None = None
    error: str | None = Field(default=None, max_length=512)
