"""A real server on port 0 with real websocket clients: results equal offline transcription."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from pathlib import Path

import jiwer
import numpy as np
import pytest
import soundfile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from asr.decoding import Transcript
from asr.stream import StreamingRecognizer
from tests.server_util import Exchange, offline, pcm_chunks, read_all, read_pcm16, running_server, speak, stream_native, url, words_of

SENTENCES = [
    "hello world this is a test of the streaming server",
    "please call stella and ask her to bring these things",
    "the meeting starts at ten thirty on monday morning",
    "turn the lights off in the kitchen",
]


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("speech")
    return [speak(text, folder / f"{i}.wav") for i, text in enumerate(SENTENCES)]


def assert_matches_offline(result: dict, expected: Transcript) -> None:
    assert result["text"] == expected.text
    assert words_of(result) == [(w.word, round(w.start, 3), round(w.end, 3)) for w in expected.words]
    confs = [w["conf"] for w in result.get("words", result.get("result", []))]
    assert np.allclose(confs, [w.conf for w in expected.words], atol=2e-4)


async def vosk_session(recognizer: StreamingRecognizer, frames: list[bytes], config: dict | None) -> tuple[list[dict], Exchange]:
    """Talk the way Vosk's own example client does: optional config, one reply awaited per frame, eof."""
    async with running_server(recognizer) as server:
        async with connect(url(server, "/vosk")) as ws:
            if config is not None:
                await ws.send(json.dumps({"config": config}))
            replies = []
            for frame in frames:
                await ws.send(frame)
                replies.append(json.loads(await ws.recv()))
            await ws.send('{"eof" : 1}')
            return replies, await read_all(ws)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(1, 9000), min_size=1, max_size=6))
def test_a_session_equals_offline_transcription_for_any_chunking(greedy_recognizer: StreamingRecognizer, speech: list[Path], sizes: list[int]) -> None:
    samples, rate = read_pcm16(speech[0])

    async def session() -> Exchange:
        async with running_server(greedy_recognizer) as server:
            return await stream_native(url(server), pcm_chunks(samples, sizes), rate)

    exchange = asyncio.run(session())
    assert exchange.messages[0]["type"] == "ready"
    assert [m["type"] for m in exchange.messages[-2:]] == ["final", "end"]
    assert exchange.close_code == 1000
    assert_matches_offline(exchange.final, offline(greedy_recognizer, speech[0]))
    assert exchange.final["end"] == pytest.approx(len(samples) / rate, abs=1e-3)


@pytest.mark.parametrize(("workers", "max_batch"), [(1, 128), (3, 2)])  # 3 x 2: several small batches compute at once
def test_concurrent_sessions_at_any_rate_and_format_each_equal_offline(
    greedy_recognizer: StreamingRecognizer, speech: list[Path], tmp_path: Path, workers: int, max_batch: int
) -> None:
    """Eight clients at once, at 8-192 kHz (8001 Hz once cost 0.5 GB), in PCM16 and float32: batched together, each gets its own offline result."""
    rates = [8000, 11025, 16000, 22050, 8001, 44100, 48000, 191999]
    cases = []
    for i, rate in enumerate(rates):
        samples, source_rate = read_pcm16(speech[i % len(speech)])
        path = tmp_path / f"{i}.wav"
        resampled = np.interp(np.arange(0, len(samples), source_rate / rate), np.arange(len(samples)), samples).astype(np.int16)
        soundfile.write(path, resampled, rate, subtype="PCM_16")
        cases.append((path, resampled, rate, "float32" if i % 2 else "pcm16"))

    async def sessions() -> list[Exchange]:
        async with running_server(greedy_recognizer, workers=workers, max_batch=max_batch) as server:
            return await asyncio.gather(*(stream_native(url(server), pcm_chunks(s, [rate // 10], fmt), rate, fmt) for _, s, rate, fmt in cases))

    exchanges = asyncio.run(sessions())
    for (path, _, _, _), exchange in zip(cases, exchanges):
        assert_matches_offline(exchange.final, offline(greedy_recognizer, path))


def test_streams_are_batched_together(greedy_recognizer: StreamingRecognizer, speech: list[Path]) -> None:
    samples, rate = read_pcm16(speech[1])
    frames = pcm_chunks(samples, [rate // 20])

    async def sessions() -> float:
        async with running_server(greedy_recognizer, max_wait_ms=20.0) as server:
            await asyncio.gather(*(stream_native(url(server), frames, rate) for _ in range(6)))
            samples_seen = server.metrics.registry.get_sample_value
            return samples_seen("asr_batch_size_sum") / samples_seen("asr_batch_size_count")

    assert asyncio.run(sessions()) > 1.5  # mean streams per forward pass


def test_vosk_protocol_with_config_answers_every_frame_and_ends_with_the_result(greedy_recognizer: StreamingRecognizer, speech: list[Path]) -> None:
    samples, rate = read_pcm16(speech[2])
    frames = pcm_chunks(samples, [rate // 5])

    replies, exchange = asyncio.run(vosk_session(greedy_recognizer, frames, {"sample_rate": rate, "max_alternatives": 0}))
    assert len(replies) == len(frames)
    assert all(set(reply) == {"partial"} for reply in replies)
    (result,) = exchange.messages
    assert set(result) == {"result", "text"}
    assert_matches_offline(result, offline(greedy_recognizer, speech[2]))
    assert replies[-1]["partial"] and result["text"].startswith(replies[-1]["partial"])  # the word in progress may be missing
    assert exchange.close_code == 1000


def test_vosk_client_without_config_uses_the_default_rate_and_words_false_gives_text_only(
    greedy_recognizer: StreamingRecognizer, speech: list[Path], tmp_path: Path
) -> None:
    samples, rate = read_pcm16(speech[3])
    resampled = np.interp(np.arange(0, len(samples), rate / 8000), np.arange(len(samples)), samples).astype(np.int16)
    path = tmp_path / "8k.wav"
    soundfile.write(path, resampled, 8000, subtype="PCM_16")

    frames = pcm_chunks(resampled, [2000])  # vosk-server's default rate, 8 kHz, as its sample clients send
    expected = offline(greedy_recognizer, path)
    _, without_config = asyncio.run(vosk_session(greedy_recognizer, frames, None))
    assert_matches_offline(without_config.messages[0], expected)
    _, text_only = asyncio.run(vosk_session(greedy_recognizer, frames, {"words": False, "sample_rate": "8000"}))
    assert text_only.messages == [{"text": expected.text}]


@pytest.mark.parametrize("root_protocol", ["vosk", "none"])
def test_vosk_sample_clients_connect_at_the_root_path_where_get_still_serves_the_page(
    greedy_recognizer: StreamingRecognizer, speech: list[Path], root_protocol: str
) -> None:
    """Every Vosk sample client connects to ws://host:port, which once answered 404."""
    samples, rate = read_pcm16(speech[0])
    frames = pcm_chunks(samples, [rate // 5])

    async def scenario() -> tuple[Exchange | int, str]:
        async with running_server(greedy_recognizer, root_protocol=root_protocol) as server:
            page = await asyncio.to_thread(lambda: urllib.request.urlopen(url(server, "/", "http"), timeout=5).read().decode())
            try:
                async with connect(url(server, "/")) as ws:
                    await ws.send(json.dumps({"config": {"sample_rate": rate}}))
                    for frame in frames:
                        await ws.send(frame)
                        await ws.recv()
                    await ws.send('{"eof" : 1}')
                    return await read_all(ws), page
            except InvalidStatus as refused:
                return refused.response.status_code, page

    answered, page = asyncio.run(scenario())
    assert "<html" in page.lower()
    if root_protocol == "none":
        assert answered == 404
    else:
        assert_matches_offline(answered.messages[-1], offline(greedy_recognizer, speech[0]))


def test_vosk_answers_a_message_spanning_several_endpoints_with_one_result(greedy_recognizer: StreamingRecognizer, three_utterances: Path) -> None:
    """Lock-step Vosk clients await one reply per message; three utterances in one message once got three."""
    samples, rate = read_pcm16(three_utterances)
    message = np.concatenate([samples, np.zeros(2 * rate, dtype=np.int16)]).astype("<i2").tobytes()  # the third ends in it too
    replies, exchange = asyncio.run(vosk_session(greedy_recognizer, [message], {"sample_rate": rate}))
    (result,) = replies
    assert result["text"] == offline(greedy_recognizer, three_utterances).text
    assert [w["word"] for w in result["result"]] == result["text"].split()
    assert exchange.messages == [{"text": ""}]  # eof: nothing said since


def test_vosk_eof_before_any_audio_ends_with_empty_text(greedy_recognizer: StreamingRecognizer) -> None:
    """Vosk answers {"text": ""}; ours once sent an error for a 'stop before start'."""
    replies, exchange = asyncio.run(vosk_session(greedy_recognizer, [], None))
    assert replies == [] and exchange.messages == [{"text": ""}] and exchange.close_code == 1000


def test_vosk_session_of_silence_ends_with_empty_text(greedy_recognizer: StreamingRecognizer) -> None:
    """Vosk's final result for nothing said is {"text": ""}; ours once sent no final at all."""
    frames = pcm_chunks(np.zeros(16000, dtype=np.int16), [3200])
    replies, exchange = asyncio.run(vosk_session(greedy_recognizer, frames, {"sample_rate": 16000}))
    assert replies == [{"partial": ""}] * len(frames)
    assert exchange.messages == [{"text": ""}] and exchange.close_code == 1000


def test_partials_grow_with_the_audio_heard(greedy_recognizer: StreamingRecognizer, speech: list[Path]) -> None:
    samples, rate = read_pcm16(speech[0])
    frames = pcm_chunks(samples, [rate // 10])

    async def session() -> list[dict]:
        async with running_server(greedy_recognizer) as server:
            async with connect(url(server)) as ws:
                await ws.send(json.dumps({"type": "start", "sample_rate": rate}))
                await ws.recv()
                partials = []
                for frame in frames:  # one frame at a time, waiting for its partial: one step per frame
                    await ws.send(frame)
                    partials.append(json.loads(await ws.recv()))
                await ws.send(json.dumps({"type": "stop"}))
                await read_all(ws)
                return partials

    partials = asyncio.run(session())
    heard = [p["audio_end"] for p in partials]
    assert heard == pytest.approx([min((i + 1) * (rate // 10), len(samples)) / rate for i in range(len(frames))], abs=1e-3)
    words = [p["text"].split() for p in partials]
    final = offline(greedy_recognizer, speech[0]).text.split()
    assert len(words[-1]) >= len(final) - 1 and words[-1][:-1] == final[: len(words[-1]) - 1]  # all but the word in progress
    counts = [len(w) for w in words]
    assert counts[0] <= 1 and sum(later < earlier for earlier, later in zip(counts, counts[1:])) <= 2  # it grows as the audio comes


@pytest.fixture(scope="module")
def three_utterances(speech: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three sentences with 1.5 s pauses, as one 16 kHz file."""
    parts = [read_pcm16(path) for path in speech[:3]]
    resampled = [np.interp(np.arange(0, len(s), rate / 16000), np.arange(len(s)), s).astype(np.int16) for s, rate in parts]
    pause = np.zeros(24000, dtype=np.int16)
    path = tmp_path_factory.mktemp("pauses") / "three.wav"
    soundfile.write(path, np.concatenate([resampled[0], pause, resampled[1], pause, resampled[2]]), 16000, subtype="PCM_16")
    return path


def test_endpoints_cut_a_session_into_utterances_with_their_own_finals(greedy_recognizer: StreamingRecognizer, three_utterances: Path) -> None:
    samples, rate = read_pcm16(three_utterances)

    async def session(**settings: object) -> Exchange:
        async with running_server(greedy_recognizer, **settings) as server:
            return await stream_native(url(server), pcm_chunks(samples, [rate // 10]), rate)

    exchange = asyncio.run(session())
    finals = exchange.of_type("final")
    assert [f["segment"] for f in finals] == [0, 1, 2]
    whole = offline(greedy_recognizer, three_utterances)
    assert_matches_offline({"text": whole.text, "words": [w for f in finals for w in f["words"]]}, whole)
    assert [f["start"] for f in finals[1:]] == [f["end"] for f in finals[:2]] and finals[2]["end"] == pytest.approx(len(samples) / rate, abs=1e-3)
    partial_segments = [p["segment"] for p in exchange.of_type("partial")]
    assert partial_segments == sorted(partial_segments)  # a fast client gets few partials: steps take all that is buffered
    assert [m["type"] for m in exchange.messages[-2:]] == ["final", "end"]

    unsegmented = asyncio.run(session(endpointing=False))
    assert [f["segment"] for f in unsegmented.of_type("final")] == [0]
    assert_matches_offline(unsegmented.final, whole)


def test_vosk_sends_a_result_at_each_endpoint_in_place_of_that_frames_partial(greedy_recognizer: StreamingRecognizer, three_utterances: Path) -> None:
    samples, rate = read_pcm16(three_utterances)
    frames = pcm_chunks(samples, [rate // 10])

    replies, exchange = asyncio.run(vosk_session(greedy_recognizer, frames, {"sample_rate": rate}))
    assert len(replies) == len(frames)
    results = [reply for reply in replies if "result" in reply] + exchange.messages
    assert len(results) == 3
    assert " ".join(r["text"] for r in results) == offline(greedy_recognizer, three_utterances).text


def test_a_lexicon_search_session_matches_offline_transcription(default_recognizer: StreamingRecognizer, three_utterances: Path) -> None:
    """The default decoder through a server: the same utterances, and words that differ only where float noise breaks a near-tie."""
    samples, rate = read_pcm16(three_utterances)

    async def session() -> Exchange:
        async with running_server(default_recognizer) as server:
            return await stream_native(url(server), pcm_chunks(samples, [rate // 10]), rate)

    finals = asyncio.run(session()).of_type("final")
    whole = offline(default_recognizer, three_utterances)
    assert [f["segment"] for f in finals] == [0, 1, 2]
    assert jiwer.wer(whole.text, " ".join(f["text"] for f in finals)) <= 0.1


def test_session_hotwords_make_an_unknown_name_recognizable(default_recognizer: StreamingRecognizer, tmp_path: Path) -> None:
    samples, rate = read_pcm16(speak("please call zorblax tomorrow", tmp_path / "name.wav", voice="en"))

    async def session(hotwords: list) -> str:
        async with running_server(default_recognizer) as server:
            return (await stream_native(url(server), pcm_chunks(samples, [rate // 10]), rate, hotwords=hotwords)).final["text"]

    assert "zorblax" not in asyncio.run(session([])).split()
    assert "zorblax" in asyncio.run(session([{"phrase": "Zorblax"}])).split()


def test_hotword_lists_needing_lexicons_of_their_own_beyond_the_limit_are_refused_until_one_ends(
    default_recognizer: StreamingRecognizer, tmp_path: Path
) -> None:
    """Each list with a word the LM lacks costs a search lexicon (125 MB): with max_hotword_lexicons 1, a second
    such list waits for the first session to end (close 1013), while lists of known words go on."""
    samples, rate = read_pcm16(speak("please call zorblax tomorrow", tmp_path / "name.wav", voice="en"))
    frames = pcm_chunks(samples, [rate // 10])

    async def scenario() -> tuple[Exchange, Exchange, Exchange, Exchange]:
        async with running_server(default_recognizer, max_hotword_lexicons=1) as server:
            async with connect(url(server), compression=None) as first:  # holds its lexicon while it is open
                await first.send(json.dumps({"type": "start", "sample_rate": rate, "hotwords": ["zorblax"]}))
                assert json.loads(await first.recv())["type"] == "ready"
                refused = await stream_native(url(server), frames, rate, hotwords=["florbix"])
                known_words = await stream_native(url(server), frames, rate, hotwords=["tomorrow"])
                for frame in frames:
                    await first.send(frame)
                await first.send(json.dumps({"type": "stop"}))
                held = await read_all(first)
            return held, refused, known_words, await stream_native(url(server), frames, rate, hotwords=["florbix"])

    held, refused, known_words, later = asyncio.run(scenario())
    assert "zorblax" in held.final["text"].split()
    assert (refused.error_code, refused.close_code) == ("too_many_hotword_lexicons", 1013)
    assert "1 hotword lists with words the language model lacks are in use" in refused.of_type("error")[0]["message"]
    assert known_words.final["text"] and later.final["text"]  # a list of known words needs no lexicon; after the first ended, a slot
    assert default_recognizer.decoder.trie_limit is None  # the shared recognizer is whole again after the server stopped


def test_a_new_hotword_list_is_built_off_the_inference_thread(
    default_recognizer: StreamingRecognizer, speech: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """While one session's hotword lexicon is being built, another session streams to its final.

    The build is held open until the healthy session has finished: it once ran on the (here single)
    inference thread, where it stalled every stream (6 clients with 1000-phrase lists: 7.45 s for a
    healthy 0.05 s session).
    """
    from asr.beam import BeamDecoder

    building, healthy_done = threading.Event(), threading.Event()
    build = BeamDecoder._hotword_trie_lexicon

    def held_build(self: BeamDecoder, *args: object) -> object:
        building.set()
        healthy_done.wait(60)
        return build(self, *args)

    monkeypatch.setattr(BeamDecoder, "_hotword_trie_lexicon", held_build)
    samples, rate = read_pcm16(speech[0])
    frames = pcm_chunks(samples, [rate // 10])

    async def scenario() -> tuple[Exchange, Exchange]:
        async with running_server(default_recognizer, workers=1) as server:
            with_hotwords = asyncio.create_task(stream_native(url(server), frames, rate, hotwords=["zorblax quintana"]))
            await asyncio.to_thread(building.wait, 30)
            healthy = await asyncio.wait_for(stream_native(url(server), frames, rate), 30)
            healthy_done.set()
            return healthy, await with_hotwords

    healthy, hotworded = asyncio.run(scenario())
    expected = offline(default_recognizer, speech[0]).text
    assert healthy.final["text"] == expected and hotworded.final["text"]
