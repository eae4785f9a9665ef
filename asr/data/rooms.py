"""Simulated rooms: impulse responses of random shoebox rooms by the image method (pyroomacoustics).

A room is drawn with its size, its wall absorption (which sets the reverberation time), and a
talker and a microphone somewhere inside, at least half a metre from the walls and from each
other. The impulse response includes the direct path, so ``asr.data.augment.reverberate`` can
keep the speech aligned with its labels.
"""

from __future__ import annotations

import numpy as np
import torch

from asr.audio import SAMPLE_RATE

__all__ = ["room_impulse_response", "ROOM_SIZE_RANGE", "RT60_RANGE"]

ROOM_SIZE_RANGE = ((3.0, 10.0), (2.5, 8.0), (2.4, 4.0))  # metres: length, width, height
RT60_RANGE = (0.2, 0.9)  # seconds
MAX_ORDER = 40  # image-source reflections at most: ~20 ms per response, and a tail of 0.5-1 s
WALL_MARGIN = 0.5


def room_impulse_response(rng: np.random.Generator, rt60: float | None = None, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """(L,) float32 impulse response from a random talker to a random microphone in a random room.

    ``rt60``: the reverberation time to aim for (seconds; None draws one from ``RT60_RANGE``). A
    small room cannot ring as long as a large one, so short rooms fall below long targets.
    """
    import pyroomacoustics as pra

    size = np.array([rng.uniform(low, high) for low, high in ROOM_SIZE_RANGE])
    rt60 = rng.uniform(*RT60_RANGE) if rt60 is None else rt60
    if not rt60 > 0:
        raise ValueError(f"rt60 must be positive, got {rt60}")
    try:
        absorption, order = pra.inverse_sabine(rt60, size)
    except ValueError:  # a reverberation time this room cannot have: take its most reverberant walls
        absorption, order = 0.05, MAX_ORDER
    room = pra.ShoeBox(size, fs=sample_rate, materials=pra.Material(float(min(absorption, 0.99))), max_order=min(order, MAX_ORDER))
    talker, microphone = _two_points(size, rng)
    room.add_source(talker)
    room.add_microphone(microphone)
    room.compute_rir()
    return torch.from_numpy(np.asarray(room.rir[0][0], dtype=np.float32))


def _two_points(size: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A talker and a microphone at least ``WALL_MARGIN`` from the walls and from each other."""
    while True:
        talker, microphone = (rng.uniform(WALL_MARGIN, size - WALL_MARGIN) for _ in range(2))
        if np.linalg.norm(talker - microphone) >= WALL_MARGIN:
            return talker, microphone
