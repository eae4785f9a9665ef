"""Prometheus metrics of one server, in its own registry (several servers can share a process).

The servers of ``asr serve --processes N`` are one service: each child writes its values to a
shared folder (prometheus_client's multiprocess mode, which each child turns on for itself
before it imports prometheus_client), and ``/metrics`` in any of them reports the sums over all.
"""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

__all__ = ["ServerMetrics", "CONTENT_TYPE_LATEST"]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class ServerMetrics:
    """Everything ``/metrics`` reports; names carry the ``asr_`` prefix."""

    def __init__(self, shared_dir: Path | None = None) -> None:
        """``shared_dir``: the folder of a process group's values (``PROMETHEUS_MULTIPROC_DIR``), or None for one process."""
        self.registry = CollectorRegistry()
        self.shared_dir = shared_dir
        r = self.registry
        self.active_sessions = Gauge("asr_active_sessions", "Sessions open now", multiprocess_mode="livesum", registry=r)
        self.sessions = Counter("asr_sessions", "Sessions accepted, by protocol", ["protocol"], registry=r)
        self.refused = Counter("asr_refused_connections", "Connections refused before the handshake, by reason", ["reason"], registry=r)
        self.errors = Counter("asr_errors", "Sessions ended by an error, by error code", ["code"], registry=r)
        self.audio_seconds = Counter("asr_audio_seconds", "Seconds of client audio processed", registry=r)
        self.batch_size = Histogram("asr_batch_size", "Streams stepped together in one forward pass", buckets=BATCH_BUCKETS, registry=r)
        self.compute_seconds = Histogram("asr_compute_seconds", "Compute time of one batched step (feed, forward pass, decoding)", buckets=LATENCY_BUCKETS, registry=r)
        self.queue_seconds = Histogram(
            "asr_queue_seconds", "Time a step request waits for the inference worker", buckets=LATENCY_BUCKETS, registry=r
        )
        self.search_beam_size = Gauge(
            "asr_search_beam_size", "Beam of the lexicon searches starting now (below the tuned one while the server narrows it under load)",
            multiprocess_mode="min", registry=r,
        )
        self.final_seconds = Histogram(
            "asr_final_seconds", "From end of audio (stop) to the final result being sent", buckets=LATENCY_BUCKETS, registry=r
        )

    def render(self) -> bytes:
        """The text exposition format: this server's values, or with ``shared_dir`` its process group's sums."""
        if self.shared_dir is None:
            return generate_latest(self.registry)
        group = CollectorRegistry()
        MultiProcessCollector(group, path=str(self.shared_dir))
        return generate_latest(group)
