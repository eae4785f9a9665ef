"""Beam search with a word LM: it fixes what greedy decoding misspells, with word times and confidences."""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
import soundfile
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asr.audio import load_audio
from asr.beam import BeamDecoder, SegmentedBeam, arpa_vocabulary, default_lm
from asr.checkpoint import resolve_model_path
from asr.cli import _hotword, main
from asr.config import BeamConfig
from asr.decoding import GreedyCTCDecoder, GreedyState, Transcript
from asr.endpoint import EndpointConfig
from asr.evaluate import BeamRecognizer
from asr.formats import FileTranscript
from asr.inputs import collect_inputs
from asr.lm import estimate, read_sentences, write_arpa
from asr.stream import StreamingRecognizer
from asr.tokens import Tokenizer
from asr.transcribe import joined_segments, transcribe_file, transcribe_many
from tests.server_util import speak
from tests.test_decoding import one_hot_log_probs

pytest.importorskip("flashlight.lib.text.decoder", reason="flashlight-text is not installed")

TOKENIZER = Tokenizer()
STEP = 0.03
SENTENCES = ["the cat sat on the mat", "the dog sat on the log", "a cat ran", "the mat is red"]


@pytest.fixture(scope="module")
def lm_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lm") / "lm.arpa"
    write_arpa(estimate(SENTENCES, 3), path)
    return path


@pytest.fixture(scope="module")
def small_beam(lm_path: Path) -> BeamDecoder:
    return BeamDecoder(TOKENIZER, STEP, lm_path)


def blurred(path: str, swaps: dict[int, str]) -> torch.Tensor:
    """One-hot-ish log-probs of ``path`` where step i's best token is ``swaps[i]`` and the true one a close second."""
    log_probs = one_hot_log_probs(path, peak=0.9).exp()
    for step, wrong in swaps.items():
        true = log_probs[step].argmax()
        log_probs[step, true] = 0.35
        log_probs[step, TOKENIZER.encode(wrong)[0]] = 0.55
    return log_probs.log()


def test_the_vocabulary_comes_from_the_unigrams(lm_path: Path, tmp_path: Path) -> None:
    assert sorted(arpa_vocabulary(lm_path)) == sorted({word for sentence in SENTENCES for word in sentence.split()})
    (tmp_path / "not.arpa").write_text("hello\n")
    with pytest.raises(ValueError, match="not.arpa: no unigrams"):
        arpa_vocabulary(tmp_path / "not.arpa")


def test_loading_the_lm_leaves_stderr_quiet_and_working(lm_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    BeamDecoder(TOKENIZER, STEP, lm_path)  # KenLM itself would print a progress bar and a tip
    print("still here", file=sys.stderr)
    assert capfd.readouterr().err == "still here\n"


def test_beam_search_with_the_lm_fixes_a_letter_greedy_gets_wrong(lm_path: Path) -> None:
    #        0         1         2         3
    #        012345678901234567890123456789012
    path = "_tt_hh_ee_ _cc_aa_tt_ _ss_aa_ttt_"
    log_probs = blurred(path, {15: "u", 16: "u"})  # "cut" is what the audio seems to say
    greedy = GreedyCTCDecoder(TOKENIZER, STEP)
    state = GreedyState()
    greedy.advance(state, log_probs)
    assert greedy.text(state) == "the cut sat"

    (best,) = BeamDecoder(TOKENIZER, STEP, lm_path).decode(log_probs)
    assert best.text == "the cat sat"
    cat = best.words[1]
    assert cat.word == "cat" and cat.start == pytest.approx(12 * STEP) and cat.end == pytest.approx(20 * STEP)  # steps 12-19
    assert 0.3 < cat.conf < 0.4  # its least certain letter, the "a" that lost to "u"
    assert best.words[0].conf == pytest.approx(0.9, abs=1e-6)
    sat = best.words[2]
    assert (sat.start, sat.end) == (pytest.approx(23 * STEP), pytest.approx(32 * STEP))  # to the end of the 3-step "t"


@pytest.mark.parametrize("setting", [{"beam_size": 0}, {"tokens_per_step": 0}, {"nbest": 0}, {"beam_threshold": 0.0}])
def test_impossible_beam_settings_are_refused_by_name(setting: dict) -> None:
    (name,) = setting
    with pytest.raises(ValueError, match=name):
        BeamConfig(**setting)


def test_a_missing_language_model_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="language model not found: .*nope.arpa"):
        BeamDecoder(TOKENIZER, STEP, tmp_path / "nope.arpa")


def test_eval_compares_greedy_and_beam_side_by_side(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The default model on espeak-ng speech it half misspells; the LM knows the sentences."""
    sentences = ["please turn on the kitchen lights", "call my sister tomorrow morning"]
    with (tmp_path / "test.jsonl").open("w") as manifest:
        for i, sentence in enumerate(sentences):
            speak(sentence, tmp_path / f"{i}.wav", voice="en")
            manifest.write(json.dumps({"audio": f"{i}.wav", "text": sentence}) + "\n")
    (tmp_path / "text.txt").write_text("\n".join([*sentences, *SENTENCES]) + "\n")
    assert main(["lm", "build", str(tmp_path / "text.txt"), "-o", str(tmp_path / "lm.arpa")]) == 0
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "test.jsonl"), "--decoder", "greedy", "beam", "--lm", str(tmp_path / "lm.arpa"), "--device", "cpu"]) == 0
    overall = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| overall"))
    greedy_wer, _, beam_wer, _ = (float(cell) for cell in overall.strip("| ").split(" | ")[2:])
    assert greedy_wer > 30 and beam_wer < greedy_wer / 2  # greedy: 'please senon the kitchen lightes' ...


def test_batched_transcription_with_beam_search_equals_each_file_alone(tmp_path: Path, default_recognizer: StreamingRecognizer) -> None:
    for i, sentence in enumerate(["please turn on the kitchen lights", "call my sister tomorrow morning"]):
        speak(sentence, tmp_path / f"{i}.wav", voice="en")
    (tmp_path / "text.txt").write_text("please turn on the kitchen lights\ncall my sister tomorrow morning\n")
    write_arpa(estimate(read_sentences([tmp_path / "text.txt"]), 3), tmp_path / "lm.arpa")
    beam = BeamDecoder(default_recognizer.tokenizer, default_recognizer.decoder.step_seconds, tmp_path / "lm.arpa")
    items = [item for item in collect_inputs([str(tmp_path)])]
    batched = {item.audio.name: result.transcript for item, result in transcribe_many(default_recognizer, items, batch_size=2, block_seconds=0.5, beam=beam)}
    for item in items:
        whole = BeamRecognizer(default_recognizer, beam).transcribe(item.audio)
        assert batched[item.audio.name].text == whole
    vocabulary = set("please turn on the kitchen lights call my sister tomorrow morning".split())
    assert batched["0.wav"].text and set(batched["0.wav"].text.split()) <= vocabulary  # only lexicon words


def test_a_made_up_name_greedy_misses_is_recognized_once_boosted(tmp_path: Path, default_recognizer: StreamingRecognizer) -> None:
    stream = default_recognizer.create_stream()
    stream.feed(load_audio(speak("please call zorblax tomorrow", tmp_path / "name.wav", voice="en")))
    stream.end_input()
    log_probs = default_recognizer.step([stream])
    greedy = stream.finish().text
    beam = BeamDecoder(default_recognizer.tokenizer, default_recognizer.decoder.step_seconds, default_lm(resolve_model_path(None).parent))
    plain = beam.decode(torch.cat(log_probs))[0].text
    boosted = beam.decode(torch.cat(log_probs), [("Zorblax", None)])[0]
    assert "zorblax" not in greedy.split() and "zorblax" not in plain.split()  # not in the LM, and misheard
    assert "zorblax" in boosted.text.split(), boosted.text
    assert beam.decode(torch.cat(log_probs), [("zorblax", None)])[0] == boosted  # the same list: the cached decoder


@pytest.mark.parametrize("value, parsed", [("brannigan", ("brannigan", None)), ("new york:4.5", ("new york", 4.5)), ("a:b:2", ("a:b", 2.0))])
def test_hotword_options_parse_a_phrase_and_an_optional_boost(value: str, parsed: tuple) -> None:
    assert _hotword(value) == parsed


def test_an_nbest_list_on_request(lm_path: Path) -> None:
    log_probs = blurred("_tt_hh_ee_ _cc_aa_tt_ _ss_aa_ttt_", {15: "u", 16: "u"})
    one = BeamDecoder(TOKENIZER, STEP, lm_path).decode(log_probs)
    three = BeamDecoder(TOKENIZER, STEP, lm_path, BeamConfig(nbest=3, beam_threshold=50)).decode(log_probs)  # keep the unlikely ones too
    assert len(one) == 1 and len(three) == 3 and three[0] == one[0]
    assert len({t.text for t in three}) == 3
    record = FileTranscript("a.wav", three[0], 1.0, tuple(three[1:])).to_dict()
    assert [a["text"] for a in record["alternatives"]] == [t.text for t in three[1:]]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(1, 12), min_size=1, max_size=8))
def test_streaming_beam_search_equals_offline_for_any_chunking(small_beam: BeamDecoder, sizes: list[int]) -> None:
    log_probs = blurred("_tt_hh_ee_ _dd_oo_gg_ _ss_aa_tt_ _oo_nn_ _tt_hh_ee_ _ll_oo_gg_", {15: "a", 28: "e"})
    beam = small_beam
    stream, start = beam.stream(), 0
    partials = []
    for size in itertools.cycle(sizes):
        if start >= len(log_probs):
            break
        stream.accept(log_probs[start : start + size])
        partials.append(stream.partial_text)
        start += size
    assert stream.finish() == beam.decode(log_probs)[0]
    assert partials[-1].split() and all(len(p.split()) <= len(partials[-1].split()) + 1 for p in partials)


def test_streaming_beam_on_real_speech_equals_offline(default_recognizer: StreamingRecognizer, tmp_path: Path) -> None:
    stream = default_recognizer.create_stream()
    stream.feed(load_audio(speak("tell brannigan the meeting is at ten", tmp_path / "s.wav", voice="en")))
    stream.end_input()
    log_probs = default_recognizer.step([stream])[0]
    beam = BeamDecoder(default_recognizer.tokenizer, default_recognizer.decoder.step_seconds, default_lm(resolve_model_path(None).parent))
    online = beam.stream()
    for chunk in log_probs.split(4):  # 120 ms of model steps at a time
        online.accept(chunk)
    assert online.finish() == beam.decode(log_probs)[0]


def segmented_beam_offline(recognizer: StreamingRecognizer, beam: BeamDecoder, audio: torch.Tensor) -> list:
    """The file in one block through a stream with endpointing and SegmentedBeam: its segments."""
    stream = recognizer.create_stream(endpoint=EndpointConfig())
    segmented = SegmentedBeam(beam, stream)
    stream.feed(audio)
    stream.end_input()
    segments = segmented.accept(recognizer.step([stream])[0])
    stream.finish()
    return [*segments, segmented.finish()]


def test_segmented_beam_search_searches_each_utterance_on_its_own(default_recognizer: StreamingRecognizer, tmp_path: Path) -> None:
    parts = [load_audio(speak(text, tmp_path / f"{i}.wav", voice="en")) for i, text in enumerate(["open the door", "good night"])]
    audio = torch.cat([parts[0], torch.zeros(24000), parts[1]])
    beam = BeamDecoder(default_recognizer.tokenizer, default_recognizer.decoder.step_seconds, default_lm(resolve_model_path(None).parent))
    stream = default_recognizer.create_stream(endpoint=EndpointConfig())
    segmented, segments, log_probs = SegmentedBeam(beam, stream), [], []
    for chunk in audio.split(1600):  # 100 ms at a time, as a live stream
        stream.feed(chunk)
        log_probs.append(default_recognizer.step([stream])[0])
        segments += segmented.accept(log_probs[-1])
    stream.end_input()
    log_probs.append(default_recognizer.step([stream])[0])
    segments += segmented.accept(log_probs[-1])
    stream.finish()
    segments.append(segmented.finish())

    assert [s.index for s in segments] == [0, 1]
    everything = torch.cat(log_probs)
    for segment in segments:
        first, last = round(segment.start / STEP), round(segment.end / STEP)
        alone = beam.decode(everything[first:last])[0]
        assert segment.transcript.text == alone.text
        assert [round(w.start, 6) for w in segment.transcript.words] == [round(w.start + first * STEP, 6) for w in alone.words]
    def rounded(segments: list) -> list:  # chunked LSTM sums differ from one pass in the 7th digit
        return [(s.index, s.start, s.end, [(w.word, w.start, w.end, round(w.conf, 4)) for w in s.transcript.words]) for s in segments]

    assert rounded(segments) == rounded(segmented_beam_offline(default_recognizer, beam, audio))  # any chunking, the same


def test_a_file_with_pauses_is_transcribed_utterance_by_utterance_with_nbest_lists(default_recognizer: StreamingRecognizer, tmp_path: Path) -> None:
    parts = [load_audio(speak(text, tmp_path / f"{i}.wav", voice="en")) for i, text in enumerate(["open the door", "good night"])]
    path = tmp_path / "both.wav"
    soundfile.write(path, torch.cat([parts[0], torch.zeros(24000), parts[1]]).numpy(), 16000)
    beam = BeamDecoder(default_recognizer.tokenizer, default_recognizer.decoder.step_seconds, default_lm(resolve_model_path(None).parent), BeamConfig(nbest=3))
    segments = segmented_beam_offline(default_recognizer, beam, load_audio(path))
    assert len(segments) == 2 and all(len(s.alternatives) == 2 for s in segments)
    expected = joined_segments(segments)
    assert len(expected) == 3
    assert expected[1].text == f"{segments[0].alternatives[0].text} {segments[1].alternatives[0].text}"

    def rounded(transcripts: Sequence[Transcript]) -> list:  # 10 s blocks vs one pass: sums differ in the 7th digit
        return [(t.text, [(w.word, round(w.start, 6), round(w.end, 6), round(w.conf, 4)) for w in t.words]) for t in transcripts]

    alone = transcribe_file(default_recognizer, path, beam=beam)
    ((_, batched),) = transcribe_many(default_recognizer, [item for item in collect_inputs([str(path)])], beam=beam)
    for result in (alone, batched):
        assert rounded([result.transcript, *result.alternatives]) == rounded(expected)
