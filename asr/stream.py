"""The streaming engine that the server, the captions and the file transcriber all drive.

Shape legend: B streams in a step, T model steps, D step width, V vocabulary,
F feature frames, W window length in samples.

    recognizer = load_recognizer()                        # the default model, its decoder
    stream = recognizer.create_stream(44100, endpoint=EndpointConfig(), hotwords=[("Zorblax", None)])
    stream.feed(samples)                                  # (N,) float32, any number of times
    (output,) = recognizer.step([stream])                 # output.partial, output.ended segments
    stream.end_input()
    (output,) = recognizer.step([stream])                 # output.finished; the last segment is in output.ended

A ``Stream`` holds one audio source's state: the resampler, feature and stacker tails, the LSTM
state, and its ``Segmenter`` (the endpointer and the search of the segment in progress,
asr/segmenter.py). ``step`` advances any number of streams with one batched forward pass, then
hands each stream's emissions to its segmenter. Callers never sequence these internals.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from asr.audio import SAMPLE_RATE, StreamingResampler
from asr.checkpoint import Checkpoint, load_checkpoint, resolve_model_path
from asr.config import PRECISIONS, DecoderConfig, ModelConfig
from asr.decoders import build_decoder
from asr.decoding import Decoder, Emissions, Hotwords, Segment
from asr.denoise import RNNoiseMix
from asr.endpoint import EndpointConfig
from asr.features import FrameStacker, LogMel, StreamingLogMel
from asr.int8 import FULL_WEIGHT_LEVELS, int8_supported, quantize_model, weight_levels
from asr.lexicon import check_hotword
from asr.model import ModelState, stack_states, unstack_states
from asr.segmenter import Segmenter

__all__ = ["resolve_device", "check_precision", "resolve_precision", "Stream", "StepOutput", "StreamingRecognizer", "load_recognizer"]


def resolve_device(name: str | torch.device | None = None) -> torch.device:
    """``None``/"auto" -> CUDA when available, else CPU; an unavailable CUDA request is an error."""
    if name is None or name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was requested but no CUDA device is available")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {name!r}; use cpu or cuda")
    return device


def check_precision(precision: str, device: torch.device) -> None:
    """ValueError for an unknown precision (``PRECISIONS``), or int8 on a GPU or without PyTorch's int8 kernels."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    if precision == "int8" and (device.type != "cpu" or not int8_supported()):
        raise ValueError("--precision int8 runs on the CPU only, with PyTorch's oneDNN int8 kernels (x86)")


def resolve_precision(precision: str, device: torch.device) -> str:
    """``precision`` checked, with "auto" made int8 on a CPU whose int8 kernels take 8-bit weights exactly (VNNI),
    where it has float32's accuracy at about half the CPU per live stream (README, Speed), and float32 elsewhere."""
    check_precision(precision, device)
    if precision != "auto":
        return precision
    return "int8" if device.type == "cpu" and int8_supported() and weight_levels() == FULL_WEIGHT_LEVELS else "float32"


@dataclass(frozen=True)
class StepOutput:
    """What one step did for one stream."""

    partial: str  # the open segment's text so far ("" once finished)
    segment: int  # the open segment's index: segments already ended are numbered below it
    ended: tuple[Segment, ...]  # segments that ended in this step; when finished, the last one too (even empty)
    finished: bool  # the input had ended and everything is recognized: the stream is done
    empty_endpoints: int = 0  # endpoints in this step where nothing was said (their segments are dropped)


class Stream:
    """One audio source's state between steps. Made by ``StreamingRecognizer.create_stream``."""

    def __init__(self, sample_rate: float, logmel: LogMel, model: ModelConfig, segmenter: Segmenter) -> None:
        self.sample_rate = sample_rate
        self.segmenter = segmenter
        self._resampler = StreamingResampler(sample_rate, SAMPLE_RATE)
        self._features = StreamingLogMel(logmel)
        self._stacker = FrameStacker(model.stack_frames, model.lookahead_frames)
        self._audio: list[torch.Tensor] = []  # resampled, waiting for the next step
        self.model_state: ModelState | None = None
        self.samples_received = 0  # at 16 kHz, after resampling
        self.input_ended = False
        self.finished = False

    def feed(self, samples: torch.Tensor) -> None:
        """Queue (N,) float32 samples at this stream's sample rate; the next ``step`` recognizes them."""
        if self.input_ended:
            raise ValueError("stream is finished (its input has ended); create a new stream")
        resampled = self._resampler.resample(samples)
        self.samples_received += resampled.numel()
        self._audio.append(resampled)

    def end_input(self) -> None:
        """No more audio: the next ``step`` recognizes the rest and ends the last segment."""
        if not self.input_ended:
            tail = self._resampler.flush()
            self.samples_received += tail.numel()
            self._audio.append(tail)
            self.input_ended = True

    def _take_frames(self) -> np.ndarray:
        """(F, W) feature frames completed by the queued audio (consumes the queue)."""
        audio = self._audio[0] if len(self._audio) == 1 else torch.cat(self._audio) if self._audio else torch.zeros(0)
        self._audio = []
        return self._features.take_frames(audio.numpy(), last=self.input_ended)


class StreamingRecognizer:
    """The model and the decoder; steps many streams through them in one batched forward pass."""

    def __init__(
        self, checkpoint: Checkpoint, device: str | torch.device | None = None, decoder: DecoderConfig | Decoder = DecoderConfig(),
        model_folder: Path | None = None, precision: str = "float32",
    ) -> None:  # fmt: skip
        """``decoder``: a config for ``build_decoder`` (which finds the LM and lexicon in ``model_folder``), or a built decoder.
        ``precision``: float32, int8 (``asr.int8``; CPU only), which quantizes a copy of the checkpoint's model, or auto
        (``resolve_precision``); ``self.precision`` says which one runs."""
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        if self.precision == "int8":
            self.model = copy.deepcopy(checkpoint.model).eval()
            quantize_model(self.model)
        else:
            self.model = checkpoint.model.to(self.device).eval()
        self.tokenizer = checkpoint.tokenizer
        self.logmel = LogMel(checkpoint.features)
        self.step_seconds = self.model.config.stack_frames * checkpoint.features.hop_length / checkpoint.features.sample_rate
        self.decoder: Decoder = build_decoder(self.tokenizer, self.step_seconds, model_folder, decoder) if isinstance(decoder, DecoderConfig) else decoder

    @classmethod
    def from_pretrained(
        cls, model: str | Path | None = None, device: str | torch.device | None = None, decoder: DecoderConfig = DecoderConfig(), precision: str = "float32",
        denoise: float = 0.0,
    ) -> StreamingRecognizer:  # fmt: skip
        """Load ``model`` (a path, a folder or a name under ``models/``; None for the default) with its decoder.
        ``denoise``: mix RNNoise's suppressed signal in at this share before the features (``asr.denoise``; 0: the
        model's own front end); DenoiseError, before anything else loads, when RNNoise is not installed."""
        if denoise:
            RNNoiseMix(denoise)  # refuses a share outside (0, 1] and a missing library now, not at the first stream
        path = resolve_model_path(model)
        checkpoint = load_checkpoint(path)
        if denoise:
            checkpoint = replace(checkpoint, features=replace(checkpoint.features, denoise_mix=denoise))
        return cls(checkpoint, device=device, decoder=decoder, model_folder=path.parent, precision=precision)

    def create_stream(
        self, sample_rate: float = SAMPLE_RATE, endpoint: EndpointConfig | None = None, hotwords: Hotwords = (),
        grammar: Sequence[str] = (), nbest: int | None = None,
    ) -> Stream:  # fmt: skip
        """A new stream of audio at ``sample_rate``; with ``endpoint`` it is cut into utterances.

        ``hotwords``: (phrase, boost) pairs the lexicon search favours (greedy decoding ignores them).
        ``grammar``: phrases; the lexicon search then recognizes nothing but sequences of them (as a
        Vosk grammar), and greedy decoding refuses it. ``nbest``: transcripts per segment, the best
        and its alternatives (None: the decoder's setting). ValueError names a phrase with digits or
        symbols, or hotwords given with a grammar.
        """
        for phrase, _ in hotwords:
            check_hotword(phrase)
        if nbest is not None and nbest < 1:
            raise ValueError(f"nbest must be at least 1, got {nbest}")
        segmenter = Segmenter(self.decoder, endpoint, self.step_seconds, hotwords, self.tokenizer.blank_id, grammar, nbest)
        return Stream(sample_rate, self.logmel, self.model.config, segmenter)

    @torch.inference_mode()
    def step(self, streams: Sequence[Stream]) -> list[StepOutput]:
        """Recognize every stream's queued audio with one forward pass; one output per stream."""
        frames = [stream._take_frames() for stream in streams]
        logmel = self.logmel.frames_to_logmel(torch.from_numpy(np.concatenate(frames))).numpy() if streams else None  # (sum F, mels)
        ends = np.cumsum([len(f) for f in frames]).tolist()
        steps = [stream._stacker.stack(logmel[end - len(f) : end]) for stream, f, end in zip(streams, frames, ends)]
        emissions = self._forward(streams, steps)
        return [self._advance(stream, emitted) for stream, emitted in zip(streams, emissions)]

    def _forward(self, streams: Sequence[Stream], steps: list[np.ndarray]) -> list[Emissions]:
        """Run the streams that have new steps through the model together; each stream's emissions (maybe empty)."""
        empty = Emissions(torch.zeros(0, len(self.tokenizer)), [], [])
        outputs = [empty] * len(streams)
        active = [i for i, x in enumerate(steps) if len(x)]
        if not active:
            return outputs
        lengths = [len(steps[i]) for i in active]
        batch = np.zeros((len(active), max(lengths), self.model.config.input_dim), dtype=np.float32)  # (B, T, D)
        for row, i in enumerate(active):
            batch[row, : lengths[row]] = steps[i]
        state = stack_states([streams[i].model_state if streams[i].model_state is not None else self.model.init_state(1, self.device) for i in active])
        ragged = min(lengths) != max(lengths)
        log_probs, state = self.model(torch.from_numpy(batch).to(self.device), state, torch.tensor(lengths) if ragged else None)  # (B, T, V)
        best_log_probs, best_tokens = log_probs.max(dim=-1)  # (B, T) each
        # one transfer and one tolist for the whole batch: per-stream tensor ops dominate at large B
        best_probs, best_tokens = best_log_probs.exp().cpu().tolist(), best_tokens.cpu().tolist()
        log_probs = log_probs.cpu()
        for row, (i, stream_state) in enumerate(zip(active, unstack_states(state))):
            length = lengths[row]
            streams[i].model_state = stream_state
            outputs[i] = Emissions(log_probs[row, :length], best_tokens[row][:length], best_probs[row][:length])
        return outputs

    @staticmethod
    def _advance(stream: Stream, emissions: Emissions) -> StepOutput:
        """Segment and decode one stream's new steps; at the end of its input, its last segment too."""
        segmenter = stream.segmenter
        if stream.finished:
            return StepOutput("", segmenter.index, (), True)
        empty_before = segmenter.empty_endpoints
        ended = segmenter.advance(emissions)
        empty = segmenter.empty_endpoints - empty_before
        if stream.input_ended:
            ended.append(segmenter.finish(stream.samples_received / SAMPLE_RATE))
            stream.finished = True
            return StepOutput("", segmenter.index, tuple(ended), True, empty)
        return StepOutput(segmenter.partial_text, segmenter.index, tuple(ended), False, empty)


def load_recognizer(
    model: str | Path | None = None, device: str | torch.device | None = None, decoder: DecoderConfig = DecoderConfig(), precision: str = "float32"
) -> StreamingRecognizer:
    """The engine for ``model`` (None: the shipped default) with the decoder ``decoder`` describes."""
    return StreamingRecognizer.from_pretrained(model, device, decoder, precision)
