"""The int8 model: close to the float one, and exact, bit for bit, across chunkings and batches."""

from __future__ import annotations

import asyncio
import copy
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import jiwer

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from asr.audio import load_audio
from asr.checkpoint import random_checkpoint
from asr.int8 import FULL_WEIGHT_LEVELS, NARROW_WEIGHT_LEVELS, Int8LSTM, Int8Matmul, int8_supported, quantize_model, weight_levels
from asr.stream import StreamingRecognizer, check_precision, resolve_precision
from tests.conftest import TINY
from tests.server_util import Exchange, gather, offline, pcm_chunks, read_pcm16, running_server, speak, stream_native, url, words_of
from tests.test_default_model import SENTENCE
from tests.test_server import SENTENCES

pytestmark = pytest.mark.skipif(not int8_supported(), reason="this PyTorch build has no oneDNN int8 kernels")

FLOAT_MODEL = random_checkpoint(replace(TINY, model=replace(TINY.model, running_cmn_steps=30)), seed=3).model.eval()
INT8_MODEL = copy.deepcopy(FLOAT_MODEL)
quantize_model(INT8_MODEL)
INPUTS = torch.randn(4, 50, TINY.model.input_dim)


def test_matmul_sums_quantized_rows_exactly_and_approximates_the_float_product() -> None:
    weight, x = torch.randn(96, 40), torch.randn(7, 40)
    x[3] = 0.0  # an all-zero row quantizes to zeros, not to NaN
    matmul = Int8Matmul(weight)
    weight_scale = weight.abs().amax(1) / weight_levels()
    row_scale = x.abs().amax(1, keepdim=True).clamp_min(1e-30) / 127
    integer_sums = torch.round(x / row_scale).long() @ torch.round(weight / weight_scale[:, None]).long().T
    assert torch.equal(matmul(x), (integer_sums.float() * weight_scale).mul_(row_scale))
    assert torch.equal(matmul(x)[3], torch.zeros(96))
    exact = x @ weight.T
    assert (matmul(x) - exact).abs().max() <= 0.03 * exact.abs().max()


@pytest.mark.parametrize("levels", [NARROW_WEIGHT_LEVELS, FULL_WEIGHT_LEVELS])
def test_the_weight_range_in_use_sums_the_worst_case_exactly(levels: int) -> None:
    """Every input and weight at its maximum: 127 x 127 per product, 255 x 127 in the kernel's uint8, whose pairs
    overflow int16. The range weight_levels picks must come out exact; 7 bits always do."""
    if levels > weight_levels():
        pytest.skip("this CPU's int8 kernels take 7-bit weights only (no VNNI)")
    for sign in (1.0, -1.0):
        x = torch.full((3, 512), sign)
        assert torch.equal(Int8Matmul(torch.ones(5, 512), levels)(x), torch.full((3, 5), 512 * sign))
        row = torch.linspace(-1, 1, 512)
        integer_sum = (torch.round(row * 127).long() * levels).sum().item()  # the weights' row: all at +levels
        assert Int8Matmul(torch.ones(1, 512), levels)(row[None]).item() == pytest.approx(integer_sum / 127 / levels, abs=1e-6)


def test_auto_precision_is_int8_only_where_it_takes_8_bit_weights() -> None:
    expected = "int8" if weight_levels() == FULL_WEIGHT_LEVELS else "float32"
    assert resolve_precision("auto", torch.device("cpu")) == expected
    assert resolve_precision("auto", torch.device("cuda")) == "float32"
    assert resolve_precision("float32", torch.device("cpu")) == "float32" and resolve_precision("int8", torch.device("cpu")) == "int8"
    assert StreamingRecognizer(random_checkpoint(TINY), device="cpu", precision="auto").precision == expected


@pytest.mark.parametrize("proj", [0, 24])
def test_int8_lstm_follows_the_float_lstm(proj: int) -> None:
    lstm = nn.LSTM(30, 48, num_layers=2, proj_size=proj, batch_first=True).eval()
    x = torch.randn(3, 20, 30)
    with torch.inference_mode():
        expected, (h, c) = lstm(x)
        out, (h8, c8) = Int8LSTM(lstm)(x, (torch.zeros_like(h), torch.zeros_like(c)))
    assert out.shape == expected.shape and h8.shape == h.shape and c8.shape == c.shape
    assert (out - expected).abs().max() <= 0.05 and (c8 - c).abs().max() <= 0.05


def test_int8_model_follows_the_float_model() -> None:
    with torch.inference_mode():
        expected, _ = FLOAT_MODEL(INPUTS)
        got, _ = INT8_MODEL(INPUTS)
    assert (got.exp() - expected.exp()).abs().max() <= 0.05


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=20), min_size=1, max_size=8))
def test_chunked_equals_one_pass_bit_for_bit(chunk_sizes: list[int]) -> None:
    with torch.inference_mode():
        whole, whole_state = INT8_MODEL(INPUTS)
        pieces, state, start = [], None, 0
        while start < INPUTS.shape[1]:
            size = chunk_sizes[len(pieces) % len(chunk_sizes)]
            out, state = INT8_MODEL(INPUTS[:, start : start + size], state)
            pieces.append(out)
            start += size
    assert torch.equal(torch.cat(pieces, dim=1), whole)
    assert all(torch.equal(a, b) for a, b in zip(state, whole_state))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=50), min_size=4, max_size=4))
def test_each_stream_of_a_ragged_batch_equals_it_alone_bit_for_bit(lengths: list[int]) -> None:
    with torch.inference_mode():
        batch, batch_state = INT8_MODEL(INPUTS, None, torch.tensor(lengths))
        for row, length in enumerate(lengths):
            alone, alone_state = INT8_MODEL(INPUTS[row : row + 1, :length])
            assert torch.equal(batch[row, :length], alone[0])
            assert all(torch.equal(a[:, row : row + 1], b) for a, b in zip(batch_state, alone_state))


def test_recognizer_precision_choices(tiny_checkpoint) -> None:
    check_precision("int8", torch.device("cpu"))
    with pytest.raises(ValueError, match="CPU only"):
        check_precision("int8", torch.device("cuda"))
    with pytest.raises(ValueError, match="unknown precision 'int4'"):
        check_precision("int4", torch.device("cpu"))
    int8 = StreamingRecognizer(tiny_checkpoint, device="cpu", precision="int8")
    assert isinstance(int8.model.lstm, Int8LSTM) and isinstance(tiny_checkpoint.model.lstm, nn.LSTM), "the checkpoint's own model stays float"
    assert isinstance(StreamingRecognizer(tiny_checkpoint, device="cpu").model.lstm, nn.LSTM), "float32 is the default"


@pytest.mark.skipif(shutil.which("flite") is None, reason="needs flite (scripts/setup.sh installs it)")
def test_the_int8_default_model_hears_a_held_out_voice_as_float32_does(default_recognizer: StreamingRecognizer, tmp_path: Path) -> None:
    speech = tmp_path / "kal16.wav"
    subprocess.run(["flite", "-voice", "kal16", "-t", SENTENCE, "-o", str(speech)], check=True, capture_output=True)
    int8 = StreamingRecognizer.from_pretrained(device="cpu", precision="int8")
    errors = []
    for recognizer in (default_recognizer, int8):
        stream = recognizer.create_stream()
        stream.feed(load_audio(speech))
        stream.end_input()
        text = " ".join(s.transcript.text for o in recognizer.step([stream]) for s in o.ended)
        errors.append(jiwer.cer(SENTENCE, text))
    assert errors[1] < 0.3 and abs(errors[1] - errors[0]) < 0.1, errors


def test_concurrent_int8_lexicon_sessions_each_equal_offline_exactly(tmp_path: Path) -> None:
    """Through a real server, batched two at a time on two workers, at three chunkings: with int8's
    batch-independent numbers, the lexicon search's finals equal offline transcription word for word,
    with the same times, where float32 can break a near-tie either way (tests/test_server.py allows
    it 10% WER). Confidences may still differ a little: the search's alignment of a unit within its
    word can move with where the stream's steps were cut."""
    recognizer = StreamingRecognizer.from_pretrained(device="cpu", precision="int8")
    paths = [speak(text, tmp_path / f"{i}.wav") for i, text in enumerate(SENTENCES[:3])]
    clips = [read_pcm16(path) for path in paths]

    async def sessions() -> list[Exchange]:
        async with running_server(recognizer, max_batch=2, workers=2) as server:
            chunkings = [[2205], [997, 3001], [441]]  # espeak-ng's 22.05 kHz: 100 ms, odd sizes, 20 ms
            return await gather(*(stream_native(url(server), pcm_chunks(samples, sizes), rate) for (samples, rate), sizes in zip(clips, chunkings)))

    for path, exchange in zip(paths, asyncio.run(sessions())):
        expected = offline(recognizer, path)
        assert exchange.final["text"] == expected.text and len(expected.words) >= 5
        assert words_of(exchange.final) == [(w.word, round(w.start, 3), round(w.end, 3)) for w in expected.words]
