"""Render planned utterances with their synthesizer: 16 kHz audio and the phones each word was said with.

``render(jobs, scratch)`` takes jobs of one engine (festival jobs of one voice) and returns, per
job, the waveform and the synthesizer's own phones per spoken word (ARPAbet), or None where the
engine reports none (the test voices: nobody trains on them). Speaker transforms that the engine
cannot do itself (a formant shift, a pitch shift) are applied here, after synthesis.
"""

from __future__ import annotations

import functools
import html
import re
import subprocess
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torchaudio.functional as AF

from asr.audio import SAMPLE_RATE, load_audio
from asr.data.augment import pitch_shift, speed_perturb
from asr.data.jobs import SynthJob
from asr.data.espeak_accents import accent_data_path
from asr.data.festival_accents import entry_name, lexicon_entry
from asr.data.phone_labels import pronounceable
from asr.data.pico_accents import PICO_ACCENTS, accented_markup
from asr.data.voices import MORE_ACCENTED_MBROLA_VOICES, Voice, festival_phoneset, foreign_voice, mbrola_database
from asr.phones import festival_to_arpabet, foreign_to_arpabet, ipa_to_arpabet

__all__ = ["Rendered", "render", "shift_formants"]

Rendered = tuple[torch.Tensor, list[list[str]] | None]
"""(wave (N,) at 16 kHz, ARPAbet phones per spoken word or None)."""

_FESTIVAL_WORD_PHONES = """(define (word_phones w)
  (apply append (mapcar (lambda (syl) (mapcar item.name (item.daughters syl))) (item.daughters (item.relation w 'SylStructure)))))
"""
_FESTIVAL_LINE = re.compile(r'^PHONES (\d+)(.*)$')


def shift_formants(wave: torch.Tensor, shift: float) -> torch.Tensor:
    """Scale every frequency by ``shift`` (and duration by ``1/shift``): play 16 kHz audio at ``16000 * shift``."""
    if shift == 1.0:
        return wave
    return speed_perturb(wave, shift)  # the same resampling: tempo and every frequency scale together


def _phones_or_none(parse: Callable[[str], list[list[str]]], said: str, job: SynthJob) -> list[list[str]] | None:
    """The engine's phones per word, or None (the label's dictionary phones will stand in) if a symbol is unknown."""
    try:
        return parse(said)
    except ValueError as error:
        warnings.warn(f"{job.path}: {error}; its phones will come from the lexicon", stacklevel=2)
        return None


def _espeak_words(said: str) -> list[list[str]]:
    """espeak-ng's ``--ipa --sep=_`` output -> ARPAbet phones per spoken word."""
    return [phones for word in said.split() if (phones := ipa_to_arpabet(word.split("_")))]


def _espeak_ipa(text: str, voice: str) -> str:
    """espeak-ng's pronunciation of ``text`` in ``voice``, without sound: ``--ipa --sep=_`` lines, one per clause."""
    return subprocess.run(["espeak-ng", "-v", voice, "-q", "--ipa", "--sep=_", "--stdin"], input=text, text=True, check=True, capture_output=True, timeout=120).stdout


def _speaker_transform(wave: torch.Tensor, settings: dict[str, float]) -> torch.Tensor:
    wave = shift_formants(wave, settings.get("formant_shift", 1.0))
    semitones = settings.get("pitch_semitones", 0.0)
    return pitch_shift(wave, semitones) if semitones else wave


def _espeak(jobs: Sequence[SynthJob], scratch: Path) -> list[Rendered]:
    """espeak-ng's own voices, and (engine "mbrola") its MBROLA voices, which also get a speaker transform.

    espeak-ng reports the phonemes it chose; with an MBROLA voice those are what it sent to the
    diphone database, which says them as the recorded person did. The voices of
    MORE_ACCENTED_MBROLA_VOICES come from a data folder with their definitions added.
    """
    accented = sorted({mbrola_database(job.voice) for job in jobs if job.voice in MORE_ACCENTED_MBROLA_VOICES})
    data_path = [f"--path={accent_data_path(scratch / 'espeak-accents', accented)}"] if accented else []
    rendered = []
    for job in jobs:
        wav, s = scratch / "espeak.wav", job.settings
        path = data_path if job.voice in MORE_ACCENTED_MBROLA_VOICES else []
        command = ["espeak-ng", *path, "-v", job.voice.name, "-s", str(round(s["rate"])), "-p", str(round(s["pitch"])), "-g", str(round(s["word_gap"]))]
        done = subprocess.run([*command, "--ipa", "--sep=_", "-w", str(wav), "--stdin"], input=job.sentence.spoken, text=True, check=True, capture_output=True, timeout=120)
        words = _phones_or_none(_espeak_words, done.stdout, job)
        rendered.append((_speaker_transform(load_audio(wav), s), words))
    return rendered


def _flite(jobs: Sequence[SynthJob], scratch: Path) -> list[Rendered]:
    rendered = []
    for job in jobs:
        wav = scratch / "flite.wav"
        command = ["flite", "-voice", job.voice.name, "--setf", f"duration_stretch={1 / job.settings.get('rate', 1.0):.3f}", "-f", "/dev/stdin", "-o", str(wav)]
        subprocess.run(command, input=job.sentence.spoken, text=True, check=True, capture_output=True, timeout=120)
        rendered.append((load_audio(wav), None))
    return rendered


def _festival(jobs: Sequence[SynthJob], scratch: Path) -> list[Rendered]:
    """One festival process says all the jobs (it takes ~0.4 s to start) and prints each one's phones.

    A foreign voice reads its script in its own encoding, and its phones map from its own phoneset.
    An accented one (a voice of another language saying English) first gets a lexicon entry for
    each word in its own phones (asr/data/festival_accents.py); the English phones asked for are
    the label, and a sentence with a word nobody can pronounce has none.
    """
    engine = jobs[0].voice.engine
    foreign = foreign_voice(jobs[0].voice) if engine in ("festival-foreign", "festival-accented") else None
    encoding = foreign.encoding if foreign else "utf-8"
    asked = _dictionary_phones(jobs) if engine == "festival-accented" else {}
    wavs = [scratch / f"{index}.wav" for index in range(len(jobs))]
    lines = [_FESTIVAL_WORD_PHONES]
    for index, (job, wav) in enumerate(zip(jobs, wavs)):
        text, s = job.sentence.spoken.replace("\\", " ").replace('"', " "), job.settings
        lines.append(f"(voice_{job.voice.name})")
        if s.get("f0", 0) > 0:
            lines.append(f"(set! int_lr_params '((target_f0_mean {s['f0']}) (target_f0_std {s['f0'] / 7:.1f}) (model_f0_mean 170) (model_f0_std 34)))")
        if foreign and job.path in asked:  # the words under made-up names, each with its lexicon entry
            names = [entry_name(position) for position in range(len(asked[job.path]))]
            lines += [lexicon_entry(name, phones, foreign.phoneset) for name, phones in zip(names, asked[job.path])]
            text = " ".join(names)
        shift, rate = s.get("formant_shift", 1.0), s.get("rate", 1.0)
        lines += [
            f"(Parameter.set 'Duration_Stretch {shift / rate:.3f})",  # the formant shift shortens by 1/shift
            f'(set! utt (utt.synth (Utterance Text "{text}")))',
            f'(utt.save.wave utt "{wav}" \'riff)',
            f'(format t "PHONES {index}")',
            """(mapcar (lambda (w) (format t " |%l" (word_phones w))) (utt.relation.items utt 'Word))""",
            '(format t "\\n")',
        ]
    script = scratch / "batch.scm"
    script.write_text("\n".join(lines) + "\n", encoding=encoding)
    done = subprocess.run(["festival", "--batch", str(script)], check=True, capture_output=True, timeout=600)
    if engine == "festival-accented":
        phones = {index: asked[job.path] for index, job in enumerate(jobs) if job.path in asked}
    else:
        phones = _festival_phones(done.stdout.decode(encoding, errors="replace"), jobs[0].voice)
    held_out = engine == "festival-hts"
    return [(_speaker_transform(load_audio(wav), job.settings), None if held_out else phones.get(i)) for i, (job, wav) in enumerate(zip(jobs, wavs))]


def _festival_phones(printed: str, voice: Voice) -> dict[int, list[list[str]]]:
    """Job index -> the ARPAbet phones per word that festival printed for it, from ``voice``'s phoneset."""
    if voice.engine == "festival-foreign":
        to_arpabet = functools.partial(foreign_to_arpabet, foreign_voice(voice).phoneset)
    else:
        to_arpabet = functools.partial(festival_to_arpabet, phoneset=festival_phoneset(voice))
    phones = {}
    for line in printed.splitlines():
        if match := _FESTIVAL_LINE.match(line):
            words = [re.findall(r'"([^"]+)"', part) for part in match.group(2).split(" |")[1:]]
            phones[int(match.group(1))] = [p for w in words if (p := to_arpabet(w))]  # every phone of the phoneset is mapped
    return phones


def _dictionary_phones(jobs: Sequence[SynthJob]) -> dict[str, list[list[str]]]:
    """Job path -> its label words' first dictionary pronunciations, for the jobs whose every word has one."""
    dictionary = pronounceable({word for job in jobs for word in job.sentence.text.split()})
    return {
        job.path: [list(dictionary[word][0]) for word in job.sentence.text.split()]
        for job in jobs
        if all(word in dictionary for word in job.sentence.text.split())
    }


def _pico(jobs: Sequence[SynthJob], scratch: Path) -> list[Rendered]:
    """SVOX Pico's voices, at the job's speed and pitch (percent, as Pico's own markup sets them).

    Pico reports no phones. The US voice is labelled from the lexicon (None here); the British one
    with espeak-ng's British pronunciation of the sentence, which drops the r that CMUdict writes.
    The German, French, Italian and Spanish voices say each label word's first dictionary
    pronunciation in their own sounds (asr/data/pico_accents.py), and those phones are the label;
    a sentence with a word nobody can pronounce is read as written and labelled from the lexicon.
    """
    asked = _dictionary_phones([job for job in jobs if job.voice.name in PICO_ACCENTS])  # the English voices need none
    rendered = []
    for job in jobs:
        wav, s, words = scratch / "pico.wav", job.settings, None
        if job.path in asked:
            words = asked[job.path]
            text = accented_markup(job.voice.name, words, s["speed"], s["pitch"])
        else:
            text = f"<speed level='{s['speed']}'><pitch level='{s['pitch']}'>{html.escape(job.sentence.spoken, quote=False)}</pitch></speed>"
        subprocess.run(["pico2wave", "-l", job.voice.name, "-w", str(wav), text], check=True, capture_output=True, timeout=120)
        if job.voice.name == "en-GB":
            words = _phones_or_none(_espeak_words, _espeak_ipa(job.sentence.spoken, "en-gb"), job)
        rendered.append((_speaker_transform(load_audio(wav), s), words))
    return rendered


def _piper(jobs: Sequence[SynthJob], scratch: Path) -> list[Rendered]:
    from asr.data.piper import Piper, spoken_words

    piper = Piper(seed=jobs[0].seed)  # one seeded session per unit of jobs: the same unit, the same audio
    rendered = []
    for job in jobs:
        wave, phonemes = piper.say(job.sentence.spoken, job.settings, SAMPLE_RATE)
        rendered.append((_speaker_transform(wave, job.settings), _phones_or_none(spoken_words, phonemes, job)))
    return rendered


def _kokoro(jobs: Sequence[SynthJob], scratch: Path) -> list[Rendered]:
    """Kokoro says espeak-ng's US English phonemes of each sentence, clause by clause; they are its label."""
    from asr.data.kokoro import Kokoro, kokoro_phonemes

    kokoro = Kokoro()
    rendered = []
    for job in jobs:
        said = _espeak_ipa(job.sentence.spoken, "en-us")
        clauses = [" ".join(kokoro_phonemes(word.split("_")) for word in line.split()) for line in said.splitlines() if line.strip()]
        wave = kokoro.say(clauses, job.voice.name, job.settings, SAMPLE_RATE)
        rendered.append((_speaker_transform(wave, job.settings), _espeak_words(said)))
    return rendered


def _gnuspeech(jobs: Sequence[SynthJob], scratch: Path) -> list[Rendered]:
    from asr.data.gnuspeech import GnuSpeech, spoken_words

    rendered = []
    with GnuSpeech() as gnuspeech:
        for job in jobs:
            wav = scratch / "gnuspeech.wav"
            phonetic = gnuspeech.say(job.sentence.spoken, wav, job.seed, job.settings)
            wave = AF.highpass_biquad(load_audio(wav), SAMPLE_RATE, 20.0)  # GnuSpeech's output has a DC offset
            rendered.append((wave / max(float(wave.abs().max()), 1e-6) * 0.9, _phones_or_none(spoken_words, phonetic, job)))
    return rendered


_RENDERERS: dict[str, Callable[[Sequence[SynthJob], Path], list[Rendered]]] = {
    "espeak": _espeak,
    "mbrola": _espeak,
    "festival": _festival,
    "festival-hts": _festival,
    "festival-foreign": _festival,
    "festival-accented": _festival,
    "flite": _flite,
    "piper": _piper,
    "gnuspeech": _gnuspeech,
    "pico": _pico,
    "kokoro": _kokoro,
}


def render(jobs: Sequence[SynthJob], scratch: Path) -> list[Rendered]:
    """Say every job (all of one engine, and for festival of one voice); ``scratch`` is an empty folder to work in."""
    engines = {job.voice.engine for job in jobs}
    if len(engines) != 1 or next(iter(engines)) not in _RENDERERS:
        raise ValueError(f"render needs jobs of one known engine, got {sorted(engines)}")
    rendered = _RENDERERS[jobs[0].voice.engine](jobs, scratch)
    return [(wave.float().clamp(-1.0, 1.0) if wave.numel() else wave, words) for wave, words in rendered]

