"""Socket.IO room names: who receives which live updates."""

from gateway.auth import Principal
from gateway.models import Role


def agent_room(user_id: int) -> str:
    return f"agent:{user_id}"


def team_managers_room(team_id: int) -> str:
    return f"team:{team_id}:managers"


def org_admins_room(org_id: int) -> str:
    return f"org:{org_id}:admins"


def org_supervisors_room(org_id: int) -> str:
    """Managers and admins of an organization: they see calls that no agent owns."""
    return f"org:{org_id}:supervisors"


def rooms_for(principal: Principal) -> list[str]:
    rooms = [agent_room(principal.user_id)]
    if principal.role == Role.MANAGER:
        rooms.append(org_supervisors_room(principal.org_id))
        if principal.team_id is not None:
            rooms.append(team_managers_room(principal.team_id))
    elif principal.role == Role.ADMIN:
        rooms += [org_admins_room(principal.org_id), org_supervisors_room(principal.org_id)]
    return rooms


def call_audience(*, org_id: int, agent_id: int | None, team_id: int | None) -> list[str]:
    """The agent who owns the call, their team's managers and the organization's admins."""
    if agent_id is None:
        return [org_supervisors_room(org_id)]
    rooms = [agent_room(agent_id), org_admins_room(org_id)]
    if team_id is not None:
        rooms.append(team_managers_room(team_id))
    return rooms
