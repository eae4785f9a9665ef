"""One stream's segmentation and decoding: the endpointer cuts, each segment gets a search of its own.

The engine hands a stream's ``Emissions`` to its ``Segmenter`` after every step. The endpointer
reads each step's best token and posterior (the blank posteriors, in step indices) and cuts the
stream where an utterance ends; the open segment's search gets exactly the steps before the cut,
is finished into a ``Segment``, and the next search starts at the cut. The cuts depend on the
model's output alone, so they are the same for any chunking and any decoder.
"""

from __future__ import annotations

from collections.abc import Sequence

from asr.decoding import Decoder, Emissions, Hotwords, Search, Segment
from asr.endpoint import EndpointConfig, Endpointer

__all__ = ["Segmenter"]


class Segmenter:
    """A stream's endpointer and the search of its open segment."""

    def __init__(
        self, decoder: Decoder, endpoint: EndpointConfig | None, step_seconds: float, hotwords: Hotwords = (), blank_id: int = 0,
        grammar: Sequence[str] = (), nbest: int | None = None,
    ) -> None:  # fmt: skip
        """``grammar``: phrases the searches are held to; ``nbest``: transcripts per segment (None: the decoder's setting)."""
        self.decoder, self.hotwords, self.grammar, self.step_seconds, self.blank_id = decoder, tuple(hotwords), tuple(grammar), step_seconds, blank_id
        self.nbest = decoder.nbest if nbest is None else nbest
        self._prepared = decoder.prepare(self.hotwords, self.grammar)  # held, so that every segment's search finds it ready
        self.endpointer = Endpointer(endpoint, step_seconds) if endpoint is not None else None  # None: one segment
        self._search: Search | None = None  # made at the segment's first step, where a server computes
        self.index = 0  # the open segment's
        self.start = 0  # its first step
        self.steps = 0  # steps seen
        self.last_token = blank_id  # the best token of the last step seen
        self.empty_endpoints = 0  # endpoints so far whose segment held no words, and was dropped

    def advance(self, emissions: Emissions) -> list[Segment]:
        """The stream's next steps -> the segments that ended in them (segments without words are dropped)."""
        ended: list[Segment] = []
        first = 0
        if self.endpointer is not None:
            for offset, (token, prob) in enumerate(zip(emissions.best_tokens, emissions.best_probs)):
                reason = self.endpointer.step(token == self.blank_id, prob)
                if reason is not None:
                    self.search.accept(emissions[first : offset + 1])
                    segment = self._close(self.steps + offset + 1, (self.steps + offset + 1) * self.step_seconds)
                    if segment.transcript.text and reason != Endpointer.NOTHING_SAID:
                        ended.append(segment)
                        self.index += 1
                    else:
                        self.empty_endpoints += 1
                    self.last_token, first = token, offset + 1
        self.search.accept(emissions[first:])
        self.steps += len(emissions)
        self.last_token = emissions.best_tokens[-1] if len(emissions) else self.last_token
        return ended

    @property
    def search(self) -> Search:
        if self._search is None:
            self._search = self.decoder.search(self.start, self.last_token, self.hotwords, self.grammar)
        return self._search

    @property
    def partial_text(self) -> str:
        return self.search.partial_text

    def finish(self, end_seconds: float) -> Segment:
        """End of the stream: its last segment (kept even without words), ending at ``end_seconds``."""
        segment = self._close(self.steps, end_seconds)
        self.index += 1
        return segment

    def _close(self, end_step: int, end_seconds: float) -> Segment:
        """Finish the open segment at ``end_step`` (numbered ``index``) and start the next one there."""
        best, *alternatives = self.search.finish(self.nbest)
        segment = Segment(self.index, self.start * self.step_seconds, end_seconds, best, tuple(alternatives))
        self._search, self.start = None, end_step
        return segment
