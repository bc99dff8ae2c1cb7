"""Users: login, the current user, and creating users (CLI and demo seeding)."""

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.numbers import is_internal
from gateway.auth import (
    bearer_token,
    current,
    hash_password,
    login,
    password_matches,
    revoke_token,
    revoke_tokens,
)
from gateway.errors import Conflict, Forbidden, InvalidInput, NotFound, read_model
from gateway.keys import sessionmaker_key, settings_key
from gateway.models import Organization, Role, Team, User
from gateway.pagination import path_id
from gateway.phones import InvalidPhoneNumber, lookup_key, to_e164
from gateway.settings import Settings

routes = web.RouteTableDef()


class LoginRequest(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=8, max_length=1024)


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=8, max_length=1024)


def user_to_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "org_id": user.org_id,
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "team_id": user.team_id,
        "phone": user.phone,
    }


@routes.post("/api/auth/login")
async def post_login(request: web.Request) -> web.Response:
    data = await read_model(request, LoginRequest)
    async with request.app[sessionmaker_key]() as session:
        token, user = await login(
            session, request.app[settings_key], email=data.email, password=data.password
        )
        await session.commit()
    return web.json_response({"token": token, "user": user_to_json(user)})


@routes.get("/api/auth/me")
async def get_me(request: web.Request) -> web.Response:
    principal = current(request)
    async with request.app[sessionmaker_key]() as session:
        user = await session.get(User, principal.user_id)
    assert user is not None
    return web.json_response(user_to_json(user))


@routes.post("/api/auth/logout")
async def post_logout(request: web.Request) -> web.Response:
    """End this session: its bearer token stops working."""
    current(request)
    token = bearer_token(request)
    assert token is not None
    async with request.app[sessionmaker_key]() as session:
        await revoke_token(session, request.app[settings_key], token)
        await session.commit()
    return web.Response(status=204)


@routes.post("/api/auth/password")
async def post_password(request: web.Request) -> web.Response:
    """Change one's own password; every other session of the user is signed out."""
    principal = current(request)
    data = await read_model(request, PasswordChange)
    settings = request.app[settings_key]
    async with request.app[sessionmaker_key]() as session:
        user = await session.get(User, principal.user_id)
        assert user is not None
        if not password_matches(settings, user, data.current_password):
            raise InvalidInput(
                "the current password is wrong", field="current_password", code="wrong_password"
            )
        if data.new_password == data.current_password:
            raise InvalidInput(
                "the new password is the current one", field="new_password", code="same_password"
            )
        user.password_hash = hash_password(settings, data.new_password)
        session.add(user)
        await revoke_tokens(session, settings, principal.user_id, keep=bearer_token(request))
        await session.commit()
    return web.Response(status=204)


@routes.post("/api/users/{user_id}/password")
async def post_user_password(request: web.Request) -> web.Response:
    """An admin sets a user's password (a reset); that user is signed out everywhere."""
    principal = current(request)
    if principal.role != Role.ADMIN:
        raise Forbidden("only admins set other users' passwords")
    user_id = path_id(request, "user_id")
    data = await read_model(request, PasswordReset)
    settings = request.app[settings_key]
    async with request.app[sessionmaker_key]() as session:
        user = await session.get(User, user_id)
        if user is None or user.org_id != principal.org_id:
            raise NotFound("no such user")
        user.password_hash = hash_password(settings, data.password)
        session.add(user)
        await revoke_tokens(session, settings, user_id)
        await session.commit()
    return web.Response(status=204)


async def create_user(
    session: AsyncSession,
    settings: Settings,
    *,
    org: Organization,
    email: str,
    password: str,
    name: str,
    role: Role,
    team: Team | None = None,
    phone: str | None = None,
) -> User:
    """Add a user with an argon2id password hash; the caller commits."""
    assert org.id is not None
    email = email.strip().lower()
    if "@" not in email:
        raise InvalidInput("not an e-mail address", field="email")
    if (await session.exec(select(User.id).where(col(User.email) == email))).first() is not None:
        raise Conflict("a user with this e-mail exists", field="email", code="duplicate_email")
    e164 = key = None
    if phone:
        try:
            e164 = to_e164(phone, org.default_region)
        except InvalidPhoneNumber as exc:
            raise InvalidInput(f"{phone!r}: {exc}", field="phone", code="invalid_phone") from None
        key = lookup_key(settings.lookup_key_secret, e164)
        if await is_internal(session, org_id=org.id, key=key):
            raise Conflict("number already used in this organization", field="phone")
    user = User(
        org_id=org.id,
        email=email,
        name=name,
        role=role,
        team_id=team.id if team else None,
        phone=e164,
        phone_key=key,
        password_hash=hash_password(settings, password),
    )
    session.add(user)
    await session.flush()
    return user
