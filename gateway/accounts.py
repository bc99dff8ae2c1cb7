"""Carrier accounts: registration with validated credentials and numbers, and their webhook URLs."""

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.leads import org_region
from crm.numbers import agent_with_key
from gateway.auth import Principal, current
from gateway.carriers.base import InvalidCredentials
from gateway.carriers.registry import CarrierRegistry
from gateway.errors import Conflict, Forbidden, InvalidInput, NotFound, read_model
from gateway.keys import carriers_key, sessionmaker_key, settings_key
from gateway.models import CarrierAccount, CarrierNumber, Role
from gateway.phones import InvalidPhoneNumber, lookup_key, to_e164
from gateway.settings import Settings

routes = web.RouteTableDef()
SECRET_MARKERS = ("token", "secret", "key", "password")


def _is_secret(name: str) -> bool:
    """Credential fields whose names say they are secret are never shown (ids are not)."""
    if name.endswith("_id") or name.startswith("public"):
        return False
    return any(marker in name for marker in SECRET_MARKERS)


class CarrierAccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    carrier: str = Field(min_length=1, max_length=32)
    name: str = Field(default="", max_length=200)
    credentials: dict[str, Any] = Field(default_factory=dict)
    numbers: list[str] = Field(default_factory=list, max_length=500)
    # Calls are paced to this rate (e.g. Twilio's default of 1 per second); null: unpaced.
    calls_per_second: float | None = Field(default=None, gt=0, le=1000)


def _redact(credentials: Mapping[str, Any]) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for name, value in credentials.items():
        if _is_secret(name):
            shown[name] = "****" + (value[-4:] if isinstance(value, str) else "")
        else:
            shown[name] = value
    return shown


def webhook_urls(
    settings: Settings, registry: CarrierRegistry, account: CarrierAccount
) -> dict[str, str]:
    adapter = registry.get(account.carrier)
    kinds = sorted(adapter.webhook_kinds) if adapter else []
    base = f"{settings.public_base_url}/webhooks/{account.carrier}/{account.id}"
    urls = {kind: f"{base}/{kind}" for kind in kinds}
    # Carriers that sign nothing (Exotel) authenticate static flow URLs by a token in them.
    inbound = getattr(adapter, "inbound_urls", None)
    if inbound is not None:
        urls.update(inbound(account.credentials, base))
    return urls


def account_to_json(
    settings: Settings, registry: CarrierRegistry, account: CarrierAccount, numbers: list[str]
) -> dict[str, Any]:
    return {
        "id": account.id,
        "carrier": account.carrier,
        "name": account.name,
        "credentials": _redact(account.credentials),
        "numbers": numbers,
        "is_active": account.is_active,
        "calls_per_second": account.calls_per_second,
        "webhook_urls": webhook_urls(settings, registry, account),
        "created_at": account.created_at.isoformat(),
    }


def _require_admin(principal: Principal) -> None:
    if principal.role != Role.ADMIN:
        raise Forbidden("only admins manage carrier accounts")


async def register_account(
    session: AsyncSession,
    settings: Settings,
    registry: CarrierRegistry,
    *,
    org_id: int,
    data: CarrierAccountCreate,
) -> tuple[CarrierAccount, list[str]]:
    """Validate and add an account with its numbers; the caller commits."""
    adapter = registry.get(data.carrier)
    if adapter is None:
        raise InvalidInput(
            f"unknown carrier; one of {', '.join(registry.names())}", field="carrier"
        )
    try:
        credentials = adapter.check_credentials(data.credentials)
    except InvalidCredentials as exc:
        raise InvalidInput(exc.message, field=exc.field) from None
    region = await org_region(session, settings, org_id)
    numbers: list[str] = []
    for i, raw in enumerate(data.numbers):
        try:
            e164 = to_e164(raw, region)
        except InvalidPhoneNumber as exc:
            raise InvalidInput(
                f"{raw!r}: {exc}", field=f"numbers.{i}", code="invalid_phone"
            ) from None
        key = lookup_key(settings.lookup_key_secret, e164)
        taken = (
            await session.exec(
                select(CarrierNumber.id).where(
                    col(CarrierNumber.org_id) == org_id, col(CarrierNumber.phone_key) == key
                )
            )
        ).first()
        if taken is not None or e164 in numbers:
            raise Conflict(
                f"{e164} is already registered", field=f"numbers.{i}", code="duplicate_number"
            )
        if await agent_with_key(session, org_id=org_id, key=key) is not None:
            raise Conflict(
                f"{e164} is an agent's phone", field=f"numbers.{i}", code="internal_number"
            )
        numbers.append(e164)
    account = CarrierAccount(
        org_id=org_id,
        carrier=data.carrier,
        name=data.name or data.carrier,
        credentials=credentials,
        calls_per_second=data.calls_per_second,
    )
    session.add(account)
    await session.flush()
    assert account.id is not None
    for e164 in numbers:
        session.add(
            CarrierNumber(
                org_id=org_id,
                account_id=account.id,
                e164=e164,
                phone_key=lookup_key(settings.lookup_key_secret, e164),
            )
        )
    return account, numbers


@routes.post("/api/carrier-accounts")
async def create_account(request: web.Request) -> web.Response:
    principal = current(request)
    _require_admin(principal)
    data = await read_model(request, CarrierAccountCreate)
    settings, registry = request.app[settings_key], request.app[carriers_key]
    async with request.app[sessionmaker_key]() as session:
        account, numbers = await register_account(
            session, settings, registry, org_id=principal.org_id, data=data
        )
        await session.commit()
    return web.json_response(account_to_json(settings, registry, account, numbers), status=201)


async def _numbers(session: AsyncSession, account_ids: list[int]) -> dict[int, list[str]]:
    rows = await session.exec(
        select(CarrierNumber)
        .where(col(CarrierNumber.account_id).in_(account_ids))
        .order_by(col(CarrierNumber.id))
    )
    grouped: dict[int, list[str]] = {}
    for row in rows.all():
        grouped.setdefault(row.account_id, []).append(row.e164)
    return grouped


@routes.get("/api/carrier-accounts")
async def list_accounts(request: web.Request) -> web.Response:
    principal = current(request)
    _require_admin(principal)
    settings, registry = request.app[settings_key], request.app[carriers_key]
    async with request.app[sessionmaker_key]() as session:
        accounts = (
            await session.exec(
                select(CarrierAccount)
                .where(col(CarrierAccount.org_id) == principal.org_id)
                .order_by(col(CarrierAccount.id))
            )
        ).all()
        numbers = await _numbers(session, [a.id for a in accounts if a.id is not None])
    return web.json_response(
        {
            "data": [
                account_to_json(settings, registry, a, numbers.get(a.id or 0, [])) for a in accounts
            ],
            "next_cursor": None,
        }
    )


@routes.get("/api/carrier-accounts/{account_id}")
async def get_account(request: web.Request) -> web.Response:
    principal = current(request)
    _require_admin(principal)
    raw = request.match_info["account_id"]
    settings, registry = request.app[settings_key], request.app[carriers_key]
    async with request.app[sessionmaker_key]() as session:
        account = await session.get(CarrierAccount, int(raw)) if raw.isdigit() else None
        if account is None or account.org_id != principal.org_id:
            raise NotFound("no such carrier account", field="account_id")
        numbers = await _numbers(session, [account.id or 0])
    return web.json_response(
        account_to_json(settings, registry, account, numbers.get(account.id or 0, []))
    )
