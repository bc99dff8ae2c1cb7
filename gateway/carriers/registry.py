"""The registry of carrier adapters, by name."""

from gateway.carriers.base import Carrier
from gateway.carriers.sandbox.adapter import SandboxCarrier
from gateway.carriers.twilio.adapter import TwilioCarrier

ADAPTER_CLASSES: dict[str, type[Carrier]] = {
    SandboxCarrier.name: SandboxCarrier,
    TwilioCarrier.name: TwilioCarrier,
}


class CarrierRegistry:
    def __init__(self) -> None:
        self._adapters: dict[str, Carrier] = {name: cls() for name, cls in ADAPTER_CLASSES.items()}

    def get(self, name: str) -> Carrier | None:
        return self._adapters.get(name)

    def names(self) -> list[str]:
        return sorted(self._adapters)

    async def close(self) -> None:
        for adapter in self._adapters.values():
            await adapter.close()
