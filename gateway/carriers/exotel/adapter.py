"""The Exotel carrier: callback tokens, parsing, flow replies and origination behind `Carrier`."""

import json
import re
import secrets
from collections.abc import Mapping
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
from gateway.carriers.exotel import const, originate, parse, signature

# Exotel account SIDs are short slugs ("acme1", "exotel123"); they go into the API path.
_SID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# API keys and tokens are printable without spaces; a ':' in the key would break Basic auth.
_KEY = re.compile(r"[!-9;-~]{8,200}")
_TOKEN = re.compile(r"[!-~]{8,200}")
MIN_SECRET_CHARS = 32
MAX_SECRETS = 5
# How long a Connect applet rings the agent we name (seconds).
MAX_RINGING_S = 30


class ExotelCarrier(CarrierDefaults):
    # No commands after events (the default `act`):
    # Exotel bridges the two legs itself; flows take their answer in the reply.
    # Nor `hangup` (the default refuses as not supported): Exotel's Calls API has no request
    # that ends a call in progress; only its separate CPaaS legs API has one, for its own legs.
    name: ClassVar[str] = const.NAME
    webhook_kinds: ClassVar[frozenset[str]] = const.WEBHOOK_KINDS
    sync_kinds: ClassVar[frozenset[str]] = const.SYNC_KINDS
    documented_statuses: ClassVar[frozenset[str]] = const.DOCUMENTED_STATUSES

    def check_credentials(self, credentials: Mapping[str, Any]) -> dict[str, Any]:
        sid = credentials.get("account_sid")
        if not isinstance(sid, str) or not _SID.fullmatch(sid):
            raise InvalidCredentials(
                "account_sid is the account's SID from Exotel's API settings page",
                field="credentials.account_sid",
            )
        api_key = credentials.get("api_key")
        if not isinstance(api_key, str) or not _KEY.fullmatch(api_key):
            raise InvalidCredentials(
                "api_key must be 8-200 printable characters without ':' or spaces",
                field="credentials.api_key",
            )
        api_token = credentials.get("api_token")
        if not isinstance(api_token, str) or not _TOKEN.fullmatch(api_token):
            raise InvalidCredentials(
                "api_token must be 8-200 printable characters without spaces",
                field="credentials.api_token",
            )
        checked: dict[str, Any] = {"account_sid": sid, "api_key": api_key, "api_token": api_token}
        subdomain = credentials.get("subdomain")
        if subdomain is not None:
            if subdomain not in const.API_HOSTS:
                raise InvalidCredentials(
                    f"subdomain is one of {sorted(const.API_HOSTS)}",
                    field="credentials.subdomain",
                )
            checked["subdomain"] = subdomain
        base_url = credentials.get("api_base_url")
        if base_url is not None:
            if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
                raise InvalidCredentials(
                    "api_base_url must be an http(s) URL", field="credentials.api_base_url"
                )
            checked["api_base_url"] = base_url.rstrip("/")
        time_zone = credentials.get("time_zone", const.DEFAULT_TIME_ZONE)
        try:
            ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, TypeError, ValueError):
            raise InvalidCredentials(
                "time_zone must be an IANA zone such as Asia/Kolkata",
                field="credentials.time_zone",
            ) from None
        checked["time_zone"] = time_zone
        checked["callback_secrets"] = self._callback_secrets(credentials.get("callback_secrets"))
        # For SMS to India (TRAI's DLT registration): optional, sent with each text when set.
        for name in ("sms_dlt_entity_id", "sms_dlt_template_id"):
            value = credentials.get(name)
            if value is None:
                continue
            if not isinstance(value, str) or not value.isdigit() or len(value) > 30:
                raise InvalidCredentials(
                    f"{name} is the DLT registration's number", field=f"credentials.{name}"
                )
            checked[name] = value
        return checked

    @staticmethod
    def _callback_secrets(given: Any) -> list[str]:
        """The account's URL-token secrets, newest first; a fresh one when none is given."""
        if given is None:
            return [secrets.token_hex(32)]
        if (
            not isinstance(given, list)
            or not 1 <= len(given) <= MAX_SECRETS
            or not all(isinstance(s, str) and len(s) >= MIN_SECRET_CHARS for s in given)
        ):
            raise InvalidCredentials(
                f"callback_secrets is a list of 1-{MAX_SECRETS} secrets of "
                f"{MIN_SECRET_CHARS}+ characters, newest first",
                field="credentials.callback_secrets",
            )
        return list(given)

    def verify(self, credentials: Mapping[str, Any], hook: InboundWebhook) -> None:
        keys: list[str] = credentials.get("callback_secrets") or []
        if hook.kind in const.INBOUND_KINDS:
            signature.verify_inbound(keys, hook.url)
        else:
            signature.verify_callback(keys, hook.url, now=hook.received_at)

    def parse(self, hook: InboundWebhook, credentials: Mapping[str, Any]) -> list[CallEvent]:
        zone = ZoneInfo(credentials.get("time_zone") or const.DEFAULT_TIME_ZONE)
        return parse.parse(hook, time_zone=zone)

    def reply(self, hook: InboundWebhook, voice: VoiceInstructions | None) -> WebhookReply:
        ring = voice.forward_to if voice is not None else None
        if hook.kind == "passthru":
            # A synchronous Passthru only branches: 200 takes the flow's first path (put the
            # Connect applet there), 302 the second (e.g. a greeting: "we will call you back").
            return WebhookReply(status=200 if ring else 302)
        if hook.kind == "connect":
            # The Connect applet's dynamic URL answer (support article 3000096873). No number:
            # nobody is dialed and the flow takes the applet's "nobody answered" path.
            body: dict[str, Any] = {
                "fetch_after_attempt": False,
                "destination": {"numbers": [ring] if ring else []},
                "max_ringing_duration": MAX_RINGING_S,
            }
            if ring and voice is not None and voice.caller_id:
                body["outgoing_phone_number"] = voice.caller_id
            return WebhookReply(body=json.dumps(body), content_type="application/json")
        # Exotel wants a 200 within 15 seconds; anything else is retried twice.
        return WebhookReply(status=200)

    def inbound_urls(self, credentials: Mapping[str, Any], webhook_base: str) -> dict[str, str]:
        """The URLs (token included) an admin pastes into the account's Exotel flow."""
        secret = credentials["callback_secrets"][0]
        return {
            kind: signature.inbound_url(secret, f"{webhook_base}/{kind}")
            for kind in sorted(const.INBOUND_KINDS)
        }

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

    async def send_sms(
        self, runtime: CarrierRuntime, credentials: Mapping[str, Any], message: SmsRequest
    ) -> SmsResult:
        return await originate.send_sms(
            runtime.http, credentials, message, timeout_s=runtime.settings.outbound_timeout_s
        )


Adapter = ExotelCarrier
