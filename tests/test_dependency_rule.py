"""DESIGN.md's dependency rule, checked on the import statements of every module: the packages'
boundaries, and inside asr/ an ordered list of layers along the data path, with no cycles."""

from __future__ import annotations

import ast
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STDLIB = set(sys.stdlib_module_names)

# Bottom to top. A module imports only from its own layer or the layers below it.
LAYERS: list[tuple[str, set[str]]] = [
    ("foundations", {"config", "phones", "endpoint", "scoring", "shard", "worker_pool", "data.manifest"}),
    ("audio, units and words", {"audio", "denoise", "capture", "inputs", "block_reader", "tokens", "lexicon", "lm", "sphinx_lm", "arpa_pack"}),
    ("features and model", {"features", "model", "int8", "checkpoint", "offline", "priors"}),
    ("decoding", {"decoding", "beam", "decoders", "segmenter", "formats", "outputs", "caption_view", "caption_files"}),
    ("training data", {"data.rooms", "data.augment", "data.text", "data.voices", "data.gnuspeech", "data.piper", "data.kokoro", "data.espeak_accents", "data.pico_accents", "data.festival_accents",
                       "data.phone_labels", "data.jobs", "data.engines", "data.synth", "data.importers", "data.asterisk", "data.dataset"}),
    ("engine", {"stream"}),
    ("products", {"transcribe", "captions", "train", "export"}),
    ("evaluation", {"evaluate"}),
    ("command line", {"cli", "__main__"}),
]  # fmt: skip


def imports_of(path: Path, package: str) -> set[str]:
    """Names imported by a module of ``package``, relative imports resolved to that package."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = (f"{package}.{node.module}" if node.module else package) if node.level else node.module
            if module:
                names.add(module)
                names.update(f"{module}.{alias.name}" for alias in node.names)  # "from asr.data import synth" names a module
    return names


def top(name: str) -> str:
    return name.split(".")[0]


ASR_MODULES = sorted((ROOT / "asr").rglob("*.py"))


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT / "asr").with_suffix("").parts)


def asr_graph() -> dict[str, set[str]]:
    """Each asr module (without the ``asr.`` prefix, packages' __init__ left out) -> the asr modules it imports."""
    modules = {module_name(path): path for path in ASR_MODULES if path.name != "__init__.py"}
    return {module: {name.removeprefix("asr.") for name in imports_of(path, "asr")} & set(modules) for module, path in modules.items()}


@pytest.mark.parametrize("path", ASR_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_asr_never_imports_the_server_or_network_layers(path: Path) -> None:
    forbidden = {"server", "websockets", "asyncio"}
    if path.name != "capture.py":  # the mic capture module is the one place sounddevice may appear
        forbidden.add("sounddevice")
    assert not {top(name) for name in imports_of(path, "asr")} & forbidden


def test_every_asr_module_has_a_layer_and_imports_only_from_its_own_or_lower_ones() -> None:
    layer_of = {module: index for index, (_, modules) in enumerate(LAYERS) for module in modules}
    graph = asr_graph()
    assert sorted(set(graph) - set(layer_of)) == [], "give each new module a layer in LAYERS"
    upward = [
        f"{module} ({LAYERS[layer_of[module]][0]}) imports {imported} ({LAYERS[layer_of[imported]][0]})"
        for module, imported_modules in graph.items()
        for imported in imported_modules
        if layer_of[imported] > layer_of[module]
    ]
    assert upward == []


def test_asr_has_no_import_cycles() -> None:
    try:
        tuple(TopologicalSorter(asr_graph()).static_order())
    except CycleError as error:
        pytest.fail(f"import cycle: {' -> '.join(error.args[1])}")


def test_model_imports_only_torch_and_config() -> None:
    outside = [n for n in imports_of(ROOT / "asr" / "model.py", "asr") if top(n) not in STDLIB | {"torch", "__future__"}]
    assert all(n == "asr.config" or n.startswith("asr.config.") for n in outside), outside


def test_protocol_imports_neither_torch_nor_asr() -> None:
    assert not {top(name) for name in imports_of(ROOT / "server" / "protocol.py", "server")} & {"torch", "torchaudio", "asr", "numpy"}


def test_the_checker_sees_violations(tmp_path: Path) -> None:
    """The rule is only as good as the import scanner; make sure it catches each import form, and a cycle."""
    sample = tmp_path / "probe.py"
    sample.write_text("import asyncio\nfrom server import app\nfrom . import model\nimport torch.nn as nn\n")
    assert {"asyncio", "server", "asr", "torch.nn"} <= imports_of(sample, "asr")
    with pytest.raises(CycleError):
        tuple(TopologicalSorter({"a": {"b"}, "b": {"a"}}).static_order())
