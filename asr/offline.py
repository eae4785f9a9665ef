"""A model's log-probs for a whole file in one pass, for the tools that study a model offline.

Token priors (``asr.priors``) and decoder tuning (``bench/tune_decoder.py``) need every step's
posteriors of many files, not a live stream; one forward pass per file gives them.
"""

from __future__ import annotations

from pathlib import Path

import torch

from asr.audio import load_audio
from asr.checkpoint import Checkpoint
from asr.features import LogMel, stack_frames

__all__ = ["file_log_probs"]


@torch.inference_mode()
def file_log_probs(checkpoint: Checkpoint, audio: str | Path, logmel: LogMel | None = None) -> torch.Tensor:
    """(T, V) the model's log-probs for every step of ``audio``; pass ``logmel`` to reuse one across files."""
    config = checkpoint.model.config
    logmel = logmel or LogMel(checkpoint.features)
    features = stack_frames(logmel(load_audio(audio)), config.stack_frames, config.lookahead_frames)  # (T, D)
    return checkpoint.model.eval()(features[None])[0][0]
