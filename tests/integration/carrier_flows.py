"""Steps every carrier's end-to-end test takes: register an account, take the line, dial, count."""

from typing import Any

from sqlmodel import col, select

from gateway.callstate import RANK
from gateway.keys import sessionmaker_key
from gateway.models import Call, CallEventRecord, CarrierAccount
from tests.conftest import Gateway, LiveCall


async def settled(gw: Gateway) -> None:
    """Wait until the gateway has applied every webhook it has answered.

    The gateway may answer a carrier once the request is stored and apply it just after
    (`Gateway.settled` waits for that); if it applies before answering, nothing is pending.
    """
    wait = getattr(gw, "settled", None)
    if wait is not None:
        await wait()


async def post_carrier_account(
    gw: Gateway, token: str, carrier: str, credentials: dict[str, Any], numbers: list[str]
) -> tuple[int, Any]:
    """`POST /api/carrier-accounts` as the holder of `token`: (status, body)."""
    return await gw.request(
        "POST",
        "/api/carrier-accounts",
        token,
        json={"carrier": carrier, "credentials": credentials, "numbers": numbers},
    )


async def register_account(
    gw: Gateway, carrier: str, credentials: dict[str, Any], numbers: list[str]
) -> dict[str, Any]:
    """The demo's admin registers a carrier account; returns the created account."""
    admin = await gw.login("admin@demo.test")
    status, body = await post_carrier_account(gw, admin, carrier, credentials, numbers)
    assert status == 201, body
    return dict(body)


async def deactivate_sandbox(gw: Gateway) -> None:
    """Click-to-call takes the first active account: switch the demo's sandbox line off."""
    async with gw.app[sessionmaker_key]() as session:
        sandbox = (
            await session.exec(select(CarrierAccount).where(CarrierAccount.carrier == "sandbox"))
        ).all()
        assert sandbox
        for account in sandbox:
            account.is_active = False
            session.add(account)
        await session.commit()


async def rows_for_account(gw: Gateway, account_id: int) -> tuple[int, int]:
    """(calls, carrier events) stored for a carrier account."""
    async with gw.app[sessionmaker_key]() as session:
        calls = (await session.exec(select(Call.id).where(Call.account_id == account_id))).all()
        events = (
            await session.exec(
                select(CallEventRecord.id).where(
                    CallEventRecord.account_id == account_id, col(CallEventRecord.kind) != "local"
                )
            )
        ).all()
    return len(calls), len(events)


async def call_ids_for_account(gw: Gateway, account_id: int) -> list[int]:
    """The ids of the calls stored for a carrier account, oldest first."""
    async with gw.app[sessionmaker_key]() as session:
        rows = await session.exec(
            select(Call.id).where(Call.account_id == account_id).order_by(col(Call.id))
        )
        return [i for i in rows.all() if i is not None]


async def click_to_call(
    gw: Gateway, lead_query: str = "Priya Sharma"
) -> tuple[LiveCall, str, dict[str, Any]]:
    """Agent1, connected for live updates, clicks to call the one lead the query finds.

    Returns agent1's Socket.IO client, bearer token and the accepted (202) call.
    """
    token = await gw.login("agent1@demo.test")
    live = await gw.connect(token)
    status, leads = await gw.request("GET", "/api/leads", token, params={"q": lead_query})
    assert status == 200 and len(leads["data"]) == 1, leads
    status, call = await gw.request(
        "POST", "/api/calls", token, json={"lead_id": leads["data"][0]["id"]}
    )
    assert status == 202, call
    return live, token, dict(call)


def statuses(live: LiveCall, call_id: int) -> list[str]:
    """The statuses of a call's `call_updated` updates, in arrival order."""
    return [u["status"] for u in live.for_call(call_id)]


def assert_only_forward(seen: list[str]) -> None:
    """Updates never move a call backwards (ranks of the normalized state machine)."""
    assert [RANK[s] for s in seen] == sorted(RANK[s] for s in seen), seen
