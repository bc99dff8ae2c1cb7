"""The carrier registry: each `gateway/carriers/<name>/adapter.py` exports its `Adapter`.

Adding a carrier is adding its folder; nothing else needs an edit.
"""

import importlib
import pkgutil
from pathlib import Path

import gateway.carriers
from gateway.carriers.base import Carrier


def discover() -> dict[str, type[Carrier]]:
    found: dict[str, type[Carrier]] = {}
    for info in pkgutil.iter_modules(gateway.carriers.__path__):
        # A package without adapter.py is not a carrier (yet); the shape test flags it.
        if not info.ispkg or not any(
            (Path(p) / info.name / "adapter.py").is_file() for p in gateway.carriers.__path__
        ):
            continue
        module = importlib.import_module(f"gateway.carriers.{info.name}.adapter")
        adapter: type[Carrier] = module.Adapter
        if adapter.name != info.name:
            raise RuntimeError(f"carrier folder {info.name!r} exports adapter {adapter.name!r}")
        found[adapter.name] = adapter
    return found


ADAPTER_CLASSES: dict[str, type[Carrier]] = discover()


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
