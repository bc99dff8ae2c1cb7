"""Users' credentials and API tokens: argon2id passwords, opaque bearer tokens stored hashed."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from gateway.errors import Handler, Unauthorized
from gateway.keys import sessionmaker_key, settings_key
from gateway.models import ApiToken, Role, User, utcnow
from gateway.settings import Settings

principal_key: web.RequestKey["Principal"] = web.RequestKey("principal")
# Stands in for a stored hash when the e-mail is unknown, so both paths cost one verification.
_DUMMY_HASH_PASSWORD = "dialgate-timing-equalizer"  # noqa: S105  (not a credential)


@dataclass(frozen=True)
class Principal:
    user_id: int
    org_id: int
    role: Role
    team_id: int | None
    email: str
    name: str

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_manager(self) -> bool:
        return self.role == Role.MANAGER


def password_hasher(settings: Settings) -> PasswordHasher:
    return PasswordHasher(
        time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_cost_kib
    )


def hash_password(settings: Settings, password: str) -> str:
    return password_hasher(settings).hash(password)


def _token_digest(settings: Settings, token: str) -> str:
    return hmac.new(settings.secret_key.encode(), token.encode(), hashlib.sha256).hexdigest()


def principal_of(user: User) -> Principal:
    assert user.id is not None
    return Principal(
        user_id=user.id,
        org_id=user.org_id,
        role=Role(user.role),
        team_id=user.team_id,
        email=user.email,
        name=user.name,
    )


async def login(
    session: AsyncSession, settings: Settings, *, email: str, password: str
) -> tuple[str, User]:
    """Check the password and issue a new bearer token; the caller commits."""
    hasher = password_hasher(settings)
    user = (
        await session.exec(select(User).where(col(User.email) == email.strip().lower()))
    ).first()
    stored = user.password_hash if user and user.is_active else hasher.hash(_DUMMY_HASH_PASSWORD)
    try:
        hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        raise Unauthorized("wrong e-mail or password", code="invalid_credentials") from None
    if user is None or not user.is_active:
        raise Unauthorized("wrong e-mail or password", code="invalid_credentials")
    assert user.id is not None
    token = "dg_" + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            org_id=user.org_id,
            user_id=user.id,
            token_hash=_token_digest(settings, token),
            expires_at=utcnow() + timedelta(hours=settings.token_ttl_hours),
        )
    )
    return token, user


def password_matches(settings: Settings, user: User, password: str) -> bool:
    try:
        return password_hasher(settings).verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def revoke_tokens(
    session: AsyncSession, settings: Settings, user_id: int, *, keep: str | None = None
) -> None:
    """Sign the user out everywhere (but for the session of `keep`); the caller commits."""
    statement = delete(ApiToken).where(col(ApiToken.user_id) == user_id)
    if keep is not None:
        statement = statement.where(col(ApiToken.token_hash) != _token_digest(settings, keep))
    await session.exec(statement)


async def revoke_token(session: AsyncSession, settings: Settings, token: str) -> None:
    await session.exec(
        delete(ApiToken).where(col(ApiToken.token_hash) == _token_digest(settings, token))
    )


async def authenticate_token(
    session: AsyncSession, settings: Settings, token: str | None
) -> Principal:
    if not token:
        raise Unauthorized("a bearer token is required")
    row = (
        await session.exec(
            select(ApiToken, User)
            .join(User, col(User.id) == ApiToken.user_id)
            .where(col(ApiToken.token_hash) == _token_digest(settings, token))
        )
    ).first()
    if row is None:
        raise Unauthorized("invalid token", code="invalid_token")
    api_token, user = row
    if api_token.expires_at <= utcnow() or not user.is_active:
        raise Unauthorized("token expired", code="invalid_token")
    return principal_of(user)


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


PUBLIC_API_PATHS = frozenset({"/api/auth/login", "/api/openapi.json"})


@web.middleware
async def auth_middleware(
    request: web.Request,
    handler: Handler,
) -> web.StreamResponse:
    # Only /api is user-authenticated; /webhooks carries carrier signatures instead.
    if request.path.startswith("/api/") and request.path not in PUBLIC_API_PATHS:
        app = request.app
        async with app[sessionmaker_key]() as session:
            request[principal_key] = await authenticate_token(
                session, app[settings_key], bearer_token(request)
            )
    return await handler(request)


def current(request: web.Request) -> Principal:
    principal = request.get(principal_key)
    if not isinstance(principal, Principal):
        raise Unauthorized("a bearer token is required")
    return principal
