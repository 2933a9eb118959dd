"""Fetch-or-fail for repositories (a caller that holds an id it got from the database expects
the row, and a missing one is an error with a name, not an AttributeError on None later), and
`among`, the IN of a long list of values, and `in_order`, a history's rows (or its newest few)
oldest first."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Connection, CursorResult, Row, Select, bindparam


class NotFound(LookupError):
    """A row that had to exist does not (deleted meanwhile, or an id from a forged payload)."""


def found(row: Row | None, what: str, key: object) -> Row:
    if row is None:
        raise NotFound(f"{what} {key!r} not found")
    return row


def inserted_id(result: CursorResult[Any]) -> int:
    """The primary key an INSERT of one row made."""
    key = result.inserted_primary_key
    if key is None:
        raise NotFound("the insert returned no primary key")
    return int(key[0])


def among(column: ColumnElement, values: Iterable) -> ColumnElement[bool]:
    """`column IN (values)` as one expanding parameter of the column's type: a long list costs
    no per-value coercion when the statement is built (measured: most of a sweep chunk's SQL
    overhead with plain `in_([...])`)."""
    return column.in_(bindparam(None, list(values), type_=column.type, expanding=True))


def in_order(conn: Connection, stmt: Select, key: ColumnElement, limit: int | None = None) -> list[Row]:
    """The rows of `stmt` in `key` order, or only the last `limit` of them: the database reads
    those few newest first down an index and stops, rather than all of them reaching Python."""
    if limit is None:
        return list(conn.execute(stmt.order_by(key)))
    return list(reversed(conn.execute(stmt.order_by(key.desc()).limit(limit)).all()))
