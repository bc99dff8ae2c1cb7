"""A lead's do-not-call status or disposition lists its numbers, the same way on every path."""

from pathlib import Path
from typing import Any

from tests.conftest import Gateway, GatewayFactory
from tests.integration.test_dispositions import local_in_days, stored_call
from tests.integration.test_import import finished, issues, start, upload
from tests.integration.test_lead_management import create, patch


async def dnc_entries(gw: Gateway) -> set[tuple[str, str, str]]:
    admin = await gw.login("admin@demo.test")
    status, page = await gw.request("GET", "/api/dnc", admin, params={"limit": "200"})
    assert status == 200, page
    return {(e["number"], e["source"], e["reason"]) for e in page["data"]}


async def dial(gw: Gateway, token: str, lead_id: int) -> tuple[int, Any]:
    return await gw.request("POST", "/api/calls", token, json={"lead_id": lead_id})


async def test_setting_the_status_lists_every_number_and_says_so(gateway: Gateway) -> None:
    agent = await gateway.login("agent1@demo.test")
    lead = await create(gateway, agent, phone="98450 52001", alt_phones=["98450 52002"])
    assert lead["dnc"] is False
    status, planned = await gateway.request(
        "POST", f"/api/leads/{lead['id']}/follow-ups", agent, json={"due_at": local_in_days(1)[0]}
    )
    assert status == 201, planned

    status, body = await patch(gateway, agent, lead["id"], status="do-not-call")
    assert status == 200, body
    assert body["status"] == "do-not-call" and body["dnc"] is True
    reason = f"lead:{lead['id']} status:do-not-call"
    assert await dnc_entries(gateway) == {
        ("+919845052001", "lead-status", reason),
        ("+919845052002", "lead-status", reason),
    }
    # The dial guard refuses the lead and either number typed by hand.
    status, refused = await dial(gateway, agent, lead["id"])
    assert status == 409 and refused["error"]["code"] == "dnc"
    status, refused = await gateway.request(
        "POST", "/api/calls", agent, json={"number": "98450 52002"}
    )
    assert status == 409 and refused["error"]["code"] == "dnc"
    # No reminder is left to call a number that may not be called.
    _, page = await gateway.request("GET", "/api/follow-ups", agent, params={"lead_id": lead["id"]})
    assert [(f["id"], f["status"]) for f in page["data"]] == [(planned["id"], "canceled")]

    # Idempotent: the same status again adds nothing and changes nothing.
    status, again = await patch(gateway, agent, lead["id"], status="do-not-call")
    assert status == 200 and again["dnc"] is True
    assert len(await dnc_entries(gateway)) == 2
    # A number given to the lead later is not to be called either.
    status, body = await patch(
        gateway, agent, lead["id"], alt_phones=["98450 52002", "98450 52003"]
    )
    assert status == 200, body
    assert ("+919845052003", "lead-status", reason) in await dnc_entries(gateway)
    assert len(await dnc_entries(gateway)) == 3
    # Another status does not take the numbers off the list: that is a manager's decision.
    status, body = await patch(gateway, agent, lead["id"], status="interested")
    assert status == 200 and body["dnc"] is True


async def test_a_lead_created_in_the_status_is_listed(gateway: Gateway) -> None:
    manager = await gateway.login("manager@demo.test")
    lead = await create(gateway, manager, phone="98450 52011", status="do-not-call")
    assert lead["dnc"] is True
    assert await dnc_entries(gateway) == {
        ("+919845052011", "lead-status", f"lead:{lead['id']} status:do-not-call")
    }


async def test_other_statuses_list_nothing(gateway: Gateway) -> None:
    agent = await gateway.login("agent1@demo.test")
    lead = await create(gateway, agent, phone="98450 52021")
    for status_key in ("contacted", "not-interested", "lost"):
        status, body = await patch(gateway, agent, lead["id"], status=status_key)
        assert status == 200 and body["dnc"] is False
    assert await dnc_entries(gateway) == set()


async def test_status_and_disposition_agree_on_custom_vocabularies(gateway: Gateway) -> None:
    """A status marked dnc lists numbers however it is reached; so does a dnc disposition's."""
    admin = await gateway.login("admin@demo.test")
    status, body = await gateway.request(
        "PUT",
        "/api/settings/crm",
        admin,
        json={
            "lead_statuses": [
                {"key": "new", "label": "New"},
                {"key": "blocked", "label": "Blocked", "terminal": True, "dnc": True},
                {"key": "opted-out", "label": "Opted out", "terminal": True},
            ],
            "dispositions": [
                # Not marked dnc, but moves the lead to a status that is.
                {"key": "hostile", "label": "Hostile", "lead_status": "blocked"},
                # Marked dnc: its status then lists numbers when set by hand too.
                {"key": "opt-out", "label": "Opt out", "lead_status": "opted-out", "dnc": True},
                {"key": "no-answer", "label": "No answer"},
            ],
        },
    )
    assert status == 200, body
    assert body["lead_statuses"][1]["dnc"] is True and body["lead_statuses"][0]["dnc"] is False

    agent = await gateway.login("agent1@demo.test")
    by_disposition = await create(gateway, agent, phone="98450 52031")
    call_id = await stored_call(gateway, "agent1@demo.test", by_disposition["id"])
    url = f"/api/calls/{call_id}/disposition"
    # Like a dnc disposition, it takes no follow-up.
    status, body = await gateway.request(
        "POST", url, agent, json={"code": "hostile", "follow_up": {"due_at": local_in_days(1)[0]}}
    )
    assert status == 400 and body["error"]["field"] == "follow_up"
    status, body = await gateway.request("POST", url, agent, json={"code": "hostile"})
    assert status == 201, body
    _, shown = await gateway.request("GET", f"/api/leads/{by_disposition['id']}", agent)
    assert shown["status"] == "blocked" and shown["dnc"] is True

    by_hand = await create(gateway, agent, phone="98450 52032")
    status, body = await patch(gateway, agent, by_hand["id"], status="opted-out")
    assert status == 200 and body["dnc"] is True
    assert await dnc_entries(gateway) == {
        ("+919845052031", "lead-status", f"lead:{by_disposition['id']} disposition:hostile"),
        ("+919845052032", "lead-status", f"lead:{by_hand['id']} status:opted-out"),
    }
    status, body = await dial(gateway, agent, by_hand["id"])
    assert status == 409 and body["error"]["code"] == "dnc"


async def test_an_import_of_a_listed_lead_number_is_suppressed(
    start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gw = await start(start_gateway, tmp_path)
    admin = await gw.login("admin@demo.test")
    lead = await create(gw, admin, phone="98450 52041")
    status, body = await patch(gw, admin, lead["id"], status="do-not-call")
    assert status == 200 and body["dnc"] is True
    # The lead's number comes back in a file: suppressed, not updated or re-created.
    status, job = await upload(gw, admin, "Name,Phone\nAgain,+91 98450 52041\nNew,98450 52042\n")
    assert status == 202, job
    job = await finished(gw, admin, job["id"])
    assert job["status"] == "completed"
    assert job["counters"]["created"] == 1 and job["counters"]["updated"] == 0
    assert [i["code"] for i in await issues(gw, admin, job["id"])] == ["dnc_suppressed"]


async def test_an_import_that_sets_the_status_lists_the_numbers(
    start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gw = await start(start_gateway, tmp_path)
    admin = await gw.login("admin@demo.test")
    existing = await create(gw, admin, phone="98450 52051")
    text = (
        "Name,Phone,Alt Phone,Status\n"
        "Opted Out,98450 52052,98450 52053,Do not call\n"
        "Known,98450 52051,,do-not-call\n"
        "Keen,98450 52054,,interested\n"
    )
    status, job = await upload(gw, admin, text, params={"on_existing": "update"})
    assert status == 202, job
    job = await finished(gw, admin, job["id"])
    assert job["status"] == "completed"
    assert job["counters"]["created"] == 2 and job["counters"]["updated"] == 1
    _, page = await gw.request("GET", "/api/leads", admin, params={"q": "98450 52052"})
    (opted,) = page["data"]
    assert opted["status"] == "do-not-call" and opted["dnc"] is True
    assert await dnc_entries(gw) == {
        ("+919845052052", "lead-status", f"lead:{opted['id']} status:do-not-call"),
        ("+919845052053", "lead-status", f"lead:{opted['id']} status:do-not-call"),
        ("+919845052051", "lead-status", f"lead:{existing['id']} status:do-not-call"),
    }
    status, body = await gw.request(
        "POST", "/api/calls", await gw.login("agent1@demo.test"), json={"number": "98450 52051"}
    )
    assert status == 409 and body["error"]["code"] == "dnc"


async def merge(gw: Gateway, token: str, into: int, *ids: int) -> tuple[int, Any]:
    return await gw.request(
        "POST", f"/api/leads/{into}/merge", token, json={"from_lead_ids": list(ids)}
    )


async def test_merging_rechecks_do_not_call(gateway: Gateway) -> None:
    admin = await gateway.login("admin@demo.test")
    # A survivor in a do-not-call status: the numbers it gains are listed too.
    survivor = await create(gateway, admin, phone="98450 52101", status="do-not-call")
    loser = await create(gateway, admin, phone="98450 52102", alt_phones=["98450 52103"])
    status, merged = await merge(gateway, admin, survivor["id"], loser["id"])
    assert status == 200, merged
    reason = f"lead:{survivor['id']} status:do-not-call"
    assert {
        ("+919845052102", "lead-status", reason),
        ("+919845052103", "lead-status", reason),
    } <= await dnc_entries(gateway)

    # A loser in a do-not-call status: the request holds whichever record it landed on.
    survivor = await create(gateway, admin, phone="98450 52111", alt_phones=["98450 52112"])
    status, planned = await gateway.request(
        "POST",
        f"/api/leads/{survivor['id']}/follow-ups",
        admin,
        json={"due_at": local_in_days(1)[0]},
    )
    assert status == 201, planned
    loser = await create(gateway, admin, phone="98450 52113", status="do-not-call")
    status, merged = await merge(gateway, admin, survivor["id"], loser["id"])
    assert status == 200, merged
    assert merged["status"] == "new" and merged["dnc"] is True
    reason = f"lead:{survivor['id']} merged lead:{loser['id']} status:do-not-call"
    assert {
        ("+919845052111", "lead-status", reason),
        ("+919845052112", "lead-status", reason),
    } <= await dnc_entries(gateway)
    _, page = await gateway.request(
        "GET", "/api/follow-ups", admin, params={"lead_id": survivor["id"]}
    )
    assert [(f["id"], f["status"]) for f in page["data"]] == [(planned["id"], "canceled")]

    # One number on the list, on either record: every number of the survivor follows it.
    status, entry = await gateway.request(
        "POST", "/api/dnc", admin, json={"number": "98450 52123", "reason": "asked"}
    )
    assert status == 201, entry
    survivor = await create(gateway, admin, phone="98450 52121")
    loser = await create(gateway, admin, phone="98450 52122", alt_phones=["98450 52123"])
    status, merged = await merge(gateway, admin, survivor["id"], loser["id"])
    assert status == 200, merged
    reason = f"lead:{survivor['id']} merged with a number on the do-not-call list"
    entries = await dnc_entries(gateway)
    assert {
        ("+919845052121", "lead-status", reason),
        ("+919845052122", "lead-status", reason),
    } <= entries
    # The entry already there keeps its own reason and source.
    assert ("+919845052123", "manual", "asked") in entries

    # Nothing of the kind: merging lists nothing.
    before = await dnc_entries(gateway)
    survivor = await create(gateway, admin, phone="98450 52131")
    loser = await create(gateway, admin, phone="98450 52132")
    status, merged = await merge(gateway, admin, survivor["id"], loser["id"])
    assert status == 200 and merged["dnc"] is False
    assert await dnc_entries(gateway) == before
