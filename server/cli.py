"""``asr serve``: registered into the ``asr`` command line through the ``asr.commands`` entry point.

``asr`` never imports ``server`` (DESIGN.md's dependency rule); instead the server package
declares this plugin in pyproject.toml and ``asr.cli`` discovers it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from dataclasses import replace
from pathlib import Path

__all__ = ["register"]

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "server.toml"

DESCRIPTION = """\
Run the streaming speech-recognition daemon. Clients stream audio over websockets and get
partial and final transcripts back: the native protocol at /v1/stream, the Vosk-compatible
one at /vosk (docs/PROTOCOL.md). All sessions are batched through one model, on the GPU when
there is one. /healthz and /metrics (Prometheus) answer plain HTTP. SIGTERM drains: active
sessions get their final results, then the server exits 0.

Settings come from --config (default: configs/server.toml when present), then these flags.
"""


def register(commands: argparse._SubParsersAction) -> None:
    from asr.cli import add_denoise_option
    from asr.config import PRECISIONS
    from server.config import ROOT_PROTOCOLS

    parser = commands.add_parser(
        "serve", help="run the websocket streaming server", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", type=Path, default=None, help=f"TOML with a [server] table (default: {DEFAULT_CONFIG} if it exists)")
    parser.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
    parser.add_argument("--port", type=int, default=None, help="TCP port (default 8765; 0 picks a free one)")
    parser.add_argument("--model", default=None, help="checkpoint file, model folder, or a name under models/ (default: the shipped model)")
    parser.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"], help="where the model runs (default auto)")
    parser.add_argument(
        "--precision", default=None, choices=PRECISIONS,
        help="the model's arithmetic: float32, int8 (x86 CPUs only), or auto (default): int8 on a CPU whose int8 kernels take 8-bit weights (VNNI), where it has float32's accuracy at about half the CPU per stream, float32 elsewhere",
    )  # fmt: skip
    add_denoise_option(parser, default=None, scope="every stream's audio: ")
    parser.add_argument(
        "--decoder", default=None, choices=["auto", "lexicon", "greedy"],
        help="lexicon: beam search with the model's word LM; greedy: best path, character models only; auto (default): lexicon when the model ships an LM",
    )  # fmt: skip
    parser.add_argument("--lm", default=None, help="ARPA LM for the lexicon search (default: the one beside the model)")
    parser.add_argument("--lexicon", default=None, help="a phone model's pronunciation lexicon (default: the one beside the model)")
    parser.add_argument(
        "--beam-size", type=int, default=None,
        help="hypotheses the lexicon search keeps per step: wider is a little more accurate and costs CPU per stream (default: the model's beam for servers, its decoder.json's server_beam_size, else its tuned beam)",
    )  # fmt: skip
    parser.add_argument(
        "--min-beam-size", type=int, default=None,
        help="while the server falls behind real time, the searches of new utterances narrow, down to this beam, and widen again as it catches up; the beam size or more: never narrow (default 200)",
    )  # fmt: skip
    parser.add_argument("--max-sessions", type=int, default=None, help="concurrent sessions; more get HTTP 503 (default 200)")
    parser.add_argument(
        "--max-hotword-lexicons", type=int, default=None,
        help="per process, hotword lists in use that hold a word the LM lacks: each needs a search lexicon of its own (2.7 s and 125 MB for the default model); a session that would need one more is closed with too_many_hotword_lexicons (1013, try again later). Lists of words the LM knows cost nothing (default 8)",
    )  # fmt: skip
    parser.add_argument("--max-batch", type=int, default=None, help="streams per batched forward pass (default 128)")
    parser.add_argument("--max-wait-ms", type=float, default=None, help="how long a batch waits to fill (default 5)")
    parser.add_argument("--workers", type=int, default=None, help="inference threads, each stepping its own batch while the other computes (default 2)")
    parser.add_argument(
        "--processes", type=int, default=None,
        help="whole servers sharing the port, each with its own model, sessions and --max-sessions; the kernel spreads connections over them. The lexicon search holds Python's interpreter lock, so one process searches on one core (default: one per core, at most 16, and no more than the free memory holds at 1 GB each; 1 runs the server in this process)",
    )  # fmt: skip
    parser.add_argument(
        "--root-protocol", default=None, choices=ROOT_PROTOCOLS,
        help="what a websocket at / speaks, where stock Vosk, WeNet and sherpa-onnx clients connect (default vosk; each also has its own path: /vosk, /wenet, /sherpa, /v1/stream); a plain GET / is the caption page either way",
    )  # fmt: skip
    parser.add_argument("--vosk-sample-rate", type=int, default=None, help="the rate of a /vosk client that sends no config, as vosk-server assumes (default 8000)")
    parser.add_argument("--idle-timeout", type=float, default=None, help="seconds without a client message before closing (default 30)")
    parser.add_argument("--vosk-idle-timeout", type=float, default=None, help="the same for Vosk clients, which may pause long between utterances (default 300)")
    parser.add_argument("--max-session-seconds", type=float, default=None, help="longest session, in audio and wall-clock seconds (default 3600)")
    parser.add_argument(
        "--token", default=None, help="require this token (header 'Authorization: Bearer T' or ?token=T); the ASR_SERVER_TOKEN variable also sets it"
    )
    parser.add_argument("--protect-metrics", action="store_true", default=None, help="/metrics needs the token too (default: open, like /healthz)")
    parser.add_argument("--certfile", default=None, help="TLS certificate chain (PEM); needs --keyfile")
    parser.add_argument("--keyfile", default=None, help="TLS private key (PEM)")
    parser.add_argument("--log-format", default=None, choices=["json", "text"], help="log lines on stderr (default json)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from server.app import SpeechServer
    from server.config import load_server_config
    from server.logs import configure_logging
    from server.processes import default_processes, serve_processes

    path = args.config if args.config is not None else (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    overrides = {
        name: getattr(args, name)
        for name in ("host", "port", "model", "device", "precision", "denoise", "decoder", "lm", "lexicon", "beam_size", "min_beam_size", "max_sessions", "max_hotword_lexicons", "max_batch", "max_wait_ms", "workers", "processes", "root_protocol", "vosk_sample_rate", "idle_timeout", "vosk_idle_timeout", "max_session_seconds", "protect_metrics", "certfile", "keyfile", "log_format")
    }
    overrides["token"] = _token(args.token)
    config = load_server_config(path, overrides)
    if config.processes is None:
        config = replace(config, processes=default_processes())
    configure_logging(config.log_format)
    if config.processes > 1:
        return serve_processes(config)

    async def serve() -> None:
        server = SpeechServer(config)
        await server.start()
        await server.serve_until_signal()

    asyncio.run(serve())
    return 0


def _token(flag: str | None) -> str | None:
    """--token, else ASR_SERVER_TOKEN; None when neither is given. Set but empty is an error, never an open server."""
    token, source = (flag, "--token") if flag is not None else (os.environ.get("ASR_SERVER_TOKEN"), "ASR_SERVER_TOKEN")
    if token is not None and not token.strip():
        raise ValueError(f"{source} is set but empty (an empty environment file line?): give a token, or unset it to run without authentication")
    return token
