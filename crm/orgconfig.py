"""An organization's configurable vocabularies: lead statuses, dispositions, pause reasons."""

from typing import Any

from gateway.models import Organization

DEFAULT_LEAD_STATUSES: tuple[dict[str, Any], ...] = (
    {"key": "new", "label": "New"},
    {"key": "contacted", "label": "Contacted"},
    {"key": "interested", "label": "Interested"},
    {"key": "callback", "label": "Call back"},
    {"key": "not-interested", "label": "Not interested", "terminal": True},
    {"key": "converted", "label": "Converted", "terminal": True},
    {"key": "lost", "label": "Lost", "terminal": True},
    # `dnc`: a lead moved to this status has its numbers put on the do-not-call list.
    {"key": "do-not-call", "label": "Do not call", "terminal": True, "dnc": True},
)

# A disposition may move the lead to a status, put its number on the do-not-call list,
# or ask for a follow-up.
DEFAULT_DISPOSITIONS: tuple[dict[str, Any], ...] = (
    {"key": "interested", "label": "Interested", "lead_status": "interested"},
    {"key": "callback", "label": "Call back later", "lead_status": "callback", "follow_up": True},
    {"key": "not-interested", "label": "Not interested", "lead_status": "not-interested"},
    {"key": "no-answer", "label": "No answer", "lead_status": "contacted"},
    {"key": "wrong-number", "label": "Wrong number", "lead_status": "lost"},
    {"key": "converted", "label": "Converted / sale", "lead_status": "converted"},
    {"key": "do-not-call", "label": "Do not call", "lead_status": "do-not-call", "dnc": True},
)

DEFAULT_PAUSE_REASONS: tuple[dict[str, Any], ...] = (
    {"key": "break", "label": "Break"},
    {"key": "lunch", "label": "Lunch"},
    {"key": "meeting", "label": "Meeting"},
    {"key": "training", "label": "Training"},
)


def lead_statuses(org: Organization) -> list[dict[str, Any]]:
    return [dict(x) for x in (org.lead_statuses or DEFAULT_LEAD_STATUSES)]


def dispositions(org: Organization) -> list[dict[str, Any]]:
    return [dict(x) for x in (org.dispositions or DEFAULT_DISPOSITIONS)]


def pause_reasons(org: Organization) -> list[dict[str, Any]]:
    return [dict(x) for x in (org.pause_reasons or DEFAULT_PAUSE_REASONS)]


def status_keys(org: Organization) -> set[str]:
    return {x["key"] for x in lead_statuses(org)}


def dnc_statuses(org: Organization) -> set[str]:
    """Statuses that put a lead's numbers on the do-not-call list.

    Those marked `dnc`, and those a `dnc` disposition moves leads to: setting the status by
    hand then does what recording the disposition does (vocabularies stored before statuses
    could be marked say so only through their dispositions).
    """
    marked = {x["key"] for x in lead_statuses(org) if x.get("dnc")}
    via = {x["lead_status"] for x in dispositions(org) if x.get("dnc") and x.get("lead_status")}
    return marked | via


def find(entries: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    return next((x for x in entries if x["key"] == key), None)
