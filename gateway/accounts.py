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
from gateway.models import CarrierAccount, CarrierNumber, Role, Team, User
from gateway.phones import InvalidPhoneNumber, lookup_key, to_e164
from gateway.settings import Settings
from webhooks.routes import forget_account

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


class CarrierAccountUpdate(BaseModel):
    """Only the fields given change; `credentials` are merged over the stored ones."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    credentials: dict[str, Any] | None = None
    calls_per_second: float | None = Field(default=None, gt=0, le=1000)
    is_active: bool | None = None
    add_numbers: list[str] = Field(default_factory=list, max_length=500)
    remove_numbers: list[str] = Field(default_factory=list, max_length=500)


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


async def _new_numbers(
    session: AsyncSession, settings: Settings, org_id: int, given: list[str], *, field: str
) -> list[str]:
    """Normalize numbers to register; each must be valid and not the org's already."""
    region = await org_region(session, settings, org_id)
    numbers: list[str] = []
    for i, raw in enumerate(given):
        try:
            e164 = to_e164(raw, region)
        except InvalidPhoneNumber as exc:
            raise InvalidInput(
                f"{raw!r}: {exc}", field=f"{field}.{i}", code="invalid_phone"
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
                f"{e164} is already registered", field=f"{field}.{i}", code="duplicate_number"
            )
        if await agent_with_key(session, org_id=org_id, key=key) is not None:
            raise Conflict(
                f"{e164} is an agent's phone", field=f"{field}.{i}", code="internal_number"
            )
        numbers.append(e164)
    return numbers


def _add_numbers(
    session: AsyncSession, settings: Settings, account: CarrierAccount, numbers: list[str]
) -> None:
    assert account.id is not None
    for e164 in numbers:
        session.add(
            CarrierNumber(
                org_id=account.org_id,
                account_id=account.id,
                e164=e164,
                phone_key=lookup_key(settings.lookup_key_secret, e164),
            )
        )


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
    numbers = await _new_numbers(session, settings, org_id, data.numbers, field="numbers")
    account = CarrierAccount(
        org_id=org_id,
        carrier=data.carrier,
        name=data.name or data.carrier,
        credentials=credentials,
        calls_per_second=data.calls_per_second,
    )
    session.add(account)
    await session.flush()
    _add_numbers(session, settings, account, numbers)
    return account, numbers


async def update_account(
    session: AsyncSession,
    settings: Settings,
    registry: CarrierRegistry,
    *,
    account: CarrierAccount,
    data: CarrierAccountUpdate,
) -> None:
    """Apply a partial update (rotated secrets, pacing, on/off, numbers); the caller commits."""
    given = data.model_fields_set
    if "name" in given and data.name is not None:
        account.name = data.name
    if "credentials" in given:
        adapter = registry.get(account.carrier)
        assert adapter is not None
        if data.credentials is None:
            raise InvalidInput("credentials cannot be null", field="credentials")
        try:
            account.credentials = adapter.check_credentials(
                {**account.credentials, **data.credentials}
            )
        except InvalidCredentials as exc:
            raise InvalidInput(exc.message, field=exc.field) from None
    if "calls_per_second" in given:
        account.calls_per_second = data.calls_per_second
    if "is_active" in given:
        if data.is_active is None:
            raise InvalidInput("is_active is true or false", field="is_active")
        account.is_active = data.is_active
    assert account.id is not None
    if data.remove_numbers:
        region = await org_region(session, settings, account.org_id)
        for i, raw in enumerate(data.remove_numbers):
            field = f"remove_numbers.{i}"
            try:
                e164 = to_e164(raw, region)
            except InvalidPhoneNumber as exc:
                raise InvalidInput(f"{raw!r}: {exc}", field=field, code="invalid_phone") from None
            row = (
                await session.exec(
                    select(CarrierNumber).where(
                        col(CarrierNumber.account_id) == account.id,
                        col(CarrierNumber.phone_key)
                        == lookup_key(settings.lookup_key_secret, e164),
                    )
                )
            ).first()
            if row is None:
                raise NotFound(f"{e164} is not a number of this account", field=field)
            if await _used_as_caller_id(session, row):
                raise Conflict(
                    f"{e164} is the caller ID of a team or agent", field=field, code="in_use"
                )
            await session.delete(row)
        await session.flush()
    added = await _new_numbers(
        session, settings, account.org_id, data.add_numbers, field="add_numbers"
    )
    _add_numbers(session, settings, account, added)
    session.add(account)


async def _used_as_caller_id(session: AsyncSession, number: CarrierNumber) -> bool:
    for table in (Team, User):
        used = (
            await session.exec(select(table.id).where(col(table.caller_id_number_id) == number.id))
        ).first()
        if used is not None:
            return True
    return False


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


async def _own_account(
    session: AsyncSession, principal: Principal, request: web.Request
) -> CarrierAccount:
    raw = request.match_info["account_id"]
    account = await session.get(CarrierAccount, int(raw)) if raw.isdigit() else None
    if account is None or account.org_id != principal.org_id:
        raise NotFound("no such carrier account", field="account_id")
    return account


@routes.patch("/api/carrier-accounts/{account_id}")
async def patch_account(request: web.Request) -> web.Response:
    """Rotate credentials, change pacing, switch off or on, add or remove numbers.

    Other gateway processes see a deactivated account or new secrets within the webhook
    pipeline's account cache time (ACCOUNT_TTL_S); this process at once.
    """
    principal = current(request)
    _require_admin(principal)
    data = await read_model(request, CarrierAccountUpdate)
    settings, registry = request.app[settings_key], request.app[carriers_key]
    async with request.app[sessionmaker_key]() as session:
        account = await _own_account(session, principal, request)
        await update_account(session, settings, registry, account=account, data=data)
        await session.commit()
        numbers = await _numbers(session, [account.id or 0])
    assert account.id is not None
    forget_account(request.app, account.id)
    return web.json_response(
        account_to_json(settings, registry, account, numbers.get(account.id, []))
    )


@routes.get("/api/carrier-accounts/{account_id}")
async def get_account(request: web.Request) -> web.Response:
    principal = current(request)
    _require_admin(principal)
    settings, registry = request.app[settings_key], request.app[carriers_key]
    async with request.app[sessionmaker_key]() as session:
        account = await _own_account(session, principal, request)
        numbers = await _numbers(session, [account.id or 0])
    return web.json_response(
        account_to_json(settings, registry, account, numbers.get(account.id or 0, []))
    )
