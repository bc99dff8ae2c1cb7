"""Property: any order and any duplication of a call's callbacks gives the same final call."""

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from gateway.carriers.base import CallEvent
from gateway.db import make_engine, make_sessionmaker
from gateway.models import (
    Call,
    CallLeg,
    CallOutcome,
    CallStatus,
    CarrierAccount,
    Direction,
    Organization,
)
from gateway.settings import Settings
from webhooks.apply import (
    Batch,
    apply_events,
    insert_records,
    prefetch_calls,
    prefetch_dedupe,
)

AGENT, CUSTOMER = "SBagent", "SBcustomer"
S, Out = CallStatus, CallOutcome


def ev(
    leg: str, seq: int, status: CallStatus, outcome: CallOutcome | None = None, **kw: Any
) -> CallEvent:
    return CallEvent(
        carrier_call_id=leg,
        dedupe_key=f"{leg}:seq:{seq}",
        kind="status",
        carrier_status=f"{status}/{outcome}",
        status=status,
        outcome=outcome,
        parent_call_id=AGENT if leg == CUSTOMER else None,
        local_call_id=1,
        **kw,
    )


AGENT_UP = [ev(AGENT, 0, S.INITIATED), ev(AGENT, 1, S.RINGING), ev(AGENT, 2, S.IN_PROGRESS)]
LIFECYCLES: dict[str, tuple[list[CallEvent], tuple[str, str | None, int | None]]] = {
    "answered": (
        [
            *AGENT_UP,
            ev(CUSTOMER, 0, S.INITIATED),
            ev(CUSTOMER, 1, S.RINGING),
            ev(CUSTOMER, 2, S.IN_PROGRESS),
            ev(CUSTOMER, 3, S.COMPLETED, Out.COMPLETED, duration_s=42),
            ev(AGENT, 3, S.COMPLETED, Out.COMPLETED, duration_s=44),
        ],
        ("completed", "completed", 42),
    ),
    "busy": (
        [
            *AGENT_UP,
            ev(CUSTOMER, 0, S.INITIATED),
            ev(CUSTOMER, 1, S.RINGING),
            ev(CUSTOMER, 2, S.COMPLETED, Out.BUSY),
            ev(AGENT, 3, S.COMPLETED, Out.COMPLETED, duration_s=3),
        ],
        ("completed", "busy", 0),
    ),
    "no-answer": (
        [
            *AGENT_UP,
            ev(CUSTOMER, 0, S.INITIATED),
            ev(CUSTOMER, 1, S.RINGING),
            ev(CUSTOMER, 2, S.COMPLETED, Out.NO_ANSWER),
            ev(AGENT, 3, S.COMPLETED, Out.COMPLETED, duration_s=31),
        ],
        ("completed", "no-answer", 0),
    ),
    "agent-missed": (
        [
            ev(AGENT, 0, S.INITIATED),
            ev(AGENT, 1, S.RINGING),
            ev(AGENT, 2, S.COMPLETED, Out.NO_ANSWER),
        ],
        ("completed", "canceled", 0),
    ),
}


@pytest.fixture(scope="module")
def template(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file with an organization, an account and a bridged call; each run
    of a delivery order gets a copy."""
    path = tmp_path_factory.mktemp("order") / "base.db"
    shutil.copy(sqlite_template, path)

    async def seed() -> None:
        engine = make_engine(f"sqlite+aiosqlite:///{path}")
        async with make_sessionmaker(engine)() as session:
            org = Organization(name="Order")
            session.add(org)
            await session.flush()
            assert org.id is not None
            account = CarrierAccount(org_id=org.id, carrier="sandbox", credentials={})
            session.add(account)
            await session.flush()
            session.add(
                Call(
                    id=1,
                    org_id=org.id,
                    account_id=account.id,
                    carrier="sandbox",
                    direction=Direction.OUTBOUND,
                    bridged=True,
                    from_number="+918047180000",
                    to_number="+919876543210",
                )
            )
            await session.commit()
        await engine.dispose()

    asyncio.run(seed())
    return path


async def final_state(
    base: Path, events: list[CallEvent], batches: list[int] | None = None
) -> tuple[Any, ...]:
    """The call after these callbacks: each in its own transaction, or with `batches`, that
    many callbacks per transaction in turn (the last size repeats), as the applier batches."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.db"
        shutil.copy(base, path)
        engine = make_engine(f"sqlite+aiosqlite:///{path}")
        settings = Settings(_env_file=None)
        sessions = make_sessionmaker(engine)
        async with sessions() as session:
            account = (await session.exec(select(CarrierAccount))).one()
        if batches is None:
            for event in events:  # one callback, one transaction
                async with sessions() as session:
                    await apply_events(session, settings, account, [event])
                    await session.commit()
        start, turn = 0, 0
        while batches is not None and start < len(events):
            size = batches[min(len(batches) - 1, turn)]
            group, start, turn = events[start : start + size], start + size, turn + 1
            async with sessions() as session:
                batch = Batch(locked=True)
                assert account.id is not None
                await prefetch_dedupe(session, batch, {account.id: {e.dedupe_key for e in group}})
                carrier_ids = {i for e in group for i in (e.parent_call_id, e.carrier_call_id) if i}
                await prefetch_calls(session, batch, {account.id: carrier_ids})
                for event in group:
                    await apply_events(session, settings, account, [event], batch=batch)
                await insert_records(session, batch)
                await session.commit()
        async with sessions() as session:
            call = await session.get(Call, 1)
            legs = (await session.exec(select(CallLeg).order_by(CallLeg.role))).all()
        await engine.dispose()
    assert call is not None
    return (call.status, call.outcome, call.duration_s), tuple(
        (leg.role, leg.status, leg.outcome) for leg in legs
    )


IN_ORDER: dict[str, tuple[Any, ...]] = {}


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[str, list[CallEvent]]:
    name = draw(st.sampled_from(sorted(LIFECYCLES)))
    events = LIFECYCLES[name][0]
    repeated = draw(st.lists(st.sampled_from(events), max_size=4))
    return name, draw(st.permutations(events + repeated))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(delivery=deliveries())
def test_any_order_and_duplication_gives_the_same_call(
    template: Path, delivery: tuple[str, list[CallEvent]]
) -> None:
    name, events = delivery
    expected_call = LIFECYCLES[name][1]
    if name not in IN_ORDER:
        IN_ORDER[name] = asyncio.run(final_state(template, LIFECYCLES[name][0]))
    in_order = IN_ORDER[name]
    shuffled = asyncio.run(final_state(template, events))
    assert in_order[0] == expected_call
    assert shuffled == in_order


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(delivery=deliveries(), batches=st.lists(st.integers(1, 8), min_size=1, max_size=6))
def test_batches_of_callbacks_give_the_same_call(
    template: Path, delivery: tuple[str, list[CallEvent]], batches: list[int]
) -> None:
    """Several callbacks in one transaction (a call held from one to the next, duplicates
    within the batch) end in the same call as one transaction each."""
    name, events = delivery
    if name not in IN_ORDER:
        IN_ORDER[name] = asyncio.run(final_state(template, LIFECYCLES[name][0]))
    assert asyncio.run(final_state(template, events, batches)) == IN_ORDER[name]
