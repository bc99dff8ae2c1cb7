"""The Twilio carrier: signature check, parsing, replies and origination behind `Carrier`."""

from collections.abc import Mapping
from typing import Any, ClassVar

from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

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
from gateway.carriers.common import form_params
from gateway.carriers.twilio import const, originate, parse, signature


class TwilioCarrier(CarrierDefaults):
    # No commands after events (the default `act`):
    # TwiML in the webhook reply carries every instruction Twilio needs.
    name: ClassVar[str] = const.NAME
    webhook_kinds: ClassVar[frozenset[str]] = const.WEBHOOK_KINDS
    sync_kinds: ClassVar[frozenset[str]] = frozenset({"voice"})
    documented_statuses: ClassVar[frozenset[str]] = frozenset(const.STATUS_MAP)

    def __init__(self) -> None:
        self._http: AsyncTwilioHttpClient | None = None

    def check_credentials(self, credentials: Mapping[str, Any]) -> dict[str, Any]:
        sid = credentials.get("account_sid")
        token = credentials.get("auth_token")
        if not isinstance(sid, str) or not sid.startswith("AC") or len(sid) != 34:
            raise InvalidCredentials(
                "account_sid must be 34 characters starting with AC",
                field="credentials.account_sid",
            )
        if not isinstance(token, str) or len(token) < 8:
            raise InvalidCredentials("auth_token is required", field="credentials.auth_token")
        checked: dict[str, Any] = {"account_sid": sid, "auth_token": token}
        base_url = credentials.get("api_base_url")
        if base_url is not None:
            if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
                raise InvalidCredentials(
                    "api_base_url must be an http(s) URL", field="credentials.api_base_url"
                )
            checked["api_base_url"] = base_url.rstrip("/")
        shared_keys = credentials.get("shared_keys")
        if shared_keys is not None:
            if not isinstance(shared_keys, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in shared_keys.items()
            ):
                raise InvalidCredentials(
                    "shared_keys maps key ids to secrets", field="credentials.shared_keys"
                )
            checked["shared_keys"] = dict(shared_keys)
        return checked

    def verify(self, credentials: Mapping[str, Any], hook: InboundWebhook) -> None:
        sig = hook.header(const.SIGNATURE_HEADER)
        if not sig:
            raise SignatureError("missing X-Twilio-Signature")
        algorithm, key_id = signature.algorithm_from_settings(
            hook.header(const.SIGNATURE_SETTINGS_HEADER)
        )
        secret = credentials["auth_token"]
        if key_id is not None:
            secret = credentials.get("shared_keys", {}).get(key_id)
            if secret is None:
                raise SignatureError("unknown shared key")
        content_type = (hook.header("content-type") or "").split(";")[0].strip()
        if hook.method == "POST" and content_type == "application/json":
            ok = signature.is_valid(
                secret, hook.url, None, sig, body=hook.body, algorithm=algorithm
            )
        else:
            params = None if hook.method == "GET" else form_params(hook)
            ok = signature.is_valid(secret, hook.url, params, sig, algorithm=algorithm)
        if not ok:
            raise SignatureError("X-Twilio-Signature does not match")

    def parse(self, hook: InboundWebhook, credentials: Mapping[str, Any]) -> list[CallEvent]:
        return parse.parse(hook, account_sid=credentials["account_sid"])

    def check(self, hook: InboundWebhook, credentials: Mapping[str, Any]) -> None:
        parse.check(hook, account_sid=credentials["account_sid"])

    def reply(self, hook: InboundWebhook, voice: VoiceInstructions | None) -> WebhookReply:
        if hook.kind != "voice":
            return WebhookReply(status=204)
        response = VoiceResponse()
        if voice is not None and voice.forward_to:
            dial = response.dial(caller_id=voice.caller_id)
            if voice.status_callback_url:
                dial.number(
                    voice.forward_to,
                    status_callback=voice.status_callback_url,
                    status_callback_event=" ".join(const.STATUS_CALLBACK_EVENTS),
                    status_callback_method="POST",
                )
            else:
                dial.number(voice.forward_to)
        else:
            message = (voice.message if voice else None) or "Sorry, nobody can take your call."
            response.say(message)
            response.hangup()
        return WebhookReply(body=str(response), content_type="text/xml")

    async def originate(
        self, runtime: CarrierRuntime, credentials: Mapping[str, Any], request: OriginateRequest
    ) -> OriginateResult:
        client = self._client(runtime, credentials)
        return await originate.originate(client, request)

    async def fetch_status(
        self, runtime: CarrierRuntime, credentials: Mapping[str, Any], carrier_call_id: str
    ) -> CallEvent | None:
        client = self._client(runtime, credentials)
        return await originate.fetch_status(client, carrier_call_id)

    async def hangup(
        self, runtime: CarrierRuntime, credentials: Mapping[str, Any], carrier_call_id: str
    ) -> None:
        client = self._client(runtime, credentials)
        await originate.hangup(client, carrier_call_id)

    async def send_sms(
        self, runtime: CarrierRuntime, credentials: Mapping[str, Any], message: SmsRequest
    ) -> SmsResult:
        client = self._client(runtime, credentials)
        return await originate.send_sms(client, message)

    def _client(self, runtime: CarrierRuntime, credentials: Mapping[str, Any]) -> Client:
        return originate.make_client(
            credentials, self._http_client(runtime), runtime.settings.twilio_api_base_url
        )

    def _http_client(self, runtime: CarrierRuntime) -> AsyncTwilioHttpClient:
        if self._http is None:
            self._http = AsyncTwilioHttpClient(timeout=runtime.settings.outbound_timeout_s)
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None


Adapter = TwilioCarrier
