"""Batch transcription of files, directories and manifests through the streaming engine.

Each file is read in blocks and fed to a stream chunk by chunk with its state carried
over, so a file of any length runs in bounded memory and gets the same text it would
get in one pass. A file that fails is reported with its path and reason; the rest finish.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from asr.audio import AUDIO_EXTENSIONS, AudioError, iter_audio
from asr.data.manifest import read_manifest
from asr.formats import FileTranscript, render
from asr.stream import StreamingRecognizer

__all__ = ["InputFile", "collect_inputs", "transcribe_file", "transcribe_all"]

MANIFEST_SUFFIXES = (".jsonl", ".manifest")
BLOCK_SECONDS = 10.0


@dataclass(frozen=True)
class InputFile:
    audio: Path  # where to read it
    given: str  # how the user named it (reported back in outputs)
    output_stem: Path  # relative output name under -o, without suffix


def _is_audio(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_EXTENSIONS


def collect_inputs(paths: Sequence[str]) -> Iterator[InputFile | tuple[str, str]]:
    """Expand files, directories (recursively, sorted) and manifests into input files.

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
                yield InputFile(audio, str(audio), audio.relative_to(path).with_suffix(""))
        elif path.suffix.lower() in MANIFEST_SUFFIXES and path.is_file():
            try:
                entries = read_manifest(path)
            except ValueError as error:
                yield given, str(error)
                continue
            for entry in entries:
                stem = entry.audio.relative_to(path.parent) if entry.audio.is_relative_to(path.parent) else Path(entry.audio.name)
                yield InputFile(entry.audio, str(entry.audio), stem.with_suffix(""))
        elif path.exists():
            yield InputFile(path, given, Path(path.name).with_suffix(""))
        else:
            yield given, "no such file or directory"


def transcribe_file(recognizer: StreamingRecognizer, path: Path, given: str | None = None) -> FileTranscript:
    """Transcribe one file in ``BLOCK_SECONDS`` blocks; raises AudioError for unusable audio."""
    stream = recognizer.create_stream()
    for block in iter_audio(path, block_seconds=BLOCK_SECONDS):
        stream.feed(block)
        recognizer.step([stream])
    transcript = stream.finish()
    duration = stream.samples_received / recognizer.logmel.config.sample_rate
    return FileTranscript(audio=given if given is not None else str(path), transcript=transcript, duration=duration)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def transcribe_all(
    recognizer: StreamingRecognizer,
    paths: Sequence[str],
    fmt: str,
    out_dir: Path | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Transcribe every input and write ``fmt`` outputs; returns how many inputs failed.

    Without ``out_dir`` results go to ``stdout`` (jsonl: one object per line, as each file
    finishes). With it, each file gets ``<out_dir>/<name>.<fmt>``, except jsonl, which
    collects every file in ``<out_dir>/transcripts.jsonl``.
    """
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    items = list(collect_inputs(paths))
    failures: list[tuple[str, str]] = [item for item in items if isinstance(item, tuple)]
    files = [item for item in items if isinstance(item, InputFile)]
    jsonl_lines: list[str] = []
    for item in tqdm(files, desc="transcribing", unit="file", file=stderr, disable=None):
        try:
            result = transcribe_file(recognizer, item.audio, item.given)
        except AudioError as error:
            failures.append((item.given, str(error)))
            continue
        text = render(result, fmt)
        if out_dir is None:
            prefix = f"==> {item.given} <==\n" if len(files) > 1 and fmt != "jsonl" else ""
            stdout.write(prefix + text)
            stdout.flush()
        elif fmt == "jsonl":
            jsonl_lines.append(text)
        else:
            _write_atomically(out_dir / item.output_stem.with_suffix(f".{fmt}"), text)
    if out_dir is not None and fmt == "jsonl":
        _write_atomically(out_dir / "transcripts.jsonl", "".join(jsonl_lines))
    for given, reason in failures:
        message = reason if reason.startswith(given) else f"{given}: {reason}"
        print(f"error: {message}", file=stderr)
    if failures:
        print(f"{len(failures)} of {len(items)} inputs failed", file=stderr)
    return len(failures)
