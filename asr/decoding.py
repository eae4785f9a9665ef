"""Decoding results, the decoder interface the engine drives, and greedy decoding of character models.

Shape legend: T output steps, V vocabulary (blank = 0).

The engine (asr/stream.py) cuts each stream into segments at the endpointer's cuts and gives
every segment a search of its own: ``decoder.search(start_step)``, fed ``Emissions`` step by
step, read for its partial text, and finished into transcripts. Two decoders implement it: the
lexicon + word-LM beam search (asr/beam.py), and the greedy best path here, which only a
character model can use (its labels spell words; a phone model's need a lexicon).

Greedy CTC takes the best token per step, merges repeats and drops blanks. In streaming, a
token repeated across a chunk boundary is one token, so the search carries the previous step's
best token from chunk to chunk (and from a segment to the next one, so that a character held
across a forced cut is emitted once). Each emitted character remembers the steps it spans and
its peak posterior; words (split at spaces) take their start from their first character's first
step, their end from their last character's last step, and their confidence from their least
certain character.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import torch

from asr.tokens import CHARACTERS, Tokenizer

__all__ = ["Word", "Transcript", "Segment", "joined_segments", "Emissions", "Search", "Decoder", "Hotwords", "GreedyDecoder", "GreedySearch"]

Hotwords = Sequence[tuple[str, float | None]]
"""(phrase, boost) pairs; a boost of None takes the decoder's default."""


@dataclass(frozen=True)
class Word:
    word: str
    start: float  # seconds from the start of the stream
    end: float
    conf: float  # in [0, 1]

    def to_dict(self) -> dict[str, Any]:
        return {"word": self.word, "start": round(self.start, 3), "end": round(self.end, 3), "conf": round(self.conf, 4)}


@dataclass(frozen=True)
class Transcript:
    text: str
    words: tuple[Word, ...] = ()
    score: float | None = field(default=None, compare=False)  # a beam search's log score: comparable only among one segment's alternatives

    def shifted(self, seconds: float) -> Transcript:
        return replace(self, words=tuple(replace(word, start=word.start + seconds, end=word.end + seconds) for word in self.words))

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "words": [word.to_dict() for word in self.words]}


@dataclass(frozen=True)
class Segment:
    """One utterance of a stream, as the endpointer cut it."""

    index: int  # 0, 1, ... in the stream
    start: float  # seconds from the start of the stream
    end: float
    transcript: Transcript
    alternatives: tuple[Transcript, ...] = ()  # the next best, from a beam search asked for an n-best list

    @property
    def spoken(self) -> tuple[float, float]:
        """(start, end) of what was said: from its first word's start to its last word's end, else the
        segment's bounds. An utterance's time wherever captions show it (terminal, SRT, WebVTT)."""
        words = self.transcript.words
        return (words[0].start, words[-1].end) if words else (self.start, self.end)

    def shifted(self, seconds: float) -> Segment:
        """The segment with every time ``seconds`` later: for a stream that continues an earlier one."""
        return replace(
            self, start=self.start + seconds, end=self.end + seconds,
            transcript=self.transcript.shifted(seconds), alternatives=tuple(alternative.shifted(seconds) for alternative in self.alternatives),
        )  # fmt: skip


def joined_segments(segments: Sequence[Segment]) -> list[Transcript]:
    """Segments as one transcript, then its alternatives when the segments have n-best lists.

    The k-th alternative takes each segment's k-th alternative, or its best transcript when it has
    fewer; its score is the sum of theirs (None if any has none).
    """
    count = 1 + max((len(segment.alternatives) for segment in segments), default=0)
    joined = []
    for k in range(count):
        parts = [segment.alternatives[k - 1] if 0 < k <= len(segment.alternatives) else segment.transcript for segment in segments]
        scores = [part.score for part in parts]
        score = None if None in scores else sum(scores)  # type: ignore[arg-type]
        joined.append(Transcript(" ".join(part.text for part in parts if part.text), tuple(word for part in parts for word in part.words), score))
    return joined


@dataclass(frozen=True)
class Emissions:
    """A stream's model output for some steps: log-probs, and each step's best token and its posterior.

    The engine takes the argmax once for a whole batch; greedy decoding and the endpointer read it.
    """

    log_probs: torch.Tensor  # (T, V), on the CPU
    best_tokens: list[int]  # (T,)
    best_probs: list[float]  # (T,)

    @classmethod
    def of(cls, log_probs: torch.Tensor) -> Emissions:
        """(T, V) log-probs with each step's best token and its posterior, as the engine hands them over."""
        best_log_probs, best_tokens = log_probs.max(dim=-1)
        return cls(log_probs, best_tokens.tolist(), best_log_probs.exp().tolist())

    def __len__(self) -> int:
        return len(self.best_tokens)

    def __getitem__(self, steps: slice) -> Emissions:
        return Emissions(self.log_probs[steps], self.best_tokens[steps], self.best_probs[steps])


class Search(Protocol):
    """One segment's decoding, fed step by step."""

    def accept(self, emissions: Emissions) -> None: ...

    @property
    def partial_text(self) -> str: ...

    def finish(self, nbest: int = 1) -> list[Transcript]:
        """The segment's best transcript, then up to ``nbest - 1`` alternatives (at least one, maybe empty)."""
        ...


class Decoder(Protocol):
    """Makes a search per segment; built once per recognizer by asr/decoders.py."""

    name: str
    nbest: int

    def prepare(self, hotwords: Hotwords, grammar: Sequence[str] = ()) -> object:
        """Make ready what searches with ``hotwords`` or ``grammar`` need, where a stream is created (not where it computes).

        The result is a handle: while the stream holds it, its searches find that work done.
        ValueError: a word that cannot be pronounced, or a grammar the decoder cannot follow.
        """
        ...

    def search(self, start_step: int = 0, previous_token: int = 0, hotwords: Hotwords = (), grammar: Sequence[str] = ()) -> Search:
        """A search for a segment whose first step is ``start_step`` of the stream (for word times).

        ``previous_token``: the best token of the step before (a greedy search does not emit it again).
        ``grammar``: phrases; when given, the only word sequences the search may build.
        """
        ...


@dataclass
class _Emission:
    token: int
    first_step: int
    last_step: int
    peak_prob: float


class GreedyDecoder:
    """Streaming best-path CTC decoding of a character model, with word times and confidences."""

    name = "greedy"
    nbest = 1

    def __init__(self, tokenizer: Tokenizer, step_seconds: float) -> None:
        if tokenizer.units != CHARACTERS:
            raise ValueError(f"greedy decoding needs a character model; a model over {tokenizer.units} decodes with the lexicon search")
        self.tokenizer = tokenizer
        self.step_seconds = step_seconds

    def prepare(self, hotwords: Hotwords, grammar: Sequence[str] = ()) -> None:
        """Nothing to prepare: greedy decoding has no vocabulary to favour. A grammar it cannot follow is a ValueError."""
        if grammar:
            raise ValueError("a grammar (phrase list) needs the lexicon search; greedy decoding cannot restrict its words")
        return None

    def search(self, start_step: int = 0, previous_token: int = 0, hotwords: Hotwords = (), grammar: Sequence[str] = ()) -> GreedySearch:
        """Hotwords are accepted and have no effect: greedy decoding has no vocabulary to favour."""
        self.prepare(hotwords, grammar)
        return GreedySearch(self, start_step, previous_token)


@dataclass
class GreedySearch:
    """One segment's greedy decoding state; it carries across chunks."""

    decoder: GreedyDecoder
    start_step: int = 0
    previous_token: int = 0  # best token of the last step seen (blank before any step)
    steps_seen: int = 0
    emissions: list[_Emission] = field(default_factory=list)
    text: str = ""  # kept up to date as tokens arrive: no leading or doubled spaces

    def accept(self, emissions: Emissions) -> None:
        blank = self.decoder.tokenizer.blank_id
        for offset, (token, prob) in enumerate(zip(emissions.best_tokens, emissions.best_probs)):
            step = self.start_step + self.steps_seen + offset
            if token != blank:
                if token != self.previous_token:
                    self.emissions.append(_Emission(token, step, step, prob))
                    self._append_text(token)
                elif self.emissions:  # else the token began in the segment before
                    last = self.emissions[-1]
                    last.last_step = step
                    last.peak_prob = max(last.peak_prob, prob)
            self.previous_token = token
        self.steps_seen += len(emissions)

    def _append_text(self, token: int) -> None:
        tokenizer = self.decoder.tokenizer
        if token != tokenizer.separator_id:
            self.text += tokenizer.tokens[token]
        elif self.text and not self.text.endswith(" "):
            self.text += " "

    @property
    def partial_text(self) -> str:
        """The text so far, with outer spaces stripped; kept incrementally, so reading it every step costs O(1)."""
        return self.text.rstrip(" ")

    def finish(self, nbest: int = 1) -> list[Transcript]:
        """Text plus words with start, end (seconds) and confidence."""
        tokenizer, seconds = self.decoder.tokenizer, self.decoder.step_seconds
        words: list[Word] = []
        current: list[_Emission] = []
        for emission in [*self.emissions, None]:
            if emission is not None and emission.token != tokenizer.separator_id:
                current.append(emission)
                continue
            if current:
                text = tokenizer.decode([e.token for e in current])
                words.append(Word(text, current[0].first_step * seconds, (current[-1].last_step + 1) * seconds, min(e.peak_prob for e in current)))
                current = []
        return [Transcript(text=" ".join(w.word for w in words), words=tuple(words))]
