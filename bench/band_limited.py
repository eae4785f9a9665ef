"""A test split's speech with its top band cut off, as lossy codecs and cheap converters leave it.

Usage:
    .venv/bin/python bench/band_limited.py /work/corpus8/test.jsonl /work/band-limited-test --cutoff 4500
    OMP_NUM_THREADS=1 .venv/bin/asr eval /work/band-limited-test/test.jsonl --no-real-speech --by-voice

The synthesizers all fill the band up to 8 kHz, and so do the held-out test voices; real recordings
often stop below it (LibriVox's 64 kb/s MP3s near 7 kHz, Bluetooth's wideband headsets and
many codecs at 7 kHz or less). This writes a copy of the chosen conditions' files (default: clean)
through a steep low-pass, an eighth-order Butterworth (48 dB per octave) at ``--cutoff`` Hz, a filter
unlike training's ``recording_band`` (asr/data/augment.py), and keeps their texts, voices and
conditions, so that ``asr eval`` scores the copies by voice and condition as it does the split.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path

import soundfile
import torch
import torchaudio.functional as AF
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asr.audio import SAMPLE_RATE, load_audio  # noqa: E402
from asr.data.manifest import ManifestEntry, read_manifest, write_manifest  # noqa: E402

ORDER = 8  # an eighth-order Butterworth: 3 dB down at the corner, 48 dB per octave past it
# its four second-order sections' quality factors, 1 / (2 cos((2k - 1) pi / 2n)) for k = 1..n/2
SECTION_Q = tuple(1 / (2 * math.cos((2 * k - 1) * math.pi / (2 * ORDER))) for k in range(1, ORDER // 2 + 1))


def low_pass(wave: torch.Tensor, cutoff_hz: float) -> torch.Tensor:
    """(N,) at 16 kHz -> (N,) through an ``ORDER``-order Butterworth low-pass at ``cutoff_hz``."""
    for q in SECTION_Q:
        wave = AF.lowpass_biquad(wave, SAMPLE_RATE, cutoff_hz, Q=q)
    return wave


def write_band_limited(entries: list[ManifestEntry], out_dir: Path, cutoff_hz: float) -> Path:
    """Low-pass each entry's audio into ``out_dir``/audio; returns the manifest of the copies (``out_dir``/test.jsonl)."""
    audio_dir = out_dir / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    copies = []
    for index, entry in enumerate(tqdm(entries, desc="low-pass", unit="file")):
        path = audio_dir / f"{index:05d}.flac"
        # each biquad section clamps its output to [-1, 1] (torchaudio's lfilter), so the samples fit PCM_16
        soundfile.write(path, low_pass(load_audio(entry.audio), cutoff_hz).numpy(), SAMPLE_RATE, subtype="PCM_16")
        copies.append(dataclasses.replace(entry, audio=path))
    manifest_path = out_dir / "test.jsonl"
    write_manifest(copies, manifest_path)
    return manifest_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("test_manifest", type=Path, help="a test split (asr synth's test.jsonl)")
    parser.add_argument("out_dir", type=Path, help="where the filtered audio and test.jsonl go (outside the repository)")
    parser.add_argument("--cutoff", type=float, default=4500.0, help="the low-pass corner in Hz (default: 4500)")
    parser.add_argument("--conditions", default="clean", help="comma-separated conditions to copy (default: clean)")
    args = parser.parse_args(argv)
    if not 0 < args.cutoff < SAMPLE_RATE / 2:
        parser.error(f"--cutoff must lie within (0, {SAMPLE_RATE // 2}) Hz, got {args.cutoff}")
    conditions = set(args.conditions.split(","))
    entries = [entry for entry in read_manifest(args.test_manifest) if entry.condition in conditions]
    if not entries:
        parser.error(f"{args.test_manifest}: no utterance in the conditions {sorted(conditions)}")
    manifest = write_band_limited(entries, args.out_dir, args.cutoff)
    print(f"{len(entries)} files low-passed at {args.cutoff:g} Hz: {manifest}")


if __name__ == "__main__":
    main()
