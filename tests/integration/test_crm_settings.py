"""The organization's CRM vocabularies over REST: read by all, replaced by admins, validated."""

from typing import Any

from crm.orgconfig import DEFAULT_DISPOSITIONS, DEFAULT_LEAD_STATUSES, DEFAULT_PAUSE_REASONS
from tests.conftest import Gateway
from tests.integration.test_lead_management import create, patch

STATUSES = [
    {"key": "new", "label": "New"},
    {"key": "qualified", "label": "Qualified"},
    {"key": "won", "label": "Won", "terminal": True},
]
DISPOSITIONS = [
    {"key": "good-fit", "label": "Good fit", "lead_status": "qualified"},
    {"key": "signed", "label": "Signed", "lead_status": "won", "follow_up": True},
    {"key": "no-answer", "label": "No answer"},
]


async def put(gw: Gateway, token: str, **lists: Any) -> tuple[int, Any]:
    return await gw.request("PUT", "/api/settings/crm", token, json=lists)


async def test_defaults_then_an_admin_replaces_the_lists(gateway: Gateway) -> None:
    agent = await gateway.login("agent1@demo.test")
    status, body = await gateway.request("GET", "/api/settings/crm", agent)
    assert status == 200
    assert body == {
        "lead_statuses": list(DEFAULT_LEAD_STATUSES),
        "dispositions": list(DEFAULT_DISPOSITIONS),
        "pause_reasons": list(DEFAULT_PAUSE_REASONS),
    }

    admin = await gateway.login("admin@demo.test")
    status, body = await put(
        gateway, admin, lead_statuses=STATUSES, dispositions=DISPOSITIONS, pause_reasons=[]
    )
    assert status == 400 and body["error"]["field"] == "pause_reasons"
    status, body = await put(gateway, admin, lead_statuses=STATUSES, dispositions=DISPOSITIONS)
    assert status == 200, body
    assert [s["key"] for s in body["lead_statuses"]] == ["new", "qualified", "won"]
    assert body["lead_statuses"][2]["terminal"] is True
    assert body["dispositions"][1] == {
        "key": "signed",
        "label": "Signed",
        "lead_status": "won",
        "dnc": False,
        "follow_up": True,
    }
    assert body["pause_reasons"] == list(DEFAULT_PAUSE_REASONS)

    # Only the list sent changes.
    status, body = await put(gateway, admin, pause_reasons=[{"key": "coaching", "label": "1:1"}])
    assert status == 200
    _, seen = await gateway.request("GET", "/api/settings/crm", agent)
    assert seen["pause_reasons"] == [{"key": "coaching", "label": "1:1"}]
    assert [s["key"] for s in seen["lead_statuses"]] == ["new", "qualified", "won"]

    # Leads follow the organization's statuses.
    lead = await create(gateway, admin, phone="98450 41001", status="qualified")
    status, body = await patch(gateway, admin, lead["id"], status="won")
    assert status == 200 and body["status"] == "won"
    status, body = await patch(gateway, admin, lead["id"], status="interested")
    assert status == 400 and body["error"]["field"] == "status"
    assert "qualified" in body["error"]["message"]
    status, body = await gateway.request(
        "POST", "/api/leads", admin, json={"phone": "98450 41002", "status": "lost"}
    )
    assert status == 400 and body["error"]["field"] == "status"


BAD_LISTS: list[tuple[dict[str, Any], str]] = [
    ({}, "body"),
    ({"lead_statuses": []}, "lead_statuses"),
    ({"lead_statuses": None}, "lead_statuses"),
    ({"lead_statuses": [*STATUSES, {"key": "new", "label": "Again"}]}, "lead_statuses.3.key"),
    ({"lead_statuses": [{"key": "Not OK", "label": "x"}]}, "lead_statuses.0.key"),
    ({"lead_statuses": [{"key": "", "label": "x"}]}, "lead_statuses.0.key"),
    ({"lead_statuses": [{"key": "-x", "label": "x"}]}, "lead_statuses.0.key"),
    ({"lead_statuses": [{"key": "ok", "label": ""}]}, "lead_statuses.0.label"),
    ({"lead_statuses": [{"key": "ok"}]}, "lead_statuses.0.label"),
    (
        {"lead_statuses": [{"key": "ok", "label": "x", "colour": "red"}]},
        "lead_statuses.0.colour",
    ),
    (
        {"dispositions": [{"key": "a", "label": "A", "lead_status": "nope"}]},
        "dispositions.0.lead_status",
    ),
    (
        {
            "lead_statuses": STATUSES,
            "dispositions": [{"key": "a", "label": "A", "lead_status": "lost"}],
        },
        "dispositions.0.lead_status",
    ),
    (
        {"pause_reasons": [{"key": "a", "label": "A"}, {"key": "a", "label": "B"}]},
        "pause_reasons.1.key",
    ),
    ({"pause_reasons": "break"}, "pause_reasons"),
    ({"holidays": []}, "holidays"),
]


async def test_invalid_lists_are_400_naming_the_field(gateway: Gateway) -> None:
    admin = await gateway.login("admin@demo.test")
    for lists, field in BAD_LISTS:
        status, body = await put(gateway, admin, **lists)
        assert status == 400 and body["error"]["field"] == field, (lists, body)
    _, after = await gateway.request("GET", "/api/settings/crm", admin)
    assert after["lead_statuses"] == list(DEFAULT_LEAD_STATUSES)
    assert after["dispositions"] == list(DEFAULT_DISPOSITIONS)
    assert after["pause_reasons"] == list(DEFAULT_PAUSE_REASONS)


async def test_statuses_in_use_cannot_be_removed(gateway: Gateway) -> None:
    admin = await gateway.login("admin@demo.test")
    # Every demo lead is new; two more are interested.
    for number in ("98450 42001", "98450 42002"):
        await create(gateway, admin, phone=number, status="interested")
    keep = [s for s in DEFAULT_LEAD_STATUSES if s["key"] not in ("interested", "lost")]
    status, body = await put(gateway, admin, lead_statuses=keep, dispositions=DISPOSITIONS[2:])
    assert status == 409, body
    error = body["error"]
    assert (error["code"], error["field"], error["status"], error["count"]) == (
        "status_in_use",
        "lead_statuses",
        "interested",
        2,
    )
    assert "interested" in error["message"] and "2" in error["message"]

    # The default dispositions lead to do-not-call: removing it alone is refused too.
    no_dnc = [s for s in DEFAULT_LEAD_STATUSES if s["key"] != "do-not-call"]
    status, body = await put(gateway, admin, lead_statuses=no_dnc)
    assert status == 409 and body["error"]["status"] == "do-not-call"
    assert "disposition" in body["error"]["message"]

    # Unused statuses go, with dispositions that no longer need them.
    keep = [s for s in DEFAULT_LEAD_STATUSES if s["key"] in ("new", "interested")]
    status, body = await put(gateway, admin, lead_statuses=keep, dispositions=DISPOSITIONS[2:])
    assert status == 200, body
    assert [s["key"] for s in body["lead_statuses"]] == ["new", "interested"]


async def test_only_admins_change_the_lists(gateway: Gateway) -> None:
    for email in ("manager@demo.test", "agent1@demo.test"):
        token = await gateway.login(email)
        status, body = await put(gateway, token, lead_statuses=STATUSES)
        assert status == 403 and body["error"]["code"] == "forbidden", email
    status, body = await gateway.request("GET", "/api/settings/crm")
    assert status == 401
