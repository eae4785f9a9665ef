"""The model carries its state (the LSTM's and the running CMN's) across chunks exactly, and batching changes nothing."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from asr.checkpoint import random_checkpoint
from asr.config import ExperimentConfig, ModelConfig
from asr.model import AcousticModel, stack_states, unstack_states
from tests.conftest import TINY

MODEL = random_checkpoint(TINY, seed=11).model
CMN_MODEL = random_checkpoint(replace(TINY, model=replace(TINY.model, running_cmn_steps=30)), seed=11).model
CMN_MODEL.set_cmvn(torch.full((80,), -4.0), torch.full((80,), 2.0))
INPUTS = torch.randn(3, 60, TINY.model.input_dim)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=25), min_size=1, max_size=10), st.sampled_from(["global CMVN", "running CMN"]))
def test_chunked_with_state_carry_equals_one_pass(chunk_sizes: list[int], normalization: str) -> None:
    model = CMN_MODEL if normalization == "running CMN" else MODEL
    with torch.inference_mode():
        whole, whole_state = model(INPUTS)
        pieces, state, start = [], None, 0
        for size in chunk_sizes:
            if start >= INPUTS.shape[1]:
                break
            out, state = model(INPUTS[:, start : start + size], state)
            pieces.append(out)
            start += size
    chunked = torch.cat(pieces, dim=1)
    assert (chunked - whole[:, : chunked.shape[1]]).abs().max() <= 1e-4
    if start >= INPUTS.shape[1]:
        assert all((a - b).abs().max() <= 1e-4 for a, b in zip(state, whole_state))


def test_state_shapes_follow_layers_batch_hidden() -> None:
    h, c, cmn_mean, cmn_steps = MODEL.init_state(5)
    assert h.shape == (2, 5, 24) and c.shape == (2, 5, 48) and cmn_mean.shape == (1, 5, 80) and cmn_steps.shape == (1, 5, 1)
    log_probs, state = MODEL(torch.randn(5, 7, TINY.model.input_dim))
    assert log_probs.shape == (5, 7, 29) and [part.shape for part in state] == [h.shape, c.shape, cmn_mean.shape, cmn_steps.shape]
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(5, 7), atol=1e-5)


def test_no_projection_state_shapes() -> None:
    model = AcousticModel(ModelConfig(layers=3, hidden=16, proj=0))
    h, c, _, _ = model.init_state(2)
    assert h.shape == c.shape == (3, 2, 16)


@pytest.mark.parametrize("model", [MODEL, CMN_MODEL], ids=["global CMVN", "running CMN"])
def test_stack_unstack_round_trip(model: AcousticModel) -> None:
    states = [model(torch.randn(1, 4, TINY.model.input_dim))[1] for _ in range(4)]
    restored = unstack_states(stack_states(states))
    for state, back in zip(states, restored):
        assert len(state) == len(back) == 4 and all(torch.equal(a, b) for a, b in zip(state, back))


def test_the_running_mean_starts_at_the_global_mean_and_follows_the_stream() -> None:
    """Steps whose frames all equal v move the mean from the global g as (prior g + n v) / (prior + n), then as an average over the window."""
    config = CMN_MODEL.config  # window 30 steps, so a prior of 10
    steps = torch.full((1, 50, config.input_dim), 2.0)
    _, (_, _, mean, seen) = CMN_MODEL(steps[:, :5])
    assert seen.item() == 5 and torch.allclose(mean, torch.full((1, 1, 80), (10 * -4.0 + 5 * 2.0) / 15), atol=1e-5)
    _, (_, _, mean, _) = CMN_MODEL(steps)  # 20 steps reach the window, then 30 forget 1/30 of the rest each
    assert torch.allclose(mean, torch.full((1, 1, 80), 2.0 + (-4.0 - 2.0) * (10 / 30) * (29 / 30) ** 30), atol=1e-4)


def test_running_cmn_cancels_a_constant_channel_gain() -> None:
    """The same speech 20 dB louder (a constant offset in log-mel) gives the same output once the mean has caught up."""
    with torch.inference_mode():
        quiet, _ = CMN_MODEL(INPUTS[:1])
        loud, _ = CMN_MODEL(INPUTS[:1] + 4.6)
        plain_quiet, _ = MODEL(INPUTS[:1])
        plain_loud, _ = MODEL(INPUTS[:1] + 4.6)
    assert (quiet[:, -10:] - loud[:, -10:]).abs().max() < 0.05 < (plain_quiet[:, -10:] - plain_loud[:, -10:]).abs().max()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=20), min_size=2, max_size=6), st.sampled_from(["global CMVN", "running CMN"]))
def test_ragged_batch_equals_each_stream_alone(lengths: list[int], normalization: str) -> None:
    """Streams of different lengths in one padded batch get exactly their solo outputs and states."""
    model = CMN_MODEL if normalization == "running CMN" else MODEL
    inputs = [torch.randn(1, n, TINY.model.input_dim) for n in lengths]
    starts = [model(torch.randn(1, 3, TINY.model.input_dim))[1] for _ in lengths]
    with torch.inference_mode():
        solo = [model(x, s) for x, s in zip(inputs, starts)]
        batch = torch.nn.utils.rnn.pad_sequence([x[0] for x in inputs], batch_first=True)
        out, state = model(batch, stack_states(starts), torch.tensor(lengths))
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


def test_a_widened_model_computes_what_the_narrower_one_did_and_its_new_cells_can_learn() -> None:
    wide = AcousticModel(replace(CMN_MODEL.config, hidden=CMN_MODEL.config.hidden + 40, dropout=0.2))
    wide.load_narrower(CMN_MODEL)
    wide.eval()
    with torch.inference_mode():
        narrow_out, narrow_state = CMN_MODEL(INPUTS)
        wide_out, wide_state = wide(INPUTS)
    assert torch.allclose(wide_out, narrow_out, atol=1e-5)
    assert torch.allclose(wide_state[0], narrow_state[0], atol=1e-5)  # the projected h; c has the new cells too
    assert torch.allclose(wide_state[1][..., : CMN_MODEL.config.hidden], narrow_state[1], atol=1e-5)
    log_probs, _ = wide(INPUTS)
    log_probs[..., 1].sum().backward()
    new_columns = wide.lstm.weight_hr_l0.grad[:, CMN_MODEL.config.hidden :]
    assert new_columns.abs().sum() > 0  # the new cells' outputs reach the loss once their columns grow


@pytest.mark.parametrize(
    "change, message",
    [({"hidden": 24}, "hidden"), ({"layers": 3}, "rest of the config"), ({"proj": 0, "hidden": 64}, "projected")],
)
def test_only_a_projected_lstm_can_be_widened_and_nothing_else_may_change(change: dict, message: str) -> None:
    narrower = random_checkpoint(replace(TINY, model=replace(TINY.model, hidden=32, proj=16 if "proj" in change else TINY.model.proj)), seed=3).model
    with pytest.raises(ValueError, match=message):
        AcousticModel(replace(narrower.config, **{"hidden": 64, **change})).load_narrower(narrower)


def test_a_longer_lookahead_computes_what_the_shorter_one_did_and_learns_to_use_the_new_frames() -> None:
    extra = 2
    longer = AcousticModel(replace(CMN_MODEL.config, lookahead_frames=CMN_MODEL.config.lookahead_frames + extra, dropout=0.2))
    longer.load_shorter_lookahead(CMN_MODEL)
    longer.eval()
    steps = torch.cat([INPUTS, torch.randn(*INPUTS.shape[:2], extra * 80)], dim=-1)  # the same steps, then the new frames
    with torch.inference_mode():
        shorter_out, shorter_state = CMN_MODEL(INPUTS)
        longer_out, longer_state = longer(steps)
    assert torch.allclose(longer_out, shorter_out, atol=1e-5)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(longer_state, shorter_state))
    log_probs, _ = longer(steps)
    log_probs[..., 1].sum().backward()
    new_columns = longer.lstm.weight_ih_l0.grad[:, INPUTS.shape[-1] :]
    assert new_columns.abs().sum() > 0  # the new frames reach the loss once their columns grow


@pytest.mark.parametrize("change, message", [({"lookahead_frames": 0}, "only lengthen"), ({"lookahead_frames": 4, "layers": 3}, "rest of the config")])
def test_only_the_lookahead_may_grow_and_nothing_else_may_change(change: dict, message: str) -> None:
    shorter = random_checkpoint(replace(TINY, model=replace(TINY.model, lookahead_frames=2)), seed=3).model
    with pytest.raises(ValueError, match=message):
        AcousticModel(replace(shorter.config, **change)).load_shorter_lookahead(shorter)
