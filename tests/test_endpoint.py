"""Endpointing: the three rules, chunking independence, and real speech with pauses."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchaudio.functional import forced_align, merge_tokens
from asr.audio import load_audio
from asr.config import DecoderConfig
from asr.decoding import GreedyDecoder, Segment, Transcript
from asr.endpoint import EndpointConfig, Endpointer
from asr.features import stack_frames
from asr.lexicon import espeak_pronunciations
from asr.phones import join_words
from asr.segmenter import Segmenter
from asr.stream import StreamingRecognizer
from asr.tokens import CHARACTERS, Tokenizer
from tests.conftest import CHARACTER_MODEL, assert_same_transcript
from tests.server_util import speak
from tests.test_decoding import emissions, one_hot_log_probs
from tests.test_stream import run as run_stream

# The three utterances of the real-speech tests. Not "good night": with pocketsphinx's model in its LM, the
# default model writes it "goodnight", the same sounds as one word, and the word-time test needs two.
SAID = ["open the door", "turn on the radio", "good morning"]
STEP = 0.1  # 100 ms steps keep the rule lengths readable: 1 s = 10 steps
RULES = EndpointConfig(blank_threshold=0.8, trailing_silence=0.5, leading_silence=1.0, max_segment=2.0)
DECODER = GreedyDecoder(Tokenizer(), STEP)


def run(endpointer: Endpointer, steps: str, confident: bool = True) -> list[tuple[int, str]]:
    """'_' silent blank, '.' an unsure blank (below the threshold), 'x' speech -> (step, reason) of each endpoint."""
    ends = []
    for step, kind in enumerate(steps):
        reason = endpointer.step(kind != "x", 0.95 if kind == "_" else 0.5)
        if reason:
            ends.append((step, reason))
    return ends


def test_trailing_silence_after_speech_ends_the_segment() -> None:
    assert run(Endpointer(RULES, STEP), "__xx____x_____") == [(13, Endpointer.SPEECH_ENDED)]


def test_unsure_blanks_are_not_silence() -> None:
    assert run(Endpointer(RULES, STEP), "xx.._..._..") == []


def test_long_silence_without_speech_ends_an_empty_segment() -> None:
    assert run(Endpointer(RULES, STEP), "_" * 25) == [(9, Endpointer.NOTHING_SAID), (19, Endpointer.NOTHING_SAID)]


def test_a_segment_never_outgrows_the_maximum() -> None:
    assert run(Endpointer(RULES, STEP), "x_" * 25) == [(19, Endpointer.TOO_LONG), (39, Endpointer.TOO_LONG)]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="blank_threshold"):
        EndpointConfig(blank_threshold=1.5)
    with pytest.raises(ValueError, match="trailing_silence"):
        EndpointConfig(trailing_silence=0)


def decode(path: str, sizes: list[int]) -> tuple[list[Segment], Segment]:
    """One-hot emissions for ``path`` through a segmenter in chunks of ``sizes``: (ended segments, the last one)."""
    segmenter, start = Segmenter(DECODER, RULES, STEP), 0
    log_probs = one_hot_log_probs(path)
    segments = []
    for size in [*sizes, log_probs.shape[0]]:
        segments += segmenter.advance(emissions(log_probs[start : start + size]))
        start += size
    return segments, segmenter.finish(len(path) * STEP)


@settings(max_examples=80, deadline=None)
@given(path=st.text(alphabet="__ ab", min_size=1, max_size=80), sizes=st.lists(st.integers(0, 12), max_size=12))
def test_segments_do_not_depend_on_chunking(path: str, sizes: list[int]) -> None:
    assert decode(path, sizes) == decode(path, [])


def test_segments_split_the_text_at_pauses_and_keep_stream_times() -> None:
    segments, last = decode("_hi _yes______no_" + "_" * 12 + "ok", [3, 7])
    # 5 silent steps after "s" (steps 8-12) end segment 0 at step 13; steps 16-20 end segment 1 at step 21
    assert [(s.index, s.transcript.text, round(s.start, 6), round(s.end, 6)) for s in segments] == [(0, "hi yes", 0.0, 1.3), (1, "no", 1.3, 2.1)]
    assert (last.index, last.transcript.text) == (2, "ok")
    assert segments[1].transcript.words[0].start == pytest.approx(1.4)  # word times count from the stream's start


def test_a_token_held_across_a_forced_cut_is_not_emitted_twice() -> None:
    segments, last = decode("a" * 25, [])
    assert [s.transcript.text for s in segments] == ["a"]
    assert last.transcript.text == ""


@pytest.fixture(scope="module")
def three_utterances(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.Tensor, list[tuple[float, float]]]:
    """Three espeak-ng sentences with 1.5 s of silence between them, at 16 kHz, and the silences' (start, end)."""
    folder = tmp_path_factory.mktemp("pauses")
    parts = [load_audio(speak(text, folder / f"{i}.wav")) for i, text in enumerate(SAID)]
    silence = torch.zeros(24000)
    first, second = len(parts[0]) / 16000, (len(parts[0]) + len(silence) + len(parts[1])) / 16000
    return torch.cat([parts[0], silence, parts[1], silence, parts[2]]), [(first, first + 1.5), (second, second + 1.5)]


def test_real_speech_with_pauses_splits_into_three_segments_with_the_offline_words(
    three_utterances: tuple[torch.Tensor, list[tuple[float, float]]],
) -> None:
    audio, silences = three_utterances
    recognizer = StreamingRecognizer.from_pretrained(CHARACTER_MODEL, device="cpu", decoder=DecoderConfig(method="greedy"))
    (whole,) = [s.transcript for o in run_stream(recognizer, recognizer.create_stream(), [audio]) for s in o.ended]
    segments = [s for o in run_stream(recognizer, recognizer.create_stream(endpoint=EndpointConfig()), audio.split(1600)) for s in o.ended]

    assert [s.index for s in segments] == [0, 1, 2]
    assert_same_transcript(Transcript(whole.text, tuple(w for s in segments for w in s.transcript.words)), whole)
    for segment, (silence_start, silence_end) in zip(segments, silences):
        assert silence_start < segment.end < silence_end  # each cut falls in a pause
    assert [s.start for s in segments[1:]] == [s.end for s in segments[:2]]
    assert segments[2].end == pytest.approx(len(audio) / 16000)


def forced_word_times(recognizer: StreamingRecognizer, audio: torch.Tensor, text: str) -> list[tuple[float, float]]:
    """Each word's (start, end) in seconds from CTC forced alignment of ``text`` to the model's log-probs of ``audio``.

    A word runs from its first unit's first step to its last unit's last step. A phone model is
    aligned to the phones espeak-ng says (the audio is espeak-ng's).
    """
    config = recognizer.model.config
    with torch.inference_mode():  # (T, V), one pass over the whole file
        log_probs = recognizer.model(stack_frames(recognizer.logmel(audio), config.stack_frames, config.lookahead_frames)[None])[0][0]
    tokenizer, seconds = recognizer.tokenizer, recognizer.step_seconds
    if tokenizer.units != CHARACTERS:
        spoken = espeak_pronunciations(text.split())
        text = join_words([spoken[word] for word in text.split()])
    targets = torch.tensor([tokenizer.encode(text)], dtype=torch.int32)  # (1, L), word separators included
    alignment, scores = forced_align(log_probs.unsqueeze(0), targets, blank=tokenizer.blank_id)
    words, current = [], []
    for span in [*merge_tokens(alignment[0], scores[0]), None]:
        if span is not None and span.token != tokenizer.separator_id:
            current.append(span)
        elif current:
            words.append((current[0].start * seconds, current[-1].end * seconds))
            current = []
    return words


@pytest.mark.parametrize("decoder", ["greedy", "lexicon"])
def test_each_segments_word_times_agree_with_forced_alignment(three_utterances: tuple[torch.Tensor, list[tuple[float, float]]], decoder: str) -> None:
    audio, _ = three_utterances
    model = CHARACTER_MODEL if decoder == "greedy" else None  # greedy reads characters; the default is a phone model
    recognizer = StreamingRecognizer.from_pretrained(model, device="cpu", decoder=DecoderConfig(method=decoder))
    aligned = forced_word_times(recognizer, audio, " ".join(SAID))
    segments = [s for o in run_stream(recognizer, recognizer.create_stream(endpoint=EndpointConfig()), audio.split(1600)) for s in o.ended]

    assert [len(s.transcript.words) for s in segments] == [len(text.split()) for text in SAID]
    if decoder == "lexicon":  # each utterance's last word survives its cut, though no separator follows it
        assert [s.transcript.words[-1].word for s in segments] == [text.split()[-1] for text in SAID]
    decoded = [(w.word, w.start, w.end) for s in segments for w in s.transcript.words]
    for (word, start, end), (aligned_start, aligned_end) in zip(decoded, aligned):
        assert abs(start - aligned_start) <= 0.06, (word, start, aligned_start)
        assert abs(end - aligned_end) <= 0.06, (word, end, aligned_end)
