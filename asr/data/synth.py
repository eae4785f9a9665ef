"""The synthetic speech corpus: plan, synthesize in parallel, write manifests.

Training and dev speech comes from espeak-ng (every English voice with every variant, at
random rate, pitch and word gap) and from festival's diphone voices. The test split is
voiced only by flite's voices, which training never hears (``is_held_out`` enforces this,
for HTS voices too). Splits share no sentence. Dev and test items come in three
conditions: clean, noisy (pink noise at 10 dB SNR) and telephone (8 kHz, 300-3400 Hz).

Everything is decided up front by ``plan_corpus`` from one seed, so a corpus is
reproducible and a run can resume: each output is written atomically and skipped when it
already exists.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import soundfile
import torch
from tqdm import tqdm

from asr.audio import SAMPLE_RATE, load_audio
from asr.data.augment import add_noise_at_snr, colored_noise, speed_perturb, telephone
from asr.data.manifest import ManifestEntry, write_manifest
from asr.data.text import Sentence, fortune_sentences, generated_sentences, word_list

__all__ = [
    "Voice",
    "SynthJob",
    "TEST_VOICES",
    "is_held_out",
    "espeak_voices",
    "festival_voices",
    "festival_speaker",
    "shift_formants",
    "training_voices",
    "split_sentences",
    "plan_corpus",
    "synthesize_corpus",
    "make_corpus",
]

NOISY_SNR_DB = 10.0
FESTIVAL_VOICE_DIR = Path("/usr/share/festival/voices/english")
FESTIVAL_BATCH = 40  # festival takes ~0.4 s to start, so each process says many sentences


@dataclass(frozen=True)
class Voice:
    engine: str  # "espeak", "festival" or "flite"
    name: str  # espeak "en-us+f3", festival "kal_diphone", flite "slt"

    def __str__(self) -> str:
        return f"{self.engine}:{self.name}"


TEST_VOICES = tuple(Voice("flite", name) for name in ("awb", "rms", "slt", "kal16"))


def is_held_out(voice: Voice) -> bool:
    """flite voices and any HTS voice are kept for measuring generalization, never trained on."""
    return voice.engine == "flite" or "hts" in voice.name.lower()


def espeak_voices() -> list[Voice]:
    """Every English espeak-ng voice (not MBROLA) combined with every espeak-ng variant."""
    languages = _espeak_list("en", r"^\s*\d+\s+(\S+)\s+\S+\s+\S+\s+gmw/")
    variants = _espeak_list("variant", r"^\s*\d+\s+variant\s+\S+\s+\S+\s+!v/(\S+)")
    return [Voice("espeak", f"{language}+{variant}") for language in languages for variant in ["", *variants]]


def _espeak_list(what: str, pattern: str) -> list[str]:
    try:
        listing = subprocess.run(["espeak-ng", f"--voices={what}"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        raise ValueError(f"cannot list espeak-ng voices ({error}); install Debian's 'espeak-ng'") from None
    return sorted({m.group(1) for line in listing.splitlines() if (m := re.match(pattern, line))})


def festival_voices(folder: Path = FESTIVAL_VOICE_DIR) -> list[Voice]:
    """The installed festival diphone voices (HTS voices excluded: they are held out)."""
    if not folder.is_dir():
        return []
    return [Voice("festival", p.name) for p in sorted(folder.iterdir()) if p.name.endswith("_diphone")]


def training_voices() -> list[Voice]:
    voices = [v for v in espeak_voices() + festival_voices() if not is_held_out(v)]
    if not voices:
        raise ValueError("no training voices found; install espeak-ng (and festival with festvox-*pc16k voices)")
    return voices


@dataclass(frozen=True)
class SynthJob:
    """One file to make: either speech from a voice, or a condition derived from a clean file."""

    path: str  # relative to the corpus folder
    split: str
    sentence: Sentence
    voice: Voice
    condition: str = "clean"
    rate: float = 1.0  # speaking-rate factor
    pitch: int = 50  # espeak pitch, 0-99
    word_gap: int = 0  # espeak extra gap between words, in 10 ms units
    f0: float = 0.0  # festival: target mean pitch in Hz before the formant shift (0: the voice's own)
    formant_shift: float = 1.0  # festival: every frequency scaled by this (a shorter or longer vocal tract)
    seed: int = 0  # for derived conditions
    source: str | None = None  # the clean file a derived condition is made from


def split_sentences(sentences: Sequence[Sentence], dev: int, test: int, seed: int) -> dict[str, list[Sentence]]:
    """Shuffle unique sentences (by label) and cut them into test, dev and train: no sentence is shared."""
    unique = list({s.text: s for s in sentences}.values())
    if dev + test >= len(unique):
        raise ValueError(f"only {len(unique)} distinct sentences for {dev} dev + {test} test")
    order = np.random.default_rng(seed).permutation(len(unique))
    shuffled = [unique[i] for i in order]
    return {"test": shuffled[:test], "dev": shuffled[test : test + dev], "train": shuffled[test + dev :]}


def _voiced_job(path: str, split: str, sentence: Sentence, voice: Voice, rng: np.random.Generator) -> SynthJob:
    natural = voice.engine == "flite"  # test voices speak as they are
    job = SynthJob(
        path=path,
        split=split,
        sentence=sentence,
        voice=voice,
        rate=1.0 if natural else float(rng.uniform(0.75, 1.25)),
        pitch=50 if natural else int(rng.integers(25, 76)),
        word_gap=0 if natural else int(rng.integers(0, 4)),
    )
    if voice.engine != "festival":
        return job
    shift, f0 = festival_speaker(rng)
    return dataclasses.replace(job, f0=f0, formant_shift=shift)


def festival_speaker(rng: np.random.Generator) -> tuple[float, float]:
    """A new speaker from festival's two male diphone voices: (formant shift, target F0 in Hz).

    Scaling every frequency by ``shift`` mimics a vocal tract ``1/shift`` times as long: 1.2 is
    about a woman's. The pitch follows, from ~110 Hz at 1.0 to ~200 Hz at 1.2, with some
    spread, kept within 80-250 Hz; it is given before the shift, which raises it by ``shift`` too.
    """
    shift = round(float(rng.uniform(0.9, 1.25)), 2)  # 2 decimals keep the resampling ratio small
    pitch = float(np.clip(110.0 * shift**3.3 * rng.uniform(0.85, 1.15), 80.0, 250.0))
    return shift, round(pitch / shift, 1)


ENGINE_WEIGHTS = {"espeak": 0.6, "festival": 0.4}


class _VoicePicker:
    """An engine by ENGINE_WEIGHTS (among those present), then one of its voices uniformly.

    Uniform over voices would drown festival's two voices among espeak's thousand variants.
    """

    def __init__(self, voices: Sequence[Voice]) -> None:
        self.by_engine = {e: [v for v in voices if v.engine == e] for e in sorted({v.engine for v in voices})}
        weights = np.array([ENGINE_WEIGHTS.get(engine, 0.1) for engine in self.by_engine])
        self.probabilities = weights / weights.sum()

    def __call__(self, rng: np.random.Generator) -> Voice:
        candidates = list(self.by_engine.values())[int(rng.choice(len(self.by_engine), p=self.probabilities))]
        return candidates[int(rng.integers(len(candidates)))]


def plan_corpus(
    splits: dict[str, list[Sentence]],
    train_voices: Sequence[Voice],
    seed: int,
    train_repeats: int = 1,
) -> list[SynthJob]:
    """Every job of the corpus, decided by ``seed`` alone.

    Train sentences are each said ``train_repeats`` times by random training voices; dev
    sentences once by a training voice; test sentences once by the flite voices in turn.
    Dev and test items also get noisy and telephone copies.
    """
    if any(is_held_out(v) for v in train_voices):
        raise ValueError("held-out voices (flite, HTS) must never voice training or dev data")
    rng = np.random.default_rng(seed)
    pick_voice = _VoicePicker(train_voices)
    jobs: list[SynthJob] = []
    for index, sentence in enumerate(splits["train"] * train_repeats):
        voice = pick_voice(rng)
        jobs.append(_voiced_job(f"train/{index // 1000:03d}/{index:06d}.flac", "train", sentence, voice, rng))
    for split in ("dev", "test"):
        for index, sentence in enumerate(splits[split]):
            voice = TEST_VOICES[index % len(TEST_VOICES)] if split == "test" else pick_voice(rng)
            clean = _voiced_job(f"{split}/clean/{index:05d}.flac", split, sentence, voice, rng)
            jobs.append(clean)
            for condition in ("noisy", "telephone"):
                jobs.append(
                    SynthJob(
                        path=f"{split}/{condition}/{index:05d}.flac",
                        split=split,
                        sentence=sentence,
                        voice=voice,
                        condition=condition,
                        seed=int(rng.integers(2**31)),
                        source=clean.path,
                    )
                )
    return jobs


def _write_flac(path: Path, samples: torch.Tensor) -> None:
    """Write 16 kHz 16-bit FLAC atomically, so an interrupted run never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    soundfile.write(partial, np.clip(samples.numpy(), -1.0, 1.0), SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    os.replace(partial, path)


def _engine_command(job: SynthJob, wav: Path) -> list[str]:
    if job.voice.engine == "espeak":
        return ["espeak-ng", "-v", job.voice.name, "-s", str(round(175 * job.rate)), "-p", str(job.pitch), "-g", str(job.word_gap), "-w", str(wav), "--stdin"]
    if job.voice.engine == "flite":
        return ["flite", "-voice", job.voice.name, "--setf", f"duration_stretch={1 / job.rate:.3f}", "-f", "/dev/stdin", "-o", str(wav)]
    raise ValueError(f"{job.voice}: not a single-call engine")


def _festival_script(jobs: Sequence[SynthJob], wavs: Sequence[Path]) -> str:
    lines = []
    for job, wav in zip(jobs, wavs):
        text = job.sentence.spoken.replace("\\", " ").replace('"', " ")
        lines += [f"(voice_{job.voice.name})"]
        if job.f0 > 0:
            lines += [f"(set! int_lr_params '((target_f0_mean {job.f0}) (target_f0_std {job.f0 / 7:.1f}) (model_f0_mean 170) (model_f0_std 34)))"]
        lines += [
            f"(Parameter.set 'Duration_Stretch {job.formant_shift / job.rate:.3f})",  # the shift shortens by 1/shift
            f'(utt.save.wave (utt.synth (Utterance Text "{text}")) "{wav}" \'riff)',
        ]
    return "\n".join(lines) + "\n"


def _synthesize_voiced(jobs: Sequence[SynthJob], root: Path) -> None:
    """Say each job's sentence with its engine, resample to 16 kHz, write FLAC."""
    with tempfile.TemporaryDirectory(prefix="asr-synth-") as scratch:
        wavs = [Path(scratch) / f"{i}.wav" for i in range(len(jobs))]
        if jobs[0].voice.engine == "festival":
            script = Path(scratch) / "batch.scm"
            script.write_text(_festival_script(jobs, wavs))
            subprocess.run(["festival", "--batch", str(script)], check=True, capture_output=True, timeout=600)
        else:
            for job, wav in zip(jobs, wavs):
                subprocess.run(_engine_command(job, wav), input=job.sentence.spoken, text=True, check=True, capture_output=True, timeout=120)
        for job, wav in zip(jobs, wavs):
            _write_flac(root / job.path, shift_formants(load_audio(wav), job.formant_shift))


def shift_formants(wave: torch.Tensor, shift: float) -> torch.Tensor:
    """Scale every frequency by ``shift`` (and duration by ``1/shift``): play 16 kHz audio at ``16000 * shift``."""
    if shift == 1.0:
        return wave
    return speed_perturb(wave, shift)  # the same resampling: tempo and every frequency scale together


def _derive_condition(job: SynthJob, root: Path) -> None:
    clean = load_audio(root / str(job.source))
    rng = np.random.default_rng(job.seed)
    if job.condition == "noisy":
        degraded = add_noise_at_snr(clean, colored_noise("pink", clean.numel(), rng), NOISY_SNR_DB)
    elif job.condition == "telephone":
        degraded = telephone(clean, rng)
    else:
        raise ValueError(f"unknown condition {job.condition!r}")
    _write_flac(root / job.path, degraded)


def _run_unit(unit: tuple[Path, list[SynthJob]]) -> int:
    root, jobs = unit
    torch.set_num_threads(1)  # one process per core already
    if jobs[0].source is not None:
        for job in jobs:
            _derive_condition(job, root)
    else:
        _synthesize_voiced(jobs, root)
    return len(jobs)


def _work_units(jobs: Sequence[SynthJob], root: Path) -> tuple[list[list[SynthJob]], list[list[SynthJob]]]:
    """(voiced units, derived units) still to do; festival jobs are grouped by voice into batches."""
    todo = [job for job in jobs if not (root / job.path).exists()]
    festival = sorted((j for j in todo if j.voice.engine == "festival" and j.source is None), key=lambda j: (j.voice.name, j.path))
    voiced = [[j] for j in todo if j.source is None and j.voice.engine != "festival"]
    for start in range(0, len(festival), FESTIVAL_BATCH):
        batch = festival[start : start + FESTIVAL_BATCH]
        by_voice: dict[str, list[SynthJob]] = {}
        for job in batch:
            by_voice.setdefault(job.voice.name, []).append(job)
        voiced.extend(by_voice.values())
    derived = [[j] for j in todo if j.source is not None]
    return voiced, derived


def synthesize_corpus(jobs: Sequence[SynthJob], root: Path, processes: int | None = None) -> dict[str, Path]:
    """Make every missing file of ``jobs`` under ``root`` in parallel, then write one manifest per split.

    Returns the manifest paths by split. Safe to interrupt and run again.
    """
    root.mkdir(parents=True, exist_ok=True)
    voiced, derived = _work_units(jobs, root)
    processes = processes or os.cpu_count() or 1
    with Pool(processes) as pool, tqdm(total=len(jobs), initial=len(jobs) - sum(map(len, voiced + derived)), desc="synthesizing", unit="utt") as bar:
        for phase in (voiced, derived):  # derived conditions need their clean source first
            for done in pool.imap_unordered(_run_unit, [(root, unit) for unit in phase]):
                bar.update(done)
    manifests = {}
    for split in sorted({job.split for job in jobs}):
        entries = [
            ManifestEntry(
                audio=root / job.path,
                text=job.sentence.text,
                duration=round(soundfile.info(str(root / job.path)).duration, 3),
                condition=job.condition,
                voice=str(job.voice),
            )
            for job in jobs
            if job.split == split
        ]
        manifests[split] = root / f"{split}.jsonl"
        write_manifest(entries, manifests[split])
    return manifests


def make_corpus(
    out_dir: Path,
    generated: int,
    dev: int,
    test: int,
    seed: int = 0,
    train_repeats: int = 1,
    processes: int | None = None,
    fortunes: bool = True,
    train_utterances: int | None = None,
) -> dict[str, Path]:
    """Collect sentences, split, plan and synthesize a corpus; writes ``corpus.json`` describing it.

    ``train_utterances`` keeps only the first that many planned training items. The plan, and so
    the sentence split and every other item, stays what the full corpus would have: a smaller
    corpus (or dev and test alone, with 0) can be made that shares no sentence with the full one.
    """
    if train_utterances is not None and train_utterances < 0:
        raise ValueError(f"train_utterances must be >= 0, got {train_utterances}")
    words, names = word_list()
    sentences = (fortune_sentences() if fortunes else []) + list(generated_sentences(generated, seed, words, names))
    splits = split_sentences(sentences, dev, test, seed)
    voices = training_voices()
    jobs = plan_corpus(splits, voices, seed, train_repeats)
    if train_utterances is not None:
        train_jobs = [job for job in jobs if job.split == "train"][:train_utterances]
        jobs = train_jobs + [job for job in jobs if job.split != "train"]
    manifests = synthesize_corpus(jobs, out_dir, processes)
    summary = {
        "seed": seed,
        "sentences": {split: len(items) for split, items in splits.items()},
        "utterances": {split: sum(1 for j in jobs if j.split == split) for split in splits},
        "train_utterances_limit": train_utterances,
        "train_voices": len(voices),
        "train_engines": sorted({v.engine for v in voices}),
        "festival_voices": [v.name for v in voices if v.engine == "festival"],
        "test_voices": [str(v) for v in TEST_VOICES],
        "hours": {split: round(sum(e.get("duration", 0) for e in map(json.loads, path.read_text().splitlines())) / 3600, 2) for split, path in manifests.items()},
    }
    (out_dir / "corpus.json").write_text(json.dumps(summary, indent=2) + "\n")
    return manifests
