"""An int8 copy of a trained LSTM and output layer for CPU inference: a quarter of the weight memory,
and less CPU per live stream (the README's Speed section has the measurements).

Shape legend: B batch (streams), T steps, D input width, L layers, H cells per layer, P the LSTM's
output width (the projection size, or H without one), N rows, K and J a matmul's input and output widths.

Each weight matrix is quantized once, per output row, to 8-bit integers (-127..127) where the CPU
sums full-range products exactly, else to 7 bits (-63..63); each input row of every matmul is
quantized to 8 bits (-127..127) with its own scale, when it is multiplied. Products are summed in
int32, exactly, so a row's result depends on nothing but that row: a stream gets the same numbers,
bit for bit, alone or in any batch and in one call or in chunks, as the float model only gets up to
rounding. Why 7 bits on some CPUs: without VNNI, x86 int8 kernels may sum pairs of uint8 x int8
products in int16 (vpmaddubsw), where 255 x 127 x 2 saturates and 255 x 63 x 2 fits.
``weight_levels`` asks the kernel itself, once, with the worst case. 8-bit weights halve the weights'
rounding error: with them en-phone-v18 scores float32's held-out WER, with 7 bits 0.3 points more
(its card).

The matmuls are oneDNN's prepacked quantized linear (what PyTorch's own x86 int8 path runs); we
quantize the rows ourselves because PyTorch's dynamic quantization takes one scale for the whole
batch, which would make each stream's output depend on the others'. The time loop is Python's:
cheaper than float32's native loop for a live stream's few steps per call, whose weights no longer
fit the cache; on whole files' long blocks it was dearer on one CPU measured and cheaper on
another (README, Speed).
"""

from __future__ import annotations

import functools

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from asr.model import AcousticModel

__all__ = ["Int8LSTM", "Int8Linear", "int8_supported", "quantize_model", "quantize_rows", "weight_levels"]

FULL_WEIGHT_LEVELS = 127  # 8-bit weights, where products are summed straight into int32 (VNNI)
NARROW_WEIGHT_LEVELS = 63  # 7-bit weights, where pairs of products meet in int16 first
ACTIVATION_LEVELS = 127
ZERO_POINT = 128  # oneDNN takes the activations as uint8: -127..127 shifted to 1..255
TINY = 1e-30  # the scale of an all-zero row, which then quantizes to zeros


def int8_supported() -> bool:
    """Whether this PyTorch build has the oneDNN int8 kernels (x86 CPUs)."""
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.onednn, "qlinear_pointwise")


@functools.cache
def weight_levels() -> int:
    """The weight range this CPU's int8 kernels sum exactly: 127 where the worst case, every input and
    weight at its maximum, comes out exact (uint8 255 x int8 127, whose pairs overflow int16), else 63."""
    width = 256
    probe = Int8Matmul(torch.ones(1, width), FULL_WEIGHT_LEVELS)
    return FULL_WEIGHT_LEVELS if abs(probe(torch.ones(2, width))[0, 0].item() - width) < 0.5 else NARROW_WEIGHT_LEVELS


def quantize_rows(weight: torch.Tensor, levels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A float (J, K) matrix as int8 values (J, K) in [-levels, levels] and float32 scales (J,), one per row:
    values x scales is the nearest such matrix. Shared by the int8 kernels and int8 checkpoints (asr/checkpoint.py)."""
    scale = weight.float().abs().amax(dim=1).clamp_min(TINY) / levels
    return torch.round(weight.float() / scale[:, None]).to(torch.int8), scale


def quantize_model(model: AcousticModel) -> None:
    """Swap ``model``'s LSTM and output layer for int8 copies, in place. Its numbers then depend on nothing
    but each stream's own input, bit for bit; it runs on the CPU only, and can no longer be trained or saved."""
    model.lstm = Int8LSTM(model.lstm)
    model.output = Int8Linear(model.output)


class Int8Matmul:
    """``x @ weight.T`` with int8 weights and per-row int8 inputs: float x (N, K) -> float (N, J)."""

    def __init__(self, weight: torch.Tensor, levels: int | None = None) -> None:
        """``weight``: (J, K) float, quantized to integers in [-levels, levels] (default: ``weight_levels()``)."""
        quantized, scale = quantize_rows(weight, levels or weight_levels())
        self.packed = torch.ops.onednn.qlinear_prepack(quantized, None)
        self.weight_scale = scale.contiguous()
        self.zero_points = torch.zeros_like(self.weight_scale, dtype=torch.int64)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        row_scale = x.abs().amax(dim=1, keepdim=True).clamp_min_(TINY).div_(ACTIVATION_LEVELS)  # (N, 1); 3-8x faster than vector_norm(inf)
        quantized = torch.div(x, row_scale).round_().add_(ZERO_POINT).to(torch.uint8)
        scaled = torch.ops.onednn.qlinear_pointwise(
            quantized, 1.0, ZERO_POINT, self.packed, self.weight_scale, self.zero_points, None, 1.0, 0, torch.float32, "none", [], ""
        )  # (N, J): the int32 sums times each weight row's scale
        return scaled.mul_(row_scale)


class Int8Linear(nn.Module):
    """Inference only: what a trained ``nn.Linear`` computes, in int8: (..., K) -> (..., J)."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        with torch.no_grad():
            self.matmul = Int8Matmul(linear.weight.detach().float().cpu())
            self.bias = None if linear.bias is None else linear.bias.detach().float().cpu()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.matmul(x.reshape(-1, x.shape[-1]))
        if self.bias is not None:
            out = out.add_(self.bias)
        return out.view(*x.shape[:-1], -1)


class Int8LSTM(nn.Module):
    """Inference only: what a trained ``nn.LSTM`` (batch_first, with or without a projection) computes, in int8.

    Gates are reordered i, f, o, g, so that one sigmoid covers three of them.
    """

    def __init__(self, lstm: nn.LSTM) -> None:
        super().__init__()
        if not int8_supported():
            raise RuntimeError("int8 inference needs PyTorch's oneDNN int8 kernels, which this build or CPU lacks")
        if not lstm.batch_first or lstm.bidirectional:
            raise ValueError("Int8LSTM takes a unidirectional, batch_first LSTM")
        hidden = lstm.hidden_size
        self.hidden, self.layers, self.projected = hidden, lstm.num_layers, lstm.proj_size > 0
        order = torch.cat([torch.arange(0, 2 * hidden), torch.arange(3 * hidden, 4 * hidden), torch.arange(2 * hidden, 3 * hidden)])
        self.input_matmuls, self.recurrent_matmuls, self.projections, self.biases = [], [], [], []
        with torch.no_grad():
            for layer in range(self.layers):
                weight = lambda name: getattr(lstm, f"{name}_l{layer}").detach().float().cpu()  # noqa: E731
                self.input_matmuls.append(Int8Matmul(weight("weight_ih")[order]))
                self.recurrent_matmuls.append(Int8Matmul(weight("weight_hh")[order]))
                self.projections.append(Int8Matmul(weight("weight_hr")) if self.projected else None)
                self.biases.append((weight("bias_ih") + weight("bias_hh"))[order].contiguous())

    def forward(
        self, x: torch.Tensor | PackedSequence, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor | PackedSequence, tuple[torch.Tensor, torch.Tensor]]:
        """Run T steps for B streams, called as ``nn.LSTM`` is.

        Args:
            x: (B, T, D) float, or a PackedSequence of streams with different lengths; each
                stream's state is then the one after its own last step.
            state: h (L, B, P) and c (L, B, H).

        Returns:
            the last layer's outputs (B, T, P), packed as ``x`` was, and the new (h, c).
        """
        if isinstance(x, PackedSequence):
            padded, lengths = pad_packed_sequence(x, batch_first=True)
            out, state = self._run(padded, state, lengths)
            return pack_padded_sequence(out, lengths, batch_first=True, enforce_sorted=False), state
        return self._run(x, state, None)

    def _run(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor], lengths: torch.Tensor | None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """``forward`` on (B, T, D) with (B,) ``lengths`` (None: all T); padded steps' outputs are undefined."""
        batch, steps, _ = x.shape
        hidden = self.hidden
        live = None if lengths is None else (torch.arange(steps)[:, None] < lengths[None, :])[..., None]  # (T, B, 1)
        h_out, c_out = [], []
        for layer in range(self.layers):
            gate_inputs = self.input_matmuls[layer](x.reshape(batch * steps, -1)).add_(self.biases[layer]).view(batch, steps, 4 * hidden)
            h, c = state[0][layer], state[1][layer]  # (B, P), (B, H)
            outputs = []
            for t in range(steps):
                gates = gate_inputs[:, t] + self.recurrent_matmuls[layer](h)  # (B, 4H)
                sigmoids = gates[:, : 3 * hidden].sigmoid()
                new_c = torch.addcmul(sigmoids[:, hidden : 2 * hidden] * c, sigmoids[:, :hidden], gates[:, 3 * hidden :].tanh())
                new_h = sigmoids[:, 2 * hidden :] * new_c.tanh()
                projection = self.projections[layer]
                if projection is not None:
                    new_h = projection(new_h)
                if live is not None:
                    new_h, new_c = torch.where(live[t], new_h, h), torch.where(live[t], new_c, c)
                h, c = new_h, new_c
                outputs.append(h)
            x = torch.stack(outputs, dim=1)  # (B, T, P)
            h_out.append(h)
            c_out.append(c)
        return x, (torch.stack(h_out), torch.stack(c_out))
