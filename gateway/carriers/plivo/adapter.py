"""The Plivo carrier: V3 signatures, callback parsing, Plivo XML replies and origination."""

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from gateway.carriers.base import (
    CallEvent,
    CarrierDefaults,
    CarrierRuntime,
    InboundWebhook,
    InvalidCredentials,
    MalformedWebhook,
    OriginateRequest,
    OriginateResult,
    SignatureError,
    SmsRequest,
    SmsResult,
    VoiceInstructions,
    WebhookReply,
)
from gateway.carriers.common import form_params
from gateway.carriers.plivo import const, originate, parse, signature

# Plivo Auth IDs: main accounts MA..., subaccounts SA... (plivo-python's `is_account_id`).
AUTH_ID = re.compile(r"^[MS]A[A-Z0-9]{18}$")
FALLBACK_MESSAGE = "Sorry, nobody can take your call."


def sibling_url(url: str, kind: str) -> str:
    """Our webhook URL for another kind, keeping only Dialgate's own `call_id` query parameter.

    A GET callback's URL also carries Plivo's parameters, which must not leak into the next URL.
    """
    parts = urlsplit(url)
    path = parts.path.rsplit("/", 1)[0] + "/" + kind
    call_id = parse_qs(parts.query).get("call_id")
    query = urlencode({"call_id": call_id[0]}) if call_id else ""
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def xml_reply(root: ET.Element) -> WebhookReply:
    return WebhookReply(body=ET.tostring(root, encoding="unicode"), content_type="text/xml")


class PlivoCarrier(CarrierDefaults):
    # No commands after events (the default `act`):
    # the XML replies carry every instruction Plivo needs.
    name: ClassVar[str] = const.NAME
    webhook_kinds: ClassVar[frozenset[str]] = const.WEBHOOK_KINDS
    sync_kinds: ClassVar[frozenset[str]] = const.SYNC_KINDS
    documented_statuses: ClassVar[frozenset[str]] = const.DOCUMENTED_STATUSES

    def check_credentials(self, credentials: Mapping[str, Any]) -> dict[str, Any]:
        auth_id = credentials.get("auth_id")
        token = credentials.get("auth_token")
        if not isinstance(auth_id, str) or not AUTH_ID.match(auth_id):
            raise InvalidCredentials(
                "auth_id must be MA or SA followed by 18 capital letters or digits",
                field="credentials.auth_id",
            )
        if not isinstance(token, str) or len(token) < 16 or token != token.strip():
            raise InvalidCredentials(
                "auth_token must be the account's auth token", field="credentials.auth_token"
            )
        checked: dict[str, Any] = {"auth_id": auth_id, "auth_token": token}
        base_url = credentials.get("api_base_url")
        if base_url is not None:
            if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
                raise InvalidCredentials(
                    "api_base_url must be an http(s) URL", field="credentials.api_base_url"
                )
            checked["api_base_url"] = base_url.rstrip("/")
        return checked

    def verify(self, credentials: Mapping[str, Any], hook: InboundWebhook) -> None:
        header = hook.header(const.SIGNATURE_HEADER)
        nonce = hook.header(const.NONCE_HEADER)
        if not header or not nonce:
            raise SignatureError("missing X-Plivo-Signature-V3 or its nonce")
        try:
            params = None if hook.method == "GET" else form_params(hook)
        except MalformedWebhook as exc:
            raise SignatureError("body cannot be read for the signature") from exc
        if not signature.is_valid(
            [credentials["auth_token"]], hook.method, hook.url, params, nonce, header
        ):
            raise SignatureError("X-Plivo-Signature-V3 does not match")

    def parse(self, hook: InboundWebhook, credentials: Mapping[str, Any]) -> list[CallEvent]:
        return parse.parse(hook)

    def reply(self, hook: InboundWebhook, voice: VoiceInstructions | None) -> WebhookReply:
        """Plivo XML for the answer URL and the Dial action; a plain 200 for notifications.

        Plivo retries a callback that is not answered with a 200
        (https://docs.plivo.com/docs/voice/concepts/callback-configurations), so no 204.
        """
        root = ET.Element("Response")
        if hook.kind == const.ACTION:
            # The dial is over: end the remaining leg rather than leave it in silence.
            ET.SubElement(root, "Hangup")
            return xml_reply(root)
        if hook.kind != const.ANSWER:
            return WebhookReply(status=200)
        if voice is not None and voice.forward_to:
            dial = ET.SubElement(
                root,
                "Dial",
                {
                    "callbackUrl": sibling_url(hook.url, const.DIAL),
                    "callbackMethod": "POST",
                    "action": sibling_url(hook.url, const.ACTION),
                    "method": "POST",
                    "timeout": str(const.DIAL_TIMEOUT_S),
                },
            )
            if voice.caller_id:
                dial.set("callerId", originate.without_plus(voice.caller_id))
            ET.SubElement(dial, "Number").text = originate.without_plus(voice.forward_to)
        else:
            message = (voice.message if voice else None) or FALLBACK_MESSAGE
            ET.SubElement(root, "Speak").text = message
            ET.SubElement(root, "Hangup")
        return xml_reply(root)

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

    async def close(self) -> None:
        return None  # the HTTP session is the gateway's

    async def send_sms(
        self, runtime: CarrierRuntime, credentials: Mapping[str, Any], message: SmsRequest
    ) -> SmsResult:
        return await originate.send_sms(
            runtime.http, credentials, message, timeout_s=runtime.settings.outbound_timeout_s
        )


Adapter = PlivoCarrier
