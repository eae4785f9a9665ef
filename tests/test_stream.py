"""The engine: streaming equals offline, and a batch of streams equals each stream alone."""

from __future__ import annotations

import copy
import pytest
import torch
import torchaudio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asr.checkpoint import Checkpoint
from asr.features import stack_frames
from asr.stream import StreamingRecognizer, resolve_device
from tests.conftest import assert_same_transcript, synth_signal

SIGNALS = [torch.from_numpy(synth_signal(seconds, seed=seed)) for seed, seconds in enumerate([1.3, 2.1, 0.7, 1.6])]
chunkings = st.lists(st.integers(min_value=1, max_value=9000), min_size=1, max_size=8)


def offline_log_probs(recognizer: StreamingRecognizer, signal: torch.Tensor) -> torch.Tensor:
    config = recognizer.model.config
    steps = stack_frames(recognizer.logmel(signal), config.stack_frames, config.lookahead_frames)
    with torch.inference_mode():
        return recognizer.model(steps[None])[0][0]


# The sharpened test models scale their output logits by 10 (log-probs reach -25), so float
# rounding grows with them: a relative 1e-4 here is the model's own absolute 1e-4 bound,
# which test_model.py asserts on an unsharpened model.


def chunks_of(signal: torch.Tensor, sizes: list[int]) -> list[torch.Tensor]:
    pieces, start = [], 0
    while start < signal.numel():
        size = sizes[len(pieces) % len(sizes)]
        pieces.append(signal[start : start + size])
        start += size
    return pieces


@pytest.fixture(scope="module", params=["tiny", "lookahead"])
def recognizer(request, tiny_checkpoint: Checkpoint, lookahead_checkpoint: Checkpoint) -> StreamingRecognizer:
    checkpoint = tiny_checkpoint if request.param == "tiny" else lookahead_checkpoint
    return StreamingRecognizer(checkpoint, device="cpu")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=chunkings)
def test_streaming_equals_offline_for_any_chunking(recognizer: StreamingRecognizer, sizes: list[int]) -> None:
    signal = SIGNALS[0]
    stream = recognizer.create_stream()
    pieces = [recognizer.step([stream])[0] for chunk in chunks_of(signal, sizes) if stream.feed(chunk) is None]
    final = stream.finish()
    reference = offline_log_probs(recognizer, signal)
    streamed = torch.cat(pieces)
    assert streamed.shape == reference.shape
    assert torch.allclose(streamed, reference, rtol=1e-4, atol=1e-4)

    solo = recognizer.create_stream()
    solo.feed(signal)
    assert_same_transcript(solo.finish(), final)
    assert len(final.words) >= 2  # the sharpened random model says something, so the comparison means something


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(chunkings, min_size=len(SIGNALS), max_size=len(SIGNALS)))
def test_batched_streams_equal_single_streams(recognizer: StreamingRecognizer, sizes: list[list[int]]) -> None:
    """Streams with different lengths and chunkings, stepped together, match each one run alone."""
    streams = [recognizer.create_stream() for _ in SIGNALS]
    queues = [chunks_of(signal, chunk_sizes) for signal, chunk_sizes in zip(SIGNALS, sizes)]
    collected: list[list[torch.Tensor]] = [[] for _ in SIGNALS]
    while any(queues):
        for stream, queue in zip(streams, queues):
            if queue:
                stream.feed(queue.pop(0))
        for store, out in zip(collected, recognizer.step(streams)):
            store.append(out)
    finals = [stream.finish() for stream in streams]
    for signal, store, final in zip(SIGNALS, collected, finals):
        alone = recognizer.create_stream()
        alone_text = alone.accept_waveform(signal)
        assert_same_transcript(alone.finish(), final)
        assert alone_text == final.text
        assert torch.allclose(torch.cat(store), offline_log_probs(recognizer, signal), rtol=1e-4, atol=1e-4)


def test_partial_text_grows_and_finish_matches_it(tiny_checkpoint: Checkpoint) -> None:
    recognizer = StreamingRecognizer(tiny_checkpoint, device="cpu")
    stream = recognizer.create_stream()
    partials = [stream.accept_waveform(chunk) for chunk in chunks_of(SIGNALS[1], [1600])]
    assert all(later.startswith(earlier.rstrip()) for earlier, later in zip(partials, partials[1:]))
    final = stream.finish()
    assert final.text == partials[-1]
    assert final.words and all(0 <= w.start < w.end <= 2.1 + 1e-6 and 0 < w.conf <= 1 for w in final.words)


def test_reset_starts_over_and_finished_stream_refuses_audio(tiny_checkpoint: Checkpoint) -> None:
    recognizer = StreamingRecognizer(tiny_checkpoint, device="cpu")
    stream = recognizer.create_stream()
    stream.accept_waveform(SIGNALS[2])
    first = stream.finish()
    with pytest.raises(ValueError, match="finished"):
        stream.accept_waveform(SIGNALS[2])
    stream.reset()
    stream.accept_waveform(SIGNALS[2])
    assert_same_transcript(stream.finish(), first)


def test_stream_at_another_sample_rate_equals_resampled_offline(tiny_checkpoint: Checkpoint) -> None:
    recognizer = StreamingRecognizer(tiny_checkpoint, device="cpu")
    signal_8k = torch.from_numpy(synth_signal(1.5, sample_rate=8000, seed=9))
    stream = recognizer.create_stream(sample_rate=8000)
    for chunk in chunks_of(signal_8k, [777]):
        stream.feed(chunk)
        recognizer.step([stream])
    reference = recognizer.create_stream()
    reference.feed(torchaudio.functional.resample(signal_8k, 8000, 16000))
    # the resampler agrees with torchaudio to ~1e-5, which the sharpened model amplifies in conf
    assert_same_transcript(stream.finish(), reference.finish(), conf_tolerance=1e-2)
    assert stream.samples_received == reference.samples_received


def test_empty_and_tiny_chunks_are_harmless(tiny_checkpoint: Checkpoint) -> None:
    recognizer = StreamingRecognizer(tiny_checkpoint, device="cpu")
    stream = recognizer.create_stream()
    assert stream.accept_waveform(torch.zeros(0)) == ""
    assert stream.accept_waveform(torch.zeros(10)) == ""
    assert recognizer.step([]) == []
    assert stream.finish().words == ()


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
    cpu_streams = [cpu.create_stream() for _ in SIGNALS]
    cuda_streams = [cuda.create_stream() for _ in SIGNALS]
    for streams, recognizer in ((cpu_streams, cpu), (cuda_streams, cuda)):
        for stream, signal in zip(streams, SIGNALS):
            stream.feed(signal)
        recognizer.step(streams)
    for a, b in zip(cpu_streams, cuda_streams):
        assert_same_transcript(a.finish(), b.finish(), conf_tolerance=1e-3)
