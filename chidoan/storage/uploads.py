"""Files people send at a photos step (attendance sheets, minutes: they show other members'
names). Each is stored as a `document` of kind "upload" the moment it arrives (engine/runner.py),
named only by the conversation's answers until a report version names it too. So when
conversations are deleted (an erasure, the prune of finished ones, expired drafts) their uploads
that no report version names go with them: nothing else would ever reach them again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, and_, func, select

from chidoan.storage.documents import forget
from chidoan.storage.models import Document, Report, ReportVersion, table
from chidoan.storage.rows import among

DOC = table(Document)
REP = table(Report)
REP_VER = table(ReportVersion)
UPLOAD = "upload"  # the document kind of a received file


def named_in(answers: Mapping[str, Any]) -> set[int]:
    """The documents a set of answers names: a photos step's answer is a list of
    {"document": id, "name": file name} (as is the `photos` of a report version)."""
    ids: set[int] = set()
    for value in answers.values():
        if isinstance(value, list):
            ids.update(
                item["document"]
                for item in value
                if isinstance(item, dict) and isinstance(item.get("document"), int) and "name" in item
            )
    return ids


def drop_orphans(conn: Connection, conversations: Iterable[Mapping[str, Any]]) -> int:
    """Delete the uploads named in these conversations' data (being deleted) that no report
    version of their units names. A report is filed for the unit of the conversation that made
    or edited it (the conversation's context, `ctx.unit`), and only versions submitted since the oldest of
    those files was received can name it, so only those are read. Returns how many were deleted."""
    named: set[int] = set()
    units: set[int] | None = set()  # None: some unit not known, every unit's versions are read
    for data in conversations:
        files = named_in(data.get("a") or {})
        if not files:
            continue
        named |= files
        unit = (data.get("ctx") or {}).get("unit")
        units = units | {unit} if isinstance(unit, int) and units is not None else None
    if not named:
        return 0
    uploads = select(DOC.c.id).where(among(DOC.c.id, named), DOC.c.kind == UPLOAD)
    since = conn.execute(select(func.min(DOC.c.created_at)).where(DOC.c.id.in_(uploads.scalar_subquery()))).scalar()
    if since is None:
        return 0
    versions = select(REP_VER.c.data).where(REP_VER.c.submitted_at >= since)
    if units is not None:
        versions = versions.join(REP, REP.c.id == REP_VER.c.report_id).where(among(REP.c.unit_id, units))
    for (data,) in conn.execute(versions):
        named -= named_in(data)
    if not named:
        return 0
    return forget(conn, and_(among(DOC.c.id, named), DOC.c.kind == UPLOAD))
