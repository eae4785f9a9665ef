"""Waveform augmentation and SpecAugment do what they claim, deterministically per seed."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from asr.config import AugmentConfig
from asr.data.augment import (
    Augmenter,
    add_noise_at_snr,
    apply_gain,
    babble,
    colored_noise,
    dither,
    gsm_round_trip,
    load_recordings,
    microphone_eq,
    music,
    pitch_shift,
    recording_band,
    reverberate,
    spec_augment,
    speed_perturb,
    telephone,
)
from asr.data.rooms import room_impulse_response
from asr.denoise import RNNoiseMix
from tests.conftest import synth_signal

SR = 16000
SPEECH = torch.from_numpy(synth_signal(1.0, seed=5))
POOL = [torch.from_numpy(synth_signal(seconds, seed=seed)) for seed, seconds in enumerate((0.7, 1.1, 0.4, 0.9))]
EVERYTHING = AugmentConfig(
    speed_prob=1.0, pitch_prob=1.0, noise_prob=1.0, reverb_prob=1.0, telephone_prob=1.0, eq_prob=1.0, low_shelf_prob=1.0, lowpass_prob=1.0,
    gain_prob=1.0, dither=1e-4,
    room_bank=4,  # the default 256 rooms take seconds to simulate for each Augmenter
)
NOTHING = AugmentConfig(
    speed_prob=0.0, pitch_prob=0.0, noise_prob=0.0, reverb_prob=0.0, telephone_prob=0.0, gain_prob=0.0
)


def tone(freq: float, seconds: float = 1.0, amplitude: float = 0.5) -> torch.Tensor:
    t = torch.arange(int(seconds * SR), dtype=torch.float64) / SR
    return (amplitude * torch.sin(2 * math.pi * freq * t)).float()


def peak_hz(wave: torch.Tensor) -> float:
    """Frequency of the strongest spectral peak, to a few hundredths of a hertz."""
    n = 16 * wave.numel()
    spectrum = torch.fft.rfft(wave.double() * torch.hann_window(wave.numel(), dtype=torch.float64), n=n).abs()
    return int(spectrum.argmax()) * SR / n


def band_power(wave: torch.Tensor, low: float, high: float) -> float:
    """Total power of ``wave`` between ``low`` and ``high`` Hz."""
    power = torch.fft.rfft(wave.double()).abs().square()
    freqs = torch.fft.rfftfreq(wave.numel(), 1 / SR)
    return power[(freqs >= low) & (freqs < high)].sum().item()


def db(ratio: float) -> float:
    return 10 * math.log10(ratio)


def rms(wave: torch.Tensor) -> float:
    return wave.double().square().mean().sqrt().item()


# --- determinism --------------------------------------------------------------------------------

FEATURES = torch.randn(100, 80, generator=torch.Generator().manual_seed(0)) - 8
RANDOM_BLOCKS: dict[str, Callable[[np.random.Generator], torch.Tensor]] = {
    "white": lambda rng: colored_noise("white", 4000, rng),
    "pink": lambda rng: colored_noise("pink", 4000, rng),
    "brown": lambda rng: colored_noise("brown", 4000, rng),
    "babble": lambda rng: babble(POOL, 4000, rng),
    "room": lambda rng: room_impulse_response(rng, 0.3),
    "eq": lambda rng: microphone_eq(SPEECH, rng, 8.0),
    "band": lambda rng: recording_band(SPEECH, rng, (-20.0, 20.0), (3800.0, 7500.0)),
    "dither": lambda rng: dither(SPEECH, 1e-4, rng),
    "telephone": lambda rng: telephone(colored_noise("white", 4000, rng) * 0.1, rng),
    "spec_augment": lambda rng: spec_augment(FEATURES, AugmentConfig(), rng),
    "augmenter": lambda rng: Augmenter(EVERYTHING, POOL)(SPEECH, rng),
}


@pytest.mark.parametrize("name", sorted(RANDOM_BLOCKS))
def test_same_seed_same_output_and_other_seed_differs(name: str) -> None:
    make = RANDOM_BLOCKS[name]
    first, again = make(np.random.default_rng(11)), make(np.random.default_rng(11))
    assert torch.equal(first, again)
    assert not any(
        other.shape == first.shape and torch.equal(other, first)
        for other in (make(np.random.default_rng(seed)) for seed in (12, 13, 14))
    )


def test_global_rngs_are_not_used() -> None:
    torch.manual_seed(0)
    np.random.seed(0)
    first = Augmenter(EVERYTHING, POOL)(SPEECH, np.random.default_rng(3))
    torch.manual_seed(1)
    np.random.seed(1)
    assert torch.equal(first, Augmenter(EVERYTHING, POOL)(SPEECH, np.random.default_rng(3)))


# --- noise --------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(snr_db=st.floats(0.0, 30.0), seed=st.integers(0, 2**32 - 1), kind=st.sampled_from(["white", "pink", "brown"]))
def test_add_noise_at_snr_hits_the_requested_snr(snr_db: float, seed: int, kind: str) -> None:
    rng = np.random.default_rng(seed)
    noise = colored_noise(kind, SPEECH.numel(), rng) * rng.uniform(0.01, 10)
    mixed = add_noise_at_snr(SPEECH, noise, snr_db)
    achieved = db(SPEECH.double().square().sum().item() / (mixed - SPEECH).double().square().sum().item())
    assert abs(achieved - snr_db) < 0.1


def octave_slope_db(wave: torch.Tensor) -> float:
    """Least-squares slope of power spectral density, in dB per octave, over 62.5 Hz - 8 kHz."""
    edges = [62.5 * 2**k for k in range(7)]
    centers = [math.log2(low * math.sqrt(2)) for low in edges]
    density = [db(band_power(wave, low, 2 * low) / low) for low in edges]
    return float(np.polyfit(centers, density, 1)[0])


@pytest.mark.parametrize(("kind", "slope"), [("white", 0.0), ("pink", -3.01), ("brown", -6.02)])
def test_colored_noise_has_its_spectral_slope_and_unit_rms(kind: str, slope: float) -> None:
    noise = colored_noise(kind, 3 * SR, np.random.default_rng(0))
    assert noise.shape == (3 * SR,) and noise.dtype == torch.float32
    assert rms(noise) == pytest.approx(1.0, abs=1e-5)
    assert abs(noise.double().mean().item()) < 1e-6
    assert octave_slope_db(noise) == pytest.approx(slope, abs=0.5)
    low, high = band_power(noise, 100, 400), band_power(noise, 3000, 3300)  # equal bandwidths
    if kind == "white":
        assert abs(db(low / high)) < 1.0
    else:
        assert db(low / high) > 10.0


def test_babble_is_a_unit_rms_mix_of_pool_segments() -> None:
    mix = babble(POOL, 2 * SR, np.random.default_rng(1))
    assert mix.shape == (2 * SR,) and mix.dtype == torch.float32
    assert rms(mix) == pytest.approx(1.0, abs=1e-5)
    single = babble(POOL, 2 * SR, np.random.default_rng(1), talkers=(1, 1))
    # one talker is one looped utterance: it repeats with that utterance's period
    periods = [p.numel() for p in POOL]
    assert any(torch.allclose(single[:1000], single[n : n + 1000], atol=1e-5) for n in periods)
    assert not any(torch.allclose(mix[:1000], mix[n : n + 1000], atol=1e-3) for n in periods)


def test_music_is_one_recording_looped_from_a_random_point_at_unit_rms() -> None:
    excerpts = [music(POOL, 2 * SR, np.random.default_rng(seed)) for seed in range(4)]
    for excerpt in excerpts:
        assert excerpt.shape == (2 * SR,) and excerpt.dtype == torch.float32
        assert rms(excerpt) == pytest.approx(1.0, abs=1e-5)
        # one track, looped: the excerpt repeats with that track's length
        assert any(torch.allclose(excerpt[:1000], excerpt[track.numel() : track.numel() + 1000], atol=1e-5) for track in POOL)
    assert len({tuple(excerpt[:100].tolist()) for excerpt in excerpts}) == 4
    with pytest.raises(ValueError, match="music needs a non-empty pool"):
        music([], SR, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"music pool\[0\] is silent"):
        music([torch.zeros(SR)], SR, np.random.default_rng(0))


def test_music_recordings_load_from_a_folder_at_16_khz(tmp_path: Path) -> None:
    soundfile.write(tmp_path / "b.wav", 0.1 * np.sin(np.arange(8000) * 0.3), 8000)  # Asterisk's tracks are 8 kHz
    soundfile.write(tmp_path / "a.flac", 0.1 * np.sin(np.arange(16000) * 0.2), 16000)
    (tmp_path / "notes.txt").write_text("not audio")
    assert [track.numel() for track in load_recordings(tmp_path)] == [16000, 16000]
    with pytest.raises(ValueError, match="empty: no audio recordings found .*asterisk-moh-opsound-wav"):
        load_recordings(tmp_path / "empty")


# --- speed and pitch ----------------------------------------------------------------------------


@pytest.mark.parametrize("factor", [0.9, 0.95, 1.0374, 1.1])
def test_speed_perturb_scales_length_and_frequency(factor: float) -> None:
    out = speed_perturb(tone(440.0), factor)
    assert abs(out.numel() - SR / factor) <= 2
    assert peak_hz(out) == pytest.approx(440.0 * factor, rel=2e-3)


@settings(max_examples=25, deadline=None)
@given(factor=st.floats(0.8, 1.25), length=st.integers(1, 20000))
def test_speed_perturb_length_for_any_factor(factor: float, length: int) -> None:
    out = speed_perturb(SPEECH[:length] if length <= SPEECH.numel() else torch.ones(length) * 0.1, factor)
    assert abs(out.numel() - length / factor) <= 2


def test_speed_perturb_by_one_is_a_copy() -> None:
    out = speed_perturb(SPEECH, 1.0)
    assert torch.equal(out, SPEECH) and out.data_ptr() != SPEECH.data_ptr()


@pytest.mark.parametrize("semitones", [-2.0, -0.5, 1.0, 2.0])
def test_pitch_shift_keeps_length_and_moves_a_tone(semitones: float) -> None:
    out = pitch_shift(tone(440.0), semitones)
    assert out.shape == (SR,) and out.dtype == torch.float32
    assert peak_hz(out) == pytest.approx(440.0 * 2 ** (semitones / 12), rel=5e-3)
    assert rms(out[2000:-2000]) == pytest.approx(rms(tone(440.0)), rel=0.1)


def test_pitch_shift_by_zero_is_identity() -> None:
    assert torch.equal(pitch_shift(SPEECH, 0.0), SPEECH)


# --- reverberation ------------------------------------------------------------------------------


@pytest.mark.parametrize("rt60", [0.3, 0.5, 0.7])
def test_a_simulated_room_rings_about_as_long_as_asked(rt60: float) -> None:
    """Energy decay curves (Schroeder integration) of large rooms: -60 dB near ``rt60``, the direct path first."""
    import pyroomacoustics as pra

    measured = []
    for seed in range(6):
        rir = room_impulse_response(np.random.default_rng(seed), rt60)
        direct = int(rir.abs().argmax())
        assert rir[:direct].abs().max().item() < rir[direct].abs().item()  # nothing arrives before the direct path
        measured.append(pra.experimental.measure_rt60(rir.numpy(), fs=SR))
    assert float(np.median(measured)) == pytest.approx(rt60, rel=0.5)  # small rooms cannot ring as long as asked


@pytest.mark.parametrize("seed", range(3))
def test_reverberate_keeps_length_alignment_and_rms(seed: int) -> None:
    rng = np.random.default_rng(seed)
    out = reverberate(SPEECH, room_impulse_response(rng, rng.uniform(0.2, 0.8)))
    assert out.shape == SPEECH.shape and out.dtype == torch.float32
    assert rms(out) == pytest.approx(rms(SPEECH), rel=0.01)
    # the direct path keeps sound where it was: a click comes out where it went in, and nothing before it
    click = torch.zeros(8000)
    click[3000] = 0.5
    heard = reverberate(click, room_impulse_response(np.random.default_rng(seed), 0.5)).abs()
    onset = int(torch.nonzero(heard >= heard.max() / 2)[0])
    assert abs(onset - 3000) <= 1 and heard[: 3000 - 40].max() < 0.05 * heard.max()


def test_reverberate_aligns_on_a_delayed_direct_path() -> None:
    rir = torch.cat([torch.zeros(50), room_impulse_response(np.random.default_rng(0), 0.2)])
    impulse = torch.zeros(8000)
    impulse[3000] = 1.0
    assert int(reverberate(impulse, rir).abs().argmax()) == 3000


def test_microphone_eq_colours_the_spectrum_and_keeps_the_level() -> None:
    noise = 0.1 * colored_noise("white", 2 * SR, np.random.default_rng(4))
    out = microphone_eq(noise, np.random.default_rng(5), 12.0)
    assert out.shape == noise.shape and rms(out) == pytest.approx(rms(noise), rel=1e-4)
    bands = [(100, 300), (300, 900), (900, 2700), (2700, 7000)]
    changes = [db(band_power(out, *band) / band_power(noise, *band)) for band in bands]
    assert max(changes) - min(changes) > 3.0  # some bands rose, others fell


@pytest.mark.parametrize("gain_db", [-20.0, 20.0])
def test_the_low_shelf_lifts_or_cuts_only_the_lowest_band(gain_db: float) -> None:
    noise = 0.1 * colored_noise("white", 2 * SR, np.random.default_rng(4))
    out = recording_band(noise, np.random.default_rng(5), low_shelf_db=(gain_db, gain_db))
    assert out.shape == noise.shape and rms(out) == pytest.approx(rms(noise), rel=1e-4)
    def change(low: float, high: float) -> float:
        return db(band_power(out, low, high) / band_power(noise, low, high))
    # near 24 Hz every corner (50-200 Hz) is an octave or more away: nearly all of the gain
    assert change(20, 28) - change(1000, 4000) == pytest.approx(gain_db, abs=0.1 * abs(gain_db))
    assert abs(change(1000, 2000) - change(2000, 4000)) < 0.2  # flat above the shelf


def test_the_lowpass_removes_everything_above_its_cutoff() -> None:
    noise = 0.1 * colored_noise("white", 2 * SR, np.random.default_rng(4))
    out = recording_band(noise, np.random.default_rng(5), lowpass_hz=(5000.0, 5000.0))
    assert out.shape == noise.shape and rms(out) == pytest.approx(rms(noise), rel=1e-4)
    passed = db(band_power(out, 500, 4000) / band_power(noise, 500, 4000))
    stopped = db(band_power(out, 5700, 8000) / band_power(noise, 5700, 8000))
    assert passed == pytest.approx(db(8000 / 5000), abs=0.5)  # the level kept: the passband rises by what was cut
    assert stopped < passed - 50


def test_recording_band_without_edges_changes_nothing() -> None:
    out = recording_band(SPEECH, np.random.default_rng(0))
    assert torch.equal(out, SPEECH) and out is not SPEECH


def test_the_gsm_codec_keeps_length_and_timing_and_adds_coding_noise() -> None:
    narrow = tone(440.0, seconds=0.5) * 0.5
    coded = gsm_round_trip(narrow[:4001])
    assert coded.shape == (4001,)
    error = (coded[200:3800] - narrow[200:3800]).abs().mean().item()
    assert 0 < error < 0.05 * narrow.abs().mean().item() * 4  # close (no delay), yet not the same
    assert peak_hz(coded) == pytest.approx(440.0, abs=2.0)


def test_dither_leaves_no_digital_silence() -> None:
    out = dither(torch.zeros(SR), 1e-4, np.random.default_rng(0))
    assert (out != 0).all() and rms(out) == pytest.approx(1e-4, rel=0.05)


# --- telephone and gain -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [None, 0, 1, 2, 3])
@pytest.mark.parametrize("length", [3 * SR, 3 * SR + 1])
def test_telephone_removes_energy_outside_the_phone_band(seed: int | None, length: int) -> None:
    noise = 0.1 * colored_noise("white", length, np.random.default_rng(9))
    out = telephone(noise, None if seed is None else np.random.default_rng(seed))
    assert out.shape == noise.shape and out.dtype == torch.float32
    loss = {band: db(band_power(noise, *band) / band_power(out, *band)) for band in [(0, 200), (3400, 8000), (500, 3000)]}
    assert loss[(3400, 8000)] > 20.0
    assert loss[(0, 200)] > 20.0
    assert abs(loss[(500, 3000)]) < 2.0  # the GSM codec (a third of seeded calls) moves white noise's level by ~1.5 dB


def test_telephone_does_not_clip_a_loud_in_band_tone() -> None:
    loud = tone(1000.0, amplitude=0.95)
    out = telephone(loud)
    assert out[4000:-4000].abs().max().item() == pytest.approx(0.95, rel=0.05)


def test_apply_gain_scales_and_clips() -> None:
    quiet = apply_gain(tone(300.0, amplitude=0.5), -6.0)
    assert quiet.abs().max().item() == pytest.approx(0.5 * 10 ** (-6 / 20), rel=1e-3)
    loud = apply_gain(tone(300.0, amplitude=0.5), 12.0)
    assert loud.max().item() == 1.0 and loud.min().item() == -1.0


# --- SpecAugment --------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    frames=st.integers(4, 300),
    bins=st.integers(2, 80),
    freq_masks=st.integers(0, 4),
    freq_width=st.integers(0, 30),
    time_masks=st.integers(0, 4),
    time_width=st.integers(0, 60),
    ratio=st.floats(0.0, 0.5),
    seed=st.integers(0, 2**32 - 1),
)
def test_spec_augment_respects_its_limits(
    frames: int, bins: int, freq_masks: int, freq_width: int, time_masks: int, time_width: int, ratio: float, seed: int
) -> None:
    config = AugmentConfig(
        freq_masks=freq_masks, freq_mask_width=freq_width, time_masks=time_masks,
        time_mask_width=time_width, time_mask_max_ratio=ratio,
    )
    features = torch.randn(frames, bins, generator=torch.Generator().manual_seed(seed % 1000)) * 3 - 5
    original = features.clone()
    out = spec_augment(features, config, np.random.default_rng(seed))
    assert torch.equal(features, original)
    fill = features.mean(0)
    masked_bins = (out == fill).all(0)
    masked_frames = (out == fill).all(1)
    assert int(masked_bins.sum()) <= freq_masks * freq_width
    if not masked_bins.all():  # otherwise every frame equals the fill, time-masked or not
        assert int(masked_frames.sum()) <= min(time_masks * time_width, int(ratio * frames))
    changed = out != features
    assert not changed[~masked_frames][:, ~masked_bins].any()


def test_spec_augment_masks_with_the_utterance_mean() -> None:
    features = torch.cat([FEATURES, FEATURES.flip(0)])  # 200 frames: 40 may be masked
    counts = []
    for seed in range(5):
        out = spec_augment(features, AugmentConfig(), np.random.default_rng(seed))
        counts.append((int((out == features.mean(0)).all(0).sum()), int((out == features.mean(0)).all(1).sum())))
    assert all(0 < b <= 30 and 0 < f <= 40 for b, f in counts)


# --- Augmenter ----------------------------------------------------------------------------------


def test_augmenter_with_nothing_enabled_is_identity() -> None:
    assert torch.equal(Augmenter(NOTHING, POOL)(SPEECH, np.random.default_rng(0)), SPEECH)


def test_augmenter_with_everything_enabled_changes_the_wave() -> None:
    augmenter = Augmenter(EVERYTHING, POOL)
    for seed in range(3):
        out = augmenter(SPEECH, np.random.default_rng(seed))
        assert out.dtype == torch.float32 and torch.isfinite(out).all()
        assert abs(out.numel() - SPEECH.numel()) <= SPEECH.numel() * 0.1 + 2  # speed_range (0.9, 1.1)
        assert out.abs().max().item() <= 1.0
        assert out.shape != SPEECH.shape or not torch.equal(out, SPEECH)


@pytest.mark.parametrize("seed", range(3))
def test_augmenter_denoises_last_as_the_product_would_and_draws_nothing_else(seed: int) -> None:
    """RNNoise comes after the whole channel, exactly as `--denoise` would read the recording."""
    mix = 0.6
    recorded = Augmenter(EVERYTHING, POOL)(SPEECH, np.random.default_rng(seed))
    with_denoise = replace(EVERYTHING, denoise_prob=1.0, denoise_mix_range=(mix, mix))
    denoised = Augmenter(with_denoise, POOL)(SPEECH, np.random.default_rng(seed))
    assert torch.equal(denoised, torch.from_numpy(RNNoiseMix(mix)(recorded.numpy(), last=True)))
    assert denoised.shape == recorded.shape and not torch.equal(denoised, recorded)


def test_denoise_in_training_takes_noise_down() -> None:
    config = replace(NOTHING, noise_prob=1.0, snr_db_range=(5.0, 5.0), noise_kinds=("pink",), denoise_prob=1.0, denoise_mix_range=(1.0, 1.0))
    speech = torch.cat([SPEECH, torch.zeros(SR)])  # a second of noise alone at the end
    noisy = Augmenter(replace(config, denoise_prob=0.0))(speech, np.random.default_rng(0))
    denoised = Augmenter(config)(speech, np.random.default_rng(0))
    assert db(noisy[-SR // 2 :].square().mean().item() / denoised[-SR // 2 :].square().mean().item()) > 15.0


@pytest.mark.parametrize("kind", ["babble", "music"])
def test_augmenter_skips_babble_and_music_without_a_pool(kind: str) -> None:
    config = AugmentConfig(
        speed_prob=0.0, pitch_prob=0.0, noise_prob=1.0, reverb_prob=0.0, telephone_prob=0.0, gain_prob=0.0,
        snr_db_range=(10.0, 10.0), noise_kinds=(kind,),
    )
    assert torch.equal(Augmenter(config)(SPEECH, np.random.default_rng(0)), SPEECH)
    pools = {"babble_pool": POOL} if kind == "babble" else {"music_pool": POOL}
    noisy = Augmenter(config, **pools)(SPEECH, np.random.default_rng(0))
    with pytest.raises(ValueError, match=rf"{kind}_pool\[1\] is silent"):  # refused up front, not mid-run
        Augmenter(config, **{f"{kind}_pool": [POOL[0], torch.zeros(SR)]})
    assert db(SPEECH.double().square().sum().item() / (noisy - SPEECH).double().square().sum().item()) == pytest.approx(10.0, abs=0.1)


def test_augmenter_draws_among_the_other_kinds_without_a_pool() -> None:
    config = AugmentConfig(
        speed_prob=0.0, pitch_prob=0.0, noise_prob=1.0, reverb_prob=0.0, telephone_prob=0.0, gain_prob=0.0,
        snr_db_range=(10.0, 10.0), noise_kinds=("babble", "white"),
    )
    for seed in range(4):
        out = Augmenter(config)(SPEECH, np.random.default_rng(seed))
        noise = out - SPEECH
        assert db(SPEECH.double().square().sum().item() / noise.double().square().sum().item()) == pytest.approx(10.0, abs=0.1)
        assert abs(octave_slope_db(noise)) < 1.0  # white every time


# --- bad input ----------------------------------------------------------------------------------

RNG = np.random.default_rng(0)
EMPTY, TWO_D = torch.zeros(0), torch.zeros(2, 100)

BAD_CALLS: dict[str, Callable[[], object]] = {
    "speed empty": lambda: speed_perturb(EMPTY, 1.1),
    "speed 2-D": lambda: speed_perturb(TWO_D, 1.1),
    "speed zero": lambda: speed_perturb(SPEECH, 0.0),
    "speed negative": lambda: speed_perturb(SPEECH, -1.0),
    "speed nan": lambda: speed_perturb(SPEECH, math.nan),
    "pitch empty": lambda: pitch_shift(EMPTY, 1.0),
    "pitch too far": lambda: pitch_shift(SPEECH, 13.0),
    "pitch nan": lambda: pitch_shift(SPEECH, math.nan),
    "unknown noise kind": lambda: colored_noise("purple", 100, RNG),
    "babble is not colored noise": lambda: colored_noise("babble", 100, RNG),
    "noise no samples": lambda: colored_noise("white", 0, RNG),
    "babble empty pool": lambda: babble([], 100, RNG),
    "babble bad talkers": lambda: babble(POOL, 100, RNG, talkers=(3, 2)),
    "babble silent pool": lambda: babble([torch.zeros(50)], 100, RNG),
    "snr nan": lambda: add_noise_at_snr(SPEECH, torch.ones_like(SPEECH), math.nan),
    "snr inf": lambda: add_noise_at_snr(SPEECH, torch.ones_like(SPEECH), math.inf),
    "snr -inf": lambda: add_noise_at_snr(SPEECH, torch.ones_like(SPEECH), -math.inf),
    "snr length mismatch": lambda: add_noise_at_snr(SPEECH, torch.ones(10), 10.0),
    "snr silent noise": lambda: add_noise_at_snr(SPEECH, torch.zeros_like(SPEECH), 10.0),
    "snr empty wave": lambda: add_noise_at_snr(EMPTY, EMPTY, 10.0),
    "rt60 zero": lambda: room_impulse_response(RNG, 0.0),
    "rt60 negative": lambda: room_impulse_response(RNG, -0.5),
    "rt60 nan": lambda: room_impulse_response(RNG, math.nan),
    "eq empty wave": lambda: microphone_eq(EMPTY, RNG, 8.0),
    "dither 2-D wave": lambda: dither(TWO_D, 1e-4, RNG),
    "reverb empty wave": lambda: reverberate(EMPTY, torch.ones(10)),
    "reverb 2-D rir": lambda: reverberate(SPEECH, TWO_D),
    "telephone empty": lambda: telephone(EMPTY),
    "telephone 2-D": lambda: telephone(TWO_D),
    "gain empty": lambda: apply_gain(EMPTY, 1.0),
    "gain nan": lambda: apply_gain(SPEECH, math.nan),
    "wave not a tensor": lambda: apply_gain(np.zeros(10), 1.0),  # type: ignore[arg-type]
    "integer wave": lambda: apply_gain(torch.zeros(10, dtype=torch.int16), 1.0),
    "spec_augment 1-D": lambda: spec_augment(torch.zeros(10), AugmentConfig(), RNG),
    "spec_augment empty": lambda: spec_augment(torch.zeros(0, 80), AugmentConfig(), RNG),
    "augmenter empty wave": lambda: Augmenter(EVERYTHING)(EMPTY, RNG),
    "augmenter 2-D wave": lambda: Augmenter(EVERYTHING)(TWO_D, RNG),
    "augmenter silent pool": lambda: Augmenter(EVERYTHING, [torch.zeros(100)]),
}


@pytest.mark.parametrize("name", sorted(BAD_CALLS))
def test_bad_input_raises_value_error(name: str) -> None:
    with pytest.raises(ValueError):
        BAD_CALLS[name]()
