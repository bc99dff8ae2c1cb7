"""The Telnyx carrier: Ed25519 signatures, parsing and Call Control commands behind `Carrier`.

Call Control is command-driven: Telnyx expects only a 200 to each webhook, and everything the
call should do next is a REST command, sent by `act()` once the event is applied: the agent
answering a click-to-call transfers the agent's leg to the customer; an inbound call is
answered, then transferred to its agent or given a message and hung up.

Set the Call Control App's webhook URL (where inbound calls report) to the account's `status`
URL; `voice` is a sync kind, so a request there may be applied before its 200 is sent.
"""

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from gateway.carriers.base import (
    CallEvent,
    CarrierAPIError,
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
from gateway.carriers.telnyx import const, originate, parse, signature

log = logging.getLogger(__name__)
MAX_FIELD_CHARS = 512


def _public_keys(credentials: Mapping[str, Any]) -> list[str]:
    keys = credentials["public_key"]
    return [keys] if isinstance(keys, str) else list(keys)


def _token(credentials: Mapping[str, Any], name: str, *, min_chars: int = 1) -> str:
    value = credentials.get(name)
    if (
        not isinstance(value, str)
        or not min_chars <= len(value) <= MAX_FIELD_CHARS
        or not value.isprintable()
        or any(c.isspace() for c in value)
    ):
        raise InvalidCredentials(
            f"{name} is required ({min_chars}+ characters, no spaces)",
            field=f"credentials.{name}",
        )
    return value


class TelnyxCarrier(CarrierDefaults):
    name: ClassVar[str] = const.NAME
    webhook_kinds: ClassVar[frozenset[str]] = const.WEBHOOK_KINDS
    # `voice` events (see parse) get call instructions, which `act()` turns into commands.
    sync_kinds: ClassVar[frozenset[str]] = frozenset({"voice"})
    documented_statuses: ClassVar[frozenset[str]] = frozenset(const.STATUS_MAP)

    def check_credentials(self, credentials: Mapping[str, Any]) -> dict[str, Any]:
        checked: dict[str, Any] = {
            # Telnyx v2 API keys look like `KEY0...`; any long opaque token is accepted.
            "api_key": _token(credentials, "api_key", min_chars=16),
            "connection_id": _token(credentials, "connection_id"),
        }
        keys = credentials.get("public_key")
        # Several keys are accepted while Telnyx rotates the account's key.
        listed = [keys] if isinstance(keys, str) else keys
        if not isinstance(listed, list) or not listed or len(listed) > 5:
            raise InvalidCredentials(
                "public_key is the account's base64 Ed25519 public key (or a list of them)",
                field="credentials.public_key",
            )
        for key in listed:
            try:
                if not isinstance(key, str):
                    raise ValueError("not a string")
                signature.load_public_key(key)
            except ValueError as exc:
                raise InvalidCredentials(
                    f"public_key is not a base64 Ed25519 public key: {exc}",
                    field="credentials.public_key",
                ) from None
        stripped = [key.strip() for key in listed]
        checked["public_key"] = stripped[0] if isinstance(keys, str) else stripped
        base_url = credentials.get("api_base_url")
        if base_url is not None:
            if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
                raise InvalidCredentials(
                    "api_base_url must be an http(s) URL", field="credentials.api_base_url"
                )
            checked["api_base_url"] = base_url.rstrip("/")
        return checked

    def verify(self, credentials: Mapping[str, Any], hook: InboundWebhook) -> None:
        if not signature.is_valid(
            _public_keys(credentials),
            hook.body,
            hook.header(const.SIGNATURE_HEADER),
            hook.header(const.TIMESTAMP_HEADER),
            now=hook.received_at,
            tolerance_s=const.SIGNATURE_TOLERANCE_S,
        ):
            raise SignatureError("telnyx-signature-ed25519 does not match")

    def parse(self, hook: InboundWebhook, credentials: Mapping[str, Any]) -> list[CallEvent]:
        return parse.parse(hook, connection_id=credentials["connection_id"])

    def reply(self, hook: InboundWebhook, voice: VoiceInstructions | None) -> WebhookReply:
        # "The server must return an HTTP 200": instructions travel as commands (`act`).
        return WebhookReply(status=200)

    async def originate(
        self, runtime: CarrierRuntime, credentials: Mapping[str, Any], request: OriginateRequest
    ) -> OriginateResult:
        return await originate.dial(
            runtime.http, credentials, request, timeout_s=runtime.settings.outbound_timeout_s
        )

    async def act(
        self,
        runtime: CarrierRuntime,
        credentials: Mapping[str, Any],
        events: list[CallEvent],
        voice: VoiceInstructions | None,
    ) -> None:
        for event in events:
            for command in originate.plan(event, voice):
                try:
                    await originate.send(
                        runtime.http,
                        credentials,
                        command,
                        timeout_s=runtime.settings.outbound_timeout_s,
                    )
                except CarrierAPIError as exc:
                    if exc.code == const.CALL_ENDED_ERROR:
                        # The leg hung up first (or Telnyx ended it after its bridge): fine.
                        log.debug("telnyx %s on an ended call skipped", command.action)
                        continue
                    # A retried webhook is deduplicated and would not act again: log, go on.
                    # Telnyx's detail may quote phone numbers: only at DEBUG.
                    log.warning(
                        "telnyx refused %s for event %s (status %s, code %s)",
                        command.action,
                        event.dedupe_key,
                        exc.status,
                        exc.code,
                    )
                    log.debug("telnyx said: %s", exc.message)

    async def hangup(
        self, runtime: CarrierRuntime, credentials: Mapping[str, Any], carrier_call_id: str
    ) -> None:
        await originate.hangup(
            runtime.http,
            credentials,
            carrier_call_id,
            timeout_s=runtime.settings.outbound_timeout_s,
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

    async def fetch_events(
        self, runtime: CarrierRuntime, credentials: Mapping[str, Any], carrier_call_id: str
    ) -> list[CallEvent]:
        return await originate.fetch_events(
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


Adapter = TelnyxCarrier
