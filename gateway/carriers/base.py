"""The carrier adapter protocol and the framework-free values adapters exchange with the gateway."""

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol, cast, runtime_checkable

import aiohttp

from gateway.models import CallOutcome, CallStatus, Direction, LegRole
from gateway.settings import Settings


class SignatureError(Exception):
    """The webhook's signature is missing, malformed or wrong (always answered 403)."""


class MalformedWebhook(Exception):
    """The webhook is authentic but a required field is missing or invalid (answered 400)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class CarrierAPIError(Exception):
    """The carrier's REST API refused or failed a request."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code

    @property
    def ambiguous(self) -> bool:
        """No answer, or a server error: the carrier may have placed the call anyway."""
        return self.status is None or self.status >= 500


class NotSupported(CarrierAPIError):
    """The carrier (or its adapter) cannot do what was asked, e.g. end a call through its API."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=501, code="not_supported")


def not_supported(carrier: str, what: str) -> NotSupported:
    return NotSupported(f"{what} is not supported for {carrier} calls")


class InvalidCredentials(Exception):
    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class InboundWebhook:
    """A carrier's HTTP request exactly as received, independent of the web framework."""

    method: str
    url: str  # the public URL the carrier requested (scheme, host, port, path, query)
    headers: Mapping[str, str]  # lower-cased names
    body: bytes
    query: Mapping[str, str]
    kind: str
    # Unix time the request arrived: signature timestamps are judged against it.
    received_at: float = field(default_factory=time.time)
    # The form body once decoded (verify and parse both need it; decoding is not free).
    _form: dict[str, list[str]] | None = field(default=None, compare=False, repr=False)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class CallEvent:
    """One normalized call-progress event."""

    carrier_call_id: str
    dedupe_key: str
    kind: str  # status | voice | recording
    carrier_status: str | None
    status: CallStatus | None  # None: the carrier's value is not mapped (stored, flagged)
    outcome: CallOutcome | None = None
    parent_call_id: str | None = None  # set on a child leg (the customer leg of a bridge)
    # Which leg of a bridged call, when the carrier says so itself (e.g. Exotel's Legs[n]);
    # otherwise derived: a child leg is the customer, the parent leg the agent.
    leg: LegRole | None = None
    direction: Direction | None = None
    from_number: str | None = None
    to_number: str | None = None
    occurred_at: datetime | None = None
    duration_s: int | None = None
    recording_url: str | None = None
    # Dialgate's own call id, from the callback URL we gave the carrier (signed with it).
    local_call_id: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WebhookReply:
    status: int = 200
    body: str = ""
    content_type: str = "text/plain"


@dataclass(frozen=True)
class VoiceInstructions:
    """What to do with an inbound call: ring `forward_to` from `caller_id`, or play a message."""

    forward_to: str | None = None
    caller_id: str | None = None
    message: str | None = None
    status_callback_url: str | None = None


@dataclass(frozen=True)
class OriginateRequest:
    call_id: int
    agent_number: str
    customer_number: str
    caller_id: str
    status_callback_url: str  # for the agent leg
    customer_status_callback_url: str  # for the customer leg
    # `{PUBLIC_BASE_URL}/webhooks/{carrier}/{account_id}`: adapters add `/{kind}?call_id=N`
    # for the other callbacks their carrier needs (answer URLs, hangup URLs, ...).
    webhook_base: str = ""
    timeout_s: int = 30

    def webhook_url(self, kind: str) -> str:
        return f"{self.webhook_base}/{kind}?call_id={self.call_id}"


@dataclass(frozen=True)
class OriginateResult:
    carrier_call_id: str
    carrier_status: str | None = None


@dataclass(frozen=True)
class SmsRequest:
    """One text message: E.164 numbers, `from_number` one of the account's own."""

    to_number: str
    from_number: str
    text: str


@dataclass(frozen=True)
class SmsResult:
    carrier_message_id: str
    carrier_status: str | None = None


@dataclass
class CarrierRuntime:
    """What adapters may use at run time: settings and the shared HTTP client session."""

    settings: Settings
    http: aiohttp.ClientSession


@runtime_checkable
class Carrier(Protocol):
    name: ClassVar[str]
    webhook_kinds: ClassVar[frozenset[str]]
    # Kinds whose reply carries call instructions (an answer URL): applied before answering.
    sync_kinds: ClassVar[frozenset[str]]
    # Every status value the carrier documents, for the exhaustive mapping test.
    documented_statuses: ClassVar[frozenset[str]]

    def check_credentials(self, credentials: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and normalize an account's credentials (raises InvalidCredentials)."""
        ...

    def verify(self, credentials: Mapping[str, Any], hook: InboundWebhook) -> None:
        """Raise SignatureError unless the request is authentic."""
        ...

    def parse(self, hook: InboundWebhook, credentials: Mapping[str, Any]) -> list[CallEvent]:
        """Normalize the request into events (raises MalformedWebhook)."""
        ...

    def check(self, hook: InboundWebhook, credentials: Mapping[str, Any]) -> None:
        """Raise MalformedWebhook exactly when `parse` would, naming the same field, without
        building the events: what a callback needs before it is stored and answered (the
        applier parses the stored request again)."""
        ...

    def reply(self, hook: InboundWebhook, voice: VoiceInstructions | None) -> WebhookReply:
        """The body the carrier expects back."""
        ...

    async def originate(
        self, runtime: CarrierRuntime, credentials: Mapping[str, Any], request: OriginateRequest
    ) -> OriginateResult:
        """Ask the carrier to ring the agent, then bridge to the customer."""
        ...

    async def act(
        self,
        runtime: CarrierRuntime,
        credentials: Mapping[str, Any],
        events: list[CallEvent],
        voice: VoiceInstructions | None,
    ) -> None:
        """Commands a carrier needs after an event (e.g. Call Control's bridge); most: none."""
        ...

    async def fetch_status(
        self, runtime: CarrierRuntime, credentials: Mapping[str, Any], carrier_call_id: str
    ) -> CallEvent | None:
        """The call's current state from the carrier's call-details API (None: no such API)."""
        ...

    async def fetch_events(
        self, runtime: CarrierRuntime, credentials: Mapping[str, Any], carrier_call_id: str
    ) -> list[CallEvent]:
        """Every leg's events the carrier's records give for the call, in order; the last one
        says where the call as a whole stands (empty: the carrier knows no such call).

        A bridged call has two legs; a carrier whose status API describes only the leg it is
        asked about overrides this to read the other leg too.
        """
        ...

    async def hangup(
        self, runtime: CarrierRuntime, credentials: Mapping[str, Any], carrier_call_id: str
    ) -> None:
        """Ask the carrier to end the call (every leg); its callbacks then report the end.

        Adapters whose carrier has no such API raise `NotSupported` (see `not_supported`).
        """
        raise not_supported(self.name, "hanging up")

    async def send_sms(
        self, runtime: CarrierRuntime, credentials: Mapping[str, Any], message: SmsRequest
    ) -> SmsResult:
        """Send one text message through the carrier's messaging API (once: never retried).

        Adapters whose carrier (or adapter) cannot text raise `NotSupported`.
        """
        raise not_supported(self.name, "sending SMS")

    async def close(self) -> None: ...


class CarrierDefaults:
    """What most adapters share: no commands after events, no call-details, hang-up or SMS
    API, nothing to close.

    An adapter subclasses it and overrides what its carrier does differently.
    """

    def check(self, hook: InboundWebhook, credentials: Mapping[str, Any]) -> None:
        # The whole parse is the check, unless the adapter has a cheaper one.
        cast(Carrier, self).parse(hook, credentials)

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
        return None

    async def fetch_events(
        self, runtime: CarrierRuntime, credentials: Mapping[str, Any], carrier_call_id: str
    ) -> list[CallEvent]:
        # Most status APIs already answer with the leg that decides the call (the customer's).
        event = await self.fetch_status(runtime, credentials, carrier_call_id)
        return [event] if event is not None else []

    async def hangup(
        self, runtime: CarrierRuntime, credentials: Mapping[str, Any], carrier_call_id: str
    ) -> None:
        raise not_supported(getattr(self, "name", type(self).__name__), "hanging up")

    async def send_sms(
        self, runtime: CarrierRuntime, credentials: Mapping[str, Any], message: SmsRequest
    ) -> SmsResult:
        raise NotSupported(f"{getattr(self, 'name', type(self).__name__)} cannot send SMS")

    async def close(self) -> None:
        return None
