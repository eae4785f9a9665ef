"""The LSTM carries its state across chunks exactly, and batching changes nothing."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from asr.checkpoint import random_checkpoint
from asr.config import ExperimentConfig, ModelConfig
from asr.model import AcousticModel, stack_states, unstack_states
from tests.conftest import TINY

MODEL = random_checkpoint(TINY, seed=11).model
INPUTS = torch.randn(3, 60, TINY.model.input_dim)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=25), min_size=1, max_size=10))
def test_chunked_with_state_carry_equals_one_pass(chunk_sizes: list[int]) -> None:
    with torch.inference_mode():
        whole, whole_state = MODEL(INPUTS)
        pieces, state, start = [], None, 0
        for size in chunk_sizes:
            if start >= INPUTS.shape[1]:
                break
            out, state = MODEL(INPUTS[:, start : start + size], state)
            pieces.append(out)
            start += size
    chunked = torch.cat(pieces, dim=1)
    assert (chunked - whole[:, : chunked.shape[1]]).abs().max() <= 1e-4
    if start >= INPUTS.shape[1]:
        assert all((a - b).abs().max() <= 1e-4 for a, b in zip(state, whole_state))


def test_state_shapes_follow_layers_batch_hidden() -> None:
    h, c = MODEL.init_state(5)
    assert h.shape == (2, 5, 24) and c.shape == (2, 5, 48)
    log_probs, (h2, c2) = MODEL(torch.randn(5, 7, TINY.model.input_dim))
    assert log_probs.shape == (5, 7, 29) and h2.shape == h.shape and c2.shape == c.shape
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(5, 7), atol=1e-5)


def test_no_projection_state_shapes() -> None:
    model = AcousticModel(ModelConfig(layers=3, hidden=16, proj=0))
    h, c = model.init_state(2)
    assert h.shape == c.shape == (3, 2, 16)


def test_stack_unstack_round_trip() -> None:
    states = [MODEL(torch.randn(1, 4, TINY.model.input_dim))[1] for _ in range(4)]
    restored = unstack_states(stack_states(states))
    for (h, c), (h2, c2) in zip(states, restored):
        assert torch.equal(h, h2) and torch.equal(c, c2)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=20), min_size=2, max_size=6))
def test_ragged_batch_equals_each_stream_alone(lengths: list[int]) -> None:
    """Streams of different lengths in one padded batch get exactly their solo outputs and states."""
    inputs = [torch.randn(1, n, TINY.model.input_dim) for n in lengths]
    starts = [MODEL(torch.randn(1, 3, TINY.model.input_dim))[1] for _ in lengths]
    with torch.inference_mode():
        solo = [MODEL(x, s) for x, s in zip(inputs, starts)]
        batch = torch.nn.utils.rnn.pad_sequence([x[0] for x in inputs], batch_first=True)
        out, state = MODEL(batch, stack_states(starts), torch.tensor(lengths))
    for row, ((solo_out, solo_state), batch_state) in enumerate(zip(solo, unstack_states(state))):
        n = lengths[row]
        assert (out[row, :n] - solo_out[0]).abs().max() <= 1e-4
        assert all((a - b).abs().max() <= 1e-4 for a, b in zip(batch_state, solo_state))


def test_cmvn_normalizes_input_and_is_validated() -> None:
    model = AcousticModel(ModelConfig(layers=1, hidden=8, proj=0))
    x = torch.randn(1, 5, model.config.input_dim) * 3 + 7
    before, _ = model(x)
    model.set_cmvn(torch.full((80,), 7.0), torch.full((80,), 3.0))
    after, _ = model(x)
    reference = AcousticModel(model.config)
    reference.load_state_dict(model.state_dict())
    assert torch.allclose(after, reference((x - 7) / 3)[0], atol=1e-5)
    assert not torch.allclose(before, after)
    with pytest.raises(ValueError, match="shape"):
        model.set_cmvn(torch.zeros(3), torch.ones(3))
    with pytest.raises(ValueError, match="positive"):
        model.set_cmvn(torch.zeros(80), torch.zeros(80))


def test_lookahead_widens_the_input() -> None:
    config = ExperimentConfig(model=ModelConfig(stack_frames=3, lookahead_frames=4))
    assert config.model.input_dim == 7 * 80
