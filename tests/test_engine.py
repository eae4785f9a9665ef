"""The engine with the shipped model and its lexicon search, on real (espeak-ng) speech: segments,
hotwords and n-best lists, through the one API that every product drives."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
import soundfile
import torch

from asr.audio import load_audio
from asr.config import BeamConfig, DecoderConfig
from asr.decoding import Segment, Transcript
from asr.endpoint import EndpointConfig
from asr.features import stack_frames
from asr.inputs import collect_inputs
from asr.stream import StreamingRecognizer
from asr.decoding import joined_segments
from asr.transcribe import transcribe_file, transcribe_many
from tests.server_util import speak
from tests.test_decoding import emissions
from tests.test_stream import run

pytest.importorskip("flashlight.lib.text.decoder", reason="flashlight-text is not installed")


@pytest.fixture(scope="module")
def lexicon_recognizer() -> StreamingRecognizer:
    return StreamingRecognizer.from_pretrained(device="cpu", decoder=DecoderConfig(method="lexicon"))


@pytest.fixture(scope="module")
def two_utterances(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("two")
    parts = [load_audio(speak(text, folder / f"{i}.wav", voice="en")) for i, text in enumerate(["open the door", "good night"])]
    path = folder / "both.wav"
    soundfile.write(path, torch.cat([parts[0], torch.zeros(24000), parts[1]]).numpy(), 16000)
    return path


def segments_of(outputs: Sequence) -> list[Segment]:
    return [segment for output in outputs for segment in output.ended]


def test_a_made_up_name_is_recognized_once_it_is_a_hotword(lexicon_recognizer: StreamingRecognizer, tmp_path: Path) -> None:
    audio = load_audio(speak("please call zorblax tomorrow", tmp_path / "name.wav", voice="en"))
    plain = segments_of(run(lexicon_recognizer, lexicon_recognizer.create_stream(), [audio]))[-1].transcript.text
    boosted = segments_of(run(lexicon_recognizer, lexicon_recognizer.create_stream(hotwords=[("Zorblax", None)]), [audio]))[-1].transcript.text
    assert "zorblax" not in plain.split()  # not in the LM
    assert "zorblax" in boosted.split(), boosted


def test_each_segment_is_searched_on_its_own_steps(lexicon_recognizer: StreamingRecognizer, two_utterances: Path) -> None:
    recognizer = lexicon_recognizer
    audio = load_audio(two_utterances)
    segments = segments_of(run(recognizer, recognizer.create_stream(endpoint=EndpointConfig()), audio.split(1600)))  # 100 ms chunks
    assert [s.index for s in segments] == [0, 1] and all(s.transcript.text for s in segments)
    config = recognizer.model.config
    with torch.inference_mode():
        log_probs = recognizer.model(stack_frames(recognizer.logmel(audio), config.stack_frames, config.lookahead_frames)[None])[0][0]
    step = recognizer.step_seconds
    for segment in segments:
        first, last = round(segment.start / step), round(segment.end / step)
        search = recognizer.decoder.search(first)
        search.accept(emissions(log_probs[first:last]))
        (alone,) = search.finish()
        assert segment.transcript.text == alone.text
        assert [round(w.start, 6) for w in segment.transcript.words] == [round(w.start, 6) for w in alone.words]


def test_a_file_with_pauses_gets_the_same_nbest_lists_alone_or_batched(two_utterances: Path) -> None:
    recognizer = StreamingRecognizer.from_pretrained(device="cpu", decoder=DecoderConfig(method="lexicon", beam=BeamConfig(nbest=3)))
    segments = segments_of(run(recognizer, recognizer.create_stream(endpoint=EndpointConfig()), [load_audio(two_utterances)]))
    assert len(segments) == 2 and all(len(s.alternatives) == 2 for s in segments)
    expected = joined_segments(segments)
    assert len(expected) == 3
    assert expected[1].text == f"{segments[0].alternatives[0].text} {segments[1].alternatives[0].text}"

    def rounded(transcripts: Sequence[Transcript]) -> list:  # 10 s blocks vs one pass: sums differ in the 7th digit
        return [(t.text, [(w.word, round(w.start, 6), round(w.end, 6), round(w.conf, 4)) for w in t.words]) for t in transcripts]

    alone = transcribe_file(recognizer, two_utterances)
    ((_, batched),) = transcribe_many(recognizer, list(collect_inputs([str(two_utterances)])))
    for result in (alone, batched):
        assert rounded([result.transcript, *result.alternatives]) == rounded(expected)
