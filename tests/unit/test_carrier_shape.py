"""Every registered carrier has the same shape, fulfils `Carrier`, and passes its fixtures."""

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

import gateway.carriers
from gateway.carriers.base import Carrier, InboundWebhook, SignatureError
from gateway.carriers.registry import ADAPTER_CLASSES

FIXTURES = Path(__file__).parents[1] / "fixtures" / "carriers"
CARRIER_FILES = (
    "__init__.py",
    "const.py",
    "signature.py",
    "parse.py",
    "originate.py",
    "adapter.py",
)
CARRIERS = sorted(ADAPTER_CLASSES)


def fixture_files(carrier: str) -> list[Path]:
    return sorted((FIXTURES / carrier).glob("*.json"))


def as_hook(fixture: dict[str, Any]) -> InboundWebhook:
    return InboundWebhook(
        method=fixture["method"],
        url=fixture["url"],
        headers={k.lower(): v for k, v in fixture["headers"].items()},
        body=fixture.get("body", "").encode(),
        query=dict(parse_qsl(urlsplit(fixture["url"]).query, keep_blank_values=True)),
        kind=fixture["kind"],
        received_at=fixture["received_at"],
    )


def test_registry_finds_the_builtin_carriers() -> None:
    assert {"sandbox", "twilio"} <= set(CARRIERS)


def test_every_carrier_folder_is_registered() -> None:
    root = Path(gateway.carriers.__file__).parent
    folders = {p.name for p in root.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert folders == set(CARRIERS)


@pytest.mark.parametrize("carrier", CARRIERS)
def test_carrier_folder_has_the_common_shape(carrier: str) -> None:
    folder = Path(gateway.carriers.__file__).parent / carrier
    for name in CARRIER_FILES:
        assert (folder / name).is_file(), f"{carrier}/{name} missing"
    adapter = ADAPTER_CLASSES[carrier]()
    assert isinstance(adapter, Carrier)
    assert adapter.sync_kinds <= adapter.webhook_kinds
    assert adapter.documented_statuses
    # Adapters stay framework-free: they take an InboundWebhook, not an aiohttp request.
    for name in CARRIER_FILES:
        assert "aiohttp.web" not in (folder / name).read_text(), f"{carrier}/{name}"


@pytest.mark.parametrize("carrier", CARRIERS)
def test_carrier_has_valid_and_tampered_fixtures(carrier: str) -> None:
    fixtures = [json.loads(p.read_text()) for p in fixture_files(carrier)]
    assert any(f["valid"] for f in fixtures), f"{carrier}: no valid fixture"
    assert any(not f["valid"] for f in fixtures), f"{carrier}: no tampered fixture"
    assert all(f.get("source") for f in fixtures), f"{carrier}: a fixture without its source"


@pytest.mark.parametrize(
    "path",
    [p for c in CARRIERS for p in fixture_files(c)],
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
def test_fixture_replays(path: Path) -> None:
    fixture = json.loads(path.read_text())
    adapter = ADAPTER_CLASSES[path.parent.name]()
    credentials = adapter.check_credentials(fixture["credentials"])
    hook = as_hook(fixture)
    if not fixture["valid"]:
        with pytest.raises(SignatureError):
            adapter.verify(credentials, hook)
        return
    adapter.verify(credentials, hook)
    events = adapter.parse(hook, credentials)
    got = [
        {
            "carrier_call_id": e.carrier_call_id,
            "carrier_status": e.carrier_status,
            "status": e.status,
            "outcome": e.outcome,
        }
        for e in events
    ]
    assert got == fixture["expect"]
