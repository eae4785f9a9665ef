"""Training: the loss falls, a resumed run is bit-identical, and a 2-process DDP run works."""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile
import torch

from asr.checkpoint import load_checkpoint
from asr.config import AugmentConfig, ExperimentConfig, ModelConfig, TrainConfig
from asr.data.dataset import SpeechDataset, length_buckets
from asr.data.manifest import ManifestEntry, read_manifest, write_manifest
from asr.tokens import Tokenizer
from asr.train import EMA_MODEL_FILE, LOG_FILE, TRAIN_STATE, Trainer, train
from tests.conftest import synth_signal

WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet".split()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve short utterances with made-up labels: enough to overfit, which is what the tests watch."""
    folder = tmp_path_factory.mktemp("corpus")
    entries = []
    for index in range(12):
        seconds = 0.8 + 0.1 * (index % 5)
        path = folder / f"{index:02d}.wav"
        soundfile.write(path, synth_signal(seconds, seed=index), 16000)
        entries.append(ManifestEntry(path, f"{WORDS[index % 10]} {WORDS[(index * 3) % 10]}", seconds, "clean"))
    write_manifest(entries, folder / "train.jsonl")
    write_manifest(entries[:3], folder / "dev.jsonl")
    return folder


AUGMENTED = AugmentConfig(noise_prob=0.5, reverb_prob=0.3, speed_prob=0.5, telephone_prob=0.2, room_bank=4)  # 256 rooms take seconds to make
CLEAN = AugmentConfig(speed_prob=0, pitch_prob=0, noise_prob=0, reverb_prob=0, telephone_prob=0, gain_prob=0, freq_masks=0, time_masks=0)


def tiny_config(corpus: Path, output: Path, augment: AugmentConfig = AUGMENTED, dropout: float = 0.1, **train: object) -> ExperimentConfig:
    settings = dict(
        train_manifest=str(corpus / "train.jsonl"), dev_manifest=str(corpus / "dev.jsonl"), output_dir=str(output),
        batch_seconds=4.0, max_utterance_seconds=4.0, epochs=50, learning_rate=5e-3, warmup_steps=5, checkpoint_every=1000, log_every=1,
        cmvn_utterances=12, babble_pool=4, num_workers=0, dev_utterances=3,
    )
    settings.update(train)
    return ExperimentConfig(
        model=ModelConfig(layers=2, hidden=48, proj=24, dropout=dropout),
        augment=augment,
        train=TrainConfig(**settings),
    )


def test_loss_falls_below_the_blank_plateau_and_the_model_is_exported(corpus: Path, tmp_path: Path) -> None:
    """CTC first learns to say only blanks (loss ~2.9 per character); below 1.5 it is aligning letters."""
    config = tiny_config(corpus, tmp_path / "run", CLEAN, dropout=0.0, max_steps=400, epochs=200, learning_rate=1e-2, warmup_steps=10)
    model_path = train(config)
    with (tmp_path / "run" / LOG_FILE).open() as handle:
        losses = [float(row["loss"]) for row in csv.DictReader(handle) if row["loss"] != "nan"]
    assert sum(losses[:5]) / 5 > 2.5
    assert sum(losses[-10:]) / 10 < 1.5
    checkpoint = load_checkpoint(model_path)
    assert checkpoint.metadata["trained"] is True and checkpoint.metadata["steps"] == 400
    assert checkpoint.metadata["train_utterances"] == 12
    assert not torch.equal(checkpoint.model.cmvn_mean, torch.zeros(80))  # CMVN came from the data


def test_every_epoch_including_the_last_is_scored_on_dev(corpus: Path, tmp_path: Path) -> None:
    train(tiny_config(corpus, tmp_path / "run", epochs=2))
    with (tmp_path / "run" / LOG_FILE).open() as handle:
        scored = [row for row in csv.DictReader(handle) if row["dev_error"]]
    assert [int(row["epoch"]) for row in scored] == [1, 2]


def test_a_run_can_start_from_a_checkpoint(corpus: Path, tmp_path: Path) -> None:
    pretrained = load_checkpoint(train(tiny_config(corpus, tmp_path / "first", max_steps=3)))
    config = tiny_config(corpus, tmp_path / "second", max_steps=3, init_from=str(tmp_path / "first" / "model.pt"))
    trainer = Trainer(config, torch.device("cpu"))
    for name, tensor in pretrained.model.state_dict().items():
        assert torch.equal(trainer.model.state_dict()[name], tensor), name
    assert torch.equal(trainer.model.cmvn_mean, pretrained.model.cmvn_mean)
    deeper = dataclasses.replace(config, model=dataclasses.replace(config.model, layers=3))
    with pytest.raises(ValueError, match="init_from .*model config"):
        Trainer(deeper, torch.device("cpu"))
    # more LSTM cells: the narrower model is widened, and computes what it did
    wider = Trainer(dataclasses.replace(config, model=dataclasses.replace(config.model, hidden=64)), torch.device("cpu")).model.eval()
    steps = torch.randn(2, 20, config.model.input_dim)
    assert torch.allclose(wider(steps)[0], pretrained.model(steps)[0], atol=1e-5)
    # more lookahead: the new future frames start unused, and it computes what it did
    longer = Trainer(dataclasses.replace(config, model=dataclasses.replace(config.model, lookahead_frames=2)), torch.device("cpu")).model.eval()
    future = torch.randn(2, 20, 2 * config.model.n_mels)
    assert torch.allclose(longer(torch.cat([steps, future], dim=-1))[0], pretrained.model(steps)[0], atol=1e-5)
    both = dataclasses.replace(config, model=dataclasses.replace(config.model, hidden=64, lookahead_frames=2))
    with pytest.raises(ValueError, match="init_from .*model config"):  # one growth at a time
        Trainer(both, torch.device("cpu"))
    # a running CMN changes no weight: a run may add it to a model trained without
    normalized = dataclasses.replace(config, model=dataclasses.replace(config.model, running_cmn_steps=100))
    trainer = Trainer(normalized, torch.device("cpu"))
    assert trainer.model.config.running_cmn_steps == 100 and torch.equal(trainer.model.cmvn_mean, pretrained.model.cmvn_mean)
    assert all(torch.equal(trainer.model.state_dict()[name], tensor) for name, tensor in pretrained.model.state_dict().items())
    assert load_checkpoint(train(normalized)).model.config.running_cmn_steps == 100
    # nor does dropout: a run may train on with another rate
    undropped = dataclasses.replace(config, model=dataclasses.replace(config.model, dropout=0.0))
    trainer = Trainer(undropped, torch.device("cpu"))
    assert trainer.model.config.dropout == 0.0 and trainer.model.lstm.dropout == 0.0
    assert all(torch.equal(trainer.model.state_dict()[name], tensor) for name, tensor in pretrained.model.state_dict().items())
    # nor does a high-pass in front: a run may add one (its features are the run's), and another feature may not change
    highpassed = dataclasses.replace(
        config, features=dataclasses.replace(config.features, highpass_hz=80.0), train=dataclasses.replace(config.train, output_dir=str(tmp_path / "third"))
    )
    trainer = Trainer(highpassed, torch.device("cpu"))
    assert all(torch.equal(trainer.model.state_dict()[name], tensor) for name, tensor in pretrained.model.state_dict().items())
    assert load_checkpoint(train(highpassed)).features.highpass_hz == 80.0
    with pytest.raises(ValueError, match="init_from .*features config"):
        Trainer(dataclasses.replace(config, features=dataclasses.replace(config.features, f_min=40.0)), torch.device("cpu"))


def test_a_left_out_engine_is_never_trained_on(corpus: Path, tmp_path: Path) -> None:
    """leave_out_engines drops the engine's utterances, by the part of the voice before the colon."""
    engines = ["piper", "espeak", "festival"]
    entries = [dataclasses.replace(e, voice=f"{engines[i % 3]}:voice{i}") for i, e in enumerate(read_manifest(corpus / "train.jsonl"))]
    write_manifest(entries, tmp_path / "voiced.jsonl")
    config = tiny_config(corpus, tmp_path / "run", train_manifest=str(tmp_path / "voiced.jsonl"), leave_out_engines=["piper", "festival"])
    trainer = Trainer(config, torch.device("cpu"))
    assert [e.voice for e in trainer.entries] == [f"espeak:voice{i}" for i in range(1, 12, 3)]
    everything = tiny_config(corpus, tmp_path / "run", train_manifest=str(tmp_path / "voiced.jsonl"), leave_out_engines=engines)
    with pytest.raises(ValueError, match="voiced.jsonl: no usable utterances .*not said by piper, espeak, festival"):
        Trainer(everything, torch.device("cpu"))
    held_out = tiny_config(corpus, tmp_path / "run", train_manifest=str(tmp_path / "voiced.jsonl"), leave_out_engines=["flite"])
    with pytest.raises(ValueError, match=r"train.leave_out_engines: unknown engine\(s\) to leave out \['flite'\]"):
        Trainer(held_out, torch.device("cpu"))


@pytest.mark.parametrize(
    ("role", "voice", "audio_under_testdata"),
    [("train", "flite:kal16", False), ("train", "festival-hts:cmu_us_slt_arctic_hts", False), ("dev", "piper:rms", False),
     ("train", "awb", False), ("train", "librivox", True)],
)  # fmt: skip
def test_training_refuses_held_out_voices_and_pocketsphinx_testdata(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, role: str, voice: str, audio_under_testdata: bool
) -> None:
    """One held-out utterance in either manifest stops the run before it starts, naming the file and the utterance."""
    entries = [dataclasses.replace(e, voice="espeak:en-us") for e in read_manifest(corpus / "train.jsonl")]
    audio = entries[4].audio
    if audio_under_testdata:  # a folder of this test stands in for Debian's pocketsphinx-testdata
        monkeypatch.setattr("asr.train.POCKETSPHINX_TESTDATA", tmp_path / "testdata")
        audio = tmp_path / "testdata" / "librivox" / "0870.wav"
        audio.parent.mkdir(parents=True)
        audio.write_bytes(Path(entries[4].audio).read_bytes())
    entries[4] = dataclasses.replace(entries[4], voice=voice, audio=audio)
    write_manifest(entries, tmp_path / "mixed.jsonl")
    manifests = {"train_manifest": str(tmp_path / "mixed.jsonl")} if role == "train" else {"dev_manifest": str(tmp_path / "mixed.jsonl")}
    config = tiny_config(corpus, tmp_path / "run", **manifests)
    with pytest.raises(ValueError, match=rf"mixed.jsonl: 1 utterances are held-out test material \(first: .*, voice {voice}\)"):
        Trainer(config, torch.device("cpu"))
    assert not (tmp_path / "run").exists()


def test_music_noise_plays_the_configured_recordings(corpus: Path, tmp_path: Path) -> None:
    music = dataclasses.replace(AUGMENTED, noise_kinds=("music",), music_folder=str(tmp_path / "music"))
    with pytest.raises(ValueError, match="music: no audio recordings found"):
        Trainer(tiny_config(corpus, tmp_path / "run", music), torch.device("cpu"))
    (tmp_path / "music").mkdir()
    soundfile.write(tmp_path / "music" / "track.wav", synth_signal(2.0, seed=99), 16000)
    trainer = Trainer(tiny_config(corpus, tmp_path / "run", music), torch.device("cpu"))
    assert trainer.dataset.augmenter is not None and trainer.dataset.augmenter.noise_kinds == ("music",)
    assert [track.numel() for track in trainer.dataset.augmenter.music_pool] == [32000]


def test_resumed_run_equals_uninterrupted_run(corpus: Path, tmp_path: Path) -> None:
    """train N steps == train N/2, save, resume, train N/2 — with augmentation, dropout and the weight average on."""
    steps = 14
    train(tiny_config(corpus, tmp_path / "straight", max_steps=steps, ema_decay=0.9))
    halves = tiny_config(corpus, tmp_path / "halves", max_steps=steps, ema_decay=0.9)
    train(halves, stop_after=steps // 2)
    assert torch.load(tmp_path / "halves" / TRAIN_STATE, weights_only=True)["position"][0] == steps // 2
    train(halves)
    straight = torch.load(tmp_path / "straight" / TRAIN_STATE, weights_only=True)
    resumed = torch.load(tmp_path / "halves" / TRAIN_STATE, weights_only=True)
    assert straight["position"] == resumed["position"]
    for name, tensor in straight["model"].items():
        assert torch.equal(tensor, resumed["model"][name]), name
    for name, tensor in straight["ema"].items():
        assert torch.equal(tensor, resumed["ema"][name]), name


def test_the_weight_average_follows_every_step_and_is_exported_beside_the_weights(corpus: Path, tmp_path: Path) -> None:
    """ema_decay d: the average starts at the first step's weights, then becomes d x average + (1 - d) x weights."""
    decay = 0.8
    config = tiny_config(corpus, tmp_path / "run", CLEAN, max_steps=6, ema_decay=decay)
    torch.manual_seed(config.train.seed)
    trainer = Trainer(config, torch.device("cpu"))
    expected: dict[str, torch.Tensor] = {}
    for batch in trainer.epoch_loader():
        trainer.train_step(batch)
        for name, weight in trainer.model.named_parameters():
            current = weight.detach().clone()
            expected[name] = current if name not in expected else decay * expected[name] + (1 - decay) * current
    averaged = dict(trainer.ema.module.named_parameters())
    for name, tensor in expected.items():
        torch.testing.assert_close(averaged[name], tensor, msg=name)
    trainer.save(started=0.0)
    exported = load_checkpoint(tmp_path / "run" / EMA_MODEL_FILE)
    assert exported.metadata["weights"] == f"moving average (decay {decay})"
    for name, tensor in expected.items():
        torch.testing.assert_close(exported.model.state_dict()[name], tensor, msg=name)
    assert torch.equal(exported.model.cmvn_mean, trainer.model.cmvn_mean)
    raw = load_checkpoint(tmp_path / "run" / "model.pt")
    assert not all(torch.equal(raw.model.state_dict()[name], tensor) for name, tensor in expected.items())


def test_no_average_is_written_unless_asked_for(corpus: Path, tmp_path: Path) -> None:
    train(tiny_config(corpus, tmp_path / "run", max_steps=2))
    assert (tmp_path / "run" / "model.pt").exists() and not (tmp_path / "run" / EMA_MODEL_FILE).exists()


def test_length_buckets_fit_the_budget_and_shard_evenly() -> None:
    durations = [0.5 + (i * 37 % 23) / 5 for i in range(200)]
    batches = length_buckets(durations, batch_seconds=20.0, seed=1, epoch=0)
    assert sorted(i for b in batches for i in b) == list(range(200))
    assert all(len(b) * max(durations[i] for i in b) <= 20.0 for b in batches)
    assert batches != length_buckets(durations, 20.0, seed=1, epoch=1)
    shards = [length_buckets(durations, 20.0, seed=1, epoch=0, rank=r, world_size=2) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) and not {i for b in shards[0] for i in b} & {i for b in shards[1] for i in b}


def test_clean_epochs_switch_augmentation_off_and_seeding_stays_per_item(corpus: Path) -> None:
    entries = read_manifest(corpus / "train.jsonl")
    config = tiny_config(corpus, corpus / "unused")
    augmented = SpeechDataset(entries, Tokenizer(), config.features, config.model, AUGMENTED, seed=1)
    clean = SpeechDataset(entries, Tokenizer(), config.features, config.model, None, seed=1)
    augmented.set_epoch(0, augment=False)
    assert torch.equal(augmented[3][0], clean[3][0])
    augmented.set_epoch(1)
    first, again = augmented[3][0], augmented[3][0]
    assert torch.equal(first, again) and not torch.equal(first, clean[3][0])


TALKER_ONLY = dataclasses.replace(CLEAN, speed_prob=1.0, pitch_prob=1.0)  # (a warp would be drawn after the channel's draws)
NOISY_TALKER = dataclasses.replace(
    TALKER_ONLY, noise_prob=1.0, reverb_prob=1.0, telephone_prob=1.0, eq_prob=1.0, low_shelf_prob=1.0, lowpass_prob=1.0, gain_prob=1.0,
    dither=1e-4, room_bank=4,
)


def test_a_clean_twin_is_the_same_talker_before_room_noise_and_channel(corpus: Path) -> None:
    entries = read_manifest(corpus / "train.jsonl")
    config = tiny_config(corpus, corpus / "unused")
    make = lambda augment, twins: SpeechDataset(entries, Tokenizer(), config.features, config.model, augment, seed=1, clean_twins=twins)  # noqa: E731
    heard, target, twin = make(NOISY_TALKER, True)[4]
    plain_heard, plain_target = make(NOISY_TALKER, False)[4]
    assert torch.equal(heard, plain_heard) and torch.equal(target, plain_target)  # the twin costs no random draw
    assert twin.shape == heard.shape and not torch.allclose(twin, heard, atol=0.1)
    talker_heard, _, talker_twin = make(TALKER_ONLY, True)[4]
    assert torch.equal(talker_twin, talker_heard)  # with nothing after the talker, the twin is what is heard
    assert torch.equal(talker_twin, twin)  # the same talker as the noisy item: speed and pitch drawn alike
    assert not torch.equal(talker_twin, make(None, True)[4][2])


def _first_loss(config: ExperimentConfig) -> float:
    trainer = Trainer(config, torch.device("cpu"))
    return trainer.train_step(next(iter(trainer.epoch_loader())))[0]


def test_distillation_pulls_the_student_towards_the_teachers_clean_posteriors(corpus: Path, tmp_path: Path) -> None:
    teacher_path = train(tiny_config(corpus, tmp_path / "teacher", max_steps=3))
    start = dict(max_steps=2, init_from=str(teacher_path), ema_decay=0.0)
    for augment, gains in ((TALKER_ONLY, False), (NOISY_TALKER, True)):
        ctc_only = _first_loss(tiny_config(corpus, tmp_path / "ctc", augment, dropout=0.0, **start))
        distilled = _first_loss(tiny_config(corpus, tmp_path / "kd", augment, dropout=0.0, distill_from=str(teacher_path), distill_weight=2.0, **start))
        # the student starts as the teacher: it agrees with it wherever it hears the clean twin itself
        assert (distilled > ctc_only + 1e-3) == gains, (augment, distilled, ctc_only)
    trainer = Trainer(tiny_config(corpus, tmp_path / "kd", NOISY_TALKER, distill_from=str(teacher_path), **start), torch.device("cpu"))
    before = {name: tensor.clone() for name, tensor in trainer.teacher.state_dict().items()}
    for batch in trainer.epoch_loader():
        trainer.train_step(batch)
    assert all(torch.equal(before[name], tensor) for name, tensor in trainer.teacher.state_dict().items())  # frozen
    assert not any(weight.requires_grad for weight in trainer.teacher.parameters())
    looking_further = dataclasses.replace(trainer.config, model=dataclasses.replace(trainer.config.model, lookahead_frames=2))
    with pytest.raises(ValueError, match="distill_from .*lookahead_frames"):
        Trainer(looking_further, torch.device("cpu"))
    with pytest.raises(ValueError, match="distill_weight"):
        TrainConfig(distill_from=str(teacher_path), distill_weight=-1.0)


def test_sortagrad_runs_the_first_epoch_shortest_first() -> None:
    durations = [3.0, 0.5, 2.0, 1.0, 4.0, 0.7, 2.5, 1.5]
    first = length_buckets(durations, batch_seconds=4.0, seed=3, epoch=0, sortagrad=True)
    longest = [max(durations[i] for i in batch) for batch in first]
    assert longest == sorted(longest)
    later = length_buckets(durations, batch_seconds=4.0, seed=3, epoch=1, sortagrad=True)
    assert later == length_buckets(durations, batch_seconds=4.0, seed=3, epoch=1)  # shuffled as usual


def test_two_process_ddp_run_on_cpu_with_gloo(corpus: Path, tmp_path: Path) -> None:
    config_path = tmp_path / "ddp.toml"
    config_path.write_text(
        "[model]\nlayers = 1\nhidden = 32\nproj = 16\n[augment]\nroom_bank = 4\n"
        f"[train]\ntrain_manifest = \"{corpus / 'train.jsonl'}\"\noutput_dir = \"{tmp_path / 'ddp'}\"\n"
        "batch_seconds = 3.0\nmax_utterance_seconds = 3.0\nmax_steps = 4\nwarmup_steps = 2\nnum_workers = 0\ncmvn_utterances = 4\nbabble_pool = 2\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "asr.cli", "train", "--config", str(config_path)],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    checkpoint = load_checkpoint(tmp_path / "ddp" / "model.pt")
    assert checkpoint.metadata["devices"] == "2 x cpu" and checkpoint.metadata["steps"] == 4


def test_train_speed_bench_times_both_halves(corpus: Path, tmp_path: Path) -> None:
    """bench/train_speed.py drives the trainer's public step and dataset; keep it working."""
    spec = importlib.util.spec_from_file_location("train_speed", Path(__file__).parent.parent / "bench" / "train_speed.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    trainer = Trainer(tiny_config(corpus, tmp_path), torch.device("cpu"))
    before = [p.detach().clone() for p in trainer.model.parameters()]
    assert bench.model_step_speed(trainer, batch_seconds=4.0, steps=2) > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters(), strict=True))  # it really stepped
    assert bench.loader_speed(trainer, batch_seconds=4.0, workers=0, batches=3) > 0
