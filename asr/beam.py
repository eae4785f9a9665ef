"""CTC beam search with a word n-gram language model: flashlight-text's lexicon decoder, via torchaudio.

Shape legend: T output steps, V vocabulary (blank = 0).

The decoder only builds words of the lexicon, which is the LM's vocabulary (its unigrams), and
scores each hypothesis as acoustic log-probability + ``lm_weight`` x LM log-probability +
``word_score`` per word. As in greedy decoding, a word spans its characters' steps: from the
first step of its first character to the last step of its last character's run (the decoder
reports where each character starts), and its confidence is the posterior of its least
certain character (each character's peak within a step of where the decoder put it).
"""

from __future__ import annotations

import gzip
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from flashlight.lib.text.decoder import CriterionType, LexiconDecoder, LexiconDecoderOptions, SmearingMode, Trie
from flashlight.lib.text.decoder.kenlm import KenLM
from flashlight.lib.text.dictionary import Dictionary, create_word_dict, load_words
from torchaudio.models.decoder import CTCDecoder, CTCDecoderLM, CTCDecoderLMState, ctc_decoder

from asr.config import BeamConfig
from asr.decoding import Segment, Transcript, Word
from asr.lm import BOS, EOS, UNK
from asr.stream import Stream
from asr.tokens import Tokenizer, normalize_text

__all__ = ["BeamDecoder", "BeamStream", "SegmentedBeam", "arpa_vocabulary", "default_lm"]

SILENCE = "|"  # the decoder's word separator, standing in for our space token
HOTWORD_CACHE = 8  # decoders kept for the most recent hotword lists


def default_lm(model_folder: Path) -> Path:
    """The LM shipped beside a model: lm.arpa.gz, else lm.arpa (which may not exist)."""
    packed = model_folder / "lm.arpa.gz"
    return packed if packed.exists() else model_folder / "lm.arpa"


def arpa_vocabulary(path: Path) -> list[str]:
    """The words of an ARPA file's (or .arpa.gz's) unigram section, without <s>, </s> and <unk>."""
    words, in_unigrams = [], False
    with (gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8")) as handle:
        for line in handle:
            line = line.strip()
            if line == "\\1-grams:":
                in_unigrams = True
            elif in_unigrams and (not line or line.startswith("\\")):
                break
            elif in_unigrams:
                word = line.split("\t")[1]
                if word not in (BOS, EOS, UNK):
                    words.append(word)
    if not words:
        raise ValueError(f"{path}: no unigrams found; is it an ARPA language model?")
    return words


class _BoostedLM(CTCDecoderLM):
    """The KenLM model, seen through a lexicon with hotwords added: each hotword's score gets its boost.

    A hotword the LM does not know is scored as <unk>, then boosted, so it can still win.
    """

    def __init__(self, kenlm: KenLM, to_base: list[int], boosts: dict[int, float]) -> None:
        CTCDecoderLM.__init__(self)
        self._kenlm, self._to_base, self._boosts = kenlm, to_base, boosts
        self._states: dict[CTCDecoderLMState, object] = {}

    def start(self, start_with_nothing: bool) -> CTCDecoderLMState:
        state = CTCDecoderLMState()
        self._states = {state: self._kenlm.start(start_with_nothing)}  # one utterance's states at a time
        return state

    def score(self, state: CTCDecoderLMState, word: int) -> tuple[CTCDecoderLMState, float]:
        base_state, score = self._kenlm.score(self._states[state], self._to_base[word])
        child = state.child(word)
        self._states[child] = base_state
        return child, score + self._boosts.get(word, 0.0)

    def finish(self, state: CTCDecoderLMState) -> tuple[CTCDecoderLMState, float]:
        base_state, score = self._kenlm.finish(self._states[state])
        child = state.child(-1)
        self._states[child] = base_state
        return child, score


class BeamDecoder:
    """Offline beam search over a whole utterance's (T, V) log-probs, optionally with hotwords."""

    def __init__(self, tokenizer: Tokenizer, step_seconds: float, lm_path: str | Path, config: BeamConfig = BeamConfig()) -> None:
        lm_path = Path(lm_path)
        if not lm_path.exists():
            raise ValueError(f"language model not found: {lm_path}")
        self.tokenizer, self.step_seconds, self.config = tokenizer, step_seconds, config
        self._lm_path = lm_path
        self._tokens = [SILENCE if token == " " else token for token in tokenizer.tokens]
        self._vocabulary = arpa_vocabulary(lm_path)
        self._decoder = self._build(self._vocabulary, str(lm_path))
        self._hotword_decoders: dict[tuple[tuple[str, float], ...], CTCDecoder] = {}
        self._kenlm: tuple[KenLM, Dictionary] | None = None  # loaded on the first call with hotwords
        self._trie: Trie | None = None  # built for the first stream

    def _build(self, words: Sequence[str], lm: str | Callable[[Dictionary], CTCDecoderLM]) -> CTCDecoder:
        """A decoder over ``words``; ``lm`` is an ARPA path, or makes the LM from the decoder's word numbering."""
        with tempfile.TemporaryDirectory() as folder:
            lexicon = Path(folder) / "lexicon.txt"
            lexicon.write_text("".join(f"{word} {' '.join(word)} {SILENCE}\n" for word in words))
            if callable(lm):
                lm = lm(create_word_dict(load_words(str(lexicon))))  # numbered exactly as ctc_decoder numbers them
            c = self.config
            return ctc_decoder(
                lexicon=str(lexicon), tokens=self._tokens, lm=lm, nbest=c.nbest, beam_size=c.beam_size,
                beam_threshold=c.beam_threshold, lm_weight=c.lm_weight, word_score=c.word_score,
                blank_token=self._tokens[self.tokenizer.blank_id], sil_token=SILENCE, unk_word=UNK,
            )  # fmt: skip

    def _with_hotwords(self, hotwords: Sequence[tuple[str, float]]) -> CTCDecoder:
        """A decoder whose lexicon also has the hotwords' words, boosted; cached per hotword list."""
        key = tuple(sorted(hotwords))
        if key not in self._hotword_decoders:
            if self._kenlm is None:
                base = create_word_dict({word: [[word]] for word in [*self._vocabulary, BOS, EOS, UNK]})
                self._kenlm = (KenLM(str(self._lm_path), base), base)
            kenlm, base = self._kenlm
            boosts: dict[str, float] = {}
            for phrase, boost in hotwords:
                for word in normalize_text(phrase).split():
                    boosts[word] = max(boost, boosts.get(word, boost))

            def boosted_lm(words: Dictionary) -> CTCDecoderLM:
                to_base = [base.get_index(words.get_entry(i)) for i in range(words.index_size())]
                return _BoostedLM(kenlm, to_base, {words.get_index(word): boost for word, boost in boosts.items()})

            if len(self._hotword_decoders) >= HOTWORD_CACHE:
                self._hotword_decoders.pop(next(iter(self._hotword_decoders)))
            self._hotword_decoders[key] = self._build([*self._vocabulary, *sorted(set(boosts) - set(self._vocabulary))], boosted_lm)
        return self._hotword_decoders[key]

    def stream(self, start_step: int = 0) -> BeamStream:
        """An incremental decoder for one stream, sharing this decoder's LM and lexicon trie.

        ``start_step``: where its first log-probs are in the audio stream, for word times.
        """
        if self._trie is None:
            self._trie = self._build_trie()
        c, tokens = self.config, self._decoder.tokens_dict
        options = LexiconDecoderOptions(
            beam_size=c.beam_size, beam_size_token=tokens.index_size(), beam_threshold=c.beam_threshold, lm_weight=c.lm_weight,
            word_score=c.word_score, unk_score=float("-inf"), sil_score=0.0, log_add=False, criterion_type=CriterionType.CTC,
        )  # fmt: skip  (ctc_decoder's defaults for the rest)
        unknown = self._decoder.word_dict.get_index(UNK)
        decoder = LexiconDecoder(options, self._trie, self._decoder.lm, tokens.get_index(SILENCE), self._decoder.blank, unknown, [], False)
        return BeamStream(self, decoder, start_step)

    def _build_trie(self) -> Trie:
        """The lexicon as a trie of spellings, each word with its LM unigram score (as ctc_decoder builds it)."""
        tokens, words, lm = self._decoder.tokens_dict, self._decoder.word_dict, self._decoder.lm
        trie = Trie(tokens.index_size(), tokens.get_index(SILENCE))
        start = lm.start(False)
        for word in self._vocabulary:
            index = words.get_index(word)
            _, score = lm.score(start, index)
            trie.insert([tokens.get_index(token) for token in [*word, SILENCE]], index, score)
        trie.smear(SmearingMode.MAX)
        return trie

    def word(self, index: int) -> str:
        return self._decoder.word_dict.get_entry(index)

    def decode(self, log_probs: torch.Tensor, hotwords: Sequence[tuple[str, float | None]] = ()) -> list[Transcript]:
        """(T, V) log-probs -> the ``nbest`` best transcripts, best first.

        ``hotwords``: (phrase, boost) pairs; every word of a phrase is favoured by ``boost`` (in
        the LM's log10 units, before ``lm_weight``; None: ``config.hotword_boost``), and words
        outside the LM become possible. The first call with a new list builds its decoder (~1.5 s
        with the default model's LM); later calls with the same list reuse it.
        """
        log_probs = log_probs.float().cpu().contiguous()
        boosted = [(phrase, self.config.hotword_boost if boost is None else boost) for phrase, boost in hotwords]
        decoder = self._with_hotwords(boosted) if boosted else self._decoder
        hypotheses = decoder(log_probs.unsqueeze(0))[0]
        best = log_probs.argmax(dim=-1).tolist()  # (T,) the best token of each step
        # torchaudio's timesteps index flashlight's token sequence, which starts with one extra
        # entry: step = timestep - 1, the first step of the character's run
        return [self.transcript(h.tokens.tolist(), [t - 1 for t in h.timesteps.tolist()], log_probs, best) for h in hypotheses]

    def transcript(self, tokens: list[int], steps: list[int], log_probs: torch.Tensor, best: list[int]) -> Transcript:
        """Characters with their first steps -> words with times and confidences."""
        words: list[Word] = []
        current: list[tuple[int, int]] = []
        for token, step in [*zip(tokens, steps), (self.tokenizer.space_id, -1)]:
            if token != self.tokenizer.space_id:
                current.append((token, step))
                continue
            if current:
                conf = min(self._peak(log_probs, t, s) for t, s in current)
                start, end = current[0][1] * self.step_seconds, (_run_end(best, *current[-1]) + 1) * self.step_seconds
                words.append(Word(self.tokenizer.decode([t for t, _ in current]), start, end, conf))
                current = []
        return Transcript(" ".join(w.word for w in words), tuple(words))

    @staticmethod
    def _peak(log_probs: torch.Tensor, token: int, step: int) -> float:
        """The token's highest posterior within one step of where the decoder placed it.

        The decoder may place a character a step off its acoustic peak when the LM pulls it there.
        """
        window = log_probs[max(0, step - 1) : step + 2, token]
        return float(window.max().exp())


class BeamStream:
    """One stream's beam search, fed log-probs chunk by chunk; the same result as decoding them at once."""

    def __init__(self, beam: BeamDecoder, decoder: LexiconDecoder, start_step: int = 0) -> None:
        self._beam, self._decoder, self.start_step = beam, decoder, start_step
        self._log_probs: list[torch.Tensor] = []  # (T_i, V) chunks, kept for word times and confidences
        decoder.decode_begin()

    def accept(self, log_probs: torch.Tensor) -> None:
        """Search through the next (T, V) log-probs."""
        chunk = log_probs.float().cpu().contiguous()
        if chunk.shape[0]:
            self._log_probs.append(chunk)  # also keeps the memory alive while flashlight reads it
            self._decoder.decode_step(chunk.data_ptr(), chunk.shape[0], chunk.shape[1])

    @property
    def partial_text(self) -> str:
        """The words of the best hypothesis so far."""
        return " ".join(self._beam.word(index) for index in self._decoder.get_best_hypothesis().words if index >= 0)

    def finish(self) -> Transcript:
        """End of the stream: the best transcript."""
        self._decoder.decode_end()
        result = self._decoder.get_all_final_hypothesis()[0]
        log_probs = torch.cat(self._log_probs) if self._log_probs else torch.zeros(0, len(self._beam.tokenizer))
        tokens, steps = [], []
        raw, blank = list(result.tokens), self._beam.tokenizer.blank_id
        for index, token in enumerate(raw):  # collapse repeats and drop blanks, as torchaudio does
            if token != blank and (index == 0 or token != raw[index - 1]):
                tokens.append(token)
                steps.append(index - 1)  # flashlight's sequence starts with one extra entry
        transcript = self._beam.transcript(tokens, steps, log_probs, log_probs.argmax(dim=-1).tolist())
        offset = self.start_step * self._beam.step_seconds
        words = tuple(Word(w.word, w.start + offset, w.end + offset, w.conf) for w in transcript.words)
        return Transcript(transcript.text, words)


class SegmentedBeam:
    """Beam search over one engine stream, cut into the segments its endpointer cuts.

    Feed it each step's log-probs for the stream (what ``StreamingRecognizer.step`` returns),
    right after the step: it takes the stream's greedy segments and returns them with beam
    transcripts instead, each searched over exactly that segment's steps.
    """

    def __init__(self, beam: BeamDecoder, stream: Stream) -> None:
        self.beam, self.stream = beam, stream
        self._current = beam.stream()
        self._steps = 0  # steps accepted so far

    def accept(self, log_probs: torch.Tensor) -> list[Segment]:
        """(T, V) log-probs of the stream's latest step -> the segments that ended in it."""
        ended = []
        for segment in self.stream.take_segments():
            cut = round(segment.end / self.beam.step_seconds)
            self._current.accept(log_probs[: cut - self._steps])
            log_probs, self._steps = log_probs[cut - self._steps :], cut
            ended.append(Segment(segment.index, segment.start, segment.end, self._current.finish()))
            self._current = self.beam.stream(start_step=cut)
        self._current.accept(log_probs)
        self._steps += log_probs.shape[0]
        return ended

    @property
    def partial_text(self) -> str:
        return self._current.partial_text

    def finish(self) -> Segment:
        """After the stream's last step (``Stream.finish``): its last segment."""
        last = self.stream.last_segment()
        return Segment(last.index, last.start, last.end, self._current.finish())


def _run_end(best: list[int], token: int, step: int) -> int:
    """The last step of the run, starting at ``step``, where ``token`` stays the best token."""
    while step + 1 < len(best) and best[step + 1] == token:
        step += 1
    return step
