"""Evaluate recognizers on a labelled manifest, side by side on the same files.

Every system sees the same files, and its output goes through the one ``normalize_text`` used
in training, so the numbers compare like with like (asr/scoring.py scores them). A file that
cannot be read is listed as an error and left out for every system, which keeps each system's
score over the same utterances. Several processes can share the files (asr/worker_pool.py); the
report is the same, in the manifest's order, and each system's time is still its time per file
on one process's share of the cores.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from tqdm import tqdm

from asr.audio import SAMPLE_RATE, AudioError, float_to_pcm16, load_audio
from asr.data.manifest import ManifestEntry
from asr.scoring import UNTAGGED, EvalError, EvalReport, Utterance
from asr.stream import StreamingRecognizer
from asr.tokens import normalize_text
from asr.transcribe import transcribe_file
from asr.worker_pool import run_in_processes

__all__ = ["System", "EngineSystem", "PocketsphinxSystem", "evaluate"]


class System(Protocol):
    """A system under evaluation: a display name and file -> text."""

    name: str

    def transcribe(self, path: Path) -> str: ...


class EngineSystem:
    """Our recognizer with its decoder, run over each file exactly as ``asr transcribe`` runs it."""

    def __init__(self, recognizer: StreamingRecognizer) -> None:
        self.recognizer = recognizer
        self.name = f"asr ({recognizer.decoder.name})"

    def transcribe(self, path: Path) -> str:
        return transcribe_file(self.recognizer, path).transcript.text


class PocketsphinxSystem:
    """CMU PocketSphinx 5 with its bundled US English acoustic model, n-gram LM and dictionary."""

    name = "pocketsphinx"

    def __init__(self) -> None:
        from pocketsphinx import Decoder  # only evaluations that compare against it pay for loading it

        # FATAL: at its default level it prints an ERROR line for every near-silent utterance
        self.decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")

    def transcribe(self, path: Path) -> str:
        # our loader, so both systems get the same 16 kHz mono samples from any file format
        pcm = float_to_pcm16(load_audio(path))
        self.decoder.start_utt()
        # one full utterance: the default batch CMN then uses this file's own mean only
        self.decoder.process_raw(pcm, full_utt=True)
        self.decoder.end_utt()
        hypothesis = self.decoder.hyp()
        return hypothesis.hypstr if hypothesis is not None else ""


def _check_systems(systems: Sequence[System]) -> tuple[str, ...]:
    names = tuple(system.name for system in systems)
    if not names:
        raise ValueError("no systems to evaluate")
    if len(set(names)) != len(names):
        raise ValueError(f"system names must be unique, got {list(names)}")
    return names


def _run_systems(entry: ManifestEntry, systems: Sequence[System]) -> tuple[dict[str, str], dict[str, float]]:
    """Each system's normalized text for one file, and its wall time; AudioError if any cannot read it."""
    texts, seconds = {}, {}
    for system in systems:
        started = time.perf_counter()
        texts[system.name] = normalize_text(system.transcribe(entry.audio))
        seconds[system.name] = time.perf_counter() - started
    return texts, seconds


Outcome = tuple[dict[str, str], dict[str, float]] | AudioError  # each system's text and seconds, or why the file is unreadable
CHUNK_FILES = 8  # files a process takes at a time


def _outcome(entry: ManifestEntry, systems: Sequence[System]) -> Outcome:
    try:
        return _run_systems(entry, systems)
    except AudioError as error:
        return error


def _outcomes_of_chunk(systems: Sequence[System], chunk: list[tuple[int, ManifestEntry]]) -> Iterator[tuple[int, Outcome]]:
    """A child's task: (position, outcome) for each of its (position, entry) pairs."""
    for position, entry in chunk:
        yield position, _outcome(entry, systems)


def _outcomes(
    labelled: Sequence[ManifestEntry], systems: Sequence[System], processes: int, build: Callable[[], Sequence[System]] | None
) -> Iterator[tuple[int, Outcome]]:
    """(position in ``labelled``, outcome) for every entry, in-process or spread over ``processes`` children."""
    if processes == 1:
        for position, entry in enumerate(labelled):
            yield position, _outcome(entry, systems)
        return
    if build is None:
        raise ValueError("several processes need a function that builds the systems")
    numbered = list(enumerate(labelled))
    chunks = [numbered[start : start + CHUNK_FILES] for start in range(0, len(numbered), CHUNK_FILES)]
    for _, result in run_in_processes(build, _outcomes_of_chunk, chunks, processes, describe=lambda chunk: str(chunk[0][1].audio)):
        yield result


def evaluate(
    entries: Sequence[ManifestEntry], systems: Sequence[System], progress: bool = True, processes: int = 1,
    build: Callable[[], Sequence[System]] | None = None,
) -> EvalReport:  # fmt: skip
    """Run every system on every entry with reference text and score them per condition.

    With ``processes`` > 1, each child process runs the systems ``build`` makes (it must pickle, and make the
    same systems as ``systems``, which then only name them). An unreadable file (AudioError) is recorded in
    ``errors`` and left out for all systems. Entries without ``text`` are counted in ``unlabelled`` and not run.
    """
    names = _check_systems(systems)
    if processes < 1:
        raise ValueError(f"processes must be at least 1, got {processes}")
    labelled = [entry for entry in entries if entry.text is not None]
    outcomes: dict[int, Outcome] = {}
    bar = tqdm(total=len(labelled), desc="evaluating", unit="file", file=sys.stderr, disable=None if progress else True)
    with bar:
        for position, outcome in _outcomes(labelled, systems, processes, build):
            outcomes[position] = outcome
            bar.update(1)
    utterances: list[Utterance] = []
    errors: list[EvalError] = []
    system_seconds = dict.fromkeys(names, 0.0)
    audio_seconds = 0.0
    for position, entry in enumerate(labelled):
        outcome = outcomes[position]
        if isinstance(outcome, AudioError):
            errors.append(EvalError(str(entry.audio), str(outcome)))
            continue
        hypotheses, seconds = outcome
        if tuple(hypotheses) != names:
            raise RuntimeError(f"the worker processes ran the systems {list(hypotheses)}, not {list(names)}")
        for name, spent in seconds.items():
            system_seconds[name] += spent
        audio_seconds += entry.duration or 0.0
        condition = entry.condition if entry.condition is not None else UNTAGGED
        voice = entry.voice if entry.voice is not None else UNTAGGED
        utterances.append(Utterance(str(entry.audio), condition, normalize_text(entry.text or ""), hypotheses, voice))
    report = EvalReport.from_utterances(names, utterances, errors, unlabelled=len(entries) - len(labelled))
    report.audio_seconds, report.system_seconds = audio_seconds, system_seconds
    return report
