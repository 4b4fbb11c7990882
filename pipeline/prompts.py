"""Prompt files with a version header, shipped inside the wheel.

In a source checkout they live in ``<repo>/prompts``; in an installed wheel
hatch copies them to ``pipeline/prompts`` (see pyproject force-include).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_HEADER = re.compile(r"\A---\n(?P<head>.*?)\n---\n", re.S)


@dataclass(frozen=True)
class Prompt:
    name: str
    version: str
    template: str

    @property
    def tag(self) -> str:
        return f"{self.name}-v{self.version}"

    def render(self, **values: object) -> str:
        return self.template.format(**values)


def prompt_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "prompts", here.parent / "prompts"):
        if (candidate / "system.md").is_file():
            return candidate
    raise FileNotFoundError("prompt files not found (broken install?)")


@cache
def load(name: str) -> Prompt:
    path = prompt_dir() / f"{name}.md"
    text = path.read_text(encoding="utf-8")
    m = _HEADER.match(text)
    if not m:
        raise ValueError(f"{path}: missing '---' version header")
    meta = dict(line.split(":", 1) for line in m.group("head").splitlines() if ":" in line)
    version = meta.get("version", "").strip()
    if not version:
        raise ValueError(f"{path}: header has no version")
    return Prompt(name=name, version=version, template=text[m.end() :].strip() + "\n")


def versions(names: tuple[str, ...]) -> dict[str, str]:
    return {n: load(n).version for n in names}
