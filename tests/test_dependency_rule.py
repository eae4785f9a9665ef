"""DESIGN.md's dependency rule, checked on the import statements of every module."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STDLIB = set(sys.stdlib_module_names)


def imports_of(path: Path) -> set[str]:
    """Top-level names imported by a module, including relative imports resolved to their package."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = path.relative_to(ROOT).parts[0]
                names.add(f"{package}.{node.module}" if node.module else package)
            elif node.module:
                names.add(node.module)
    return names


def top(name: str) -> str:
    return name.split(".")[0]


ASR_MODULES = sorted((ROOT / "asr").rglob("*.py"))


@pytest.mark.parametrize("path", ASR_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_asr_never_imports_the_server_or_network_layers(path: Path) -> None:
    forbidden = {"server", "websockets", "asyncio"}
    if path.name != "capture.py":  # the mic capture module is the one place sounddevice may appear
        forbidden.add("sounddevice")
    assert not {top(name) for name in imports_of(path)} & forbidden


def test_model_imports_only_torch_and_config() -> None:
    allowed_outside_stdlib = {"torch", "asr.config"}
    names = {n for n in imports_of(ROOT / "asr" / "model.py") if top(n) not in STDLIB or n.startswith("asr")}
    assert names <= allowed_outside_stdlib | {n for n in names if n.startswith("torch.")}


def test_protocol_imports_neither_torch_nor_asr() -> None:
    protocol = ROOT / "server" / "protocol.py"
    if not protocol.exists():
        pytest.skip("server/protocol.py does not exist yet")
    assert not {top(name) for name in imports_of(protocol)} & {"torch", "torchaudio", "asr", "numpy"}


def test_the_checker_sees_violations(tmp_path: Path) -> None:
    """The rule is only as good as the import scanner; make sure it catches each import form."""
    sample = ROOT / "asr" / "_scanner_probe.py"
    try:
        sample.write_text("import asyncio\nfrom server import app\nfrom . import model\nimport torch.nn as nn\n")
        assert {"asyncio", "server", "asr", "torch.nn"} <= imports_of(sample)
    finally:
        sample.unlink()
