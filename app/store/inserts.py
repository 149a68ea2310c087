"""Multi-row INSERTs handed to the driver as they are: an ingest batch's posts and authors, hundreds a statement."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

from sqlalchemy import Dialect, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.schema import ScalarElementColumnDefault
from sqlmodel.ext.asyncio.session import AsyncSession

# Rows per statement: ~30 columns each stays under both SQLite's and asyncpg's 32,767 parameters.
CHUNK = 500

_NUMBERED = re.compile(r"\$(\d+)")


@dataclass(slots=True)
class _Column:
    """How one placeholder of a row gets its value: from the row, or the table's scalar default; then converted."""

    value: Callable[[Mapping[str, Any]], Any] | None  # None: every row takes ``default``
    default: Any
    convert: Callable[[Any], Any] | None  # the dialect's bind processor for the column's type


@dataclass(slots=True)
class _Driver:
    """The statement as one dialect's driver runs it: the SQL around the rows' VALUES groups, and how rows'
    values become the driver's parameters."""

    head: str  # "INSERT INTO t (a, b, …) VALUES "
    group: str  # one row's "(?, ?, …)"; numbered placeholders as "${0}…" format fields (asyncpg's "$1::INTEGER")
    tail: str  # " ON CONFLICT (…) DO NOTHING RETURNING …"
    numbered: bool
    columns: tuple[_Column, ...]  # in the compiled order
    sql: dict[int, str]  # the statement by row count, as made

    def statement(self, count: int) -> str:
        sql = self.sql.get(count)
        if sql is None:
            if self.numbered:
                width = len(self.columns)
                groups = ", ".join(
                    self.group.format(*range(start + 1, start + width + 1)) for start in range(0, count * width, width)
                )
            else:
                groups = ", ".join([self.group] * count)
            sql = f"{self.head}{groups}{self.tail}"
            if len(self.sql) >= 8:  # a full chunk and the odd sizes of the last few batches
                self.sql.clear()
            self.sql[count] = sql
        return sql

    def parameters(self, rows: Sequence[Mapping[str, Any]]) -> tuple[Any, ...]:
        """The rows' values, row after row, as one flat tuple: gathered and converted a column at a time."""
        count = len(rows)
        columns: list[list[Any]] = []
        for column in self.columns:
            if column.value is None:
                value = column.default if column.convert is None else column.convert(column.default)
                columns.append([value] * count)
            elif column.convert is None:
                columns.append(list(map(column.value, rows)))
            else:
                columns.append(list(map(column.convert, map(column.value, rows))))
        return tuple(chain.from_iterable(zip(*columns, strict=True)))


class RowsInsert:
    """``INSERT … VALUES (…), (…), … [ON CONFLICT (unique) DO NOTHING] RETURNING …`` of rows given as column values.

    What SQLAlchemy's executemany sends for such a statement ("insertmanyvalues": the same SQL, the same
    parameters), without its work per row: a parameter dict built from the compiled statement, a processor
    looked up per column, each row's values gathered again. Here the statement is compiled once per dialect,
    a row's values are taken in the compiled order (the table's scalar defaults filling the columns the rows
    leave out, as SQLAlchemy fills them), only the columns whose type converts (JSON, datetimes, booleans,
    floats) go through the dialect's own bind processors, and the rows of a chunk go to the driver as one
    statement with one flat tuple of parameters. A dialect whose compiled form is not plain positional SQL,
    or a left-out column with a default to call per row, keeps the SQLAlchemy path (same statement, same rows).

    A row skipped as a duplicate is not returned; on PostgreSQL a row whose key a concurrent, uncommitted
    transaction has just inserted waits for it, and is skipped if that one commits.
    """

    def __init__(
        self, table: Table, columns: Sequence[str], returning: Sequence[str], *, unique: Sequence[str] = ()
    ) -> None:
        self.table = table
        self.columns = tuple(columns)
        self.returning = tuple(table.c[name] for name in returning)
        self.unique = list(unique)
        self._drivers: dict[tuple[str, str], _Driver | None] = {}

    def _statement(self, postgres: bool) -> Any:
        stmt = (postgresql if postgres else sqlite).insert(self.table)
        if self.unique:
            stmt = stmt.on_conflict_do_nothing(index_elements=self.unique)
        return stmt.returning(*self.returning)

    def _driver(self, dialect: Dialect) -> _Driver | None:
        key = (dialect.name, dialect.driver)
        if key not in self._drivers:
            self._drivers[key] = self._compile(dialect)
        return self._drivers[key]

    def _compile(self, dialect: Dialect) -> _Driver | None:
        if dialect.paramstyle not in ("qmark", "numeric_dollar"):
            return None
        compiled = self._statement(dialect.name == "postgresql").compile(dialect=dialect, column_keys=self.columns)
        names = tuple(compiled.positiontup or ())
        split = _split_values(compiled.string, len(names), numbered=dialect.paramstyle == "numeric_dollar")
        if not compiled.positional or split is None or len(set(names)) != len(names):
            return None
        columns = []
        for name in names:
            convert = compiled.binds[name].type._cached_bind_processor(dialect)
            if name in self.columns:
                columns.append(_Column(operator.itemgetter(name), None, convert))
                continue
            default = self.table.c[name].default
            if not isinstance(default, ScalarElementColumnDefault):
                return None  # a default to call per row (or a server-side one the statement names)
            columns.append(_Column(None, default.arg, convert))
        head, group, tail = split
        return _Driver(head, group, tail, dialect.paramstyle == "numeric_dollar", tuple(columns), {})

    async def run(self, session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        """Insert ``rows`` (each with every one of ``columns``), a chunk a statement; the returned columns'
        values of the rows inserted, in the order the database returns them."""
        if not rows:
            return []
        connection = await session.connection()
        driver = self._driver(connection.dialect)
        out: list[tuple[Any, ...]] = []
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            if driver is None:
                stmt = self._statement(connection.dialect.name == "postgresql")
                result = await session.execute(stmt, [dict(row) for row in chunk])
            else:
                result = await connection.exec_driver_sql(driver.statement(len(chunk)), driver.parameters(chunk))
            out.extend(tuple(row) for row in result)
        return out


def _split_values(sql: str, width: int, *, numbered: bool) -> tuple[str, str, str] | None:
    """``sql`` (a one-row INSERT) as the text before its VALUES group, the group, and the text after; the group
    with numbered placeholders as format fields. None when it is not ``width`` placeholders in order."""
    marker = " VALUES ("
    start = sql.find(marker)
    if start < 0 or sql.find(marker, start + 1) >= 0:
        return None
    start += len(marker) - 1
    depth = 0
    for end in range(start, len(sql)):
        depth += {"(": 1, ")": -1}.get(sql[end], 0)
        if depth == 0:
            break
    else:
        return None
    group = sql[start : end + 1]
    if numbered:
        if _NUMBERED.findall(group) != [str(n) for n in range(1, width + 1)]:
            return None
        escaped = group.replace("{", "{{").replace("}", "}}")
        group = _NUMBERED.sub(lambda m: "${" + str(int(m.group(1)) - 1) + "}", escaped)
    elif group != "(" + ", ".join(["?"] * width) + ")":
        return None
    return sql[:start], group, sql[end + 1 :]
