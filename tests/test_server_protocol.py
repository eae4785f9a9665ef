"""server/protocol.py on its own: parsing client messages, building server ones, round trips."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server import protocol
from server.protocol import CloseCode, Hotword, ProtocolError, Reset, Start, Stop, check_audio_frame, parse_native, parse_vosk


def start_json(start: Start) -> str:
    hotwords = [h.phrase if h.boost is None else {"phrase": h.phrase, "boost": h.boost} for h in start.hotwords]
    return json.dumps({"type": "start", "sample_rate": start.sample_rate, "format": start.format, "hotwords": hotwords, "words": start.words})


phrases = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=20)


@given(
    st.builds(
        Start,
        sample_rate=st.integers(8000, 192000) | st.floats(8000, 192000).filter(lambda rate: not rate.is_integer()),
        format=st.sampled_from(["pcm16", "float32"]),
        hotwords=st.lists(st.builds(Hotword, phrases, st.none() | st.floats(-20, 20)), max_size=4).map(tuple),
        words=st.booleans(),
    )
)
def test_start_round_trips_through_json(start: Start) -> None:
    assert parse_native(start_json(start)) == start


def test_defaults_and_stop() -> None:
    assert parse_native('{"type": "start"}') == Start(16000, "pcm16", (), True)
    assert parse_native('{"type": "start", "sample_rate": 44100.0}').sample_rate == 44100
    assert parse_native('{"type": "start", "sample_rate": "16000"}').sample_rate == 16000  # as Vosk clients send it
    assert parse_native('{"type": "start", "sample_rate": 44100.5}').sample_rate == 44100.5
    assert parse_vosk('{"config": {"sample_rate": "8000.0"}}').sample_rate == 8000
    assert parse_native('{"type": "stop"}') == Stop()


@pytest.mark.parametrize(
    "text, code",
    [
        ("", "bad_json"),
        ("null", "bad_message"),
        ('{"type": "start", "sample_rate": true}', "bad_sample_rate"),
        ('{"type": "start", "sample_rate": 200000}', "bad_sample_rate"),
        ('{"type": "start", "sample_rate": "16k"}', "bad_sample_rate"),
        ('{"type": "start", "sample_rate": 1e999}', "bad_sample_rate"),
        ('{"type": "start", "format": "PCM16"}', "unsupported_format"),
        ('{"type": "start", "words": "yes"}', "bad_message"),
        ('{"type": "start", "hotwords": "stella"}', "bad_message"),
        ('{"type": "start", "hotwords": [{"phrase": "x", "boost": "high"}]}', "bad_message"),
        ('{"type": "start", "hotwords": [{"phrase": "x", "weight": 2}]}', "bad_message"),
        ('{"type": "start", "hotwords": [{"phrase": "x", "boost": NaN}]}', "bad_message"),
        ('{"type": "start", "hotwords": ["' + "x" * 101 + '"]}', "bad_message"),
        ('{"kind": "start"}', "bad_message"),
    ],
)
def test_bad_native_messages_name_the_problem(text: str, code: str) -> None:
    with pytest.raises(ProtocolError) as error:
        parse_native(text)
    assert error.value.code == code and str(error.value)


def test_vosk_messages() -> None:
    assert parse_vosk('{"eof" : 1}') == Stop()
    assert parse_vosk('{"reset" : 1}') == Reset()
    assert parse_vosk('{"config": {"sample_rate": 8000, "phrase_list": ["stella", "two words"], "max_alternatives": 0}}') == Start(
        8000, "pcm16", grammar=("stella", "two words")
    )  # a phrase list is what may be said: a grammar
    assert parse_vosk('{"config": {"phrase_list": ["one two", "[unk]"]}}').hotwords == (Hotword("one two"),)  # with the catch-all: favoured only
    assert parse_vosk('{"config": {"max_alternatives": "3"}}').alternatives == 3  # vosk-server reads it with int()
    with pytest.raises(ProtocolError, match="config"):
        parse_vosk('{"hello": 1}')
    with pytest.raises(ProtocolError, match="max_alternatives"):
        parse_vosk('{"config": {"max_alternatives": 500}}')
    with pytest.raises(ProtocolError, match="phrase_list"):
        parse_vosk('{"config": {"phrase_list": "stella"}}')


def test_a_vosk_config_changes_only_the_settings_it_names_and_lists_keys_it_ignores() -> None:
    current = parse_vosk('{"config": {"sample_rate": 8000, "words": 0, "phrase_list": ["yes", "no"]}}', Start(sample_rate=16000))
    assert current == Start(8000, "pcm16", words=False, grammar=("yes", "no"))
    changed = parse_vosk('{"config": {"max_alternatives": 2, "spk": [1], "model": "x", "nlsml": true}}', current)
    assert changed == replace(current, alternatives=2) and changed.ignored == ("model", "nlsml", "spk")
    assert not changed.same_stream(current) and current.same_stream(replace(current, words=True))


def test_audio_frames_are_checked_for_size_and_alignment() -> None:
    assert check_audio_frame(b"\x00" * 3200, "pcm16", 4000) == 1600
    assert check_audio_frame(b"\x00" * 3200, "float32", 4000) == 800
    for data, fmt, code, close in [(b"\x00" * 3, "pcm16", "bad_audio", CloseCode.INVALID_DATA), (b"\x00" * 6, "float32", "bad_audio", CloseCode.INVALID_DATA), (b"\x00" * 4002, "pcm16", "frame_too_large", CloseCode.TOO_BIG)]:
        with pytest.raises(ProtocolError) as error:
            check_audio_frame(data, fmt, 4000)
        assert (error.value.code, error.value.close_code) == (code, close)


def test_server_messages_are_compact_json_with_the_documented_fields() -> None:
    words = [{"word": "héllo", "start": 0.1, "end": 0.5, "conf": 0.9}]
    assert json.loads(protocol.ready("a-1", 8000, "pcm16")) == {"type": "ready", "session": "a-1", "sample_rate": 8000, "format": "pcm16"}
    assert json.loads(protocol.partial(0, "hel", 1.23456)) == {"type": "partial", "segment": 0, "text": "hel", "audio_end": 1.235}
    assert json.loads(protocol.final(2, "héllo", 0.0, 1.5, words)) == {"type": "final", "segment": 2, "text": "héllo", "start": 0.0, "end": 1.5, "words": words}
    assert "words" not in json.loads(protocol.final(0, "", 0.0, 0.0, None))
    assert json.loads(protocol.error("bad_json", "no")) == {"type": "error", "code": "bad_json", "message": "no"}
    assert json.loads(protocol.end()) == {"type": "end"}
    assert json.loads(protocol.vosk_result("héllo", words)) == {"result": words, "text": "héllo"}
    assert json.loads(protocol.vosk_result("héllo", None)) == {"text": "héllo"}
    assert json.loads(protocol.vosk_alternatives([("héllo", -3.5, words), ("hello", -4.0, None)])) == {
        "alternatives": [{"confidence": -3.5, "result": words, "text": "héllo"}, {"confidence": -4.0, "text": "hello"}]
    }
    assert json.loads(protocol.vosk_alternatives([])) == {"alternatives": [{"text": "", "confidence": 1.0}]}  # as Vosk, for nothing said
    assert "héllo" in protocol.vosk_partial("héllo")  # UTF-8 as is, not \\u escapes
