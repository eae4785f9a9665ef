"""CTC decoding results and the streaming greedy decoder.

Shape legend: T output steps, V vocabulary (blank = 0).

Greedy CTC takes the best token per step, merges repeats and drops blanks. In streaming,
a token repeated across a chunk boundary is one token, so the decoder carries the previous
step's best token from chunk to chunk. Each emitted character remembers the steps it spans
and its peak posterior; words (split at spaces) take their start from their first character's
first step, their end from their last character's last step, and their confidence from their
least certain character.

With an ``Endpointer`` in its state, a stream is cut into segments (utterances) as the steps
arrive: each ended segment becomes a ``Segment`` that the caller takes with
``take_segments``, and the text and transcript then describe the open segment only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from asr.endpoint import Endpointer
from asr.tokens import Tokenizer

__all__ = ["Word", "Transcript", "Segment", "GreedyState", "GreedyCTCDecoder"]


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


@dataclass
class _Emission:
    token: int
    first_step: int
    last_step: int
    peak_prob: float


@dataclass
class GreedyState:
    """One stream's decoding state; it carries across chunks."""

    previous_token: int = 0  # best token of the last step seen (blank before any step)
    steps_seen: int = 0
    emissions: list[_Emission] = field(default_factory=list)  # of the open segment
    text: str = ""  # of the open segment, kept up to date as tokens arrive: no leading or doubled spaces
    endpointer: Endpointer | None = None  # None: the whole stream is one segment
    segment_start_step: int = 0
    segments_ended: int = 0
    ended: list[Segment] = field(default_factory=list)  # cut by the endpointer, not yet taken


class GreedyCTCDecoder:
    """Streaming best-path CTC decoding with word times and confidences."""

    def __init__(self, tokenizer: Tokenizer, step_seconds: float) -> None:
        self.tokenizer = tokenizer
        self.step_seconds = step_seconds

    def advance(self, state: GreedyState, log_probs: torch.Tensor) -> None:
        """Consume (T, V) log-probs of the next T steps."""
        best_log_probs, best_tokens = log_probs.max(dim=-1)
        self.advance_best(state, best_tokens.tolist(), best_log_probs.exp().tolist())

    def advance_best(self, state: GreedyState, tokens: list[int], probs: list[float]) -> None:
        """Consume the per-step best tokens and their posteriors (already reduced by argmax)."""
        blank = self.tokenizer.blank_id
        for offset, (token, prob) in enumerate(zip(tokens, probs)):
            step = state.steps_seen + offset
            if token != blank:
                if token != state.previous_token:
                    state.emissions.append(_Emission(token, step, step, prob))
                    self._append_text(state, token)
                elif state.emissions:  # else the token began in the segment that just ended
                    last = state.emissions[-1]
                    last.last_step = step
                    last.peak_prob = max(last.peak_prob, prob)
            state.previous_token = token
            if state.endpointer is not None and state.endpointer.accept(token == blank, prob):
                self._end_segment(state, step + 1)
        state.steps_seen += len(tokens)

    def _end_segment(self, state: GreedyState, end_step: int) -> None:
        """Close the open segment at ``end_step``; one without speech is dropped."""
        if state.emissions:
            start, end = state.segment_start_step * self.step_seconds, end_step * self.step_seconds
            state.ended.append(Segment(state.segments_ended, start, end, self.transcript(state)))
            state.segments_ended += 1
        state.emissions, state.text, state.segment_start_step = [], "", end_step

    def take_segments(self, state: GreedyState) -> list[Segment]:
        """The segments the endpointer has ended since the last call."""
        ended, state.ended = state.ended, []
        return ended

    def open_segment(self, state: GreedyState) -> Segment:
        """The segment still open (at the end of a stream, its last), up to the last step seen."""
        start, end = state.segment_start_step * self.step_seconds, state.steps_seen * self.step_seconds
        return Segment(state.segments_ended, start, end, self.transcript(state))

    def _append_text(self, state: GreedyState, token: int) -> None:
        if token != self.tokenizer.space_id:
            state.text += self.tokenizer.tokens[token]
        elif state.text and not state.text.endswith(" "):
            state.text += " "

    def text(self, state: GreedyState) -> str:
        """The text decoded so far, with outer spaces stripped and inner runs collapsed.

        Kept incrementally, so reading the partial every step costs O(1), not O(stream length).
        """
        return state.text.rstrip(" ")

    def transcript(self, state: GreedyState) -> Transcript:
        """Text plus words with start, end (seconds) and confidence."""
        words: list[Word] = []
        current: list[_Emission] = []
        for emission in [*state.emissions, None]:
            if emission is not None and emission.token != self.tokenizer.space_id:
                current.append(emission)
                continue
            if current:
                words.append(
                    Word(
                        word=self.tokenizer.decode([e.token for e in current]),
                        start=current[0].first_step * self.step_seconds,
                        end=(current[-1].last_step + 1) * self.step_seconds,
                        conf=min(e.peak_prob for e in current),
                    )
                )
                current = []
        return Transcript(text=" ".join(w.word for w in words), words=tuple(words))
