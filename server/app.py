"""The websockets daemon: routes, admission (limits and auth), health, metrics and graceful shutdown.

Routes:
- ``/``: the live-caption page (server/static/), which streams the microphone to ``/v1/stream``.
- ``/v1/stream``: the native protocol; ``/vosk``: the Vosk-compatible one (server/protocol.py).
- ``/healthz``: ``{"status": "ok", "sessions": n, "process": pid}`` (503 while draining); with
  ``--processes`` each process answers for itself.
- ``/metrics``: Prometheus text format.

Admission happens before the websocket handshake: a wrong or missing token gets HTTP 401,
a full server or one shutting down gets 503, an unknown path 404. On SIGTERM or SIGINT the
server stops accepting, lets every session finish the audio it has (its final result is sent,
then ``end``, then close code 1001), and returns.
"""

from __future__ import annotations

import asyncio
import hmac
import http
import ipaddress
import itertools
import json
import logging
import os
import secrets
import signal
import ssl
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from asr.beam import BeamDecoder
from asr.checkpoint import resolve_model_path
from asr.config import DecoderConfig
from asr.decoders import server_search
from asr.stream import StreamingRecognizer
from server import protocol
from server.batcher import Batcher
from server.config import ServerConfig, describe, listen_url
from server.dialects import DIALECTS, Dialect
from server.governor import SearchGovernor
from server.metrics import CONTENT_TYPE_LATEST, ServerMetrics
from server.protocol import CloseCode
from server.session import Session

__all__ = ["SpeechServer"]

log = logging.getLogger("asr.server")

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_FILES = {  # the caption page: path -> (file, content type)
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/capture-worklet.js": ("capture-worklet.js", "text/javascript; charset=utf-8"),
    "/resampler.js": ("resampler.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
    "/transcript.js": ("transcript.js", "text/javascript; charset=utf-8"),
    "/favicon.svg": ("favicon.svg", "image/svg+xml"),
}
# The page loads nothing from elsewhere, and may only talk to this server.
PAGE_POLICY = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors 'none'"
HARD_FRAME_FACTOR = 2  # frames up to this multiple of max_frame_bytes get a JSON error; larger ones a bare 1009
# Frames websockets holds for a session before it stops reading its socket (its default, 16, let a
# client flooding 1 MiB frames cost 65 MB): the audio buffer (queue_seconds) is the real queue.
WEBSOCKET_QUEUE_FRAMES = 2


def _decoder_config(config: ServerConfig) -> DecoderConfig:
    """The search every session runs: the one tuned for the model (its decoder.json), with ``beam_size`` when set,
    else with the server's beam the model names (decoder.json's ``server_beam_size``), if it names one."""
    beam = server_search(resolve_model_path(config.model).parent, config.beam_size)
    return DecoderConfig(method=config.decoder, lm=config.lm, lexicon=config.lexicon, beam=beam)


class SpeechServer:
    """One daemon: a websockets server, the shared batcher, and the sessions it serves."""

    def __init__(self, config: ServerConfig, recognizer: StreamingRecognizer | None = None, group_metrics_dir: Path | None = None) -> None:
        """``group_metrics_dir``: this is one of ``--processes`` servers on one port (server/processes.py),
        whose metrics go to this shared folder. It binds with SO_REUSEPORT, logs ``process_listening``
        (the parent logs ``listening`` once all listen), and its ``/metrics`` reports the whole group."""
        self.config = config
        self.group_member = group_metrics_dir is not None
        by_name = {dialect.name: dialect for dialect in DIALECTS.values()}
        root = {"/": by_name[config.root_protocol]} if config.root_protocol in by_name else {}
        self.routes: dict[str, type[Dialect]] = {**DIALECTS, **root}  # websocket path -> its protocol dialect
        self.recognizer = recognizer or StreamingRecognizer.from_pretrained(
            config.model, device=config.device, decoder=_decoder_config(config), precision=config.precision, denoise=config.denoise
        )
        self.metrics = ServerMetrics(group_metrics_dir)
        self.governor = SearchGovernor(self.recognizer.decoder, config.min_beam_size, self.metrics)
        if isinstance(self.recognizer.decoder, BeamDecoder):
            self.recognizer.decoder.trie_limit = config.max_hotword_lexicons
        self.batcher = Batcher(self.recognizer, config.max_batch, config.max_wait_ms / 1000, self.metrics, config.workers, self.governor)
        self.sessions: dict[str, Session] = {}
        self.draining = False
        self._server: Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        self._id_prefix = secrets.token_hex(3)

    @property
    def port(self) -> int:
        """The port actually bound (useful with ``port = 0``)."""
        if self._server is None:
            raise RuntimeError("the server is not started")
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        self.batcher.start()
        self._server = await serve(
            self._handle,
            self.config.host,
            self.config.port,
            process_request=self._admit,
            compression=None,  # raw audio does not deflate; compressing it only costs CPU
            max_size=self.config.max_frame_bytes * HARD_FRAME_FACTOR,
            max_queue=WEBSOCKET_QUEUE_FRAMES,
            ssl=self._tls_context(),
            server_header="asr",
            reuse_port=self.group_member,
        )
        event = "process_listening" if self.group_member else "listening"
        log.info(
            event,
            extra={"event": event, "url": listen_url(self.config, self.port), "port": self.port, "device": str(self.recognizer.device), "precision": self.recognizer.precision, "settings": describe(self.config)},
        )
        if self.config.token is None and not _is_loopback(self.config.host):
            log.warning(
                "no token is set and the server listens beyond this machine: anyone who reaches %s can use it (set --token or ASR_SERVER_TOKEN)",
                self.config.host, extra={"event": "open_server", "host": self.config.host},
            )  # fmt: skip

    async def serve_until_signal(self) -> None:
        """Serve until SIGTERM or SIGINT, then drain and close."""
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, lambda s=signum: stop.done() or stop.set_result(s))
        signum = await stop
        log.info("shutting down", extra={"event": "shutdown", "signal": signal.Signals(signum).name, "sessions": len(self.sessions)})
        await self.shutdown()

    async def shutdown(self) -> None:
        """Refuse new sessions, finish every active one (up to drain_timeout), close everything.

        The listener stays open through the drain, so that /healthz can answer 503 "draining".
        """
        self.draining = True
        for session in list(self.sessions.values()):
            session.drain()
        if self._handlers:
            _, unfinished = await asyncio.wait(self._handlers, timeout=self.config.drain_timeout)
            if unfinished:
                log.warning("sessions did not finish in time", extra={"event": "drain_timeout", "sessions": len(unfinished)})
        if self._server is not None:
            self._server.close(close_connections=True)
            await self._server.wait_closed()
        await self.batcher.close()
        self.governor.restore()  # the recognizer may outlive this server
        if isinstance(self.recognizer.decoder, BeamDecoder):
            self.recognizer.decoder.trie_limit = None
        log.info("stopped", extra={"event": "stopped"})

    def _tls_context(self) -> ssl.SSLContext | None:
        if self.config.certfile is None:
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.config.certfile, self.config.keyfile)
        return context

    def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        """Answer plain HTTP requests, and refuse websocket ones that must not open."""
        if request.method not in ("GET", "HEAD"):
            response = self._refuse(connection, http.HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed", f"{request.method} is not served; use GET")
            response.headers["Allow"] = "GET, HEAD"
            return response
        response = self._route(connection, request)
        if request.method == "HEAD" and response is not None:
            response.body = b""  # the headers GET would get (Content-Length included), and no body
        return response

    def _route(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        if url.path == "/healthz":
            status = http.HTTPStatus.SERVICE_UNAVAILABLE if self.draining else http.HTTPStatus.OK
            body = {"status": "draining" if self.draining else "ok", "sessions": len(self.sessions), "process": os.getpid()}
            return _response(connection, status, json.dumps(body) + "\n", "application/json")
        if url.path == "/metrics":
            if self.config.protect_metrics and not self._authorized(request.headers, url.query):
                return self._refuse(connection, http.HTTPStatus.UNAUTHORIZED, "unauthorized", "a valid token is required for /metrics")
            return _response(connection, http.HTTPStatus.OK, self.metrics.render().decode(), CONTENT_TYPE_LATEST)
        if url.path in STATIC_FILES and "upgrade" not in request.headers.get("Connection", "").lower():
            name, content_type = STATIC_FILES[url.path]
            response = _response(connection, http.HTTPStatus.OK, (STATIC_DIR / name).read_text(encoding="utf-8"), content_type)
            response.headers["Content-Security-Policy"] = PAGE_POLICY
            response.headers["Cache-Control"] = "no-cache"
            return response
        if url.path not in self.routes:
            return self._refuse(connection, http.HTTPStatus.NOT_FOUND, "not_found", f"no route {url.path}; use {' or '.join(self.routes)}")
        if self.config.token is not None and not self._authorized(request.headers, url.query):
            return self._refuse(connection, http.HTTPStatus.UNAUTHORIZED, "unauthorized", "a valid token is required")
        if self.draining:
            return self._refuse(connection, http.HTTPStatus.SERVICE_UNAVAILABLE, "shutting_down", "the server is shutting down")
        if len(self._handlers) >= self.config.max_sessions:
            return self._refuse(connection, http.HTTPStatus.SERVICE_UNAVAILABLE, "too_many_sessions", f"the server is full ({self.config.max_sessions} sessions); retry later")
        return None

    def _refuse(self, connection: ServerConnection, status: http.HTTPStatus, code: str, message: str) -> Response:
        self.metrics.refused.labels(code).inc()
        return _response(connection, status, protocol.error(code, message) + "\n", "application/json")

    def _authorized(self, headers: Headers, query: str) -> bool:
        expected = self.config.token.encode()
        offered = parse_qs(query).get("token", [""])[-1]
        authorization = headers.get("Authorization", "")
        if authorization.startswith("Bearer "):
            offered = authorization.removeprefix("Bearer ").strip()
        return hmac.compare_digest(offered.encode(), expected)  # constant time: no token-guessing by timing

    async def _handle(self, connection: ServerConnection) -> None:
        task = asyncio.current_task()
        self._handlers.add(task)
        try:
            if len(self._handlers) > self.config.max_sessions:  # raced past _admit with others
                self.metrics.refused.labels("too_many_sessions").inc()
                await connection.send(protocol.error("too_many_sessions", "the server is full; retry later"))
                await connection.close(CloseCode.TRY_AGAIN_LATER, "too_many_sessions")
                return
            session_id = f"{self._id_prefix}-{next(self._ids)}"
            dialect = self.routes[urlsplit(connection.request.path).path](self.config)
            session = Session(connection, dialect, session_id, self.batcher, self.config, self.metrics)
            self.sessions[session_id] = session
            try:
                await session.run()
            finally:
                del self.sessions[session_id]
        except ConnectionClosed:
            pass
        except Exception:  # a bug in serving one session must not take the others down
            log.exception("session failed", extra={"event": "session_failed"})
            self.metrics.errors.labels("internal").inc()
            try:
                await connection.send(protocol.error("internal", "internal server error"))
                await connection.close(CloseCode.INTERNAL, "internal")
            except ConnectionClosed:
                pass
        finally:
            self._handlers.discard(task)


def _response(connection: ServerConnection, status: http.HTTPStatus, body: str, content_type: str) -> Response:
    response = connection.respond(status, body)
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = content_type
    return response


def _is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) is only reachable from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve beyond this machine
