"""``asr mic``: live captions in the terminal from a microphone, or from a file played in real time.

It recognizes locally with the engine (asr/captions.py), or streams to an ``asr serve`` with
``--server``. It lives in the server package because it can speak websockets, which ``asr``
never imports; it registers itself through the ``asr.commands`` entry point, like ``serve``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
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
    import numpy as np
    from asr.capture import FileSource, MicrophoneSource
    from asr.caption_files import CaptionFile
    from asr.caption_view import TerminalCaptions
    from asr.config import DecoderConfig
    from asr.decoding import Hotwords, Segment
    from websockets.asyncio.client import ClientConnection

    Source = FileSource | MicrophoneSource

__all__ = ["register"]

BACKLOG_SECONDS = 30.0  # audio kept while the server is away; older audio is dropped, and counted
RECONNECT_FIRST_SECONDS = 1.0
RECONNECT_MAX_SECONDS = 30.0

DESCRIPTION = """\
Live captions from the default microphone (or --device): the partial rewrites itself in place,
and each utterance is committed with its start and end times once it ends (1 s of silence).
--output writes SRT, WebVTT or JSON Lines as utterances end. Ctrl-C finishes the utterance in
progress, writes it, and exits 0. Lost input blocks (overflows) are counted and reported.

Recognition runs locally with --model, or on an 'asr serve' given by --server. A server that
goes away is reconnected to (after 1, 2, 4 ... and then every 30 s) while the audio meanwhile,
up to 30 s of it, is kept and captioned once it is back; times go on across the break.
--input-file plays a file in real time instead of the microphone, which needs no sound card.

A caption's time, on the terminal and in SRT/WebVTT files alike, runs from its first word's
start to its last word's end.
"""


def register(commands: argparse._SubParsersAction) -> None:
    from asr.cli import add_denoise_option, hotword_argument
    from asr.config import PRECISIONS, BeamConfig

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
        "--precision", default="auto", choices=PRECISIONS,
        help="local recognition: the model's arithmetic: float32, int8 (x86 CPUs only), or auto: int8 where the CPU's int8 kernels take 8-bit weights (VNNI), float32 elsewhere",
    )  # fmt: skip
    add_denoise_option(parser, scope="local recognition: ")
    parser.add_argument(
        "--decoder", default="auto", choices=["auto", "lexicon", "greedy"],
        help="local recognition: lexicon (streaming search with the model's word LM), greedy (character models), auto: lexicon when the model ships an LM",
    )  # fmt: skip
    parser.add_argument("--lm", default=None, help="local recognition: ARPA LM for the lexicon search (default: the one beside the model)")
    parser.add_argument("--lexicon", default=None, help="local recognition: a phone model's pronunciation lexicon (default: the one beside the model)")
    parser.add_argument(
        "--beam-size", type=int, default=None,
        help="local recognition: hypotheses the lexicon search keeps per step (default: the beam tuned for the model; wider is a little more accurate and slower)",
    )  # fmt: skip
    parser.add_argument(
        "--hotword", action="append", default=[], type=hotword_argument, metavar="PHRASE[:BOOST]",
        help=f"favour this word or phrase, even one the LM lacks (repeatable; boost in LM log10 units, default {BeamConfig.hotword_boost:g}); "
        "locally it needs the lexicon search, with --server it is sent to the server",
    )  # fmt: skip
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
        if args.server and (args.decoder != "auto" or args.lm or args.lexicon or args.beam_size is not None):
            raise ValueError("--decoder, --lm, --lexicon and --beam-size apply to local recognition; with --server, the server's decoder is used")
        if args.server and args.denoise:
            raise ValueError("--denoise applies to local recognition; with --server, the server's front end is used (asr serve --denoise)")
        if args.hotword and args.decoder == "greedy":
            raise ValueError("--hotword needs the lexicon search; --decoder greedy ignores hotwords")
        local = None if args.server else local_decoder(args)  # before the microphone opens, so a bad option costs nothing
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

    def announce(where: str) -> None:
        print(f"captioning {source.name} ({source.sample_rate} Hz) on {where}; Ctrl-C to stop", file=sys.stderr)

    try:
        if local is None:
            source.start()
            asyncio.run(_caption_remotely(args.server, args.token, args.hotword, source, view, on_final, stop, announce))
        else:
            _caption_locally(args.model, args.compute, args.precision, args.denoise, local, args.hotword, source, view.partial, on_final, stop, announce)
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


def local_decoder(args: argparse.Namespace) -> DecoderConfig:
    """The decoder local recognition runs: the model's tuned search, with --beam-size when given (ValueError if it is not a valid beam)."""
    from asr.config import DecoderConfig
    from asr.decoders import search_with_beam

    return DecoderConfig(method=args.decoder, lm=args.lm, lexicon=args.lexicon, beam=search_with_beam(args.model, args.beam_size))


def _caption_locally(
    model: str | None, compute: str, precision: str, denoise: float, decoder: DecoderConfig, hotwords: Hotwords, source: Source, on_partial: Callable[[str], None],
    on_final: Callable[[Segment], None], stop: threading.Event, announce: Callable[[str], None],
) -> None:  # fmt: skip
    from asr.captions import caption_source
    from asr.endpoint import EndpointConfig
    from asr.stream import StreamingRecognizer

    recognizer = StreamingRecognizer.from_pretrained(model, device=compute, decoder=decoder, precision=precision, denoise=denoise)
    if hotwords and recognizer.decoder.name != "lexicon":
        raise ValueError(f"--hotword needs the lexicon search, and this model decodes with the {recognizer.decoder.name} search (it ships no LM)")
    stream = recognizer.create_stream(source.sample_rate, EndpointConfig(), hotwords)  # a hotword the LM lacks takes seconds to prepare
    announce("this machine")
    source.start()  # only once the model and the stream are ready, so that the captions keep up from the first word
    caption_source(recognizer, stream, source, on_partial, on_final, stop)


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


class _Backlog:
    """Captured audio not yet sent, kept across reconnects; beyond ``BACKLOG_SECONDS`` the oldest is dropped and counted."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.dropped_seconds = 0.0
        self._blocks: collections.deque[np.ndarray] = collections.deque()
        self._samples = 0
        self._ended = False
        self._changed = asyncio.Event()

    def put(self, block: np.ndarray) -> None:
        self._blocks.append(block)
        self._samples += len(block)
        while self._samples > BACKLOG_SECONDS * self.sample_rate:
            dropped = self._blocks.popleft()
            self._samples -= len(dropped)
            self.dropped_seconds += len(dropped) / self.sample_rate
        self._changed.set()

    def end(self) -> None:
        self._ended = True
        self._changed.set()

    @property
    def seconds(self) -> float:
        return self._samples / self.sample_rate

    async def get(self) -> np.ndarray | None:
        """The oldest block, waiting for one; None once the source has ended and everything was taken."""
        while not self._blocks:
            if self._ended:
                return None
            self._changed.clear()
            await self._changed.wait()
        block = self._blocks.popleft()
        self._samples -= len(block)
        return block


class _ServerAway(Exception):
    """The connection to the server went (or the server ended the session early): reconnect."""


async def _caption_remotely(
    url: str, token: str | None, hotwords: Hotwords, source: Source, view: TerminalCaptions, on_final: Callable[[Segment], None],
    stop: threading.Event, announce: Callable[[str], None],
) -> None:  # fmt: skip
    """Stream ``source`` to a server's native protocol, with ``hotwords``, until it ends or ``stop``; show what comes back.

    A server never reached is a ConnectionError. One that goes away later is reconnected to with
    backoff, forever, while the backlog keeps the audio; each new session's times are moved on by
    the audio sent in the sessions before it. Ctrl-C while the server is away ends the wait.
    """
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus, WebSocketException

    token = token or os.environ.get("ASR_SERVER_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else None
    backlog = _Backlog(source.sample_rate)
    pump = asyncio.create_task(_pump(source, backlog, stop))
    offset, delay, connected = 0.0, RECONNECT_FIRST_SECONDS, False
    try:
        while True:
            sent = [0]  # samples sent in this session
            try:
                async with connect(url, compression=None, additional_headers=headers, open_timeout=10) as websocket:
                    await _open_session(websocket, source.sample_rate, hotwords)
                    if connected:
                        print(f"asr mic: reconnected to {url}", file=sys.stderr)
                    else:
                        announce(url)
                    connected, delay = True, RECONNECT_FIRST_SECONDS

                    def on_session_final(segment: Segment) -> None:  # the session's times, moved on by the sessions before it
                        on_final(segment.shifted(offset))

                    await _run_session(websocket, backlog, sent, view.partial, on_session_final)
                    return
            except InvalidStatus as error:
                status, body = error.response.status_code, error.response.body.decode(errors="replace").strip()
                if not connected or status != 503:  # 503: full or shutting down, so worth another try
                    raise ConnectionError(f"{url} refused the connection: HTTP {status} {body}") from None
                reason = f"HTTP {status}"
            except (OSError, WebSocketException, TimeoutError, _ServerAway) as error:
                if not connected:
                    raise ConnectionError(f"cannot reach the server {url}: {error or type(error).__name__}") from None
                reason = str(error) or type(error).__name__
            offset += sent[0] / source.sample_rate
            view.cut_off()
            print(f"asr mic: lost the server {url} ({reason}); reconnecting in {delay:g} s, keeping up to {BACKLOG_SECONDS:g} s of audio", file=sys.stderr)
            if await asyncio.to_thread(stop.wait, delay):
                print(f"asr mic: stopped while the server was away: {backlog.seconds:.1f} s of audio were not captioned", file=sys.stderr)
                return
            delay = min(RECONNECT_MAX_SECONDS, 2 * delay)
    finally:
        pump.cancel()
        if backlog.dropped_seconds:
            print(f"asr mic: warning: {backlog.dropped_seconds:.1f} s of audio were dropped while the server was away", file=sys.stderr)


async def _open_session(websocket: ClientConnection, sample_rate: int, hotwords: Hotwords) -> None:
    """Send ``start`` and wait for ``ready``; an error message instead is a ConnectionError."""
    start = {"type": "start", "sample_rate": sample_rate, "format": "float32", "hotwords": [{"phrase": phrase, "boost": boost} for phrase, boost in hotwords]}
    await websocket.send(json.dumps(start))
    message = json.loads(await websocket.recv())
    if message.get("type") != "ready":
        raise ConnectionError(f"the server refused the session: {message.get('code')}: {message.get('message')}")


async def _run_session(
    websocket: ClientConnection, backlog: _Backlog, sent: list[int], on_partial: Callable[[str], None], on_final: Callable[[Segment], None]
) -> None:
    """Send the backlog as it fills, then ``stop``; show captions until ``end``. _ServerAway if the session ends first."""
    sender = asyncio.create_task(_send_audio(websocket, backlog, sent))
    try:
        await _receive_captions(websocket, on_partial, on_final)
    finally:
        sender.cancel()
    if not sender.done() or sender.cancelled() or sender.exception() is not None:
        raise _ServerAway("the server ended the session before the audio did; it may be restarting")


_NOTHING_YET = object()


async def _pump(source: Source, backlog: _Backlog, stop: threading.Event) -> None:
    """Move every captured block into the backlog; the backlog ends after the source ends or ``stop`` (and what was captured)."""

    def next_block() -> object:  # a (N,) block, None at the end, or _NOTHING_YET
        try:
            return source.read(timeout=0 if stop.is_set() else 0.1)
        except queue.Empty:
            return None if stop.is_set() else _NOTHING_YET

    while (block := await asyncio.to_thread(next_block)) is not None:
        if block is not _NOTHING_YET:
            backlog.put(block)
    backlog.end()


async def _send_audio(websocket: ClientConnection, backlog: _Backlog, sent: list[int]) -> None:
    """Send the backlog's blocks as they come, counting samples in ``sent``; at its end, send ``stop``."""
    while (block := await backlog.get()) is not None:
        await websocket.send(block.astype("<f4").tobytes())
        sent[0] += len(block)
    await websocket.send(json.dumps({"type": "stop"}))


async def _receive_captions(websocket: ClientConnection, on_partial: Callable[[str], None], on_final: Callable[[Segment], None]) -> None:
    """Show captions until ``end``; a connection that closes before it is _ServerAway."""
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
    raise _ServerAway(f"closed with code {websocket.close_code}")
