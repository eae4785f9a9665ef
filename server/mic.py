"""``asr mic``: live captions in the terminal from a microphone, or from a file played in real time.

It recognizes locally with the engine (asr/captions.py), or streams to an ``asr serve`` with
``--server``. It lives in the server package because it can speak websockets, which ``asr``
never imports; it registers itself through the ``asr.commands`` entry point, like ``serve``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used, so that `asr --help` stays fast
    from asr.capture import FileSource, MicrophoneSource
    from asr.caption_files import CaptionFile
    from asr.decoding import Segment
    from websockets.asyncio.client import ClientConnection

    Source = FileSource | MicrophoneSource

__all__ = ["register"]

DESCRIPTION = """\
Live captions from the default microphone (or --device): the partial rewrites itself in place,
and each utterance is committed with its start and end times once it ends (1 s of silence).
--output writes SRT, WebVTT or JSON Lines as utterances end. Ctrl-C finishes the utterance in
progress, writes it, and exits 0. Lost input blocks (overflows) are counted and reported.

Recognition runs locally with --model, or on an 'asr serve' given by --server. --input-file
plays a file in real time instead of the microphone, which needs no sound card.
"""


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("mic", help="live captions from a microphone", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default=None, help="input device index or name (default: the system's default input)")
    parser.add_argument("--list-devices", action="store_true", help="list the input devices and exit")
    parser.add_argument("--input-file", type=Path, default=None, help="play this audio file in real time instead of capturing")
    parser.add_argument("--speed", type=float, default=1.0, help="with --input-file: play this many times faster than real time")
    parser.add_argument("--output", type=Path, action="append", default=[], metavar="FILE", help="also write captions to FILE.srt, .vtt or .jsonl (repeatable)")
    parser.add_argument("--server", default=None, metavar="URL", help="recognize on this server (ws://host:port/v1/stream) instead of locally")
    parser.add_argument("--token", default=None, help="the server's token (or set ASR_SERVER_TOKEN)")
    parser.add_argument("--model", default=None, help="local recognition: checkpoint file, model folder or name under models/ (default: the shipped model)")
    parser.add_argument("--compute", default="auto", choices=["auto", "cpu", "cuda"], help="local recognition: where the model runs")
    parser.add_argument(
        "--decoder", default="auto", choices=["auto", "lexicon", "greedy"],
        help="local recognition: lexicon (streaming search with the model's word LM), greedy (character models), auto: lexicon when the model ships an LM",
    )  # fmt: skip
    parser.add_argument("--lm", default=None, help="local recognition: ARPA LM for the lexicon search (default: the one beside the model)")
    parser.add_argument("--lexicon", default=None, help="local recognition: a phone model's pronunciation lexicon (default: the one beside the model)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from asr.capture import CaptureError, FileSource, MicrophoneSource, format_devices, list_input_devices
    from asr.caption_files import CaptionFile
    from asr.caption_view import TerminalCaptions

    try:
        if args.list_devices:
            print(format_devices(list_input_devices()))
            return 0
        if args.speed <= 0:
            raise ValueError(f"--speed must be positive, got {args.speed}")
        if args.server and (args.decoder != "auto" or args.lm or args.lexicon):
            raise ValueError("--decoder applies to local recognition; with --server, the server's decoder is used")
        source = FileSource(args.input_file, speed=args.speed) if args.input_file else MicrophoneSource(_device(args.device))
    except CaptureError as error:
        print(f"asr mic: error: {error}", file=sys.stderr)
        return 1
    outputs = [CaptionFile(path) for path in args.output]
    view = TerminalCaptions(sys.stdout)

    def on_final(segment: Segment) -> None:
        view.final(segment)
        for output in outputs:
            output.write(segment)

    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())  # Ctrl-C: finish the utterance, then exit
    where = args.server or "this machine"
    print(f"captioning {source.name} ({source.sample_rate} Hz) on {where}; Ctrl-C to stop", file=sys.stderr)
    try:
        if args.server:
            source.start()
            asyncio.run(_caption_remotely(args.server, args.token, source, view.partial, on_final, stop))
        else:
            _caption_locally(args, source, view.partial, on_final, stop)
    except ConnectionError as error:
        view.clear()
        print(f"asr mic: error: {error}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, previous)
        source.stop()
        for output in outputs:
            output.close()
    return _report(source, outputs)


def _device(value: str | None) -> int | str | None:
    return int(value) if value is not None and value.isdigit() else value


def _caption_locally(args: argparse.Namespace, source: Source, on_partial: Callable[[str], None], on_final: Callable[[Segment], None], stop: threading.Event) -> None:
    from asr.captions import caption_source
    from asr.config import DecoderConfig
    from asr.stream import StreamingRecognizer

    decoder = DecoderConfig(method=args.decoder, lm=args.lm, lexicon=args.lexicon)
    recognizer = StreamingRecognizer.from_pretrained(args.model, device=args.compute, decoder=decoder)
    source.start()  # only once the model is loaded, so that the captions keep up from the first word
    caption_source(recognizer, source, on_partial, on_final, stop)


def _report(source: Source, outputs: list[CaptionFile]) -> int:
    for output in outputs:
        print(f"wrote {output.path}", file=sys.stderr)
    if source.overflows:
        print(f"asr mic: warning: {source.overflows} blocks of input audio were lost (the input overflowed)", file=sys.stderr)
    error = getattr(source, "error", None)
    if error is not None:
        print(f"asr mic: error: {error}", file=sys.stderr)
        return 1
    return 0


async def _caption_remotely(
    url: str, token: str | None, source: Source, on_partial: Callable[[str], None], on_final: Callable[[Segment], None], stop: threading.Event
) -> None:
    """Stream ``source`` to a server's native protocol until it ends or ``stop``; show what comes back."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus, WebSocketException

    token = token or os.environ.get("ASR_SERVER_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else None
    try:
        async with connect(url, compression=None, additional_headers=headers, open_timeout=10) as websocket:
            await websocket.send(json.dumps({"type": "start", "sample_rate": source.sample_rate, "format": "float32"}))
            sender = asyncio.create_task(_send_audio(websocket, source, stop))
            try:
                await _receive_captions(websocket, on_partial, on_final)
            finally:
                sender.cancel()
    except InvalidStatus as error:
        raise ConnectionError(f"{url} refused the connection: HTTP {error.response.status_code} {error.response.body.decode(errors='replace').strip()}") from None
    except (OSError, WebSocketException, TimeoutError) as error:
        raise ConnectionError(f"lost the server {url}: {error or type(error).__name__}") from None


_NOTHING_YET = object()


async def _send_audio(websocket: ClientConnection, source: Source, stop: threading.Event) -> None:
    """Send every captured block; after the source ends or ``stop`` (and what was captured), send stop."""

    def next_block() -> object:  # a (N,) block, None at the end, or _NOTHING_YET
        try:
            return source.read(timeout=0 if stop.is_set() else 0.1)
        except queue.Empty:
            return None if stop.is_set() else _NOTHING_YET

    while (block := await asyncio.to_thread(next_block)) is not None:
        if block is not _NOTHING_YET:
            await websocket.send(block.astype("<f4").tobytes())
    await websocket.send(json.dumps({"type": "stop"}))


async def _receive_captions(websocket: ClientConnection, on_partial: Callable[[str], None], on_final: Callable[[Segment], None]) -> None:
    from asr.decoding import Segment, Transcript, Word

    async for raw in websocket:
        message = json.loads(raw)
        kind = message.get("type")
        if kind == "partial":
            on_partial(message["text"])
        elif kind == "final":
            words = tuple(Word(w["word"], w["start"], w["end"], w["conf"]) for w in message.get("words", []))
            on_final(Segment(message["segment"], message["start"], message["end"], Transcript(message["text"], words)))
        elif kind == "error":
            raise ConnectionError(f"the server ended the session: {message['code']}: {message['message']}")
        elif kind == "end":
            return
