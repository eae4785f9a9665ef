"""The daemon's settings: a frozen dataclass read from ``configs/server.toml``, overridable by flags."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asr.config import DECODER_METHODS, PRECISIONS, from_dict, read_toml
from asr.endpoint import EndpointConfig

__all__ = ["ServerConfig", "load_server_config", "describe", "listen_url", "ROOT_PROTOCOLS"]

ROOT_PROTOCOLS = ("vosk", "native", "wenet", "sherpa", "none")  # what a websocket at "/" may speak (server/dialects.py names)


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8765  # 0: any free port (the log line 'listening' names it)
    model: str | None = None  # None: the shipped default model
    device: str = "auto"
    precision: str = "auto"  # the model's arithmetic: auto | float32 | int8 (asr.stream.resolve_precision)
    denoise: float = 0.0  # RNNoise's suppressed signal mixed in at this share before the features (asr.denoise); 0: off
    max_sessions: int = 200  # beyond this, new connections get HTTP 503
    max_batch: int = 128  # streams in one batched forward pass
    max_wait_ms: float = 5.0  # how long the first request of a batch waits for company
    workers: int = 2  # inference threads, each stepping its own batch while the other computes
    processes: int | None = None  # whole servers sharing the port (server/processes.py), each with its own sessions and limits; None: one per core, as memory allows
    max_frame_bytes: int = 1 << 20  # larger binary frames end the session (close 1009)
    queue_seconds: float = 10.0  # per-session audio buffered ahead of the model; beyond it, reading pauses
    idle_timeout: float = 30.0  # seconds without any client message
    vosk_idle_timeout: float = 300.0  # the same on the Vosk routes, whose clients may pause long between utterances
    max_session_seconds: float = 3600.0  # of audio, and of wall-clock time
    root_protocol: str = "vosk"  # the dialect of websockets at "/", where Vosk's sample clients connect; "none": the caption page only
    vosk_sample_rate: int = 8000  # a Vosk client's rate when it sends no config message (vosk-server's VOSK_SAMPLE_RATE default)
    token: str | None = None  # when set, clients must present it (Authorization: Bearer, or ?token=)
    protect_metrics: bool = False  # /metrics needs the token too
    certfile: str | None = None  # TLS: both certfile and keyfile
    keyfile: str | None = None
    drain_timeout: float = 30.0  # on SIGTERM, how long active sessions get to finish
    log_format: str = "json"  # json | text
    decoder: str = "auto"  # lexicon (search with the word LM) | greedy (character models) | auto: lexicon when the model ships an LM
    lm: str | None = None  # ARPA LM for the lexicon search; None: the one shipped beside the model
    lexicon: str | None = None  # a phone model's pronunciation lexicon; None: the one shipped beside the model
    beam_size: int | None = None  # the lexicon search's beam; None: the model's beam for servers (decoder.json's server_beam_size), else its tuned one
    min_beam_size: int = 200  # under load, new searches narrow down to this beam (server/governor.py); at or above beam_size: never narrow
    max_hotword_lexicons: int = 8  # per process: hotword lists with words the LM lacks, each a search lexicon of its own (125 MB for the default model)
    endpointing: bool = True  # cut sessions into utterances, each with its own final; off: one final at stop
    endpoint: EndpointConfig = EndpointConfig()  # the [endpoint] table

    def __post_init__(self) -> None:
        positive = ("max_sessions", "max_batch", "max_hotword_lexicons", "workers", "max_frame_bytes", "queue_seconds", "idle_timeout", "vosk_idle_timeout", "max_session_seconds", "drain_timeout")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0-65535, got {self.port}")
        if self.max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {self.max_wait_ms}")
        if (self.certfile is None) != (self.keyfile is None):
            raise ValueError("TLS needs both certfile and keyfile")
        if self.log_format not in ("json", "text"):
            raise ValueError(f"log_format must be 'json' or 'text', got {self.log_format!r}")
        if self.root_protocol not in ROOT_PROTOCOLS:
            raise ValueError(f"root_protocol must be one of {', '.join(ROOT_PROTOCOLS)}, got {self.root_protocol!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if not 0 <= self.denoise <= 1:
            raise ValueError(f"denoise must be 0 (off) or a share up to 1, got {self.denoise}")
        if self.decoder not in DECODER_METHODS:
            raise ValueError(f"decoder must be one of {', '.join(DECODER_METHODS)}, got {self.decoder!r}")
        if self.processes is not None and self.processes < 1:
            raise ValueError(f"processes must be positive, got {self.processes}")
        if self.beam_size is not None and self.beam_size < 1:
            raise ValueError(f"beam_size must be at least 1, got {self.beam_size}")
        if self.min_beam_size < 1:
            raise ValueError(f"min_beam_size must be at least 1, got {self.min_beam_size}")
        if self.token is not None and not self.token.strip():
            raise ValueError("token must not be empty; leave it unset to turn authentication off")
        if self.protect_metrics and self.token is None:
            raise ValueError("protect_metrics needs a token")


def load_server_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> ServerConfig:
    """The ``[server]`` table of a TOML file (or the defaults), then non-None ``overrides``."""
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        raw = read_toml(path, {"server", "endpoint"})
        values = dict(raw.get("server", {}))
        if "endpoint" in values:
            raise ValueError(f"{path} [server]: endpoint settings go in their own [endpoint] table")
        values["endpoint"] = from_dict(EndpointConfig, raw.get("endpoint", {}), f"{path} [endpoint]")
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    where = f"{path} [server]" if path is not None else "server options"
    return from_dict(ServerConfig, values, where)


def describe(config: ServerConfig) -> dict[str, Any]:
    """The settings for the startup log, without the token."""
    settings = dataclasses.asdict(config)  # recurses into the endpoint table
    settings["token"] = "set" if config.token else None
    return settings


def listen_url(config: ServerConfig, port: int) -> str:
    """The server's address for the 'listening' log line: ws:// or, with TLS, wss://."""
    return f"{'wss' if config.certfile else 'ws'}://{config.host}:{port}"
