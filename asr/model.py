"""The acoustic model: global CMVN, a stacked unidirectional LSTM, and a CTC output layer.

Shape legend: B batch (streams), T stacked input steps (30 ms each by default),
D input width ((stack + lookahead) x mels), M mel bins, V vocabulary (blank = 0),
L LSTM layers, H hidden size, P output size (the projection size, or H without one).

The recurrent state is explicit: ``forward(x, state) -> (log_probs, state)``, with ``None``
for a new stream. Running a signal in chunks with the state carried over gives the same
output as one pass over the whole signal.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from asr.config import ModelConfig

__all__ = ["LSTMState", "AcousticModel", "stack_states", "unstack_states"]

# PyTorch warns on every call that oneDNN lacks projected LSTMs; its default kernel is the one
# we want (it is faster at batch 1, see bench/stream_rtf.py), so the warning is only noise.
warnings.filterwarnings("ignore", message="LSTM with projections is not supported with oneDNN")

LSTMState = tuple[torch.Tensor, torch.Tensor]
"""``(h, c)``: h is (L, B, P), c is (L, B, H)."""


class AcousticModel(nn.Module):
    """CMVN -> LSTM x L -> Linear -> log-softmax over V characters."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        # Global CMVN statistics per mel bin. Not in state_dict: the checkpoint stores them as
        # their own validated entry, and training computes them from the training data.
        self.register_buffer("cmvn_mean", torch.zeros(config.n_mels), persistent=False)
        self.register_buffer("cmvn_std", torch.ones(config.n_mels), persistent=False)
        self.lstm = nn.LSTM(
            input_size=config.input_dim,
            hidden_size=config.hidden,
            num_layers=config.layers,
            proj_size=config.proj,
            dropout=config.dropout if config.layers > 1 else 0.0,
            batch_first=True,
        )
        self.output = nn.Linear(config.output_dim, config.vocab_size)
        self._open_forget_gates()

    def _open_forget_gates(self) -> None:
        """Start every forget gate's bias at 1 (gate order i, f, g, o).

        With PyTorch's zero-centred default the cells forget half their state each step,
        and CTC training sat on its all-blank plateau for hundreds of steps longer
        (Jozefowicz et al., 2015, recommend the same).
        """
        hidden = self.config.hidden
        with torch.no_grad():
            for name, bias in self.lstm.named_parameters():
                if name.startswith("bias_ih"):
                    bias[hidden : 2 * hidden].fill_(1.0)
                elif name.startswith("bias_hh"):
                    bias[hidden : 2 * hidden].zero_()

    def set_cmvn(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Install global CMVN statistics, each (M,); std must be positive."""
        if mean.shape != (self.config.n_mels,) or std.shape != (self.config.n_mels,):
            raise ValueError(f"CMVN statistics must have shape ({self.config.n_mels},), got {tuple(mean.shape)} and {tuple(std.shape)}")
        if not (torch.isfinite(mean).all() and torch.isfinite(std).all() and (std > 0).all()):
            raise ValueError("CMVN statistics must be finite with a positive std")
        self.cmvn_mean.copy_(mean)
        self.cmvn_std.copy_(std)

    def init_state(self, batch: int, device: torch.device | str | None = None) -> LSTMState:
        """A zero state for ``batch`` new streams."""
        c = self.config
        device = device if device is not None else self.cmvn_mean.device
        return (
            torch.zeros(c.layers, batch, c.output_dim, device=device),
            torch.zeros(c.layers, batch, c.hidden, device=device),
        )

    def forward(
        self,
        x: torch.Tensor,
        state: LSTMState | None = None,
        lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, LSTMState]:
        """Run T steps for B streams.

        Args:
            x: (B, T, D) stacked log-mel steps.
            state: ``(h, c)`` from the previous call, or None for new streams.
            lengths: (B,) valid steps per stream (CPU int64), when streams in the batch have
                different lengths; the returned state is then each stream's state after its
                own last valid step. All lengths must be >= 1.

        Returns:
            log_probs (B, T, V), with padded steps undefined, and the new state.
        """
        if state is None:
            state = self.init_state(x.shape[0], x.device)
        repeats = self.config.stack_frames + self.config.lookahead_frames
        x = (x - self.cmvn_mean.repeat(repeats)) / self.cmvn_std.repeat(repeats)
        if lengths is None:
            hidden, state = self.lstm(x, state)  # (B, T, P)
        else:
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            packed_out, state = self.lstm(packed, state)
            hidden, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=x.shape[1])
        return torch.log_softmax(self.output(hidden), dim=-1), state


def stack_states(states: list[LSTMState]) -> LSTMState:
    """Join per-stream states, each (L, 1, ·), into one batch state (L, B, ·)."""
    return torch.cat([h for h, _ in states], dim=1), torch.cat([c for _, c in states], dim=1)


def unstack_states(state: LSTMState) -> list[LSTMState]:
    """Split a batch state (L, B, ·) into B per-stream states (L, 1, ·)."""
    h, c = state
    return list(zip(h.split(1, dim=1), c.split(1, dim=1)))
