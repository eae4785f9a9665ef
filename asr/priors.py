"""A model's token priors: its mean posterior of each token over the steps of some audio.

The lexicon search may divide each step's posteriors by a power of these priors
(``BeamConfig.prior_weight``), which moves them toward scaled likelihoods, as hybrid recognizers
do. Estimate them on speech the model was trained for (a dev split), never on test audio.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tqdm import tqdm

from asr.checkpoint import Checkpoint
from asr.data.manifest import read_manifest
from asr.features import LogMel
from asr.offline import file_log_probs

__all__ = ["estimate_token_priors"]


def estimate_token_priors(checkpoint: Checkpoint, manifest: Path) -> tuple[float, ...]:
    """(V,) the mean of the model's posteriors over every step of the manifest's files, each file in one pass.

    ValueError names a malformed manifest, or says that its files hold no step at all.
    """
    logmel = LogMel(checkpoint.features)
    total, steps = torch.zeros(len(checkpoint.tokenizer), dtype=torch.float64), 0
    for entry in tqdm(read_manifest(manifest), desc=f"token priors ({manifest.name})", unit="file"):
        log_probs = file_log_probs(checkpoint, entry.audio, logmel)  # (T, V)
        total += log_probs.double().exp().sum(dim=0)
        steps += log_probs.shape[0]
    if not steps:
        raise ValueError(f"{manifest}: no audio to estimate token priors from")
    return tuple((total / steps).tolist())
