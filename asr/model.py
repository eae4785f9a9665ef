"""The acoustic model: running and global CMVN, a stacked unidirectional LSTM, and a CTC output layer.

Shape legend: B batch (streams), T stacked input steps (30 ms each by default),
D input width ((stack + lookahead) x mels), M mel bins, V vocabulary (blank = 0),
L LSTM layers, H hidden size, P output size (the projection size, or H without one).

The recurrent state is explicit: ``forward(x, state) -> (log_probs, state)``, with ``None``
for a new stream. Running a signal in chunks with the state carried over gives the same
output as one pass over the whole signal.

With ``running_cmn_steps`` = W, each step's features first lose a running mean of the stream's
own frames, which starts at the training data's mean and follows the stream as Kaldi's online
CMVN does: after n steps it is the average of the stream's step means and W/3 steps' worth of
the global mean, and once n + W/3 reaches W an exponential average over about W steps. It is
updated one step at a time, the same way whatever the chunking, so streaming stays exact.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from asr.config import ModelConfig

__all__ = ["ModelState", "AcousticModel", "stack_states", "unstack_states"]

# PyTorch warns on every call that oneDNN lacks projected LSTMs; its default kernel is the one
# we want (it is faster at batch 1, see bench/stream_rtf.py), so the warning is only noise.
warnings.filterwarnings("ignore", message="LSTM with projections is not supported with oneDNN")

ModelState = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
"""``(h, c, cmn_mean, cmn_steps)``: the LSTM's h (L, B, P) and c (L, B, H), the running CMN's
mean (1, B, M) and the steps it has seen (1, B, 1). Every part has the streams on dimension 1."""


class AcousticModel(nn.Module):
    """Running CMN -> global CMVN -> LSTM x L -> Linear -> log-softmax over V tokens."""

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

    def init_state(self, batch: int, device: torch.device | str | None = None) -> ModelState:
        """The state of ``batch`` new streams: zero LSTM state, and a running mean that starts at the global one."""
        c = self.config
        device = device if device is not None else self.cmvn_mean.device
        return (
            torch.zeros(c.layers, batch, c.output_dim, device=device),
            torch.zeros(c.layers, batch, c.hidden, device=device),
            self.cmvn_mean.to(device).expand(1, batch, c.n_mels).clone(),
            torch.zeros(1, batch, 1, device=device),
        )

    def forward(
        self,
        x: torch.Tensor,
        state: ModelState | None = None,
        lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, ModelState]:
        """Run T steps for B streams.

        Args:
            x: (B, T, D) stacked log-mel steps.
            state: the state from the previous call, or None for new streams.
            lengths: (B,) valid steps per stream (CPU int64), when streams in the batch have
                different lengths; the returned state is then each stream's state after its
                own last valid step. All lengths must be >= 1.

        Returns:
            log_probs (B, T, V), with padded steps undefined, and the new state.
        """
        if state is None:
            state = self.init_state(x.shape[0], x.device)
        h, c, cmn_mean, cmn_steps = state
        repeats = self.config.stack_frames + self.config.lookahead_frames
        if self.config.running_cmn_steps:
            means, cmn_mean, cmn_steps = self._running_means(x, cmn_mean, cmn_steps, lengths)  # (B, T, M)
            x = (x - means.repeat(1, 1, repeats)) / self.cmvn_std.repeat(repeats)
        else:
            x = (x - self.cmvn_mean.repeat(repeats)) / self.cmvn_std.repeat(repeats)
        if lengths is None:
            hidden, (h, c) = self.lstm(x, (h, c))  # (B, T, P)
        else:
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            packed_out, (h, c) = self.lstm(packed, (h, c))
            hidden, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=x.shape[1])
        return torch.log_softmax(self.output(hidden), dim=-1), (h, c, cmn_mean, cmn_steps)

    @torch.no_grad()
    def load_narrower(self, narrower: AcousticModel) -> None:
        """Take a trained model with fewer LSTM cells per layer (and otherwise the same config) as the start of
        this one, so that this model computes exactly what ``narrower`` does (Net2Net-style widening). The
        configs may also differ in what changes no weight: dropout and ``running_cmn_steps``.

        Each gate's first H' rows and the output layer come from ``narrower``; the H - H' new cells keep
        their fresh initialization, and their columns of the projection are zero, so they add nothing until
        training grows those columns. Needs a projection (with none, a cell's output is the LSTM's output).
        """
        ours, theirs = self.config, narrower.config
        if not ours.proj or theirs.hidden > ours.hidden or not _equal_but(theirs, ours, "hidden"):
            raise ValueError(f"can widen only a projected LSTM's cells: hidden {theirs.hidden} -> {ours.hidden} with the rest of the config equal")
        new, old = ours.hidden, theirs.hidden
        mine = dict(self.lstm.named_parameters())
        for name, weight in narrower.lstm.named_parameters():
            if name.startswith("weight_hr"):  # (P, H): the new cells' columns start at zero
                mine[name][:, :old] = weight
                mine[name][:, old:] = 0.0
            else:  # weight_ih (4H, D), weight_hh (4H, P), biases (4H,): gates i, f, g, o, each H rows
                for gate in range(4):
                    mine[name][gate * new : gate * new + old] = weight[gate * old : (gate + 1) * old]
        self.output.load_state_dict(narrower.output.state_dict())
        self.set_cmvn(narrower.cmvn_mean, narrower.cmvn_std)

    @torch.no_grad()
    def load_shorter_lookahead(self, shorter: AcousticModel) -> None:
        """Take a trained model that sees fewer future frames (and otherwise the same config) as the start of this
        one, so that this model computes exactly what ``shorter`` does. The configs may also differ in what changes
        no weight: dropout and ``running_cmn_steps``.

        A step's input is its frames then its lookahead, oldest first, so ``shorter``'s input is this model's first
        (stack + L') x M columns: the first layer's input weights take those, and the new frames' columns start at
        zero, adding nothing until training grows them.
        """
        ours, theirs = self.config, shorter.config
        if theirs.lookahead_frames > ours.lookahead_frames or not _equal_but(theirs, ours, "lookahead_frames"):
            raise ValueError(
                f"can only lengthen the lookahead: lookahead_frames {theirs.lookahead_frames} -> {ours.lookahead_frames} with the rest of the config equal"
            )
        state = shorter.state_dict()
        first = state["lstm.weight_ih_l0"]  # (4H, (stack + L') x M)
        state["lstm.weight_ih_l0"] = torch.cat([first, first.new_zeros(first.shape[0], ours.input_dim - first.shape[1])], dim=1)
        self.load_state_dict(state)
        self.set_cmvn(shorter.cmvn_mean, shorter.cmvn_std)

    @torch.no_grad()
    def _running_means(
        self, x: torch.Tensor, mean: torch.Tensor, steps: torch.Tensor, lengths: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The running mean each step is normalized by, (B, T, M), and the new mean (1, B, M) and steps (1, B, 1).

        A step's own frames (not its lookahead) update the mean before it is used. Padded steps
        leave it as it was. Only elementwise arithmetic, one step at a time: a stream gets the
        same numbers alone or in any batch, in one call or in chunks.
        """
        batch, length, _ = x.shape
        stack, mels = self.config.stack_frames, self.config.n_mels
        frames = x[..., : stack * mels].reshape(batch, length, stack, mels)
        step_sums = frames[:, :, 0]
        for i in range(1, stack):
            step_sums = step_sums + frames[:, :, i]
        step_means = step_sums / stack  # (B, T, M)
        window = float(self.config.running_cmn_steps)
        prior = float(self.config.running_cmn_steps // 3)
        live = torch.ones(batch, length, 1, device=x.device)
        if lengths is not None:
            live = (torch.arange(length)[None, :] < lengths[:, None]).to(x.device, x.dtype)[..., None]
        mean, steps = mean[0], steps[0]  # (B, M), (B, 1)
        means = []
        for t in range(length):
            steps = steps + live[:, t]
            mean = mean + live[:, t] / torch.clamp(steps + prior, max=window) * (step_means[:, t] - mean)
            means.append(mean)
        return torch.stack(means, dim=1), mean[None], steps[None]


def _equal_but(theirs: ModelConfig, ours: ModelConfig, grown: str) -> bool:
    """Whether two model configs agree but in ``grown`` and in what changes no weight (dropout, ``running_cmn_steps``)."""
    return replace(theirs, **{grown: getattr(ours, grown)}, dropout=ours.dropout, running_cmn_steps=ours.running_cmn_steps) == ours


def stack_states(states: list[ModelState]) -> ModelState:
    """Join per-stream states, each part (·, 1, ·), into one batch state (·, B, ·)."""
    return tuple(torch.cat(parts, dim=1) for parts in zip(*states))  # type: ignore[return-value]


def unstack_states(state: ModelState) -> list[ModelState]:
    """Split a batch state (·, B, ·) into B per-stream states (·, 1, ·)."""
    return list(zip(*(part.split(1, dim=1) for part in state)))  # type: ignore[arg-type]
