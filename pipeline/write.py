"""Stage: write files atomically, inside the output directory, never
overwriting a report unless asked."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class WriteError(Exception):
    pass


def safe_target(out_dir: Path, name: str) -> Path:
    """``out_dir/name``, refusing names or symlinks that lead outside ``out_dir``."""
    if not name or "/" in name or "\\" in name or name in (".", "..") or "\x00" in name:
        raise WriteError(f"unsafe file name {name!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    root = out_dir.resolve()
    target = out_dir / name
    if target.is_symlink() and root not in target.resolve().parents:
        raise WriteError(f"{target} is a symlink out of {out_dir}; refusing to follow it")
    if root not in target.resolve().parents and target.resolve() != root / name:
        raise WriteError(f"{target} is outside {out_dir}")
    return target


def atomic_write_text(path: Path, text: str, *, overwrite: bool = False) -> None:
    """Write via a temp file in the same directory and rename over the target,
    so a crash leaves either the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not overwrite:
        raise WriteError(f"{path} exists; pass --force to overwrite")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            # link() fails if the target appeared meanwhile: no silent overwrite
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise WriteError(f"{path} exists; pass --force to overwrite") from None
            finally:
                os.unlink(tmp)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
