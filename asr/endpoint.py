"""Endpointing: where an utterance ends, decided step by step from the CTC output.

The rules follow WeNet's. A model step is *silence* when blank is its best token with a
posterior of at least ``blank_threshold``. A segment ends

1. after ``trailing_silence`` seconds of silence that follow speech (the utterance is over);
2. after ``leading_silence`` seconds of silence with no speech at all (nothing was said; the
   segment is dropped, and the next one starts after it);
3. when it reaches ``max_segment`` seconds, whatever it holds.

Each decision depends only on the steps seen so far, one at a time, so a stream splits at the
same steps however its audio is chunked.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EndpointConfig", "Endpointer"]


@dataclass(frozen=True)
class EndpointConfig:
    blank_threshold: float = 0.8  # a step is silence when blank is best with at least this posterior
    trailing_silence: float = 1.0  # seconds of silence after speech that end a segment
    leading_silence: float = 5.0  # seconds of silence without speech after which the segment is dropped
    max_segment: float = 20.0  # seconds; a segment this long ends at once

    def __post_init__(self) -> None:
        if not 0.0 < self.blank_threshold <= 1.0:
            raise ValueError(f"blank_threshold must be in (0, 1], got {self.blank_threshold}")
        for name in ("trailing_silence", "leading_silence", "max_segment"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive seconds, got {getattr(self, name)}")


class Endpointer:
    """One stream's endpoint rules, fed one model step at a time."""

    SPEECH_ENDED = "speech_ended"  # rule 1: the segment is an utterance
    NOTHING_SAID = "nothing_said"  # rule 2: the segment holds no speech
    TOO_LONG = "too_long"  # rule 3

    def __init__(self, config: EndpointConfig, step_seconds: float) -> None:
        self.config = config
        self._trailing = _steps(config.trailing_silence, step_seconds)
        self._leading = _steps(config.leading_silence, step_seconds)
        self._longest = _steps(config.max_segment, step_seconds)
        self.reset()

    def reset(self) -> None:
        """Start a new segment."""
        self.steps = 0
        self.silent_steps = 0  # consecutive silent steps at the end of the segment
        self.speech = False

    def step(self, token_is_blank: bool, probability: float) -> str | None:
        """One step's best token (blank or not) and its posterior -> why the segment ends here, or None."""
        self.steps += 1
        if token_is_blank and probability >= self.config.blank_threshold:
            self.silent_steps += 1
        else:
            self.silent_steps = 0
            self.speech = self.speech or not token_is_blank
        if self.speech and self.silent_steps >= self._trailing:
            reason = self.SPEECH_ENDED
        elif not self.speech and self.silent_steps >= self._leading:
            reason = self.NOTHING_SAID
        elif self.steps >= self._longest:
            reason = self.TOO_LONG
        else:
            return None
        self.reset()
        return reason


def _steps(seconds: float, step_seconds: float) -> int:
    return max(1, round(seconds / step_seconds))
