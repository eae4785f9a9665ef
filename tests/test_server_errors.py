"""Bad input and limits: each ends only its own session, with a JSON error and a close code."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import torch
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from asr.stream import StreamingRecognizer
from asr.transcribe import transcribe_file
from server import session as session_module
from tests.conftest import CHARACTER_MODEL
from tests.server_util import Exchange, idle, pcm_chunks, read_all, read_pcm16, running_server, server_in_thread, speak, stream_native, url

START = json.dumps({"type": "start", "sample_rate": 16000})


@pytest.fixture(scope="module")
def sentence(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return speak("seven green bottles are standing on the wall", tmp_path_factory.mktemp("speech") / "s.wav")


async def misbehave(address: str, *messages: str | bytes) -> Exchange:
    async with connect(address, compression=None, max_size=None) as ws:
        for message in messages:
            await ws.send(message)
        return await read_all(ws)


BAD_SESSIONS: dict[str, tuple[tuple[str | bytes, ...], str, int]] = {
    "malformed JSON": (("{not json",), "bad_json", 1007),
    "a JSON list": (("[1, 2]",), "bad_message", 1007),
    "unknown type": (('{"type": "pause"}',), "bad_message", 1007),
    "audio before start": ((b"\x00\x01" * 800,), "audio_before_start", 1008),
    "stop before start": (('{"type": "stop"}',), "stop_before_start", 1008),
    "odd byte count": ((START, b"\x00" * 801), "bad_audio", 1007),
    "wrong format": (('{"type": "start", "format": "mp3"}',), "unsupported_format", 1003),
    "sample rate too low": (('{"type": "start", "sample_rate": 4000}',), "bad_sample_rate", 1007),
    "sample rate not a number": (('{"type": "start", "sample_rate": "16k"}',), "bad_sample_rate", 1007),
    "unknown start field": (('{"type": "start", "language": "fr"}',), "bad_message", 1007),
    "bad hotword": (('{"type": "start", "hotwords": [""]}',), "bad_message", 1007),
    "hotword with digits": (('{"type": "start", "hotwords": ["R2D2"]}',), "bad_message", 1007),
    "start twice": ((START, b"\x00\x00" * 1600, START), "already_started", 1008),
    "NaN float32": (('{"type": "start", "format": "float32"}', np.array([0.1, np.nan], "<f4").tobytes()), "bad_audio", 1007),
    "frame over the limit": ((START, b"\x00\x00" * 40_000), "frame_too_large", 1009),
}


@pytest.mark.parametrize("case", list(BAD_SESSIONS), ids=list(BAD_SESSIONS))
def test_bad_input_gets_an_error_and_a_close_code_while_another_session_is_unharmed(
    greedy_recognizer: StreamingRecognizer, sentence: Path, case: str
) -> None:
    messages, code, close_code = BAD_SESSIONS[case]
    samples, rate = read_pcm16(sentence)

    async def scenario() -> tuple[Exchange, Exchange, int]:
        async with running_server(greedy_recognizer, max_frame_bytes=64_000) as server:
            good = asyncio.create_task(stream_native(url(server), pcm_chunks(samples, [rate // 10]), rate))
            bad = await misbehave(url(server), *messages)
            return bad, await good, await idle(server)

    bad, good, sessions_left = asyncio.run(scenario())
    assert bad.error_code == code
    assert bad.close_code == close_code
    assert bad.messages[-1]["message"]  # a human-readable reason
    assert good.final["text"] == transcribe_file(greedy_recognizer, sentence).transcript.text
    assert sessions_left == 0


UNREADABLE_JSON = {
    "a 5000-digit number": '{"type": "stop", "n": 1' + "0" * 5000 + "}",
    "a format that is a list": '{"type": "start", "format": ["pcm16"]}',
    "nesting deeper than the stack": '{"type": "stop", "n": ' + "[" * 100_000 + "]" * 100_000 + "}",
}


@pytest.mark.parametrize("case", list(UNREADABLE_JSON), ids=list(UNREADABLE_JSON))
def test_json_python_cannot_hold_is_a_bad_message_and_the_audio_before_it_gets_its_final(
    greedy_recognizer: StreamingRecognizer, sentence: Path, case: str
) -> None:
    """These once closed the session 1011 'internal' with a traceback, and the audio already sent got no final."""
    samples, rate = read_pcm16(sentence)

    async def scenario() -> Exchange:
        async with running_server(greedy_recognizer) as server:
            start = json.dumps({"type": "start", "sample_rate": rate})
            return await misbehave(url(server), start, *pcm_chunks(samples, [rate // 10]), UNREADABLE_JSON[case])

    bad = asyncio.run(scenario())
    assert (bad.error_code, bad.close_code) == ("bad_message", 1007)
    assert bad.final["text"] == transcribe_file(greedy_recognizer, sentence).transcript.text


def test_float32_samples_beyond_full_scale_are_clipped_to_it(greedy_recognizer: StreamingRecognizer, sentence: Path) -> None:
    """Samples of 1e30 were taken as they came, far outside the documented [-1, 1]."""
    samples, rate = read_pcm16(sentence)
    loud = samples.astype("<f4") * np.float32(1e30)  # finite, and far beyond full scale

    def frames(audio: np.ndarray) -> list[bytes]:
        return [audio[start : start + rate // 10].astype("<f4").tobytes() for start in range(0, len(audio), rate // 10)]

    async def scenario() -> tuple[Exchange, Exchange]:
        async with running_server(greedy_recognizer) as server:
            sessions = [stream_native(url(server), frames(audio), rate, fmt="float32") for audio in (loud, np.clip(loud, -1, 1))]
            return tuple(await asyncio.gather(*sessions))

    overloaded, clipped = asyncio.run(scenario())
    assert overloaded.error_code is None
    assert overloaded.final["text"] == clipped.final["text"] and overloaded.final["words"] == clipped.final["words"]


def test_a_frame_far_over_the_limit_is_refused_by_the_transport(greedy_recognizer: StreamingRecognizer) -> None:
    async def scenario() -> Exchange:
        async with running_server(greedy_recognizer, max_frame_bytes=10_000) as server:
            return await misbehave(url(server), START, b"\x00" * 100_000)

    assert asyncio.run(scenario()).close_code == 1009


def test_a_client_that_vanishes_mid_stream_harms_nobody(greedy_recognizer: StreamingRecognizer, sentence: Path) -> None:
    samples, rate = read_pcm16(sentence)
    frames = pcm_chunks(samples, [rate // 10])

    async def vanish(address: str) -> None:
        ws = await connect(address)
        await ws.send(json.dumps({"type": "start", "sample_rate": rate}))
        for frame in frames[:5]:
            await ws.send(frame)
        ws.transport.abort()  # no close frame, no stop: the TCP connection just drops

    async def scenario() -> tuple[list[Exchange], dict[str, Any]]:
        async with running_server(greedy_recognizer) as server:
            results = await asyncio.gather(*(vanish(url(server)) for _ in range(3)), stream_native(url(server), frames, rate))
            await idle(server)
            after = await stream_native(url(server), frames, rate)
            return [results[-1], after], {"sessions": await idle(server), "active": server.metrics.registry.get_sample_value("asr_active_sessions")}

    (during, after), state = asyncio.run(scenario())
    expected = transcribe_file(greedy_recognizer, sentence).transcript.text
    assert during.final["text"] == expected and after.final["text"] == expected
    assert state == {"sessions": 0, "active": 0.0}


async def _session_limit_scenario(greedy_recognizer: StreamingRecognizer, client: Callable[[ClientConnection], Awaitable[None]], **settings: Any) -> Exchange:
    async with running_server(greedy_recognizer, **settings) as server:
        async with connect(url(server)) as ws:
            await client(ws)
            return await read_all(ws)


def test_idle_timeout_closes_a_silent_session(greedy_recognizer: StreamingRecognizer) -> None:
    async def silent_after_start(ws: ClientConnection) -> None:
        await ws.send(START)

    exchange = asyncio.run(_session_limit_scenario(greedy_recognizer, silent_after_start, idle_timeout=0.3))
    assert (exchange.error_code, exchange.close_code) == ("idle_timeout", 1008)


def test_vosk_clients_may_pause_longer_than_native_ones(greedy_recognizer: StreamingRecognizer, sentence: Path) -> None:
    """A Vosk client pausing 1 s between utterances keeps its session where a native one would be cut at 0.3 s."""
    samples, rate = read_pcm16(sentence)
    frames = pcm_chunks(samples, [rate // 2])

    async def scenario() -> Exchange:
        async with running_server(greedy_recognizer, idle_timeout=0.3, vosk_idle_timeout=5.0) as server:
            async with connect(url(server, "/vosk")) as ws:
                await ws.send(json.dumps({"config": {"sample_rate": rate}}))
                for index, frame in enumerate(frames):
                    await ws.send(frame)
                    await ws.recv()
                    if index == 0:
                        await asyncio.sleep(1.0)
                await ws.send('{"eof" : 1}')
                return await read_all(ws)

    exchange = asyncio.run(scenario())
    assert exchange.close_code == 1000 and exchange.messages[-1]["text"] == transcribe_file(greedy_recognizer, sentence).transcript.text


def test_sessions_longer_than_the_limit_are_ended(greedy_recognizer: StreamingRecognizer) -> None:
    async def one_second(ws: ClientConnection) -> None:
        await ws.send(START)
        for _ in range(10):
            await ws.send(b"\x00\x00" * 1600)

    exchange = asyncio.run(_session_limit_scenario(greedy_recognizer, one_second, max_session_seconds=0.5))
    assert (exchange.error_code, exchange.close_code) == ("session_too_long", 1008)
    assert exchange.final["end"] == pytest.approx(0.5)  # the audio up to the limit still gets its final result


def test_the_server_refuses_sessions_beyond_its_limit_with_503(greedy_recognizer: StreamingRecognizer) -> None:
    async def scenario() -> tuple[int, float | None]:
        async with running_server(greedy_recognizer, max_sessions=2) as server:
            async with connect(url(server)) as first, connect(url(server)) as second:
                await first.send(START)
                await second.send(START)
                with pytest.raises(InvalidStatus) as refused:
                    await connect(url(server))
                body = json.loads(refused.value.response.body)
                assert body["code"] == "too_many_sessions"
            metric = server.metrics.registry.get_sample_value("asr_refused_connections_total", {"reason": "too_many_sessions"})
            return refused.value.response.status_code, metric

    assert asyncio.run(scenario()) == (503, 1.0)


def test_a_client_faster_than_the_model_is_slowed_down_not_dropped(
    greedy_recognizer: StreamingRecognizer, sentence: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 0.1 s queue and 3 s of audio sent at once in 20 ms frames: the buffer stays bounded, nothing is lost."""
    samples, rate = read_pcm16(sentence)
    frame = rate // 50
    peak = [0]
    put = session_module._AudioBuffer.put

    async def measured_put(self: session_module._AudioBuffer, chunk: torch.Tensor) -> None:
        await put(self, chunk)
        peak[0] = max(peak[0], self._size)

    monkeypatch.setattr(session_module._AudioBuffer, "put", measured_put)

    async def scenario() -> Exchange:
        async with running_server(greedy_recognizer, queue_seconds=0.1) as server:
            return await stream_native(url(server), pcm_chunks(samples, [frame]), rate)

    assert asyncio.run(scenario()).final["text"] == transcribe_file(greedy_recognizer, sentence).transcript.text
    capacity = int(0.1 * rate)
    assert capacity <= peak[0] <= capacity + frame  # it filled, and a put waits while it is full


def _rss_mb(pid: int) -> float:
    """A process's resident memory, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the server's memory from /proc")
def test_clients_flooding_full_size_frames_cost_the_server_about_their_audio_buffers() -> None:
    """12 clients send 1 MiB frames (32 s of audio each) as fast as TCP lets them, into a real `asr serve`.

    A probe saw 50-60 MB of server memory per such client: the websocket layer queued 16 frames of
    up to 2 MiB each, ahead of the 10 s audio buffer. Each may now cost a few frames at most.
    """
    clients, frame = 12, b"\x01\x00" * (1 << 19)  # 1 MiB, the default max_frame_bytes

    async def flood(port: int, until: float) -> None:
        async with connect(f"ws://127.0.0.1:{port}/v1/stream", compression=None, max_size=None) as ws:
            await ws.send(START)
            with contextlib.suppress(ConnectionClosed):
                while asyncio.get_running_loop().time() < until:
                    await ws.send(frame)

    async def scenario() -> tuple[float, float]:
        command = [sys.executable, "-m", "asr", "serve", "--port", "0", "--model", CHARACTER_MODEL, "--decoder", "greedy", "--log-format", "json"]
        process = await asyncio.create_subprocess_exec(*command, stderr=asyncio.subprocess.PIPE)
        try:
            port = None
            while port is None:
                line = await asyncio.wait_for(process.stderr.readline(), 60)
                assert line, "asr serve exited before listening"
                port = json.loads(line).get("port")
            loop = asyncio.get_running_loop()
            await flood(port, loop.time() + 1.0)  # one client first: the model and its buffers are warm
            baseline, peak = _rss_mb(process.pid), 0.0
            floods = asyncio.gather(*(flood(port, loop.time() + 8.0) for _ in range(clients)))
            while not floods.done():
                peak = max(peak, _rss_mb(process.pid))
                await asyncio.sleep(0.1)
            await floods
            return baseline, peak
        finally:
            process.terminate()
            await process.wait()

    baseline, peak = asyncio.run(scenario())
    assert (peak - baseline) / clients < 15, f"{peak - baseline:.0f} MB for {clients} flooding clients"


def test_unknown_paths_get_404(greedy_recognizer: StreamingRecognizer) -> None:
    async def scenario() -> int:
        async with running_server(greedy_recognizer) as server:
            with pytest.raises(InvalidStatus) as refused:
                await connect(url(server, "/v2/whatever"))
            return refused.value.response.status_code

    assert asyncio.run(scenario()) == 404


async def hostile(address: str, messages: list[str | bytes]) -> Exchange:
    """Send ``messages`` (as far as the server lets), take what comes back within a second, then hang up."""
    async with connect(address, compression=None, max_size=None) as ws:
        with contextlib.suppress(ConnectionClosed):
            for message in messages:
                await ws.send(message)
        received = []
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            while True:
                message = await asyncio.wait_for(ws.recv(), 1.0)
                received.append(message if message == "Done!" else json.loads(message))  # sherpa-onnx's last message is not JSON
        return Exchange(received, ws.close_code, ws.close_reason or "")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(["type", "sample_rate", "format", "hotwords", "words", "config", "eof", "reset", "phrase_list", "max_alternatives", "x"]), children, max_size=4),
    max_leaves=12,
)
client_messages = st.lists(
    st.binary(max_size=3000)
    | st.text(max_size=200)
    | json_values.map(json.dumps)
    | st.fixed_dictionaries({"type": st.just("start")}, optional={"sample_rate": json_values, "format": json_values, "hotwords": json_values}).map(json.dumps)
    | st.fixed_dictionaries({}, optional={"sample_rate": json_values, "phrase_list": json_values, "max_alternatives": json_values, "words": json_values}).map(
        lambda config: json.dumps({"config": config})
    )
    | st.sampled_from(['{"reset" : 1}', '{"eof" : 1}', '{"signal": "start"}', '{"signal": "end"}', '{"signal": "start", "nbest": 3, "continuous_decoding": true}', "Done"]),
    min_size=1,
    max_size=5,
)


@pytest.mark.parametrize("path", ["/v1/stream", "/vosk", "/wenet", "/sherpa"])
def test_any_messages_end_only_their_own_session_and_a_healthy_one_gets_its_final(
    greedy_recognizer: StreamingRecognizer, sentence: Path, path: str
) -> None:
    """Arbitrary text and binary messages (hypothesis) to one real server: each session ends in an answer
    the protocol allows, and a healthy session streaming alongside every one of them gets its correct final."""
    samples, rate = read_pcm16(sentence)
    frames = pcm_chunks(samples, [rate // 5])
    expected = transcribe_file(greedy_recognizer, sentence).transcript.text

    with server_in_thread(greedy_recognizer, max_frame_bytes=64_000) as (port, _):
        address = f"ws://127.0.0.1:{port}"

        @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(messages=client_messages)
        def check(messages: list[str | bytes]) -> None:
            async def scenario() -> tuple[Exchange, Exchange]:
                healthy = asyncio.create_task(stream_native(address + "/v1/stream", frames, rate))
                return await hostile(address + path, messages), await asyncio.wait_for(healthy, 30)

            answered, healthy = asyncio.run(scenario())
            assert healthy.final["text"] == expected
            assert answered.close_code in (None, 1000, 1003, 1007, 1008, 1009)  # never 1011: no input is a server error
            assert all(isinstance(message, dict) for message in answered.messages if message != "Done!")  # JSON objects, in every dialect
            if path in ("/vosk", "/sherpa"):  # their results only: these clients know no error message
                assert all("type" not in message for message in answered.messages)

        check()
