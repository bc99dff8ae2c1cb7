"""The sandbox carrier behind `Carrier`: signed JSON callbacks, REST origination."""

import json
import secrets
from collections.abc import Mapping
from typing import Any, ClassVar

from gateway.carriers.base import (
    CallEvent,
    CarrierDefaults,
    CarrierRuntime,
    InboundWebhook,
    InvalidCredentials,
    OriginateRequest,
    OriginateResult,
    SignatureError,
    SmsRequest,
    SmsResult,
    VoiceInstructions,
    WebhookReply,
)
from gateway.carriers.sandbox import const, originate, parse, signature

CHAOS_SWITCHES = frozenset({"duplicate", "reorder", "seed", "drop", "drop_rate", "delay_ms"})


def api_url(runtime: CarrierRuntime) -> str:
    return runtime.settings.sandbox_api_url or f"{runtime.settings.public_base_url}/sandbox-carrier"


class SandboxCarrier(CarrierDefaults):
    name: ClassVar[str] = const.NAME
    webhook_kinds: ClassVar[frozenset[str]] = const.WEBHOOK_KINDS
    sync_kinds: ClassVar[frozenset[str]] = frozenset({"voice"})
    documented_statuses: ClassVar[frozenset[str]] = frozenset(const.STATUS_MAP)

    def check_credentials(self, credentials: Mapping[str, Any]) -> dict[str, Any]:
        api_key = credentials.get("api_key") or "sk_sandbox_" + secrets.token_urlsafe(24)
        if not isinstance(api_key, str) or len(api_key) < 16:
            raise InvalidCredentials("api_key must be 16+ characters", field="credentials.api_key")
        checked: dict[str, Any] = {"api_key": api_key}
        chaos = credentials.get("chaos")
        if chaos is not None:
            if not isinstance(chaos, dict) or not set(chaos) <= CHAOS_SWITCHES:
                raise InvalidCredentials(
                    f"chaos takes only {sorted(CHAOS_SWITCHES)}", field="credentials.chaos"
                )
            checked["chaos"] = dict(chaos)
        return checked

    def verify(self, credentials: Mapping[str, Any], hook: InboundWebhook) -> None:
        if not signature.is_valid(
            [credentials["api_key"]],
            hook.url,
            hook.body,
            hook.header(const.SIGNATURE_HEADER),
            tolerance_s=const.SIGNATURE_TOLERANCE_S,
            now=hook.received_at,
        ):
            raise SignatureError("X-Sandbox-Signature does not match")

    def parse(self, hook: InboundWebhook, credentials: Mapping[str, Any]) -> list[CallEvent]:
        return parse.parse(hook)

    def reply(self, hook: InboundWebhook, voice: VoiceInstructions | None) -> WebhookReply:
        if hook.kind != "voice":
            return WebhookReply(status=204)
        if voice is not None and voice.forward_to:
            body = {
                "action": "dial",
                "number": voice.forward_to,
                "caller_id": voice.caller_id,
                "status_callback": voice.status_callback_url,
            }
        else:
            body = {"action": "say", "text": (voice.message if voice else None) or "Goodbye."}
        return WebhookReply(body=json.dumps(body), content_type="application/json")

    async def originate(
        self, runtime: CarrierRuntime, credentials: Mapping[str, Any], request: OriginateRequest
    ) -> OriginateResult:
        return await originate.originate(
            runtime.http,
            api_url(runtime),
            credentials,
            request,
            timeout_s=runtime.settings.outbound_timeout_s,
        )

    async def act(
        self,
        runtime: CarrierRuntime,
        credentials: Mapping[str, Any],
        events: list[CallEvent],
        voice: VoiceInstructions | None,
    ) -> None:
        return None

    async def fetch_status(
        self, runtime: CarrierRuntime, credentials: Mapping[str, Any], carrier_call_id: str
    ) -> CallEvent | None:
        return await originate.fetch_status(
            runtime.http,
            api_url(runtime),
            credentials,
            carrier_call_id,
            timeout_s=runtime.settings.outbound_timeout_s,
        )

    async def hangup(
        self, runtime: CarrierRuntime, credentials: Mapping[str, Any], carrier_call_id: str
    ) -> None:
        await originate.hangup(
            runtime.http,
            api_url(runtime),
            credentials,
            carrier_call_id,
            timeout_s=runtime.settings.outbound_timeout_s,
        )

    async def send_sms(
        self, runtime: CarrierRuntime, credentials: Mapping[str, Any], message: SmsRequest
    ) -> SmsResult:
        return await originate.send_sms(
            runtime.http,
            api_url(runtime),
            credentials,
            message,
            timeout_s=runtime.settings.outbound_timeout_s,
        )


Adapter = SandboxCarrier
