"""Operations: token auth, TLS, /healthz, /metrics, config files, the CLI, and draining on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from asr.checkpoint import resolve_model_path
from asr.decoders import server_search, tuned_search
from asr.stream import StreamingRecognizer
from asr import worker_pool
from asr.transcribe import transcribe_file
from server.app import SpeechServer
from server.config import ServerConfig, load_server_config
from server.processes import MAX_AUTO_PROCESSES, default_processes
from tests.server_util import Exchange, pcm_chunks, read_all, read_pcm16, running_server, speak, stream_native, url

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sentence(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return speak("open the window and let the fresh air in", tmp_path_factory.mktemp("speech") / "s.wav")


def metric_values(body: str) -> dict[str, str]:
    """A Prometheus text page -> each sample's value by its name and labels."""
    return dict(line.rsplit(" ", 1) for line in body.splitlines() if line and not line.startswith("#"))


def http_get(address: str) -> tuple[int, str, str]:
    """(status, content type, body) of a plain GET, errors included."""
    try:
        with urllib.request.urlopen(address, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def test_token_auth_by_header_or_query_and_refusal_otherwise(greedy_recognizer: StreamingRecognizer, sentence: Path) -> None:
    samples, rate = read_pcm16(sentence)
    frames = pcm_chunks(samples, [rate // 10])

    async def scenario() -> tuple[list[int], Exchange, Exchange]:
        async with running_server(greedy_recognizer, token="s3cret") as server:
            refusals = []
            for address, headers in [(url(server), None), (url(server) + "?token=wrong", None), (url(server), {"Authorization": "Bearer nope"})]:
                with pytest.raises(InvalidStatus) as refused:
                    await connect(address, additional_headers=headers)
                refusals.append(refused.value.response.status_code)
            by_query = await stream_native(url(server) + "?token=s3cret", frames, rate)
            async with connect(url(server), additional_headers={"Authorization": "Bearer s3cret"}) as ws:
                await ws.send(json.dumps({"type": "start", "sample_rate": rate}))
                for frame in frames:
                    await ws.send(frame)
                await ws.send(json.dumps({"type": "stop"}))
                by_header = await read_all(ws)
            return refusals, by_query, by_header

    refusals, by_query, by_header = asyncio.run(scenario())
    assert refusals == [401, 401, 401]
    expected = transcribe_file(greedy_recognizer, sentence).transcript.text
    assert by_query.final["text"] == expected and by_header.final["text"] == expected


def test_healthz_and_metrics_report_sessions_audio_batches_and_errors(greedy_recognizer: StreamingRecognizer, sentence: Path) -> None:
    samples, rate = read_pcm16(sentence)

    async def scenario() -> tuple[tuple[int, str, str], tuple[int, str, str]]:
        async with running_server(greedy_recognizer) as server:
            await stream_native(url(server), pcm_chunks(samples, [rate // 10]), rate)
            async with connect(url(server)) as ws:
                await ws.send("{oops")
                await read_all(ws)
            base = url(server, scheme="http", path="")
            return await asyncio.to_thread(http_get, base + "/healthz"), await asyncio.to_thread(http_get, base + "/metrics")

    (health_status, health_type, health_body), (status, content_type, metrics) = asyncio.run(scenario())
    assert (health_status, health_type, json.loads(health_body)) == (200, "application/json", {"status": "ok", "sessions": 0, "process": os.getpid()})
    assert status == 200 and content_type.startswith("text/plain")
    values = {}
    for line in metrics.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    assert values["asr_audio_seconds_total"] == pytest.approx(len(samples) / rate, abs=1e-3)
    assert values['asr_sessions_total{protocol="native"}'] == 2
    assert values['asr_errors_total{code="bad_json"}'] == 1
    assert values["asr_active_sessions"] == 0
    assert values["asr_batch_size_count"] >= 1 and values["asr_compute_seconds_count"] == values["asr_batch_size_count"]
    assert values["asr_final_seconds_count"] == 1


def test_metrics_can_require_the_token_while_healthz_stays_open(greedy_recognizer: StreamingRecognizer) -> None:
    async def scenario() -> list[int]:
        async with running_server(greedy_recognizer, token="s3cret", protect_metrics=True) as server:
            base = url(server, scheme="http", path="")
            paths = ["/metrics", "/metrics?token=wrong", "/metrics?token=s3cret", "/healthz"]
            return [(await asyncio.to_thread(http_get, base + path))[0] for path in paths]

    assert asyncio.run(scenario()) == [401, 401, 200, 200]
    with pytest.raises(ValueError, match="protect_metrics needs a token"):
        ServerConfig(protect_metrics=True)


@pytest.mark.parametrize(("host", "warned"), [("0.0.0.0", True), ("127.0.0.1", False)])
def test_listening_beyond_this_machine_without_a_token_is_a_loud_warning(
    greedy_recognizer: StreamingRecognizer, host: str, warned: bool, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with running_server(greedy_recognizer, host=host):
            pass

    with caplog.at_level(logging.WARNING, logger="asr.server"):
        asyncio.run(scenario())
    warnings = [record for record in caplog.records if getattr(record, "event", None) == "open_server"]
    assert len(warnings) == int(warned)
    assert not warned or "0.0.0.0" in warnings[0].getMessage()


@pytest.mark.parametrize(("flag", "environment", "message"), [
    (["--token", ""], {}, "--token is set but empty"),
    ([], {"ASR_SERVER_TOKEN": ""}, "ASR_SERVER_TOKEN is set but empty"),
    ([], {"ASR_SERVER_TOKEN": "  "}, "ASR_SERVER_TOKEN is set but empty"),
])  # fmt: skip
def test_an_empty_token_stops_asr_serve_instead_of_opening_it(flag: list[str], environment: dict[str, str], message: str) -> None:
    """As from a systemd EnvironmentFile with "ASR_SERVER_TOKEN=": the old server started open and said nothing."""
    command = [sys.executable, "-m", "asr", "serve", "--port", "0", *flag]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env={**os.environ, **environment}, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_tls(greedy_recognizer: StreamingRecognizer, sentence: Path, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    samples, rate = read_pcm16(sentence)
    client_context = ssl.create_default_context(cafile=str(cert))

    async def scenario() -> Exchange:
        async with running_server(greedy_recognizer, certfile=str(cert), keyfile=str(key)) as server:
            async with connect(url(server, scheme="wss"), ssl=client_context) as ws:
                await ws.send(json.dumps({"type": "start", "sample_rate": rate}))
                for frame in pcm_chunks(samples, [rate // 10]):
                    await ws.send(frame)
                await ws.send(json.dumps({"type": "stop"}))
                return await read_all(ws)

    assert asyncio.run(scenario()).final["text"] == transcribe_file(greedy_recognizer, sentence).transcript.text


def test_sigterm_finishes_every_active_session_then_exits_0(sentence: Path, tmp_path: Path) -> None:
    """A real `asr serve` process: two clients mid-stream get their final results, `end`, and close 1001."""
    samples, rate = read_pcm16(sentence)
    frames = pcm_chunks(samples, [rate // 10])

    async def client(address: str, heard: asyncio.Event) -> Exchange:
        async with connect(address) as ws:
            await ws.send(json.dumps({"type": "start", "sample_rate": rate}))
            for frame in frames:
                await ws.send(frame)
            while json.loads(await ws.recv()).get("audio_end", 0) < len(samples) / rate - 1e-3:
                pass
            heard.set()
            return await read_all(ws)  # no stop: the server ends the session

    async def scenario() -> tuple[list[Exchange], int, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "asr.cli", "serve", "--port", "0", "--device", "cpu", "--log-format", "json",
            cwd=ROOT, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        port = None
        while port is None:
            line = await asyncio.wait_for(process.stderr.readline(), 60)
            assert line, "asr serve exited before listening"
            entry = json.loads(line)
            port = entry["port"] if entry["event"] == "listening" else None  # once every server process listens
        heard = [asyncio.Event(), asyncio.Event()]
        clients = [asyncio.create_task(client(f"ws://127.0.0.1:{port}/v1/stream", event)) for event in heard]
        await asyncio.wait_for(asyncio.gather(*(event.wait() for event in heard)), 30)
        process.send_signal(signal.SIGTERM)
        exchanges = await asyncio.wait_for(asyncio.gather(*clients), 30)
        _, log = await asyncio.wait_for(process.communicate(), 30)
        return exchanges, process.returncode, log.decode()

    exchanges, returncode, log = asyncio.run(scenario())
    for exchange in exchanges:
        assert [m["type"] for m in exchange.messages[-2:]] == ["final", "end"]
        assert exchange.final["end"] == pytest.approx(len(samples) / rate, abs=1e-3)
        assert exchange.close_code == 1001
    assert returncode == 0
    events = [json.loads(line)["event"] for line in log.splitlines() if line.startswith("{")]
    assert events[-1] == "stopped" and "shutdown" in events


def test_processes_share_one_port_each_serving_sessions_and_all_drain_on_sigterm(sentence: Path) -> None:
    """`asr serve --processes 2`: one 'listening' once both listen, connections reach both, /metrics in
    either reports both, a second server cannot take the port, SIGTERM drains both, exit 0."""
    samples, rate = read_pcm16(sentence)

    async def client(address: str) -> Exchange:
        async with connect(address) as ws:
            await ws.send(json.dumps({"type": "start", "sample_rate": rate}))
            for frame in pcm_chunks(samples, [rate // 10]):
                await ws.send(frame)
            await ws.send(json.dumps({"type": "stop"}))
            return await read_all(ws)

    async def scenario() -> tuple[list[dict], set[int], list[Exchange], list[str], int, list[dict]]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "asr.cli", "serve", "--port", "0", "--device", "cpu", "--log-format", "json", "--processes", "2",
            cwd=ROOT, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        startup: list[dict] = []
        while not startup or startup[-1].get("event") != "listening":
            line = await asyncio.wait_for(process.stderr.readline(), 120)
            assert line, "asr serve exited before listening"
            startup.append(json.loads(line))
        port = startup[-1]["port"]
        health = await asyncio.gather(*(asyncio.to_thread(http_get, f"http://127.0.0.1:{port}/healthz") for _ in range(40)))
        pids = {json.loads(body)["process"] for _, _, body in health}
        exchanges = await asyncio.wait_for(asyncio.gather(*(client(f"ws://127.0.0.1:{port}/v1/stream") for _ in range(4))), 60)
        for _ in range(100):  # a client reads its 'end' a moment before its process lets go of the session
            if metric_values((await asyncio.to_thread(http_get, f"http://127.0.0.1:{port}/metrics"))[2])["asr_active_sessions"] == "0.0":
                break
            await asyncio.sleep(0.1)
        metrics = await asyncio.gather(*(asyncio.to_thread(http_get, f"http://127.0.0.1:{port}/metrics") for _ in range(10)))
        second = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "asr.cli", "serve", "--port", str(port), "--processes", "2"], capture_output=True, text=True, cwd=ROOT, timeout=60
        )  # fmt: skip
        assert second.returncode == 2 and "Address already in use" in second.stderr  # it must not join the running group
        process.send_signal(signal.SIGTERM)
        _, rest = await asyncio.wait_for(process.communicate(), 60)
        shutdown = [json.loads(line) for line in rest.decode().splitlines() if line.startswith("{")]
        return startup, pids, exchanges, [body for _, _, body in metrics], process.returncode, shutdown

    startup, pids, exchanges, metrics, returncode, shutdown = asyncio.run(scenario())
    assert [entry["event"] for entry in startup].count("process_listening") == 2 and startup[-1]["processes"] == 2
    assert len(pids) == 2  # the kernel spread 40 connections over both (all on one: a chance of 2 in 2**40)
    texts = {exchange.final["text"] for exchange in exchanges}
    assert len(texts) == 1 and texts != {""}  # the same audio is the same transcript in either process
    for body in metrics:  # whichever process answered (10 requests: all to one has a chance of 2 in 2**10)
        values = metric_values(body)
        assert float(values['asr_sessions_total{protocol="native"}']) == 4 and float(values["asr_active_sessions"]) == 0
        assert float(values["asr_audio_seconds_total"]) == pytest.approx(4 * len(samples) / rate, abs=1e-3)
    assert returncode == 0
    assert [entry["event"] for entry in shutdown].count("stopped") == 2


def test_a_child_process_startup_error_stops_asr_serve_with_its_message(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "asr.cli", "serve", "--port", "0", "--processes", "2", "--model", str(tmp_path / "missing.pt")]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 2
    assert "asr serve: error:" in result.stderr and "missing.pt" in result.stderr


def test_healthz_says_draining_with_503_while_sessions_finish(greedy_recognizer: StreamingRecognizer, sentence: Path) -> None:
    """The listener stays open through the drain: health checks see 503 and new sessions are refused, as documented."""
    samples, rate = read_pcm16(sentence)

    async def scenario() -> tuple[tuple[int, str, str], int, Exchange]:
        async with running_server(greedy_recognizer) as server:
            async with connect(url(server)) as ws:
                await ws.send(json.dumps({"type": "start", "sample_rate": rate}))
                for frame in pcm_chunks(samples, [rate // 10]):
                    await ws.send(frame)
                while json.loads(await ws.recv()).get("audio_end", 0) < len(samples) / rate - 1e-3:
                    pass  # until the server has all the audio: a drain finishes what it has received
                ws.transport.pause_reading()  # a slow client: the drain waits for it to take its final
                health_url, session_url = url(server, scheme="http", path="/healthz"), url(server)
                shutdown = asyncio.create_task(server.shutdown())
                await asyncio.sleep(0.2)
                health = await asyncio.to_thread(http_get, health_url)
                with pytest.raises(InvalidStatus) as refused:
                    await connect(session_url)
                ws.transport.resume_reading()
                exchange = await read_all(ws)
                await shutdown
            return health, refused.value.response.status_code, exchange

    (status, _, body), refused, exchange = asyncio.run(scenario())
    assert (status, json.loads(body)["status"]) == (503, "draining")
    assert refused == 503
    assert exchange.final["text"] == transcribe_file(greedy_recognizer, sentence).transcript.text and exchange.close_code == 1001


def raw_http(port: int, request: str) -> bytes:
    """Everything the server sends back for one raw HTTP request, until it closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(request.encode())
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    return received


def test_head_gets_headers_only_and_other_methods_get_405(greedy_recognizer: StreamingRecognizer) -> None:
    async def scenario() -> dict[str, bytes]:
        async with running_server(greedy_recognizer) as server:
            requests = {
                method: f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n"
                for method, path in [("HEAD", "/healthz"), ("GET", "/healthz"), ("POST", "/healthz"), ("DELETE", "/v1/stream"), ("PUT", "/metrics")]
            }
            return {method: await asyncio.to_thread(raw_http, server.port, request) for method, request in requests.items()}

    replies = asyncio.run(scenario())
    head, _, head_body = replies["HEAD"].partition(b"\r\n\r\n")
    get, _, get_body = replies["GET"].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and head_body == b"" and json.loads(get_body)["status"] == "ok"
    assert f"Content-Length: {len(get_body)}".encode() in head
    for method in ("POST", "DELETE", "PUT"):
        status, _, body = replies[method].partition(b"\r\n\r\n")
        assert status.startswith(b"HTTP/1.1 405") and b"Allow: GET, HEAD" in status, method
        assert json.loads(body)["code"] == "method_not_allowed"


def test_config_file_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "server.toml"
    path.write_text('[server]\nport = 9000\nmax_sessions = 7\nidle_timeout = 5.0\n')
    config = load_server_config(path, {"port": 9100, "host": None})
    assert (config.port, config.max_sessions, config.idle_timeout, config.host) == (9100, 7, 5.0, "127.0.0.1")
    assert load_server_config(ROOT / "configs" / "server.toml") == ServerConfig()  # the shipped file states the defaults


@pytest.mark.parametrize(
    "text, message",
    [
        ("[server]\nmax_sesions = 3\n", "unknown key(s) max_sesions"),
        ("[srv]\n", "unknown section(s) srv"),
        ("[server]\nmax_sessions = 0\n", "max_sessions must be positive"),
        ("[server]\nworkers = 0\n", "workers must be positive"),
        ("[server]\nprocesses = 0\n", "processes must be positive"),
        ("[server]\ncertfile = 'c.pem'\n", "needs both certfile and keyfile"),
        ("[server]\ntoken = ''\n", "token must not be empty"),
        ("[server]\nbeam_size = 0\n", "beam_size must be at least 1"),
        ("[server]\nmin_beam_size = 0\n", "min_beam_size must be at least 1"),
        ("[server]\nprecision = 'int4'\n", "precision must be one of auto, float32, int8"),
        ("[server\n", "invalid TOML"),
    ],
)
def test_bad_config_files_are_named_with_the_reason(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match="bad.toml") as error:
        load_server_config(path)
    assert message in str(error.value)


def test_without_a_number_of_processes_the_server_runs_one_per_core_as_memory_allows(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ServerConfig().processes is None and load_server_config(ROOT / "configs" / "server.toml").processes is None
    monkeypatch.setattr(worker_pool, "usable_cores", lambda: 4)
    monkeypatch.setattr(worker_pool, "available_memory", lambda: int(64e9))
    assert default_processes() == 4
    monkeypatch.setattr(worker_pool, "usable_cores", lambda: 64)
    assert default_processes() == MAX_AUTO_PROCESSES
    monkeypatch.setattr(worker_pool, "available_memory", lambda: int(2.5e9))  # 1 GB each
    assert default_processes() == 2
    monkeypatch.setattr(worker_pool, "usable_cores", lambda: 1)
    assert default_processes() == 1  # one core: the server runs in the asr process itself


def test_the_server_searches_with_the_models_server_beam_and_the_beam_size_setting_wins() -> None:
    folder = resolve_model_path(None).parent
    tuned, served = tuned_search(folder), server_search(folder)
    assert served is not None and served.beam_size < tuned.beam_size  # the shipped model names a narrower one for servers
    assert SpeechServer(ServerConfig()).recognizer.decoder.config == served == replace(tuned, beam_size=served.beam_size)
    assert SpeechServer(ServerConfig(beam_size=tuned.beam_size + 700)).recognizer.decoder.config == replace(tuned, beam_size=tuned.beam_size + 700)


def test_the_denoise_setting_reaches_every_streams_front_end() -> None:
    assert SpeechServer(ServerConfig(denoise=0.3)).recognizer.logmel.config.denoise_mix == 0.3
    assert SpeechServer(ServerConfig()).recognizer.logmel.config.denoise_mix == 0.0  # off unless asked for
    with pytest.raises(ValueError, match="denoise must be 0"):
        ServerConfig(denoise=1.5)


def test_asr_serve_is_a_subcommand_with_help() -> None:
    result = subprocess.run([sys.executable, "-m", "asr.cli", "serve", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0
    assert "/v1/stream" in result.stdout and "--max-sessions" in result.stdout and "SIGTERM" in result.stdout


def test_asr_serve_reports_a_bad_config_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "server.toml"
    path.write_text("[server]\nport = 99999\n")
    result = subprocess.run([sys.executable, "-m", "asr.cli", "serve", "--config", str(path)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2
    assert "port must be 0-65535" in result.stderr and "server.toml" in result.stderr
