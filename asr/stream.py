"""Per-stream state and the batched streaming engine that the server, mic and files all drive.

Shape legend: B streams in a step, T model steps, D step width, V vocabulary,
F feature frames, W window length in samples.

A ``Stream`` owns everything one audio source needs between chunks: the resampler and
feature tails, the stacker's leftover frames, the LSTM state and the decoder state.
``StreamingRecognizer.step(streams)`` advances any number of streams with one batched
forward pass; a single stream's ``accept_waveform`` is a step with a batch of one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from asr.audio import SAMPLE_RATE, StreamingResampler
from asr.checkpoint import Checkpoint, load_checkpoint, resolve_model_path
from asr.decoding import GreedyCTCDecoder, GreedyState, Segment, Transcript
from asr.endpoint import EndpointConfig, Endpointer
from asr.features import FrameStacker, LogMel, StreamingLogMel
from asr.model import LSTMState, stack_states, unstack_states

__all__ = ["resolve_device", "Stream", "GreedySegments", "StreamingRecognizer"]


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


class Stream:
    """One audio source: its buffered audio, feature and stacker tails, LSTM and decoder state."""

    def __init__(self, recognizer: StreamingRecognizer, sample_rate: int = SAMPLE_RATE, endpoint: EndpointConfig | None = None) -> None:
        self.recognizer = recognizer
        self.sample_rate = sample_rate
        self.endpoint = endpoint  # None: no endpointing, the whole stream is one segment
        self._resampler = StreamingResampler(sample_rate, SAMPLE_RATE)
        self._features = StreamingLogMel(recognizer.logmel)
        config = recognizer.model.config
        self._stacker = FrameStacker(config.stack_frames, config.lookahead_frames)
        self.reset()

    def reset(self) -> None:
        """Forget all audio and state; the stream can be used for a new utterance."""
        self._resampler.reset()
        self._features.reset()
        self._stacker.reset()
        self._audio: list[torch.Tensor] = []
        self.state: LSTMState | None = None
        endpointer = Endpointer(self.endpoint, self.recognizer.decoder.step_seconds) if self.endpoint else None
        self.decoder_state = GreedyState(endpointer=endpointer)
        self.samples_received = 0  # at 16 kHz, after resampling
        self.input_ended = False
        self.finished = False

    def feed(self, samples: torch.Tensor) -> None:
        """Queue (N,) float32 samples at this stream's sample rate; a later ``step`` processes them."""
        if self.input_ended:
            raise ValueError("stream is finished (its input has ended); call reset() to start a new one")
        resampled = self._resampler.accept(samples)
        self.samples_received += resampled.numel()
        self._audio.append(resampled)

    def take_frames(self) -> np.ndarray:
        """(F, W) feature frames completed by the queued audio (consumes the queue)."""
        if len(self._audio) == 1:
            audio = self._audio[0]
        else:
            audio = torch.cat(self._audio) if self._audio else torch.zeros(0)
        self._audio = []
        return self._features.take_frames(audio.numpy())

    def stack(self, logmel: np.ndarray) -> np.ndarray:
        """(F, mels) -> (T, D) model steps completed so far."""
        return self._stacker.accept(logmel)

    @property
    def partial_text(self) -> str:
        """The open segment's text so far."""
        return self.recognizer.decoder.text(self.decoder_state)

    def take_segments(self) -> list[Segment]:
        """Segments the endpointer has ended since the last call (never any without endpointing)."""
        return self.recognizer.decoder.take_segments(self.decoder_state)

    def last_segment(self) -> Segment:
        """After ``finish``: the stream's last segment, ending at the end of its audio."""
        segment = self.recognizer.decoder.open_segment(self.decoder_state)
        return Segment(segment.index, segment.start, self.samples_received / SAMPLE_RATE, segment.transcript)

    def accept_waveform(self, samples: torch.Tensor) -> str:
        """Process (N,) samples now and return the partial text so far."""
        self.feed(samples)
        self.recognizer.step([self])
        return self.partial_text

    def end_input(self) -> None:
        """No more audio: queue the resampler's tail, so that the next step processes it."""
        if not self.input_ended:
            tail = self._resampler.flush()
            self.samples_received += tail.numel()
            self._audio.append(tail)
            self.input_ended = True

    def finish(self) -> Transcript:
        """End of audio: process everything still buffered and return the final transcript.

        With endpointing, that is the last segment's; earlier ones come from ``take_segments``.

        A server ends many streams in one batched step (``end_input`` on each, then ``step``);
        ``finish`` afterwards has nothing left to process.
        """
        if not self.finished:
            self.end_input()
            if self._audio:
                self.recognizer.step([self])
            self.finished = True
        return self.recognizer.decoder.transcript(self.decoder_state)


class GreedySegments:
    """A stream's own greedy segments, behind the interface of ``asr.beam.SegmentedBeam``.

    Callers that decode greedily or with beam search hold either one and need no branch.
    """

    def __init__(self, stream: Stream) -> None:
        self.stream = stream

    def accept(self, log_probs: torch.Tensor) -> list[Segment]:
        """After a step of the stream: the segments that ended in it (the log-probs are not needed)."""
        return self.stream.take_segments()

    @property
    def partial_text(self) -> str:
        return self.stream.partial_text

    def finish(self) -> Segment:
        """After the stream's last step (``Stream.finish``): its last segment."""
        return self.stream.last_segment()


class StreamingRecognizer:
    """Holds the model and steps many streams through it in one batched forward pass."""

    def __init__(self, checkpoint: Checkpoint, device: str | torch.device | None = None) -> None:
        self.device = resolve_device(device)
        self.model = checkpoint.model.to(self.device).eval()
        self.tokenizer = checkpoint.tokenizer
        self.logmel = LogMel(checkpoint.features)
        config = self.model.config
        step_seconds = config.stack_frames * checkpoint.features.hop_length / checkpoint.features.sample_rate
        self.decoder = GreedyCTCDecoder(self.tokenizer, step_seconds)
        self._no_output = torch.zeros(0, len(self.tokenizer))  # (0, V): a stream with no new steps

    @classmethod
    def from_pretrained(cls, model: str | None = None, device: str | torch.device | None = None) -> StreamingRecognizer:
        """Load ``model`` (a path, a folder or a name under ``models/``; None for the default)."""
        return cls(load_checkpoint(resolve_model_path(model)), device=device)

    def create_stream(self, sample_rate: int = SAMPLE_RATE, endpoint: EndpointConfig | None = None) -> Stream:
        """A new stream of audio at ``sample_rate``; with ``endpoint`` it is cut into utterances."""
        return Stream(self, sample_rate, endpoint)

    @torch.inference_mode()
    def step(self, streams: Sequence[Stream]) -> list[torch.Tensor]:
        """Process every stream's queued audio with one forward pass.

        Returns each stream's new (T_i, V) log-probs on the CPU (T_i may be 0).
        """
        if not streams:
            return []
        frames = [stream.take_frames() for stream in streams]
        logmel = self.logmel.frames_to_logmel(torch.from_numpy(np.concatenate(frames))).numpy()  # (sum F, mels)
        ends = np.cumsum([len(f) for f in frames]).tolist()
        steps = [stream.stack(logmel[end - len(f) : end]) for stream, f, end in zip(streams, frames, ends)]
        outputs = [self._no_output] * len(streams)
        active = [i for i, x in enumerate(steps) if len(x)]
        if not active:
            return outputs
        lengths = [len(steps[i]) for i in active]
        batch = np.zeros((len(active), max(lengths), self.model.config.input_dim), dtype=np.float32)  # (B, T, D)
        for row, i in enumerate(active):
            batch[row, : lengths[row]] = steps[i]
        state = stack_states([self._state_of(streams[i]) for i in active])
        ragged = min(lengths) != max(lengths)
        batch_tensor = torch.from_numpy(batch).to(self.device)
        log_probs, state = self.model(batch_tensor, state, torch.tensor(lengths) if ragged else None)  # (B, T, V)
        best_log_probs, best_tokens = log_probs.max(dim=-1)  # (B, T) each
        # one transfer and one tolist for the whole batch: per-stream tensor ops dominate at large B
        best_probs, best_tokens = best_log_probs.exp().cpu().tolist(), best_tokens.cpu().tolist()
        log_probs = log_probs.cpu()
        for row, (i, stream_state) in enumerate(zip(active, unstack_states(state))):
            stream, length = streams[i], lengths[row]
            stream.state = stream_state
            self.decoder.advance_best(stream.decoder_state, best_tokens[row][:length], best_probs[row][:length])
            outputs[i] = log_probs[row, :length]
        return outputs

    def _state_of(self, stream: Stream) -> LSTMState:
        return stream.state if stream.state is not None else self.model.init_state(1, self.device)
