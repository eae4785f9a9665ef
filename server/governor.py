"""Holding latency under load: the lexicon search narrows while a server falls behind, and widens as it catches up.

The search is most of what a live stream costs, and its cost grows with its beam. When a server
process gets more audio than it can step in real time, step requests queue up and every
session's partials fall further behind, without bound. The governor watches each batch's lag:
how long its oldest request waited for its result (queue and compute), its median over each
``period`` seconds that saw at least ``MIN_BATCHES`` batches. Above ``slow`` it cuts the beam of
the searches that start from then on (each utterance starts one) by a fifth, down to ``floor``;
below ``fast`` it gives a tenth of the full beam back, until the search is whole again; between
the two it holds. A search under way keeps its beam, so a server that keeps up gives exactly the
results ``asr transcribe`` gives.
"""

from __future__ import annotations

import logging

from asr.beam import BeamDecoder
from asr.decoding import Decoder
from server.metrics import ServerMetrics

__all__ = ["SearchGovernor"]

log = logging.getLogger("asr.server")

NARROWING = 0.8  # of the beam, each period the server lags
WIDENING = 0.1  # of the full beam, given back each period it keeps up
MIN_BATCHES = 4  # a period with fewer batches tells nothing (a model warming up, one client sending a file at once)


class SearchGovernor:
    """Sets a lexicon decoder's ``beam_limit`` from the lag of the batches a server steps."""

    def __init__(
        self, decoder: Decoder, floor: int, metrics: ServerMetrics | None = None, slow: float = 0.06, fast: float = 0.03, period: float = 1.0
    ) -> None:  # fmt: skip
        """``floor``: the narrowest beam; at or above the decoder's own, or a decoder without a beam, never narrows.
        ``slow`` and ``fast``: the median lag in seconds above which the beam narrows and below which it widens."""
        if floor < 1:
            raise ValueError(f"the narrowest beam must be at least 1, got {floor}")
        if not 0 <= fast < slow:
            raise ValueError(f"need 0 <= fast < slow, got fast={fast}, slow={slow}")
        self._decoder = decoder if isinstance(decoder, BeamDecoder) else None
        self.full = decoder.config.beam_size if isinstance(decoder, BeamDecoder) else 0
        self.floor, self.slow, self.fast, self.period = floor, slow, fast, period
        self.beam_size = self.full  # what searches starting now get
        self._metrics = metrics
        self._lags: list[float] = []
        self._period_start: float | None = None
        if self._metrics is not None and self.full:
            self._metrics.search_beam_size.set(self.full)

    @property
    def active(self) -> bool:
        return self._decoder is not None and self.floor < self.full

    def observe(self, lag: float, now: float) -> None:
        """A batch ended ``lag`` seconds after its oldest request arrived, at ``now`` (a monotonic clock's seconds)."""
        if not self.active:
            return
        if self._period_start is None:
            self._period_start = now
        self._lags.append(lag)
        if now - self._period_start < self.period:
            return
        lags, self._lags, self._period_start = sorted(self._lags), [], now
        if len(lags) < MIN_BATCHES:
            return
        typical = lags[len(lags) // 2]
        if typical > self.slow:
            self._set(max(self.floor, int(self.beam_size * NARROWING)), typical)
        elif typical < self.fast:
            self._set(min(self.full, self.beam_size + max(1, round(self.full * WIDENING))), typical)

    def restore(self) -> None:
        """The whole beam again, for the searches that start from now on."""
        if self.active:
            self._set(self.full, 0.0)

    def _set(self, beam_size: int, lag: float) -> None:
        if beam_size == self.beam_size:
            return
        if self.beam_size == self.full:
            log.info("search narrowed under load", extra={"event": "search_narrowed", "beam_size": beam_size, "lag_ms": round(1000 * lag, 1)})
        elif beam_size == self.full:
            log.info("search whole again", extra={"event": "search_restored", "beam_size": beam_size, "lag_ms": round(1000 * lag, 1)})
        self.beam_size = beam_size
        if self._decoder is not None:
            self._decoder.beam_limit = None if beam_size == self.full else beam_size
        if self._metrics is not None:
            self._metrics.search_beam_size.set(beam_size)
