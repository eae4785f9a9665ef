"""What to transcribe: files, folders, globs and manifests expanded into audio files with output names."""

from __future__ import annotations

import glob
import itertools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import soundfile

from asr.audio import AUDIO_EXTENSIONS
from asr.data.manifest import read_manifest

__all__ = ["InputFile", "collect_inputs", "input_duration"]

MANIFEST_SUFFIXES = (".jsonl", ".manifest")


@dataclass(frozen=True)
class InputFile:
    audio: Path  # where to read it
    given: str  # how the user named it (reported back in outputs)
    output_stem: Path  # relative output name under -o, without suffix


def _is_audio(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_EXTENSIONS


def collect_inputs(paths: Sequence[str]) -> Iterator[InputFile | tuple[str, str]]:
    """Expand files, directories (recursively, sorted), globs ("calls/**/*.wav") and manifests into input files.

    Yields an ``InputFile`` per audio file, or ``(path, reason)`` for an argument that
    cannot be used (missing, or a manifest with an error), so one bad argument never
    stops the others.
    """
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and _is_audio(p))
            if not found:
                yield given, f"no audio files ({', '.join(sorted(AUDIO_EXTENSIONS))}) under this directory"
            for audio in found:
                yield InputFile(audio, str(audio), _output_stem(audio, path))
        elif path.suffix.lower() in MANIFEST_SUFFIXES and path.is_file():
            try:
                entries = read_manifest(path)
            except ValueError as error:
                yield given, str(error)
                continue
            for entry in entries:
                yield InputFile(entry.audio, str(entry.audio), _output_stem(entry.audio, path.parent))
        elif path.exists():
            yield InputFile(path, given, Path(path.name).with_suffix(""))
        elif glob.has_magic(given):
            matches = sorted(Path(match) for match in glob.glob(given, recursive=True) if _is_audio(Path(match)))
            if not matches:
                yield given, f"the pattern matches no audio files ({', '.join(sorted(AUDIO_EXTENSIONS))})"
            root = Path(_literal_prefix(given))
            for match in matches:
                yield InputFile(match, str(match), _output_stem(match, root))
        else:
            yield given, "no such file or directory"


def _output_stem(audio: Path, root: Path) -> Path:
    """The output name of ``audio`` under -o, without suffix: its path below ``root``, else its file name.

    Both paths are made absolute and normalized first, so a stem never holds ".." and no input
    (a manifest's "clips/../../x.wav", say) can name an output outside -o.
    """
    audio_path, root_path = (Path(os.path.normpath(os.path.abspath(p))) for p in (audio, root))
    below = audio_path.relative_to(root_path) if audio_path.is_relative_to(root_path) else Path(audio_path.name)
    return below.with_suffix("")


def _literal_prefix(pattern: str) -> str:
    """The folder part of a glob before its first wildcard: outputs mirror the tree below it."""
    parts = Path(pattern).parts
    literal = [part for part in itertools.takewhile(lambda part: not glob.has_magic(part), parts[:-1])]
    return str(Path(*literal)) if literal else "."


def input_duration(item: InputFile) -> float:
    """Seconds of audio, from the header alone (0 when it cannot be read: the error comes later)."""
    try:
        info = soundfile.info(str(item.audio))
    except (soundfile.LibsndfileError, RuntimeError, OSError):
        return 0.0
    return info.frames / info.samplerate
