"""Bulk writes for the import's hot path: one COPY or executemany per table and chunk.

SQLAlchemy's Core executemany builds and processes a parameter dict per row (about 30 µs
for a lead); here values are bound once per column kind with the dialect's own processors
and handed to the driver as tuples, which is what the database stores either way.
"""

import json
import sqlite3
from collections.abc import Callable, Sequence
from functools import lru_cache
from json import encoder as _json_encoder
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection


def binder(conn: AsyncConnection, column: sa.Column[Any]) -> Callable[[Any], Any]:
    """The dialect's bind processor of the column (identity when it has none)."""
    dialect = conn.dialect
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else (lambda value: value)


def json_binder(conn: AsyncConnection, column: sa.Column[Any]) -> Callable[[Any], Any]:
    """`binder` of a JSON column: `json_text` when the engine keeps SQLAlchemy's default
    serializer (`json.dumps`, whose text the column's processor stores as it is), else the
    column's own processor."""
    if default_json(conn):
        return json_text()
    return binder(conn, column)


def default_json(conn: AsyncConnection) -> bool:
    """Whether the engine keeps SQLAlchemy's default JSON serializer (`json.dumps`), whose
    text `json_text` writes."""
    return getattr(conn.dialect, "_json_serializer", None) is None


def json_text() -> Callable[[Any], str]:
    """`json.dumps` with its defaults, the text the JSON columns' bind processors store.

    `json.dumps` builds a new encoder at every call, about 4 µs of its 10 for a lead's
    `lead.assigned` event; this keeps one C encoder (the one `json.dumps` builds, without
    the check for circular references: the callers encode trees of plain values).
    """
    make = getattr(_json_encoder, "c_make_encoder", None)
    if make is None:
        return json.dumps
    defaults = json.JSONEncoder()
    encode = make(
        None,
        defaults.default,
        _json_encoder.encode_basestring_ascii,
        None,
        ": ",
        ", ",
        False,
        False,
        True,
    )

    def text(value: Any) -> str:
        return "".join(encode(value, 0))

    return text


def _insert_sql(conn: AsyncConnection, table: sa.Table, columns: Sequence[str]) -> str:
    """The dialect's positional INSERT of `columns`, compiled by SQLAlchemy (once)."""
    return _compiled_insert(conn.dialect, table, tuple(columns))


@lru_cache(maxsize=64)
def _compiled_insert(dialect: sa.Dialect, table: sa.Table, columns: tuple[str, ...]) -> str:
    # A bare table clause: the model's Python-side defaults would add columns of their own.
    clause = sa.table(table.name, *(sa.column(c) for c in columns))
    compiled = (
        sa.insert(clause).values({c: sa.bindparam(c) for c in columns}).compile(dialect=dialect)
    )
    if compiled.positiontup != list(columns):
        raise NotImplementedError(f"{dialect.name}: not a positional parameter style")
    return compiled.string


async def insert_many(
    conn: AsyncConnection, table: sa.Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Store bound rows (tuples in `columns` order): PostgreSQL's COPY, else the driver's
    executemany of an INSERT."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        # COPY in asyncpg's binary format, in the connection's transaction: about half the
        # server's work of an executemany of INSERTs. The values are bound as for an INSERT
        # (JSON as text, aware datetimes), which the same codecs encode.
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        await driver.copy_records_to_table(table.name, records=rows, columns=list(columns))
        return
    await conn.exec_driver_sql(_insert_sql(conn, table, columns), rows)


# Rows of one group at least for `insert_sharing` to write them with one INSERT … SELECT.
SHARED_GROUP_MIN = 32


async def insert_sharing(
    conn: AsyncConnection,
    table: sa.Table,
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
    *,
    own: int,
) -> None:
    """`insert_many` for rows whose columns after the first `own` repeat from row to row (an
    import's audit rows of leads nobody could take: one decision, a chunk of leads).

    SQLite: each large group of rows sharing those values is one INSERT … SELECT over a JSON
    array of the rows' own values, the shared ones bound once: a third less work than binding
    and stepping every row (0.23 against 0.35 s per 90,000 audit rows), and the GIL released
    for the whole statement. Other rows, and other databases, go through `insert_many`.
    """
    if conn.dialect.name != "sqlite" or sqlite3.sqlite_version_info < (3, 38):
        await insert_many(conn, table, columns, rows)
        return
    groups: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
    for row in rows:
        groups.setdefault(row[own:], []).append(row[:own])
    rest: list[tuple[Any, ...]] = []
    encode = json_text()
    for shared, owned in groups.items():
        if len(owned) < SHARED_GROUP_MIN:
            rest.extend(values + shared for values in owned)
            continue
        sql = _shared_insert_sql(table, tuple(columns), own)
        await conn.exec_driver_sql(sql, (*shared, encode(owned)))
    await insert_many(conn, table, columns, rest)


@lru_cache(maxsize=16)
def _shared_insert_sql(table: sa.Table, columns: tuple[str, ...], own: int) -> str:
    # Names from the models, never from input; values all bound.
    picks = [f"json_extract(value, '$[{i}]')" for i in range(own)]
    shared = ["?"] * (len(columns) - own)
    return (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "  # noqa: S608
        f"SELECT {', '.join(picks + shared)} FROM json_each(?)"
    )


async def allocate_ids(conn: AsyncConnection, table: sa.Table, count: int) -> list[int]:
    """`count` new primary keys of `table`, for rows inserted in this transaction.

    PostgreSQL: from the column's sequence (safe alongside any other writer). SQLite: after
    the largest id; the caller already wrote in this transaction, so it holds the database's
    write lock and no other connection can insert until it commits.
    """
    if count == 0:
        return []
    if conn.dialect.name == "postgresql":
        # One row holding an array: a row per id cost more than the ids (4 tables a chunk).
        ids = await conn.scalar(
            sa.text(
                "SELECT array_agg(id ORDER BY id) FROM ("
                "SELECT nextval(pg_get_serial_sequence(:table, 'id')) AS id "
                "FROM generate_series(1, :count)) AS new_ids"
            ),
            {"table": table.name, "count": count},
        )
        return [int(i) for i in ids]
    if conn.dialect.name == "sqlite":
        top = (await conn.execute(sa.select(sa.func.max(table.c.id)))).scalar()
        start = int(top or 0) + 1
        return list(range(start, start + count))
    raise NotImplementedError(f"database {conn.dialect.name}")
