"""TOML configs: defaults, validation, and unknown keys named with their file."""

from __future__ import annotations

from pathlib import Path

import pytest

from asr.config import AugmentConfig, ExperimentConfig, ModelConfig, TrainConfig, load_config

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


@pytest.mark.parametrize("path", sorted([*CONFIGS.glob("model/*.toml"), *CONFIGS.glob("train/*.toml")]), ids=lambda p: p.name)
def test_shipped_configs_load(path: Path) -> None:
    assert isinstance(load_config(path), ExperimentConfig)


def test_unknown_key_and_section_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[model]\nlayers = 2\nhiden = 10\n")
    with pytest.raises(ValueError, match=r"bad.toml \[model\]: unknown key\(s\) hiden"):
        load_config(path)
    path.write_text("[modle]\nlayers = 2\n")
    with pytest.raises(ValueError, match="unknown section"):
        load_config(path)


def test_invalid_values_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[model]\nproj = 500\nhidden = 100\n")
    with pytest.raises(ValueError, match="model.proj"):
        load_config(path)
    with pytest.raises(ValueError, match="lookahead_frames"):
        ModelConfig(lookahead_frames=31)
    with pytest.raises(ValueError, match="model.running_cmn_steps must be 0 .off. or >= 3"):
        ModelConfig(running_cmn_steps=1)
    with pytest.raises(ValueError, match=r"train.ema_decay must be in \[0, 1\), got 1.0"):
        TrainConfig(ema_decay=1.0)
    with pytest.raises(ValueError, match="augment.room_bank must be >= 1"):
        AugmentConfig(room_bank=0)
    with pytest.raises(ValueError, match="augment.lowpass_hz_range must lie within"):
        AugmentConfig(lowpass_hz_range=(4000.0, 9000.0))
    with pytest.raises(ValueError, match="augment.low_shelf_db_range must be"):
        AugmentConfig(low_shelf_db_range=(6.0, -6.0))
    with pytest.raises(ValueError, match=r"augment.lowpass_prob must be in \[0, 1\]"):
        AugmentConfig(lowpass_prob=1.5)
    for mixes in ((0.0, 0.5), (0.8, 0.4), (0.5, 1.5)):
        with pytest.raises(ValueError, match=r"augment.denoise_mix_range must be \[low, high\] within \(0, 1\]"):
            AugmentConfig(denoise_mix_range=mixes)
    with pytest.raises(ValueError, match=r"augment.denoise_prob must be in \[0, 1\]"):
        AugmentConfig(denoise_prob=-0.1)
    with pytest.raises(ValueError, match="not found"):
        load_config(tmp_path / "missing.toml")
    path.write_text("[model\n")
    with pytest.raises(ValueError, match="invalid TOML"):
        load_config(path)
