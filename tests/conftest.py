from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
MINI = ROOT / "tests" / "data" / "mini"
REAL = ROOT / ".." / "shared" / "real-formats"
APPROVE = ("--approve-reflexion", "--approver", "me")


def openai_args(
    url: str,
    out: Path,
    *extra: str,
    inputs: Sequence[str] = (),
    review: Sequence[str] = APPROVE,
) -> list[str]:
    """CLI arguments for a run against an OpenAI-compatible endpoint (a fake
    on 127.0.0.1); the inputs default to the mini incident."""
    src = list(inputs) or ["--from-logs", str(MINI)]
    return [*src, "--llm", "openai", "--base-url", url, *review, "--out-dir", str(out), *extra]


def isolate(mp: pytest.MonkeyPatch, cache_dir: Path) -> None:
    """No test sees a real endpoint, the user's cache or the user's model."""
    mp.setenv("DRAFT_INCIDENT_CACHE", str(cache_dir))
    for var in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "DRAFT_INCIDENT_MODEL",
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_API_KEY",
        "AZURE_OPENAI_AD_TOKEN",
        "AZURE_OPENAI_DEPLOYMENT",
        "OPENAI_API_VERSION",
    ):
        mp.delenv(var, raising=False)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(monkeypatch, tmp_path / "cache")


_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: Any) -> None:
    """Tests must not reach the network: only loopback (fake servers, the local
    model) and Unix sockets may be connected to from this process."""
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = str(address[0])
        try:
            ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            ok = False
        if not ok:
            raise ConnectionRefusedError(
                f"test tried to reach {host}: tests must not use the network"
            )
    _real_connect(self, address)


@pytest.fixture(autouse=True, scope="session")
def _no_network() -> Any:
    socket.socket.connect = _loopback_only  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]


def real(*parts: str) -> Path:
    p = REAL.joinpath(*parts)
    if not p.exists():
        pytest.skip(
            f"real-format samples not found at {REAL} (../shared is absent in this checkout)"
        )
    return p
