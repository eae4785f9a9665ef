"""Vosk compatibility through a real server, with clients that behave as vosk-server's sample clients do:
resets and configs mid-stream, max_alternatives, phrase lists as grammars, and errors a Vosk client survives."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile
from websockets.asyncio.client import connect

from asr.stream import StreamingRecognizer
from tests.server_util import Exchange, offline, pcm_chunks, read_all, read_pcm16, running_server, speak, url, words_of

SENTENCES = ["please call stella and ask her to bring these things", "turn the lights off in the kitchen"]


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("vosk")
    return [speak(text, folder / f"{i}.wav") for i, text in enumerate(SENTENCES)]


async def lock_step(address: str, messages: list[str | bytes]) -> tuple[list[dict], Exchange]:
    """As vosk-server's test.py: send each message and await its reply; configs have none. Then read to the close."""
    replies = []
    async with connect(address) as ws:
        for message in messages:
            await ws.send(message)
            if not (isinstance(message, str) and "config" in message):
                replies.append(json.loads(await ws.recv()))
        return replies, await read_all(ws)


def session(recognizer: StreamingRecognizer, messages: list[str | bytes], **settings: object) -> tuple[list[dict], Exchange]:
    async def scenario() -> tuple[list[dict], Exchange]:
        async with running_server(recognizer, **settings) as server:
            return await lock_step(url(server, "/vosk"), messages)

    return asyncio.run(scenario())


def config(**settings: object) -> str:
    return json.dumps({"config": settings})


EOF = '{"eof" : 1}'
RESET = '{"reset" : 1}'


def frames_of(path: Path) -> tuple[list[bytes], float]:
    samples, rate = read_pcm16(path)
    return pcm_chunks(samples, [rate // 5]), len(samples) / rate


def test_reset_returns_the_result_so_far_and_the_session_goes_on_with_times_that_continue(greedy_recognizer: StreamingRecognizer, speech: list[Path]) -> None:
    """vosk-server answers {"reset": 1} with the final result and keeps going; ours once closed with 1007."""
    first, first_seconds = frames_of(speech[0])
    second, _ = frames_of(speech[1])
    replies, exchange = session(greedy_recognizer, [config(sample_rate=22050), *first, RESET, *second, EOF])
    assert len(replies) == len(first) + 1 + len(second) + 1  # one reply per message
    after_reset, at_eof = replies[len(first)], replies[-1]
    expected_first, expected_second = offline(greedy_recognizer, speech[0]), offline(greedy_recognizer, speech[1])
    assert after_reset["text"] == expected_first.text and words_of(after_reset) == [(w.word, round(w.start, 3), round(w.end, 3)) for w in expected_first.words]
    assert at_eof["text"] == expected_second.text
    times = [time for _, start, end in words_of(at_eof) for time in (start, end)]
    shifted = [time + first_seconds for w in expected_second.words for time in (w.start, w.end)]
    assert times == pytest.approx(shifted, abs=2e-3)  # the session's clock, not the new stream's
    assert exchange.messages == [] and exchange.close_code == 1000


def test_a_reset_before_any_audio_answers_empty_text(greedy_recognizer: StreamingRecognizer, speech: list[Path]) -> None:
    frames, _ = frames_of(speech[1])
    replies, exchange = session(greedy_recognizer, [RESET, config(sample_rate=22050), *frames, EOF])
    assert replies[0] == {"text": ""}
    assert all(set(reply) == {"partial"} for reply in replies[1:-1])  # the config after the reset carries no empty result along
    assert replies[-1]["text"] == offline(greedy_recognizer, speech[1]).text and exchange.close_code == 1000


def test_a_config_mid_stream_reconfigures_without_a_reply(greedy_recognizer: StreamingRecognizer, speech: list[Path], tmp_path: Path) -> None:
    """A second config once got an already_started error and a 1008 close. Now, as vosk-server, it has no reply:
    a new rate starts a new stream (the utterance before it comes with the next reply), and words=false only changes the results."""
    first, _ = frames_of(speech[0])
    samples, rate = read_pcm16(speech[1])
    at_8k = np.interp(np.arange(0, len(samples), rate / 8000), np.arange(len(samples)), samples).astype(np.int16)
    soundfile.write(tmp_path / "8k.wav", at_8k, 8000, subtype="PCM_16")
    second = pcm_chunks(at_8k, [1600])

    messages = [config(sample_rate=22050), *first[:3], config(words=False), *first[3:], config(sample_rate=8000), *second, EOF]
    replies, exchange = session(greedy_recognizer, messages)
    assert len(replies) == len(first) + len(second) + 1
    assert all(set(reply) == {"partial"} for reply in replies[: len(first)])  # words=false ended nothing
    assert replies[len(first)] == {"text": offline(greedy_recognizer, speech[0]).text}  # carried to the next reply, text only
    assert replies[-1] == {"text": offline(greedy_recognizer, tmp_path / "8k.wav").text}
    assert exchange.close_code == 1000


def test_long_silence_reaches_an_endpoint_and_gets_an_empty_result(greedy_recognizer: StreamingRecognizer) -> None:
    """As Vosk's endpoint rule for silence: 5 s without speech end an (empty) utterance; ours only sent partials."""
    frames = pcm_chunks(np.zeros(7 * 16000, dtype=np.int16), [8000])
    replies, _ = session(greedy_recognizer, [config(sample_rate=16000), *frames, EOF])
    assert replies.count({"text": ""}) == 2 and replies[-1] == {"text": ""}  # the endpoint, and eof
    assert replies.index({"text": ""}) in (9, 10)  # 5 s in, at 0.5 s a message
    assert all(reply == {"partial": ""} for reply in replies[:-1] if reply != {"text": ""})


def test_max_alternatives_lists_the_n_best_instead_of_the_text(default_recognizer: StreamingRecognizer, speech: list[Path]) -> None:
    frames, _ = frames_of(speech[1])
    plain, _ = session(default_recognizer, [config(sample_rate=22050), *frames, EOF])
    replies, _ = session(default_recognizer, [config(sample_rate=22050, max_alternatives=3), *frames, EOF])
    assert all(set(reply) == {"partial"} for reply in replies[:-1])  # partials are as without alternatives
    (final,) = [reply for reply in replies if "partial" not in reply]
    assert set(final) == {"alternatives"}
    alternatives = final["alternatives"]
    assert 2 <= len(alternatives) <= 3 and len({a["text"] for a in alternatives}) == len(alternatives)
    assert alternatives[0]["text"] == plain[-1]["text"] and words_of({"result": alternatives[0]["result"]}) == words_of(plain[-1])
    confidences = [a["confidence"] for a in alternatives]
    assert confidences == sorted(confidences, reverse=True)


def test_max_alternatives_for_nothing_said_is_one_empty_alternative(greedy_recognizer: StreamingRecognizer) -> None:
    replies, _ = session(greedy_recognizer, [config(max_alternatives=2), EOF])
    assert replies == [{"alternatives": [{"text": "", "confidence": 1.0}]}]


def test_a_phrase_list_is_a_grammar_unless_it_has_the_catch_all(default_recognizer: StreamingRecognizer, tmp_path: Path) -> None:
    """As in Vosk, a phrase list restricts what can be recognized; with "[unk]" it only favours its phrases."""
    said = speak("turn the lights off in the kitchen", tmp_path / "said.wav")
    frames, _ = frames_of(said)
    grammar = ["turn the lights on", "turn the lights off", "open the door"]
    replies, _ = session(default_recognizer, [config(sample_rate=22050, phrase_list=grammar), *frames, EOF])
    assert " ".join(reply.get("text", "") for reply in replies).split() == "turn the lights off".split()  # "in the kitchen" is no phrase
    replies, _ = session(default_recognizer, [config(sample_rate=22050, phrase_list=[*grammar, "[unk]"]), *frames, EOF])
    words = replies[-1]["text"].split()
    assert words[:4] == "turn the lights off".split()
    assert set(words) - {word for phrase in grammar for word in phrase.split()}  # words beyond the phrases are possible again ("in the ...")


def test_errors_on_vosk_close_the_connection_without_a_native_error_message(greedy_recognizer: StreamingRecognizer, speech: list[Path]) -> None:
    """Vosk clients parse every message as a result: ours once sent {"type": "error"} objects they choke on."""
    frames, _ = frames_of(speech[0])

    async def scenario() -> tuple[Exchange, Exchange]:
        async with running_server(greedy_recognizer) as server:
            async with connect(url(server, "/vosk")) as ws:
                await ws.send(config(sample_rate=22050))
                await ws.send(frames[0])
                await ws.recv()
                await ws.send("{not json")
                bad_json = await read_all(ws)
            async with connect(url(server, "/vosk")) as ws:  # greedy decoding cannot follow a grammar
                await ws.send(config(phrase_list=["yes", "no"]))
                no_grammar = await read_all(ws)
            return bad_json, no_grammar

    bad_json, no_grammar = asyncio.run(scenario())
    assert all("type" not in message for message in bad_json.messages)
    assert (bad_json.close_code, bad_json.close_reason) == (1007, "bad_json")
    assert no_grammar.messages == [] and (no_grammar.close_code, no_grammar.close_reason) == (1007, "bad_message")


def test_vosk_keys_this_server_does_not_use_are_logged(greedy_recognizer: StreamingRecognizer, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="asr.server"):
        replies, _ = session(greedy_recognizer, [config(sample_rate=16000, spk=[1.0], model="en"), config(nlsml=True), EOF])
    assert replies == [{"text": ""}]
    ignored = [record.keys for record in caplog.records if getattr(record, "event", None) == "config_ignored"]
    assert ignored == [["model", "spk"], ["nlsml"]]
