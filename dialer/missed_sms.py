"""The optional text message after a missed call: to the caller, the lead's owner, or both.

Off by default (an organization setting, `GET/PUT /api/settings/missed-call-sms`). What most
call-handling tools do, and so the default recipient, is text the *caller*: "Sorry we missed
your call, we'll call you back". `to: "owner"` texts the agent who owns the lead (failing
that, the agent the call rang) on their own phone instead, for teams whose agents are away
from the console; `both` sends both. The live `missed_call` alert is sent either way.

The message goes through the carrier account the call came in on, from the number the caller
dialed, once the call's end is committed, in a background task: the webhook applier never
waits for a carrier's messaging API. Each message is attempted once and its outcome recorded
as a `call.missed_sms` integration event (status `sent`, `refused`, `failed` or `unknown`).
A failure that may have sent the text anyway (no answer, or the carrier's 5xx) is `unknown`
and never retried: a second "sorry we missed you" is worse than none. A number on the
do-not-call list, or a lead who withdrew consent, is never texted (`refused`).
"""

import asyncio
import logging
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from crm.dnc import is_listed
from crm.outbox import emit
from gateway.carriers.base import CarrierAPIError, NotSupported, SmsRequest
from gateway.keys import carriers_key, runtime_key, sessionmaker_key, settings_key, tasks_key
from gateway.models import Call, CarrierAccount, Consent, Lead, Organization, User
from gateway.phones import lookup_key, try_e164

log = logging.getLogger(__name__)
EVENT_TYPE = "call.missed_sms"
PLACEHOLDERS = frozenset({"org", "caller", "lead", "agent"})
# Three concatenated SMS segments of GSM-7 text.
MAX_TEMPLATE_CHARS = 459
DEFAULT_CALLER_TEMPLATE = "Sorry we missed your call. {org} will call you back shortly."
DEFAULT_OWNER_TEMPLATE = "Missed call from {lead} ({caller}). Please call them back."

Recipient = Literal["caller", "owner"]


def _check_template(value: str) -> str:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError as exc:
        raise ValueError(f"not a valid template: {exc}") from None
    unknown = sorted(names - PLACEHOLDERS)
    if unknown:
        raise ValueError(
            f"unknown placeholder {{{unknown[0]}}}; use {', '.join(sorted(PLACEHOLDERS))}"
        )
    return value


class MissedCallSms(BaseModel):
    """The setting; a PUT may send any of its fields, the others stay as they are."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    enabled: bool = False
    to: Literal["caller", "owner", "both"] = "caller"
    caller_template: str = Field(
        default=DEFAULT_CALLER_TEMPLATE, min_length=1, max_length=MAX_TEMPLATE_CHARS
    )
    owner_template: str = Field(
        default=DEFAULT_OWNER_TEMPLATE, min_length=1, max_length=MAX_TEMPLATE_CHARS
    )

    _templates = field_validator("caller_template", "owner_template")(_check_template)


def sms_settings(org: Organization) -> MissedCallSms:
    return MissedCallSms.model_validate(org.missed_call_sms or {})


def render(template: str, values: Mapping[str, str]) -> str:
    return template.format_map({name: values.get(name, "") for name in PLACEHOLDERS})


@dataclass(frozen=True)
class Planned:
    recipient: Recipient
    number: str | None  # E.164; None: there is nobody to text
    text: str
    refused: str | None = None  # why it must not be sent (dnc, consent_withdrawn, ...)


# --- after the commit ------------------------------------------------------------------------


def text_missed_calls(app: Mapping[Any, Any], calls: list[Call]) -> None:
    """Text about each missed call in the background (the caller never waits)."""
    tasks: set[asyncio.Task[None]] = app[tasks_key]
    for call in calls:
        task = asyncio.get_running_loop().create_task(_text_logged(app, call))
        tasks.add(task)
        task.add_done_callback(tasks.discard)


async def _text_logged(app: Mapping[Any, Any], call: Call) -> None:
    try:
        await text_missed_call(app, call)
    except Exception:
        log.exception("missed-call text for call %s failed", call.id)


async def text_missed_call(app: Mapping[Any, Any], call: Call) -> list[dict[str, Any]]:
    """Send the organization's missed-call texts for `call`; their recorded outcomes."""
    async with app[sessionmaker_key]() as session:
        org = await session.get(Organization, call.org_id)
        if org is None:
            return []
        config = sms_settings(org)
        if not config.enabled:
            return []
        account = await session.get(CarrierAccount, call.account_id) if call.account_id else None
        lead = await session.get(Lead, call.lead_id) if call.lead_id else None
        owner_id = (lead.owner_id if lead else None) or call.agent_id
        owner = await session.get(User, owner_id) if owner_id else None
        plans = _plan(config, org, call, lead, owner)
        secret = app[settings_key].lookup_key_secret
        checked = []
        for plan in plans:
            if plan.refused is None and plan.number is not None:
                key = lookup_key(secret, plan.number)
                if await is_listed(session, org_id=call.org_id, key=key):
                    plan = Planned(plan.recipient, plan.number, plan.text, refused="dnc")
            checked.append(plan)
    outcomes = [await _send(app, account, call, plan) for plan in checked]
    if outcomes:
        async with app[sessionmaker_key]() as session:
            for outcome in outcomes:
                emit(session, org_id=call.org_id, type=EVENT_TYPE, data=outcome)
            await session.commit()
    return outcomes


def _plan(
    config: MissedCallSms, org: Organization, call: Call, lead: Lead | None, owner: User | None
) -> list[Planned]:
    caller = try_e164(call.from_number, org.default_region)
    values = {
        "org": org.name,
        "caller": caller or "an unknown number",
        "lead": (lead.name if lead and lead.name else None) or caller or "an unknown caller",
        "agent": owner.name if owner else "",
    }
    plans: list[Planned] = []
    if config.to in ("caller", "both"):
        refused = None
        if caller is None:
            refused = "no_number"  # withheld or not a phone number
        elif lead is not None and lead.consent == Consent.WITHDRAWN:
            refused = "consent_withdrawn"
        plans.append(Planned("caller", caller, render(config.caller_template, values), refused))
    if config.to in ("owner", "both"):
        number = (
            try_e164(owner.phone, org.default_region)
            if owner is not None and owner.is_active
            else None
        )
        plans.append(
            Planned(
                "owner",
                number,
                render(config.owner_template, values),
                None if number else "no_number",
            )
        )
    return plans


async def _send(
    app: Mapping[Any, Any], account: CarrierAccount | None, call: Call, plan: Planned
) -> dict[str, Any]:
    outcome: dict[str, Any] = {
        "call_id": call.id,
        "lead_id": call.lead_id,
        "recipient": plan.recipient,
        "to": plan.number,
        "carrier": account.carrier if account else call.carrier,
        "carrier_message_id": None,
        "reason": None,
    }
    if plan.refused is not None or plan.number is None:
        log.info("missed-call text to the %s of call %s not sent", plan.recipient, call.id)
        return {**outcome, "status": "refused", "reason": plan.refused or "no_number"}
    adapter = app[carriers_key].get(account.carrier) if account else None
    sender = call.to_number  # the number the caller dialed: replies reach the same line
    if account is None or adapter is None or not sender:
        return {**outcome, "status": "failed", "reason": "no_carrier_account"}
    message = SmsRequest(to_number=plan.number, from_number=sender, text=plan.text)
    try:
        result = await adapter.send_sms(app[runtime_key], account.credentials, message)
    except NotSupported:
        return {**outcome, "status": "failed", "reason": "not_supported"}
    except CarrierAPIError as exc:
        # Carriers' error texts may quote the numbers: details only at DEBUG.
        log.warning(
            "missed-call text for call %s: %s answered %s (%s)",
            call.id,
            account.carrier,
            exc.status,
            exc.code,
        )
        log.debug("carrier said: %s", exc.message)
        return {
            **outcome,
            # It may have been sent all the same: recorded as such, never retried.
            "status": "unknown" if exc.ambiguous else "failed",
            "reason": "carrier_error",
            "error": {"status": exc.status, "code": exc.code, "message": exc.message[:300]},
        }
    log.info("missed-call text for call %s sent to its %s", call.id, plan.recipient)
    return {
        **outcome,
        "status": "sent",
        "carrier_message_id": result.carrier_message_id,
        "carrier_status": result.carrier_status,
    }
