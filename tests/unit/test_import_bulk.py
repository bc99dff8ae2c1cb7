"""`insert_sharing` stores exactly the rows it is given, grouped or not."""

import json
import random
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from crm.importer.bulk import SHARED_GROUP_MIN, insert_sharing
from gateway.db import make_engine

METADATA = sa.MetaData()
AUDIT = sa.Table(
    "audit",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("lead_id", sa.Integer, nullable=False),
    sa.Column("agent_id", sa.Integer),
    sa.Column("reason", sa.String, nullable=False),
    sa.Column("trail", sa.JSON, nullable=False),
    sa.Column("created_at", sa.String, nullable=False),
)
COLUMNS = ("id", "lead_id", "agent_id", "reason", "trail", "created_at")


async def test_grouped_and_single_rows_land_as_given(tmp_path: Path) -> None:
    r = random.Random(7)
    decisions = [
        (None, "nobody eligible: all offline", '[{"agent_id": 2, "eligible": false}]', "t1"),
        (3, "round robin: next in turn", '[{"agent_id": 3, "eligible": true}]', "t1"),
        (None, "nobody eligible: «paused»", "[]", "t2"),
    ]
    rows = []
    for i in range(1, 400):
        # Mostly the first decision (a large group); a few of the others (small groups);
        # some with their own reason (a group of one each).
        roll = r.random()
        shared = decisions[0] if roll < 0.8 else decisions[1] if roll < 0.9 else decisions[2]
        if r.random() < 0.05:
            shared = (i % 4 or None, f"reason of row {i}", "[]", "t3")
        rows.append((i, 10_000 + r.randrange(10**6), *shared))
    sizes: dict[tuple[Any, ...], int] = {}
    for row in rows:
        sizes[row[2:]] = sizes.get(row[2:], 0) + 1
    assert max(sizes.values()) >= SHARED_GROUP_MIN > min(sizes.values())

    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/bulk.db")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(METADATA.create_all)
            await insert_sharing(conn, AUDIT, COLUMNS, rows, own=2)
        async with engine.connect() as conn:
            stored = (await conn.execute(sa.select(AUDIT).order_by(AUDIT.c.id))).all()
            types = (
                await conn.exec_driver_sql("SELECT DISTINCT typeof(id), typeof(lead_id) FROM audit")
            ).all()
    finally:
        await engine.dispose()
    # The JSON column's text comes back decoded by its type.
    assert [tuple(r) for r in stored] == [(*row[:4], json.loads(row[4]), row[5]) for row in rows]
    # The ids taken out of the JSON array are stored as integers, as bound ones are.
    assert [tuple(t) for t in types] == [("integer", "integer")]
