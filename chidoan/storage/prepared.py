"""Hot-path statements run without SQLAlchemy's per-call execution machinery.

Every incoming update runs the same four statements (find the sender, record the event, save
the conversation, queue the replies). Measured on SQLite, SQLAlchemy's execution context costs
about three times what SQLite itself spends on them. `Prepared` compiles a Core statement once
per dialect with SQLAlchemy and converts values with the column types' own bind and result
processors, so the SQL and the stored formats are exactly SQLAlchemy's; only the per-call
bookkeeping is skipped. It runs on the connection's DBAPI cursor, inside the same transaction
(and savepoints) as everything else in the unit of work. Everything else uses Core as usual.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, DateTime
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler


class _Compiled:
    def __init__(self, stmt: ClauseElement, dialect):
        compiled = stmt.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)  # a DML or SELECT statement, never DDL
        self.sql = str(compiled)
        self.names: Sequence[str] | None = compiled.positiontup  # None for named paramstyles
        self.binds: dict[str, Callable | None] = {
            name: _memo(bind.type.dialect_impl(dialect).bind_processor(dialect))
            if bind.type._type_affinity is DateTime
            else bind.type.dialect_impl(dialect).bind_processor(dialect)
            for name, bind in compiled.binds.items()
        }
        columns = compiled._result_columns or []
        self.results: list[Callable | None] = [
            c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns
        ]
        # Rows as named tuples: attribute access like a Core Row, at a tuple's cost.
        row_type: Any = namedtuple("Row", [c.keyname for c in columns])  # type: ignore[misc]  # fields known at run time
        self.make_row: Callable[[Iterable[Any]], tuple] = row_type._make
        # Values fixed in the statement itself (e.g. a literal in a WHERE clause).
        self.defaults = {name: b.effective_value for name, b in compiled.binds.items() if not b.required}


class Prepared:
    def __init__(self, stmt: ClauseElement):
        self.stmt = stmt
        self._by_dialect: dict[str, _Compiled] = {}

    def _for(self, conn: Connection) -> _Compiled:
        name = conn.dialect.name
        compiled = self._by_dialect.get(name)
        if compiled is None:
            compiled = self._by_dialect[name] = _Compiled(self.stmt, conn.dialect)
        return compiled

    def _bound(self, c: _Compiled, params: dict[str, Any]):
        values = {**c.defaults, **params}
        for name, process in c.binds.items():
            if process is not None:
                values[name] = process(values[name])
        return [values[n] for n in c.names] if c.names is not None else values

    def first(self, conn: Connection, params: dict[str, Any]):
        """The first result row as a named tuple (attribute access, like a Core Row), or None."""
        c = self._for(conn)
        cursor = _cursor(conn)
        try:
            cursor.execute(c.sql, self._bound(c, params))
            row = cursor.fetchone()
        finally:
            cursor.close()
        if row is None:
            return None
        return c.make_row(p(v) if p is not None else v for p, v in zip(c.results, row, strict=True))

    def rowcount(self, conn: Connection, params: dict[str, Any]) -> int:
        c = self._for(conn)
        cursor = _cursor(conn)
        try:
            cursor.execute(c.sql, self._bound(c, params))
            return cursor.rowcount
        finally:
            cursor.close()

    def many(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        c = self._for(conn)
        cursor = _cursor(conn)
        try:
            cursor.executemany(c.sql, [self._bound(c, r) for r in rows])
        finally:
            cursor.close()


def _memo(process: Callable | None) -> Callable | None:
    """A time's bind processor remembering its last value: a batch binds the same `now` in most
    statements of every update, and formatting it (SQLite's text) is the costliest bind."""
    if process is None:
        return None
    last: tuple[Any, Any] = (object(), None)

    def memo(value: Any) -> Any:
        nonlocal last
        seen, result = last  # one tuple, swapped whole: safe for threads sharing the statement
        if value is seen:
            return result
        result = process(value)
        last = (value, result)
        return result

    return memo


def _cursor(conn: Connection) -> DBAPICursor:
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None, "the connection was closed under the unit of work"
    return dbapi.cursor()
