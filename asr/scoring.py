"""Scoring: corpus-level WER and CER, per condition and per voice, and the report tables.

Hypotheses and references arrive already normalized (``normalize_text``), so every system is
scored on the same words. A rate is errors summed over a group, divided by its reference length.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import jiwer

__all__ = ["Score", "Utterance", "EvalError", "EvalReport", "UNTAGGED", "OVERALL", "score"]

UNTAGGED = "untagged"  # the condition (or voice) of entries that have none
OVERALL = "overall"


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
