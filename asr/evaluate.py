"""Score recognizers on a labelled manifest: corpus-level WER and CER per condition.

Every system sees the same files, and its output and the references go through the one
``normalize_text`` used in training, so the numbers compare like with like. A file that
cannot be read is listed as an error and left out for every system, which keeps each
system's score over the same utterances.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import jiwer
from pocketsphinx import Decoder
from tqdm import tqdm

from asr.audio import SAMPLE_RATE, AudioError, float_to_pcm16, load_audio
from asr.beam import BeamDecoder
from asr.data.manifest import ManifestEntry
from asr.stream import StreamingRecognizer
from asr.tokens import normalize_text
from asr.transcribe import transcribe_file

__all__ = [
    "Recognizer",
    "OursRecognizer",
    "PocketsphinxRecognizer",
    "Score",
    "Utterance",
    "EvalError",
    "EvalReport",
    "UNTAGGED",
    "OVERALL",
    "score",
    "evaluate",
]

UNTAGGED = "untagged"  # the condition (or voice) of entries that have none
OVERALL = "overall"


class Recognizer(Protocol):
    """A system under evaluation: a display name and file -> text."""

    name: str

    def transcribe(self, path: Path) -> str: ...


class OursRecognizer:
    """Our streaming model, run over the file exactly as ``asr transcribe`` runs it."""

    name = "asr (greedy)"

    def __init__(self, recognizer: StreamingRecognizer) -> None:
        self.recognizer = recognizer

    def transcribe(self, path: Path) -> str:
        return transcribe_file(self.recognizer, path).transcript.text


class BeamRecognizer:
    """Our model with beam search and a word LM, run over the file as ``asr transcribe --decoder beam`` runs it."""

    name = "asr (beam + LM)"

    def __init__(self, recognizer: StreamingRecognizer, decoder: BeamDecoder) -> None:
        self.recognizer, self.decoder = recognizer, decoder

    def transcribe(self, path: Path) -> str:
        return transcribe_file(self.recognizer, path, beam=self.decoder).transcript.text


class PocketsphinxRecognizer:
    """CMU PocketSphinx 5 with its bundled US English acoustic model, n-gram LM and dictionary."""

    name = "pocketsphinx"

    def __init__(self) -> None:
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


@dataclass(frozen=True)
class Score:
    """Corpus-level error rates (fractions) of one system on one group of utterances."""

    utterances: int
    reference_words: int
    reference_chars: int
    wer: float | None  # None when the references have no words to score against
    cer: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "utterances": self.utterances,
            "reference_words": self.reference_words,
            "reference_chars": self.reference_chars,
            "wer": self.wer,
            "cer": self.cer,
        }


def score(references: Sequence[str], hypotheses: Sequence[str]) -> Score:
    """WER and CER over the whole group (errors summed, then divided), on already normalized text."""
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    if not references:
        return Score(0, 0, 0, None, None)
    words = jiwer.process_words(list(references), list(hypotheses))
    chars = jiwer.process_characters(list(references), list(hypotheses))
    reference_words = words.hits + words.substitutions + words.deletions
    reference_chars = chars.hits + chars.substitutions + chars.deletions
    return Score(
        utterances=len(references),
        reference_words=reference_words,
        reference_chars=reference_chars,
        # jiwer reports 0 or 1 for references without words; the rate is undefined there
        wer=words.wer if reference_words else None,
        cer=chars.cer if reference_chars else None,
    )


@dataclass(frozen=True)
class Utterance:
    """One scored file: normalized reference and each system's normalized hypothesis."""

    audio: str
    condition: str
    reference: str
    hypotheses: dict[str, str]  # system name -> text
    voice: str = UNTAGGED  # the manifest's speaker or synthesizer voice

    def to_dict(self) -> dict[str, Any]:
        return {
            "audio": self.audio,
            "condition": self.condition,
            "voice": self.voice,
            "reference": self.reference,
            "hypotheses": self.hypotheses,
        }


@dataclass(frozen=True)
class EvalError:
    audio: str
    message: str  # names the file and the reason

    def to_dict(self) -> dict[str, Any]:
        return {"audio": self.audio, "message": self.message}


@dataclass
class EvalReport:
    """Scores per (system, condition), with ``OVERALL`` for all utterances together."""

    systems: tuple[str, ...]
    conditions: tuple[str, ...]  # in order of first appearance; OVERALL is not among them
    scores: dict[tuple[str, str], Score]
    utterances: list[Utterance] = field(default_factory=list)
    errors: list[EvalError] = field(default_factory=list)
    unlabelled: int = 0  # entries skipped because they have no reference text
    audio_seconds: float = 0.0  # of the scored utterances
    system_seconds: dict[str, float] = field(default_factory=dict)  # wall time each system spent on them

    @classmethod
    def from_utterances(
        cls, systems: Sequence[str], utterances: Sequence[Utterance], errors: Sequence[EvalError] = (), unlabelled: int = 0
    ) -> EvalReport:
        """Score every system on each condition's utterances and on all of them."""
        conditions = tuple(dict.fromkeys(u.condition for u in utterances))
        groups = {condition: [u for u in utterances if u.condition == condition] for condition in conditions}
        groups[OVERALL] = list(utterances)
        scores = {(system, condition): _system_score(group, system) for system in systems for condition, group in groups.items()}
        return cls(tuple(systems), conditions, scores, list(utterances), list(errors), unlabelled)

    def voice_scores(self) -> dict[tuple[str, str], dict[str, Score]]:
        """Scores per (voice, condition), each by system; voices in order of first appearance."""
        groups: dict[tuple[str, str], list[Utterance]] = {}
        for voice in dict.fromkeys(u.voice for u in self.utterances):
            for condition in self.conditions:
                group = [u for u in self.utterances if u.voice == voice and u.condition == condition]
                if group:
                    groups[(voice, condition)] = group
        return {key: {system: _system_score(group, system) for system in self.systems} for key, group in groups.items()}

    def format_voice_table(self) -> str:
        """Markdown: a row per (voice, condition); WER and CER in percent per system."""
        rows = [([voice, condition], by_system) for (voice, condition), by_system in self.voice_scores().items()]
        return _score_table(["voice", "condition"], self.systems, rows)

    def format_table(self) -> str:
        """Markdown: a row per condition and OVERALL last; WER and CER in percent per system."""
        rows = [([c], {system: self.scores[(system, c)] for system in self.systems}) for c in (*self.conditions, OVERALL)]
        table = _score_table(["condition"], self.systems, rows)
        speeds = [
            f"{system} {self.audio_seconds / seconds:.0f}x real time"
            for system, seconds in self.system_seconds.items()
            if seconds > 0
        ]
        return table + (f"\nspeed on these {self.audio_seconds / 60:.1f} min of audio: {', '.join(speeds)}\n" if speeds else "")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: rates as fractions, per-utterance text, errors."""
        return {
            "systems": list(self.systems),
            "conditions": list(self.conditions),
            "scores": {
                system: {condition: self.scores[(system, condition)].to_dict() for condition in (*self.conditions, OVERALL)}
                for system in self.systems
            },
            "utterances": [u.to_dict() for u in self.utterances],
            "errors": [e.to_dict() for e in self.errors],
            "unlabelled": self.unlabelled,
            "audio_seconds": round(self.audio_seconds, 3),
            "system_seconds": {name: round(seconds, 3) for name, seconds in self.system_seconds.items()},
        }


def _percent(rate: float | None) -> str:
    return "n/a" if rate is None else f"{100 * rate:.1f}"


def _system_score(group: Sequence[Utterance], system: str) -> Score:
    return score([u.reference for u in group], [u.hypotheses[system] for u in group])


def _score_table(labels: list[str], systems: Sequence[str], rows: Sequence[tuple[list[str], dict[str, Score]]]) -> str:
    """Markdown: the label columns, the utterance count, then WER and CER in percent per system."""
    header = [*labels, "utterances"] + [f"{system} {rate} %" for system in systems for rate in ("WER", "CER")]
    lines = [header, ["---"] * len(labels) + ["---:"] * (len(header) - len(labels))]
    for cells, by_system in rows:
        row = [*cells, str(by_system[systems[0]].utterances)]
        for system in systems:
            row += [_percent(by_system[system].wer), _percent(by_system[system].cer)]
        lines.append(row)
    return "\n".join("| " + " | ".join(line) + " |" for line in lines) + "\n"


def _check_systems(systems: Sequence[Recognizer]) -> tuple[str, ...]:
    names = tuple(system.name for system in systems)
    if not names:
        raise ValueError("no systems to evaluate")
    if len(set(names)) != len(names):
        raise ValueError(f"system names must be unique, got {list(names)}")
    return names


def _transcribe_all(entry: ManifestEntry, systems: Sequence[Recognizer]) -> tuple[dict[str, str], dict[str, float]]:
    """Each system's normalized text for one file, and its wall time; AudioError if any cannot read it."""
    texts, seconds = {}, {}
    for system in systems:
        started = time.perf_counter()
        texts[system.name] = normalize_text(system.transcribe(entry.audio))
        seconds[system.name] = time.perf_counter() - started
    return texts, seconds


def evaluate(entries: Sequence[ManifestEntry], systems: Sequence[Recognizer], progress: bool = True) -> EvalReport:
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
            hypotheses, seconds = _transcribe_all(entry, systems)
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
