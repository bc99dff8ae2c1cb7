"""The Vonage carrier: webhook signatures, parsing, NCCO replies and origination as `Carrier`."""

import json
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

from cryptography.exceptions import UnsupportedAlgorithm

from gateway.carriers.base import (
    CallEvent,
    CarrierDefaults,
    CarrierRuntime,
    InboundWebhook,
    InvalidCredentials,
    OriginateRequest,
    OriginateResult,
    SmsRequest,
    SmsResult,
    VoiceInstructions,
    WebhookReply,
)
from gateway.carriers.vonage import const, originate, parse, signature
from gateway.models import LegRole

MIN_SECRET_LENGTH = 8
DEFAULT_MESSAGE = "Sorry, nobody can take your call."


def _secret(value: Any, field: str) -> str:
    if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
        raise InvalidCredentials(
            f"{field} must be a string of {MIN_SECRET_LENGTH}+ characters",
            field=f"credentials.{field}",
        )
    return value


def _private_key(value: Any) -> str:
    """The application's RSA private key (PEM): loaded (and cached) once to check it."""
    field = "credentials.private_key"
    if not isinstance(value, str) or "-----BEGIN" not in value:
        raise InvalidCredentials("private_key must be the application's PEM key", field=field)
    try:
        originate.signing_key(value)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # Application JWTs are RS256: only an unencrypted RSA key will do.
        raise InvalidCredentials(
            "private_key must be an unencrypted RSA private key in PEM", field=field
        ) from None
    return value


def ncco(hook: InboundWebhook, voice: VoiceInstructions | None) -> list[dict[str, Any]]:
    """The NCCO answering an answer webhook: connect the other party, or say a message.

    https://developer.vonage.com/en/voice/voice-api/ncco-reference#connect
    """
    if voice is None or not voice.forward_to:
        message = (voice.message if voice else None) or DEFAULT_MESSAGE
        return [{"action": "talk", "text": message}]
    # The agent answering a click-to-call is connected to the customer; a caller to one of
    # our numbers (no leg named) is connected to an agent.
    asking = hook.query.get(const.LEG_PARAM)
    other = LegRole.CUSTOMER if asking == LegRole.AGENT.value else LegRole.AGENT
    events = voice.status_callback_url or originate.sibling_url(hook.url, const.EVENT)
    action: dict[str, Any] = {"action": "connect"}
    if voice.caller_id:
        action["from"] = originate.digits(voice.caller_id)
    else:
        action["randomFromNumber"] = True
    action["eventUrl"] = [originate.with_leg(events, other)]
    action["eventMethod"] = "POST"
    action["endpoint"] = [{"type": "phone", "number": originate.digits(voice.forward_to)}]
    return [action]


class VonageCarrier(CarrierDefaults):
    # No commands after events (the default `act`):
    # the NCCO in the answer webhook's reply carries every instruction.
    name: ClassVar[str] = const.NAME
    webhook_kinds: ClassVar[frozenset[str]] = const.WEBHOOK_KINDS
    sync_kinds: ClassVar[frozenset[str]] = const.SYNC_KINDS
    documented_statuses: ClassVar[frozenset[str]] = frozenset(const.STATUS_MAP)

    def check_credentials(self, credentials: Mapping[str, Any]) -> dict[str, Any]:
        app_id = credentials.get("application_id")
        try:
            application_id = str(uuid.UUID(app_id)) if isinstance(app_id, str) else None
        except ValueError:
            application_id = None
        if application_id is None:
            raise InvalidCredentials(
                "application_id must be the Vonage application's UUID",
                field="credentials.application_id",
            )
        checked: dict[str, Any] = {
            "application_id": application_id,
            "private_key": _private_key(credentials.get("private_key")),
            "signature_secret": _secret(credentials.get("signature_secret"), "signature_secret"),
        }
        previous = credentials.get("previous_signature_secrets")
        if previous is not None:
            if not isinstance(previous, list):
                raise InvalidCredentials(
                    "previous_signature_secrets is a list of secrets",
                    field="credentials.previous_signature_secrets",
                )
            checked["previous_signature_secrets"] = [
                _secret(s, "previous_signature_secrets") for s in previous
            ]
        base_url = credentials.get("api_base_url")
        if base_url is not None:
            if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
                raise InvalidCredentials(
                    "api_base_url must be an http(s) URL", field="credentials.api_base_url"
                )
            checked["api_base_url"] = base_url.rstrip("/")
        return checked

    def verify(self, credentials: Mapping[str, Any], hook: InboundWebhook) -> None:
        # The current secret first, then those still accepted while rotating.
        secrets = [
            credentials["signature_secret"],
            *credentials.get("previous_signature_secrets", []),
        ]
        signature.check(
            secrets,
            hook.header("authorization"),
            method=hook.method,
            body=hook.body,
            query=parse_qsl(urlsplit(hook.url).query, keep_blank_values=True),
            now=hook.received_at,
            tolerance_s=const.SIGNATURE_TOLERANCE_S,
            application_id=credentials["application_id"],
        )

    def parse(self, hook: InboundWebhook, credentials: Mapping[str, Any]) -> list[CallEvent]:
        return parse.parse(hook)

    def reply(self, hook: InboundWebhook, voice: VoiceInstructions | None) -> WebhookReply:
        if hook.kind != const.ANSWER:
            # Vonage ignores the body of a call-state event's reply; any 2xx acknowledges it.
            return WebhookReply(status=204)
        return WebhookReply(body=json.dumps(ncco(hook, voice)), content_type="application/json")

    async def originate(
        self, runtime: CarrierRuntime, credentials: Mapping[str, Any], request: OriginateRequest
    ) -> OriginateResult:
        return await originate.originate(
            runtime.http, credentials, request, timeout_s=runtime.settings.outbound_timeout_s
        )

    async def fetch_status(
        self, runtime: CarrierRuntime, credentials: Mapping[str, Any], carrier_call_id: str
    ) -> CallEvent | None:
        return await originate.fetch_status(
            runtime.http,
            credentials,
            carrier_call_id,
            timeout_s=runtime.settings.outbound_timeout_s,
        )

    async def hangup(
        self, runtime: CarrierRuntime, credentials: Mapping[str, Any], carrier_call_id: str
    ) -> None:
        await originate.hangup(
            runtime.http,
            credentials,
            carrier_call_id,
            timeout_s=runtime.settings.outbound_timeout_s,
        )

    async def send_sms(
        self, runtime: CarrierRuntime, credentials: Mapping[str, Any], message: SmsRequest
    ) -> SmsResult:
        return await originate.send_sms(
            runtime.http, credentials, message, timeout_s=runtime.settings.outbound_timeout_s
        )


Adapter = VonageCarrier
