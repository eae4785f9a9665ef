"""The engine: streaming equals offline, and a batch of streams equals each stream alone."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence

import pytest
import torch
import torchaudio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asr.checkpoint import Checkpoint
from asr.config import DecoderConfig
from asr.decoding import Transcript
from asr.endpoint import EndpointConfig
from asr.features import stack_frames
from asr.int8 import int8_supported
from asr.stream import StepOutput, Stream, StreamingRecognizer, resolve_device
from tests.conftest import assert_same_transcript, synth_signal

SIGNALS = [torch.from_numpy(synth_signal(seconds, seed=seed)) for seed, seconds in enumerate([1.3, 2.1, 0.7, 1.6])]
chunkings = st.lists(st.integers(min_value=1, max_value=9000), min_size=1, max_size=8)


def chunks_of(signal: torch.Tensor, sizes: list[int]) -> list[torch.Tensor]:
    pieces, start = [], 0
    while start < signal.numel():
        size = sizes[len(pieces) % len(sizes)]
        pieces.append(signal[start : start + size])
        start += size
    return pieces


def run(recognizer: StreamingRecognizer, stream: Stream, chunks: Sequence[torch.Tensor]) -> list[StepOutput]:
    """Feed each chunk and step; then end the input and step once more."""
    outputs = []
    for chunk in chunks:
        stream.feed(chunk)
        outputs += recognizer.step([stream])
    stream.end_input()
    return outputs + recognizer.step([stream])


def final(outputs: Sequence[StepOutput]) -> Transcript:
    """The stream's segments as one transcript."""
    parts = [segment.transcript for output in outputs for segment in output.ended]
    return Transcript(" ".join(p.text for p in parts if p.text), tuple(w for p in parts for w in p.words))


def smallest_margin(recognizer: StreamingRecognizer, signals: Sequence[torch.Tensor]) -> float:
    """The smallest gap between the best and second-best log-prob over every step of ``signals``.

    Batching changes the order of float sums, so log-probs differ in their last bits; the
    transcripts can only be compared exactly where no step is a near-tie.
    """
    config = recognizer.model.config
    gaps = []
    for signal in signals:
        steps = stack_frames(recognizer.logmel(signal), config.stack_frames, config.lookahead_frames)
        with torch.inference_mode():
            top = recognizer.model(steps[None])[0][0].topk(2, dim=-1).values
        gaps.append(float((top[:, 0] - top[:, 1]).min()))
    return min(gaps)


@pytest.fixture(
    scope="module",
    params=[("tiny", "float32"), ("lookahead", "float32"), ("running CMN", "float32"), ("running CMN", "int8"), ("high-pass", "int8"), ("denoised", "float32")],
)
def recognizer(request, tiny_checkpoint: Checkpoint, lookahead_checkpoint: Checkpoint, running_cmn_checkpoint: Checkpoint) -> StreamingRecognizer:
    """Each model in float32, and one in int8 (asr/int8.py); in int8 the shipped model's front end, with a high-pass;
    and that front end with RNNoise's light mix in front (--denoise)."""
    name, precision = request.param
    if precision == "int8" and not int8_supported():
        pytest.skip("this PyTorch build has no oneDNN int8 kernels")
    highpassed = dataclasses.replace(running_cmn_checkpoint, features=dataclasses.replace(running_cmn_checkpoint.features, highpass_hz=80.0))
    # a share of 0.1, not --denoise's 0.3, at which this random model says nothing on SIGNALS[0]; the code path is the same
    denoised = dataclasses.replace(highpassed, features=dataclasses.replace(highpassed.features, denoise_mix=0.1))
    checkpoint = {"tiny": tiny_checkpoint, "lookahead": lookahead_checkpoint, "running CMN": running_cmn_checkpoint, "high-pass": highpassed, "denoised": denoised}[name]
    recognizer = StreamingRecognizer(checkpoint, device="cpu", precision=precision)
    assert smallest_margin(recognizer, SIGNALS) > 1e-3, "pick another seed: a near-tied step would make these comparisons flaky"
    return recognizer


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=chunkings)
def test_streaming_equals_offline_for_any_chunking(recognizer: StreamingRecognizer, sizes: list[int]) -> None:
    streamed = final(run(recognizer, recognizer.create_stream(), chunks_of(SIGNALS[0], sizes)))
    whole = final(run(recognizer, recognizer.create_stream(), [SIGNALS[0]]))
    assert_same_transcript(streamed, whole)
    assert len(whole.words) >= 2  # the sharpened random model says something, so the comparison means something


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=chunkings, longest=st.sampled_from([0.3, 0.6, 1.1]))
def test_endpointed_segments_equal_offline_for_any_chunking(recognizer: StreamingRecognizer, sizes: list[int], longest: float) -> None:
    """Segments cut at ``longest`` seconds: the same cuts, texts, times and confidences for any chunking."""
    endpoint = EndpointConfig(max_segment=longest)
    signal = torch.cat([SIGNALS[1], SIGNALS[3]])
    streamed = [s for o in run(recognizer, recognizer.create_stream(endpoint=endpoint), chunks_of(signal, sizes)) for s in o.ended]
    whole = [s for o in run(recognizer, recognizer.create_stream(endpoint=endpoint), [signal]) for s in o.ended]
    assert len(whole) >= 3
    assert [(s.index, s.start, s.end) for s in streamed] == [(s.index, s.start, s.end) for s in whole]
    for a, b in zip(streamed, whole):  # float noise in the carried LSTM state grows over this 3.7 s signal
        assert_same_transcript(a.transcript, b.transcript, conf_tolerance=1e-3)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(chunkings, min_size=len(SIGNALS), max_size=len(SIGNALS)))
def test_batched_streams_equal_single_streams(recognizer: StreamingRecognizer, sizes: list[list[int]]) -> None:
    """Streams with different lengths and chunkings, stepped together, match each one run alone."""
    streams = [recognizer.create_stream() for _ in SIGNALS]
    queues = [chunks_of(signal, chunk_sizes) for signal, chunk_sizes in zip(SIGNALS, sizes)]
    collected: list[list[StepOutput]] = [[] for _ in SIGNALS]
    while not all(stream.finished for stream in streams):
        for stream, queue in zip(streams, queues):
            if queue:
                stream.feed(queue.pop(0))
            else:
                stream.end_input()
        for store, output in zip(collected, recognizer.step(streams)):
            store.append(output)
    for signal, store in zip(SIGNALS, collected):
        alone = run(recognizer, recognizer.create_stream(), [signal])
        assert_same_transcript(final(store), final(alone))


def test_partials_grow_into_the_final(tiny_checkpoint: Checkpoint) -> None:
    recognizer = StreamingRecognizer(tiny_checkpoint, device="cpu")
    outputs = run(recognizer, recognizer.create_stream(), chunks_of(SIGNALS[1], [1600]))
    partials = [output.partial for output in outputs[:-1]]
    assert all(later.startswith(earlier.rstrip()) for earlier, later in zip(partials, partials[1:]))
    assert outputs[-1].finished and final(outputs).text == partials[-1]
    assert final(outputs).words and all(0 <= w.start < w.end <= 2.1 + 1e-6 and 0 < w.conf <= 1 for w in final(outputs).words)


def test_a_finished_stream_refuses_audio_and_steps_as_done(tiny_checkpoint: Checkpoint) -> None:
    recognizer = StreamingRecognizer(tiny_checkpoint, device="cpu")
    stream = recognizer.create_stream()
    outputs = run(recognizer, stream, [SIGNALS[2]])
    assert outputs[-1].finished and len(outputs[-1].ended) == 1
    with pytest.raises(ValueError, match="finished"):
        stream.feed(SIGNALS[2])
    assert recognizer.step([stream]) == [StepOutput("", 1, (), True)]


def test_stream_at_another_sample_rate_equals_resampled_offline(tiny_checkpoint: Checkpoint) -> None:
    recognizer = StreamingRecognizer(tiny_checkpoint, device="cpu")
    signal_8k = torch.from_numpy(synth_signal(1.5, sample_rate=8000, seed=9))
    stream = recognizer.create_stream(sample_rate=8000)
    streamed = final(run(recognizer, stream, chunks_of(signal_8k, [777])))
    reference = recognizer.create_stream()
    resampled = final(run(recognizer, reference, [torchaudio.functional.resample(signal_8k, 8000, 16000)]))
    # the resampler agrees with torchaudio to ~1e-5, which the sharpened model amplifies in conf
    assert_same_transcript(streamed, resampled, conf_tolerance=1e-2)
    assert stream.samples_received == reference.samples_received


def test_empty_and_tiny_chunks_are_harmless(tiny_checkpoint: Checkpoint) -> None:
    recognizer = StreamingRecognizer(tiny_checkpoint, device="cpu")
    outputs = run(recognizer, recognizer.create_stream(), [torch.zeros(0), torch.zeros(10)])
    assert [o.partial for o in outputs[:-1]] == ["", ""]
    assert recognizer.step([]) == []
    assert final(outputs).words == ()


def test_hotwords_with_digits_or_symbols_are_refused_by_name(tiny_checkpoint: Checkpoint) -> None:
    recognizer = StreamingRecognizer(tiny_checkpoint, device="cpu")
    for phrase in ("R2D2", "C++", "50 cent"):
        with pytest.raises(ValueError, match="letters only"):
            recognizer.create_stream(hotwords=[(phrase, None)])
    recognizer.create_stream(hotwords=[("Mary-Jane O'Neil", 5.0)])  # hyphens and apostrophes are fine


def test_a_phone_model_without_its_lexicon_or_lm_is_a_clear_error(tmp_path) -> None:
    from asr.checkpoint import random_checkpoint
    from asr.config import ExperimentConfig, ModelConfig

    phones = random_checkpoint(ExperimentConfig(model=ModelConfig(layers=1, hidden=16, proj=0, vocab_size=41, units="phones")))
    with pytest.raises(ValueError, match="word LM"):
        StreamingRecognizer(phones, "cpu", DecoderConfig(), model_folder=tmp_path)
    with pytest.raises(ValueError, match="character model"):
        StreamingRecognizer(phones, "cpu", DecoderConfig(method="greedy"))


def test_unavailable_cuda_is_a_clear_error() -> None:
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ValueError, match="no CUDA device"):
        resolve_device("cuda")
    assert resolve_device(None).type == "cpu"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batch_matches_cpu(tiny_checkpoint: Checkpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # TF32 would flip near-tied argmaxes
    cpu = StreamingRecognizer(tiny_checkpoint, device="cpu")
    cuda = StreamingRecognizer(copy.deepcopy(tiny_checkpoint), device="cuda")
    for signal in SIGNALS:
        on_cpu = final(run(cpu, cpu.create_stream(), [signal]))
        on_cuda = final(run(cuda, cuda.create_stream(), [signal]))
        assert_same_transcript(on_cpu, on_cuda, conf_tolerance=1e-3)
