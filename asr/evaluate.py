"""Evaluate recognizers on a labelled manifest, side by side on the same files.

Every system sees the same files, and its output goes through the one ``normalize_text`` used
in training, so the numbers compare like with like (asr/scoring.py scores them). A file that
cannot be read is listed as an error and left out for every system, which keeps each system's
score over the same utterances.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from tqdm import tqdm

from asr.audio import SAMPLE_RATE, AudioError, float_to_pcm16, load_audio
from asr.data.manifest import ManifestEntry
from asr.scoring import UNTAGGED, EvalError, EvalReport, Utterance
from asr.stream import StreamingRecognizer
from asr.tokens import normalize_text
from asr.transcribe import transcribe_file

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


def evaluate(entries: Sequence[ManifestEntry], systems: Sequence[System], progress: bool = True) -> EvalReport:
    """Run every system on every entry with reference text and score them per condition.

    An unreadable file (AudioError) is recorded in ``errors`` and left out for all systems.
    Entries without ``text`` are counted in ``unlabelled`` and not run.
    """
    names = _check_systems(systems)
    labelled = [(entry, entry.text) for entry in entries if entry.text is not None]
    utterances: list[Utterance] = []
    errors: list[EvalError] = []
    system_seconds = dict.fromkeys(names, 0.0)
    audio_seconds = 0.0
    for entry, text in tqdm(labelled, desc="evaluating", unit="file", file=sys.stderr, disable=None if progress else True):
        try:
            hypotheses, seconds = _run_systems(entry, systems)
        except AudioError as error:
            errors.append(EvalError(str(entry.audio), str(error)))
            continue
        for name, spent in seconds.items():
            system_seconds[name] += spent
        audio_seconds += entry.duration or 0.0
        condition = entry.condition if entry.condition is not None else UNTAGGED
        voice = entry.voice if entry.voice is not None else UNTAGGED
        utterances.append(Utterance(str(entry.audio), condition, normalize_text(text), hypotheses, voice))
    report = EvalReport.from_utterances(names, utterances, errors, unlabelled=len(entries) - len(labelled))
    report.audio_seconds, report.system_seconds = audio_seconds, system_seconds
    return report
