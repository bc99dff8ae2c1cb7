"""A report's query parameters: the period in the organization's time zone, filters and scope."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from gateway.auth import Principal
from gateway.errors import Forbidden, InvalidInput
from gateway.models import Organization, Role, Team, User, utcnow
from gateway.pagination import parse_int

MAX_PERIOD_DAYS = 366
DEFAULT_ROW_LIMIT = 1000
MAX_ROW_LIMIT = 50_000


@dataclass(frozen=True)
class Period:
    """[start, end) in UTC, and the zone whose days and hours the report buckets by."""

    start: datetime
    end: datetime
    tz: ZoneInfo


@dataclass(frozen=True)
class Directory:
    """The organization's people and teams, to label rows without joining in every query."""

    users: dict[int, User]
    teams: dict[int, Team]

    def user_name(self, user_id: int | None) -> str | None:
        user = self.users.get(user_id) if user_id is not None else None
        return user.name if user else None

    def team_name(self, team_id: int | None) -> str | None:
        team = self.teams.get(team_id) if team_id is not None else None
        return team.name if team else None

    def team_of(self, user_id: int | None) -> int | None:
        user = self.users.get(user_id) if user_id is not None else None
        return user.team_id if user else None


@dataclass(frozen=True)
class ReportParams:
    principal: Principal
    org: Organization
    period: Period
    directory: Directory
    now: datetime
    # Filters as asked; scoping by role is applied on top of them by each query.
    team_id: int | None = None
    agent_id: int | None = None
    group_by: tuple[str, ...] = ()
    limit: int = DEFAULT_ROW_LIMIT
    options: dict[str, str] = field(default_factory=dict)

    @property
    def org_id(self) -> int:
        assert self.org.id is not None
        return self.org.id

    def filters_json(self) -> dict[str, object]:
        body: dict[str, object] = {"team_id": self.team_id, "agent_id": self.agent_id}
        body.update(self.options)
        return body


def org_zone(org: Organization) -> ZoneInfo:
    try:
        return ZoneInfo(org.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _parse_bound(raw: str, tz: ZoneInfo, field_name: str) -> tuple[datetime, bool]:
    """An instant and whether it was a bare date (a whole day in the organization's zone)."""
    raw = raw.strip()
    try:
        if len(raw) == 10:
            return datetime.combine(date.fromisoformat(raw), time(), tzinfo=tz), True
        value = datetime.fromisoformat(raw.replace("z", "Z"))
    except ValueError:
        raise InvalidInput(
            "must be an ISO 8601 date (YYYY-MM-DD) or date-time", field=field_name
        ) from None
    if value.tzinfo is None:
        # A wall-clock time without an offset is the organization's, like a bare date.
        value = value.replace(tzinfo=tz)
    return value, False


def parse_period(raw_from: str | None, raw_to: str | None, tz: ZoneInfo, now: datetime) -> Period:
    """Dates are whole days in `tz` and `to` includes its day; date-times are exact instants.

    Without `to` the period ends with today (in `tz`); without `from` it starts on `to`'s day.
    """
    today = now.astimezone(tz).date()
    if raw_to:
        end, whole_day = _parse_bound(raw_to, tz, "to")
        if whole_day:
            end = _local_midnight(end.date() + timedelta(days=1), tz)
    else:
        end = _local_midnight(today + timedelta(days=1), tz)
    if raw_from:
        start, _ = _parse_bound(raw_from, tz, "from")
    else:
        # The last day the period covers; `end` is exclusive.
        last = (end - timedelta(microseconds=1)).astimezone(tz).date()
        start = _local_midnight(last, tz)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if start >= end:
        raise InvalidInput("must be after `from`", field="to")
    if end - start > timedelta(days=MAX_PERIOD_DAYS, hours=1):
        raise InvalidInput(f"the period is limited to {MAX_PERIOD_DAYS} days", field="to")
    return Period(start=start, end=end, tz=tz)


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=tz)


def parse_choice(raw: str | None, field_name: str, choices: tuple[str, ...]) -> str:
    """One of `choices`; the first is the default."""
    if raw is None or raw == "":
        return choices[0]
    if raw not in choices:
        raise InvalidInput(f"must be one of {', '.join(choices)}", field=field_name)
    return raw


@dataclass(frozen=True)
class Grouping:
    """A report's `group_by`: the dimensions it offers, its default, how many combine."""

    choices: tuple[str, ...]
    default: tuple[str, ...]
    max_dims: int = 1


def parse_group_by(raw: str | None, grouping: Grouping) -> tuple[str, ...]:
    if raw is None or raw.strip() == "":
        return grouping.default
    dims = tuple(x.strip() for x in raw.split(","))
    if (
        len(dims) > grouping.max_dims
        or len(set(dims)) != len(dims)
        or not set(dims) <= set(grouping.choices)
    ):
        how = "one" if grouping.max_dims == 1 else f"up to {grouping.max_dims}, comma-separated,"
        raise InvalidInput(f"{how} of {', '.join(grouping.choices)}", field="group_by")
    return dims


def parse_row_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_ROW_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_ROW_LIMIT:
        raise InvalidInput(f"must be an integer from 1 to {MAX_ROW_LIMIT}", field="limit")
    return int(raw)


async def load_directory(session: AsyncSession, org_id: int) -> Directory:
    users = (await session.exec(select(User).where(col(User.org_id) == org_id))).all()
    teams = (await session.exec(select(Team).where(col(Team.org_id) == org_id))).all()
    return Directory(
        users={u.id: u for u in users if u.id is not None},
        teams={t.id: t for t in teams if t.id is not None},
    )


def check_filters(
    principal: Principal, directory: Directory, team_id: int | None, agent_id: int | None
) -> None:
    """Unknown ids are 400; asking for someone outside one's scope is 403."""
    if team_id is not None and team_id not in directory.teams:
        raise InvalidInput("no such team", field="team_id")
    if agent_id is not None and agent_id not in directory.users:
        raise InvalidInput("no such agent", field="agent_id")
    if principal.role == Role.ADMIN:
        return
    if principal.role == Role.MANAGER:
        if principal.team_id is None:
            # A scope of "team IS NULL" would be the calls and people of no team, not none.
            raise Forbidden("a manager without a team has no team to report on")
        if team_id is not None and team_id != principal.team_id:
            raise Forbidden("managers see their own team only", field="team_id")
        if agent_id is not None and directory.team_of(agent_id) != principal.team_id:
            raise Forbidden("managers see their own team only", field="agent_id")
        return
    if agent_id is not None and agent_id != principal.user_id:
        raise Forbidden("agents see their own figures only", field="agent_id")
    if team_id is not None and team_id != principal.team_id:
        raise Forbidden("agents see their own figures only", field="team_id")


async def tune_session(session: AsyncSession) -> None:
    """PostgreSQL settings for this transaction's aggregations.

    Just-in-time compilation costs more than it saves on queries of a second or less, and the
    default work_mem (4 MB) spills a grouping by lead to disk.
    """
    conn = await session.connection()
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.text("SET LOCAL jit = off"))
        await conn.execute(sa.text("SET LOCAL work_mem = '64MB'"))


async def read_params(
    session: AsyncSession,
    principal: Principal,
    query: Mapping[str, str],
    *,
    group_by: Grouping | None = None,
    now: datetime | None = None,
) -> ReportParams:
    """Everything common to the reports; `group_by` where the report offers a grouping."""
    await tune_session(session)
    org = await session.get(Organization, principal.org_id)
    assert org is not None and org.id is not None
    now = now or utcnow()
    period = parse_period(query.get("from"), query.get("to"), org_zone(org), now)
    team_id = parse_int(query.get("team_id"), "team_id")
    agent_id = parse_int(query.get("agent_id"), "agent_id")
    dims: tuple[str, ...] = ()
    if group_by is not None:
        dims = parse_group_by(query.get("group_by"), group_by)
    elif query.get("group_by"):
        raise InvalidInput("this report has no grouping", field="group_by")
    limit = parse_row_limit(query.get("limit"))
    directory = await load_directory(session, org.id)
    check_filters(principal, directory, team_id, agent_id)
    return ReportParams(
        principal=principal,
        org=org,
        period=period,
        directory=directory,
        now=now,
        team_id=team_id,
        agent_id=agent_id,
        group_by=dims,
        limit=limit,
    )
