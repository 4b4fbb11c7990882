"""Stage 1: turn paths (files, folders, zips, stdin) into raw events.

Never raises a traceback at the user: unreadable input becomes ``InputError``
(one line naming the file), malformed records are skipped and counted.
"""

from __future__ import annotations

import gzip
import os
import shutil
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path

from .formats import Format, ParseContext, Skip, Source, StrictError, detect, detect_dir, load_all
from .models import Event

HEAD_BYTES = 64 * 1024
MAX_FILE_BYTES = 512 * 1024 * 1024
IGNORED_NAMES = {".DS_Store", "Thumbs.db", "LICENSE", "SOURCES.md", "README.md"}
IGNORED_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".pdf", ".tgz", ".tar", ".csv", ".md"}


TRIED = (
    "alert and chat exports (JSON), pasted chat (Slack, Discord, Teams, IRC...), WebVTT, "
    "incident notes with times, and timestamped log lines"
)


class InputError(Exception):
    """Unreadable or unusable input; the message is one line naming the file."""


@dataclass
class FileReport:
    path: str
    format: str
    events: int
    skipped: list[Skip] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str | None:
        if not self.skipped:
            return None
        first = self.skipped[0]
        where = f"line {first.line}" if first.line else "start"
        return (
            f"skipped {len(self.skipped)} records in {self.path} (first at {where}: {first.reason})"
        )


@dataclass
class IngestResult:
    events: list[Event]
    files: list[FileReport]

    @property
    def warnings(self) -> list[str]:
        out: list[str] = []
        for f in self.files:
            out.extend(f.warnings)
            s = f.summary()
            if s:
                out.append(s)
        return out


@dataclass
class IngestOptions:
    tz: tzinfo = UTC
    anchor_date: date | None = None
    meeting_start: datetime | None = None
    force_format: str | None = None
    strict: bool = False


def ingest(paths: list[str], options: IngestOptions | None = None) -> IngestResult:
    opts = options or IngestOptions()
    formats = load_all()
    if opts.force_format and opts.force_format not in formats:
        names = ", ".join(sorted(formats))
        raise InputError(f"--as {opts.force_format}: unknown format (known: {names})")
    events: list[Event] = []
    reports: list[FileReport] = []
    inputs = [(raw, src, fs_path) for raw in paths for src, fs_path in _expand(raw)]
    volume = sum(_size(fs) for _, _, fs in inputs)
    for raw, src, fs_path in inputs:
        if fs_path is not None and fs_path.is_file():
            from .bulk import ingest_file  # big or mixed line logs: grouped column-wise

            ctx0 = ParseContext(src, opts.tz, opts.anchor_date, mtime=_mtime(fs_path))
            if (bulk := ingest_file(src, fs_path, opts, ctx0, volume)) is not None:
                events.extend(bulk[0])
                reports.append(bulk[1])
                continue
        try:
            fmt, source, decode_warnings = _open(src, fs_path, opts)
        except InputError as e:
            if src == raw or fs_path is None:
                raise  # a file named on the command line must be readable
            # inside a folder, a stray file (notes, expected results) is skipped, not fatal
            reports.append(FileReport(src, "-", 0, warnings=[f"ignored: {e}"]))
            continue
        if fmt is None or source is None:
            continue
        ctx = ParseContext(
            path=src,
            tz=opts.tz,
            anchor_date=opts.anchor_date,
            meeting_start=opts.meeting_start,
            mtime=_mtime(fs_path),
            strict=opts.strict,
            warnings=decode_warnings,
        )
        try:
            got = list(fmt.parse(source, ctx))
        except StrictError as e:
            raise InputError(str(e)) from None
        except (RecursionError, MemoryError):
            raise InputError(f"{src}: input too deeply nested or too large") from None
        reports.append(FileReport(src, fmt.name, len(got), ctx.skipped, ctx.warnings))
        events.extend(got)
    return IngestResult(events, reports)


def _size(p: Path | None) -> int:
    return p.stat().st_size if p is not None and p.is_file() else 0


def _mtime(p: Path | None) -> datetime | None:
    if p is None or not p.exists():
        return None
    return datetime.fromtimestamp(p.stat().st_mtime, UTC)


def _expand(raw: str) -> Iterator[tuple[str, Path | None]]:
    """Yield (display path, filesystem path) for each input file or folder export."""
    if raw == "-":
        yield "<stdin>", None
        return
    p = Path(raw)
    if not p.exists():
        raise InputError(f"{raw}: no such file or directory")
    if p.is_file() and _is_gzip(p):
        yield raw, _gunzip(p, raw)
        return
    if p.is_file() and zipfile.is_zipfile(p):
        yield from _expand_zip(p, raw)
        return
    if p.is_dir():
        if detect_dir(p) is not None:
            yield raw, p
            return
        entries = sorted(p.rglob("*"))  # one walk; parents sort before their children
        exports: list[Path] = []  # folder exports are parsed whole, their files not again
        for child in entries:
            inside = any(e in child.parents for e in exports)
            if child.is_dir() and not inside and detect_dir(child) is not None:
                exports.append(child)
                yield str(child), child
        for child in entries:
            outside = not any(e in child.parents for e in exports)
            if child.is_file() and not _ignored(child) and outside:
                yield str(child), _gunzip_or_keep(child)
        return
    yield raw, p


_TEMP_DIRS: list[tempfile.TemporaryDirectory[str]] = []  # zip and gz extractions, kept for the run


def _expand_zip(p: Path, raw: str) -> Iterator[tuple[str, Path | None]]:
    tmp = tempfile.TemporaryDirectory(prefix="draft-incident-zip-")
    _TEMP_DIRS.append(tmp)
    root = Path(tmp.name)
    try:
        with zipfile.ZipFile(p) as zf:
            total = 0
            for info in zf.infolist():
                total += info.file_size
                target = (root / info.filename).resolve()
                if root.resolve() not in target.parents and target != root.resolve():
                    raise InputError(f"{raw}: zip entry {info.filename!r} escapes the archive")
                if total > MAX_FILE_BYTES * 4:
                    raise InputError(f"{raw}: zip expands beyond 2 GiB, refusing")
            zf.extractall(root)
    except zipfile.BadZipFile as e:
        raise InputError(f"{raw}: damaged zip file ({e})") from None
    for disp, fs in _expand(str(root)):
        yield raw + disp[len(str(root)) :] if disp.startswith(str(root)) else disp, fs


def _is_gzip(p: Path) -> bool:
    try:
        with p.open("rb") as f:
            return f.read(2) == b"\x1f\x8b"
    except OSError:
        return False


def _gunzip(p: Path, raw: str) -> Path:
    """A rotated ``app.log.1.gz`` decompressed (streaming, bounded) to a temp
    file, so the bulk path can read it like any log; refs keep ``raw``'s name."""
    tmp = tempfile.TemporaryDirectory(prefix="draft-incident-gz-")
    _TEMP_DIRS.append(tmp)
    out = Path(tmp.name) / (p.name.removesuffix(".gz") or "data")
    total = 0
    try:
        with gzip.open(p, "rb") as src, out.open("wb") as dst:
            while chunk := src.read(2**20):
                total += len(chunk)
                if total > MAX_FILE_BYTES * 4:
                    raise InputError(f"{raw}: gzip expands beyond 2 GiB, refusing")
                dst.write(chunk)
    except (OSError, EOFError, zlib.error) as e:
        shutil.rmtree(tmp.name, ignore_errors=True)
        raise InputError(f"{raw}: damaged gzip file ({e})") from None
    st = p.stat()
    os.utime(out, (st.st_atime, st.st_mtime))  # the syslog year comes from the mtime
    return out


def _gunzip_or_keep(p: Path) -> Path:
    """In a folder, a damaged archive is reported by ``_open`` as ignored."""
    if not _is_gzip(p):
        return p
    try:
        return _gunzip(p, str(p))
    except InputError:
        return p


def _ignored(p: Path) -> bool:
    return p.name in IGNORED_NAMES or p.name.startswith(".") or p.suffix.lower() in IGNORED_SUFFIXES


def _read(src: str, fs_path: Path | None) -> bytes:
    try:
        if fs_path is None:
            return sys.stdin.buffer.read()
        size = fs_path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(f"{src}: file is {size // 2**20} MiB, above the 512 MiB limit")
        return fs_path.read_bytes()
    except OSError as e:
        raise InputError(f"{src}: cannot read ({e.strerror})") from None


def decode(data: bytes, src: str, warnings: list[str]) -> str:
    if data.startswith(b"\xff\xfe") or data.startswith(b"\xfe\xff"):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        warnings.append(
            f"{src}: not valid UTF-8 (byte {e.start}); decoded with replacement characters"
        )
        return data.decode("utf-8", errors="replace")


def looks_binary(data: bytes) -> bool:
    head = data[:8192]
    return b"\x00" in head and not (head.startswith(b"\xff\xfe") or head.startswith(b"\xfe\xff"))


def _open(
    src: str, fs_path: Path | None, opts: IngestOptions
) -> tuple[Format | None, Source | None, list[str]]:
    formats = load_all()
    fmt: Format | None
    if fs_path is not None and fs_path.is_dir():
        fmt = formats[opts.force_format] if opts.force_format else detect_dir(fs_path)
        if fmt is None:
            raise InputError(f"{src}: folder is not a known export")
        return fmt, Source(src, directory=fs_path), []
    data = _read(src, fs_path)
    if not data.strip():
        raise InputError(f"{src}: file is empty")
    if data[:2] == b"\x1f\x8b":  # a sound one was decompressed by _expand
        raise InputError(f"{src}: damaged gzip file")
    if looks_binary(data):
        raise InputError(f"{src}: binary file, not a log, alert or chat export")
    warnings: list[str] = []
    text = decode(data, src, warnings)
    if opts.force_format:
        fmt = formats[opts.force_format]
    else:
        fmt = detect(text[:HEAD_BYTES], Path(src).name)
    if fmt is None:
        first = text.lstrip().splitlines()[0][:60] if text.strip() else ""
        raise InputError(
            f"{src}:1: unrecognised format, no recognisable timestamps (starts {first!r}; "
            f"tried {TRIED}); use --as FORMAT"
        )
    return fmt, Source(src, text=text), warnings
