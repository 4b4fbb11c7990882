from __future__ import annotations

import importlib.util
import ipaddress
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
MINI = ROOT / "tests" / "data" / "mini"
# Third-party material kept beside the repository (CI has it, a fresh clone does
# not): real format samples and real incidents. DRAFT_INCIDENT_SHARED points
# elsewhere (a clone's test of the "absent" case sets it to a missing folder).
SHARED = Path(os.environ.get("DRAFT_INCIDENT_SHARED") or ROOT / ".." / "shared")
REAL = SHARED / "real-formats"
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


def load_script(path: Path) -> ModuleType:
    """Import a script that is not in a package (``bench/eval.py``) as a module."""
    spec = importlib.util.spec_from_file_location(f"script_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


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


# --- tests that read ../shared ---------------------------------------------------
#
# Mark such a test (or a module, with ``pytestmark``) ``@pytest.mark.needs_shared``;
# the marker's arguments name the sub-folders it reads, "real-formats" when none:
#
#     @pytest.mark.needs_shared                      # ../shared/real-formats
#     @pytest.mark.needs_shared("real-incidents")    # ../shared/real-incidents
#
# and read files through ``real(...)`` / ``shared(...)`` below. When a folder is
# absent (a fresh clone), its tests are deselected at collection and the run ends
# with ONE line, "real-format corpus not found: N tests skipped", instead of a skip
# line per test. When it is present (CI) every marked test runs, and a missing file
# inside it is a failure, never a skip.

_DESELECTED = pytest.StashKey[tuple[int, list[str]]]()  # (tests, absent folders)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "needs_shared(*folders): reads ../shared/<folder> (default real-formats); "
        "deselected with one summary line when the folder is absent",
    )


def _absent(item: pytest.Item) -> list[str]:
    missing: list[str] = []
    for mark in item.iter_markers("needs_shared"):
        for folder in mark.args or ("real-formats",):
            if not (SHARED / folder).is_dir() and folder not in missing:
                missing.append(folder)
    return missing


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep: list[pytest.Item] = []
    gone: list[pytest.Item] = []
    folders: list[str] = []
    for item in items:
        missing = _absent(item)
        (gone if missing else keep).append(item)
        folders += [f for f in missing if f not in folders]
    if gone:
        config.hook.pytest_deselected(items=gone)
        items[:] = keep
    config.stash[_DESELECTED] = (len(gone), folders)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    n, folders = config.stash.get(_DESELECTED, (0, []))
    if n:
        where = ", ".join(str((SHARED / f).resolve()) for f in folders)
        terminalreporter.write_line(
            f"real-format corpus not found: {n} tests skipped (no {where})", yellow=True
        )


def shared(*parts: str) -> Path:
    """A path under ../shared for a ``needs_shared`` test: it must exist."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        top = parts[0] if parts else ""
        hint = (
            "the corpus is incomplete"
            if (SHARED / top).is_dir()
            else f"mark the test @pytest.mark.needs_shared({top!r})"
        )
        pytest.fail(f"{p} not found ({hint})", pytrace=False)
    return p


def real(*parts: str) -> Path:
    """A real-format sample (``real("loghub", "HDFS", "HDFS_2k.log")``)."""
    return shared("real-formats", *parts)
