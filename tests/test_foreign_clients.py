"""WeNet's and sherpa-onnx's websocket protocols through a real server, with clients that do what
WeNet's performance-ws.py and sherpa-onnx's online-websocket-client-decode-file.py do."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from websockets.asyncio.client import connect

from asr.audio import load_audio
from asr.endpoint import EndpointConfig
from asr.stream import StreamingRecognizer
from tests.server_util import Exchange, offline, pcm_chunks, read_all, read_pcm16, running_server, speak, url

SENTENCES = ["please call stella and ask her to bring these things", "turn the lights off in the kitchen", "the meeting starts at ten"]


def at_16k(path: Path, out: Path) -> np.ndarray:
    samples, rate = read_pcm16(path)
    resampled = np.interp(np.arange(0, len(samples), rate / 16000), np.arange(len(samples)), samples).astype(np.int16)
    soundfile.write(out, resampled, 16000, subtype="PCM_16")
    return resampled


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The sentences at 16 kHz, as WeNet's and sherpa-onnx's clients require, and all three with 1.5 s pauses."""
    folder = tmp_path_factory.mktemp("foreign")
    parts = [at_16k(speak(text, folder / f"{i}-22k.wav"), folder / f"{i}.wav") for i, text in enumerate(SENTENCES)]
    pause = np.zeros(24000, dtype=np.int16)
    soundfile.write(folder / "three.wav", np.concatenate([parts[0], pause, parts[1], pause, parts[2]]), 16000, subtype="PCM_16")
    return [folder / f"{i}.wav" for i in range(len(SENTENCES))] + [folder / "three.wav"]


def utterances(recognizer: StreamingRecognizer, path: Path) -> list[str]:
    """The file at once through a stream cut at endpoints, as the server cuts it: each utterance's text."""
    stream = recognizer.create_stream(16000, endpoint=EndpointConfig())
    stream.feed(load_audio(path))
    stream.end_input()
    return [segment.transcript.text for segment in recognizer.step([stream])[0].ended if segment.transcript.text]


async def wenet_client(address: str, audio: bytes, **start: Any) -> tuple[dict, list[dict], Exchange]:
    """As performance-ws.py: start, await server_ready, all audio in one message, end, read to speech_end."""
    async with connect(address) as ws:
        await ws.send(json.dumps({"signal": "start", "nbest": 1, "continuous_decoding": False, **start}))
        ready = json.loads(await ws.recv())
        await ws.send(audio)
        await ws.send(json.dumps({"signal": "end"}))
        exchange = await read_all(ws)
    return ready, [message for message in exchange.messages if message.get("type") == "final_result"], exchange


def wenet(recognizer: StreamingRecognizer, path: Path, route: str = "/wenet", **start: Any) -> tuple[dict, list[dict], Exchange]:
    samples, _ = read_pcm16(path)

    async def scenario() -> tuple[dict, list[dict], Exchange]:
        async with running_server(recognizer, root_protocol="wenet") as server:
            return await wenet_client(url(server, route), samples.astype("<i2").tobytes(), **start)

    return asyncio.run(scenario())


@pytest.mark.parametrize("route", ["/wenet", "/"])
def test_wenet_performance_client_gets_the_offline_transcript(greedy_recognizer: StreamingRecognizer, clips: list[Path], route: str) -> None:
    ready, finals, exchange = wenet(greedy_recognizer, clips[0], route)
    assert ready == {"status": "ok", "type": "server_ready"}
    (final,) = finals
    nbest = json.loads(final["nbest"])  # a JSON string inside the JSON, as WeNet sends it
    expected = offline(greedy_recognizer, clips[0])
    assert nbest[0]["sentence"] == expected.text
    assert [(p["word"], p["start"], p["end"]) for p in nbest[0]["word_pieces"]] == [(w.word, round(w.start * 1000), round(w.end * 1000)) for w in expected.words]
    assert exchange.messages[-1] == {"status": "ok", "type": "speech_end"} and exchange.close_code == 1000


def test_wenet_continuous_decoding_gives_a_final_per_utterance_and_without_it_only_the_first(
    greedy_recognizer: StreamingRecognizer, clips: list[Path]
) -> None:
    expected = utterances(greedy_recognizer, clips[3])
    assert len(expected) == 3
    _, finals, exchange = wenet(greedy_recognizer, clips[3], continuous_decoding=True)
    said = [json.loads(final["nbest"])[0]["sentence"] for final in finals]
    assert [text for text in said if text] == expected and exchange.messages[-1]["type"] == "speech_end"
    _, finals, exchange = wenet(greedy_recognizer, clips[3], continuous_decoding=False)
    assert [json.loads(final["nbest"])[0]["sentence"] for final in finals] == expected[:1]  # WeNet stops at the first endpoint
    assert exchange.messages[-1]["type"] == "speech_end" and exchange.close_code == 1000


def test_wenet_partials_and_an_nbest_list(default_recognizer: StreamingRecognizer, clips: list[Path]) -> None:
    samples, _ = read_pcm16(clips[1])

    async def scenario() -> Exchange:
        async with running_server(default_recognizer) as server, connect(url(server, "/wenet")) as ws:
            await ws.send(json.dumps({"signal": "start", "nbest": 3, "continuous_decoding": True}))
            await ws.recv()
            for frame in pcm_chunks(samples, [3200]):
                await ws.send(frame)
                await asyncio.sleep(0.01)
            await ws.send(json.dumps({"signal": "end"}))
            return await read_all(ws)

    exchange = asyncio.run(scenario())
    partials = [json.loads(m["nbest"]) for m in exchange.messages if m["type"] == "partial_result"]
    assert partials and all(len(p) == 1 and set(p[0]) == {"sentence"} and p[0]["sentence"] for p in partials)  # only once something is recognized
    (final,) = [json.loads(m["nbest"]) for m in exchange.messages if m["type"] == "final_result" and json.loads(m["nbest"])[0]["sentence"]]
    assert 2 <= len(final) <= 3 and len({alternative["sentence"] for alternative in final}) == len(final)


def test_wenet_errors_are_its_failed_status(greedy_recognizer: StreamingRecognizer) -> None:
    async def scenario() -> Exchange:
        async with running_server(greedy_recognizer) as server, connect(url(server, "/wenet")) as ws:
            await ws.send(b"\x00\x00" * 160)  # audio before the start signal
            return await read_all(ws)

    exchange = asyncio.run(scenario())
    (failed,) = exchange.messages
    assert failed["status"] == "failed" and "start" in failed["message"] and exchange.close_code == 1008


async def sherpa_client(address: str, samples: np.ndarray) -> list[dict | str]:
    """As online-websocket-client-decode-file.py: float32 messages of 8000 samples while a task reads until "Done!"."""
    async with connect(address) as ws:

        async def receive() -> list[dict | str]:
            messages: list[dict | str] = []
            async for message in ws:
                if message == "Done!":
                    return [*messages, message]
                messages.append(json.loads(message))
            return messages

        receiving = asyncio.create_task(receive())
        audio = (samples.astype(np.float32) / 32768).astype("<f4")
        for start in range(0, len(audio), 8000):
            await ws.send(audio[start : start + 8000].tobytes())
            await asyncio.sleep(0.01)
        await ws.send("Done")
        return await receiving


def sherpa(recognizer: StreamingRecognizer, path: Path, route: str) -> list[dict | str]:
    samples, _ = read_pcm16(path)

    async def scenario() -> list[dict | str]:
        async with running_server(recognizer, root_protocol="sherpa") as server:
            return await sherpa_client(url(server, route), samples)

    return asyncio.run(scenario())


@pytest.mark.parametrize("route", ["/sherpa", "/"])
def test_sherpa_onnx_file_client_gets_results_then_done(greedy_recognizer: StreamingRecognizer, clips: list[Path], route: str) -> None:
    messages = sherpa(greedy_recognizer, clips[0], route)
    assert messages[-1] == "Done!"
    *streaming, last = messages[:-1]
    assert all(set(m) == {"text", "tokens", "timestamps", "segment", "start_time", "is_final", "is_eof"} for m in messages[:-1])
    assert streaming and not any(m["is_final"] for m in streaming)
    expected = offline(greedy_recognizer, clips[0])
    assert last["is_final"] and last["is_eof"] and last["text"] == expected.text
    assert last["tokens"] == [w.word for w in expected.words]
    assert last["timestamps"] == pytest.approx([w.start - last["start_time"] for w in expected.words], abs=1.5e-3)


def test_sherpa_onnx_results_are_final_at_each_endpoint_with_segments_counting_up(greedy_recognizer: StreamingRecognizer, clips: list[Path]) -> None:
    messages = sherpa(greedy_recognizer, clips[3], "/sherpa")
    finals = [m for m in messages[:-1] if isinstance(m, dict) and m["is_final"]]
    assert [m["text"] for m in finals if m["text"]] == utterances(greedy_recognizer, clips[3])
    assert [m["segment"] for m in finals] == list(range(len(finals)))
    starts = [m["start_time"] for m in finals]
    assert starts == sorted(starts) and starts[-1] > 4.0  # the session's clock: the third sentence starts seconds in
