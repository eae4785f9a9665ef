"""CTC beam search with a word n-gram language model: flashlight-text's lexicon decoder and KenLM.

Shape legend: T output steps, V vocabulary (blank = 0).

The decoder only builds words of the lexicon, which is the LM's vocabulary (its unigrams), and
scores each hypothesis as acoustic log-probability + ``lm_weight`` x LM log-probability +
``word_score`` per word. As in greedy decoding, a word spans its characters' steps: from the
first step of its first character to the last step of its last character's run (the decoder
reports where each character starts), and its confidence is the posterior of its least
certain character (each character's peak within a step of where the decoder put it).
"""

from __future__ import annotations

import contextlib
import gzip
import math
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from flashlight.lib.text.decoder import LM, CriterionType, LexiconDecoder, LexiconDecoderOptions, LMState, SmearingMode, Trie
from flashlight.lib.text.decoder.kenlm import KenLM
from flashlight.lib.text.dictionary import Dictionary, create_word_dict

from asr.config import BeamConfig
from asr.decoding import Segment, Transcript, Word
from asr.lm import BOS, EOS, UNK
from asr.stream import Stream
from asr.tokens import Tokenizer, normalize_text

__all__ = ["BeamDecoder", "BeamStream", "SegmentedBeam", "arpa_vocabulary", "default_lm"]

SILENCE = "|"  # the decoder's word separator, standing in for our space token
CLOSED = float("-inf")  # the log-probability of a token that cannot occur
HOTWORD_CACHE = 8  # lexicons kept for the most recent hotword lists


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


class _BoostedLM(LM):
    """The KenLM model, seen through a lexicon with hotwords added: each hotword's score gets its boost.

    A hotword the LM does not know is scored as <unk>, then boosted, so it can still win.
    """

    def __init__(self, kenlm: KenLM, to_base: list[int], boosts: dict[int, float]) -> None:
        LM.__init__(self)
        self._kenlm, self._to_base, self._boosts = kenlm, to_base, boosts
        self._states: dict[LMState, object] = {}

    def start(self, start_with_nothing: bool) -> LMState:
        state = LMState()
        self._states = {state: self._kenlm.start(start_with_nothing)}  # one search per instance
        return state

    def score(self, state: LMState, word: int) -> tuple[LMState, float]:
        base_state, score = self._kenlm.score(self._states[state], self._to_base[word])
        child = state.child(word)
        self._states[child] = base_state
        return child, score + self._boosts.get(word, 0.0)

    def finish(self, state: LMState) -> tuple[LMState, float]:
        base_state, score = self._kenlm.finish(self._states[state])
        child = state.child(-1)
        self._states[child] = base_state
        return child, score


@dataclass(frozen=True)
class _Lexicon:
    """Words ready for search: their numbering, the trie of their spellings, and how to score them."""

    words: Dictionary
    trie: Trie
    to_base: list[int] | None = None  # hotword lexicons: the KenLM number of each word
    boosts: dict[int, float] | None = None  # hotword lexicons: word number -> boost

    def lm(self, kenlm: KenLM) -> LM:
        """KenLM itself, or for a hotword lexicon a boosting wrapper of its own (it holds one search's states)."""
        return kenlm if self.boosts is None else _BoostedLM(kenlm, self.to_base, self.boosts)


class BeamDecoder:
    """Beam search with the word LM, offline or one stream at a time, optionally with hotwords.

    The LM and the trie of the lexicon's spellings are built once (0.6 s for the default
    model's 46k words) and shared by every search; a stream's own state is a flashlight
    ``LexiconDecoder``, which costs about 0.1 ms to make.
    """

    def __init__(self, tokenizer: Tokenizer, step_seconds: float, lm_path: str | Path, config: BeamConfig = BeamConfig()) -> None:
        lm_path = Path(lm_path)
        if not lm_path.exists():
            raise ValueError(f"language model not found: {lm_path}")
        self.tokenizer, self.step_seconds, self.config = tokenizer, step_seconds, config
        self._tokens = Dictionary([SILENCE if token == " " else token for token in tokenizer.tokens])
        self._vocabulary = arpa_vocabulary(lm_path)
        words = _word_numbering(self._vocabulary)
        with _quiet_stderr():  # KenLM draws a progress bar and a tip about binary files on stderr
            self._kenlm = KenLM(str(lm_path), words)
        self._base = _Lexicon(words, self._build_trie(self._vocabulary, words, self._kenlm))
        self._hotword_lexicons: dict[tuple[tuple[str, float], ...], _Lexicon] = {}
        self._hotword_lock = threading.Lock()  # a server's inference threads share the cache

    def _build_trie(self, vocabulary: Sequence[str], words: Dictionary, lm: LM) -> Trie:
        """The spellings as a trie, each word with its LM unigram score for look-ahead (as ctc_decoder builds it)."""
        trie = Trie(self._tokens.index_size(), self._tokens.get_index(SILENCE))
        start = lm.start(False)
        for word in vocabulary:
            index = words.get_index(word)
            _, score = lm.score(start, index)
            trie.insert([self._tokens.get_index(token) for token in [*word, SILENCE]], index, score)
        trie.smear(SmearingMode.MAX)
        return trie

    def _lexicon(self, hotwords: Sequence[tuple[str, float]]) -> _Lexicon:
        """The base lexicon, or one that also has the hotwords' words, boosted; cached per hotword list."""
        if not hotwords:
            return self._base
        key = tuple(sorted(hotwords))
        with self._hotword_lock:
            return self._hotword_lexicons.get(key) or self._build_hotword_lexicon(key, hotwords)

    def _build_hotword_lexicon(self, key: tuple[tuple[str, float], ...], hotwords: Sequence[tuple[str, float]]) -> _Lexicon:
        """Build a new hotword list's lexicon and cache it, dropping the oldest beyond ``HOTWORD_CACHE`` (lock held)."""
        boosts: dict[str, float] = {}
        for phrase, boost in hotwords:
            for word in normalize_text(phrase).split():
                boosts[word] = max(boost, boosts.get(word, boost))
        vocabulary = [*self._vocabulary, *sorted(set(boosts) - set(self._vocabulary))]
        words = _word_numbering(vocabulary)
        to_base = [self._base.words.get_index(words.get_entry(i)) for i in range(words.index_size())]
        numbered = {words.get_index(word): boost for word, boost in boosts.items()}
        trie = self._build_trie(vocabulary, words, _BoostedLM(self._kenlm, to_base, numbered))
        if len(self._hotword_lexicons) >= HOTWORD_CACHE:
            self._hotword_lexicons.pop(next(iter(self._hotword_lexicons)))
        lexicon = self._hotword_lexicons[key] = _Lexicon(words, trie, to_base, numbered)
        return lexicon

    def stream(self, start_step: int = 0, hotwords: Sequence[tuple[str, float | None]] = ()) -> BeamStream:
        """An incremental search for one stream; ``start_step``: where its first log-probs are, for word times.

        ``hotwords``: (phrase, boost) pairs; every word of a phrase is favoured by ``boost`` (in the
        LM's log10 units, before ``lm_weight``; None: ``config.hotword_boost``), and words outside
        the LM become possible. A new hotword list takes about 1 s to prepare; it is then reused.
        """
        lexicon = self._lexicon([(phrase, self.config.hotword_boost if boost is None else boost) for phrase, boost in hotwords])
        c = self.config
        # log_add: hypotheses that meet add their probabilities (dev WER 22.4%, against 22.6% keeping the larger)
        options = LexiconDecoderOptions(
            beam_size=c.beam_size, beam_size_token=min(c.tokens_per_step, self._tokens.index_size()), beam_threshold=c.beam_threshold, lm_weight=c.lm_weight,
            word_score=c.word_score, unk_score=float("-inf"), sil_score=0.0, log_add=True, criterion_type=CriterionType.CTC,
        )  # fmt: skip
        silence, unknown = self._tokens.get_index(SILENCE), lexicon.words.get_index(UNK)
        lm = lexicon.lm(self._kenlm)
        decoder = LexiconDecoder(options, lexicon.trie, lm, silence, self.tokenizer.blank_id, unknown, [], False)
        return BeamStream(self, decoder, lexicon.words, lm, start_step)

    def decode(self, log_probs: torch.Tensor, hotwords: Sequence[tuple[str, float | None]] = ()) -> list[Transcript]:
        """(T, V) log-probs of a whole utterance -> the ``config.nbest`` best transcripts, best first."""
        search = self.stream(hotwords=hotwords)
        search.accept(log_probs)
        return search.finish_all(self.config.nbest)


class BeamStream:
    """One stream's beam search, fed log-probs chunk by chunk; the same result as decoding them at once."""

    def __init__(self, beam: BeamDecoder, decoder: LexiconDecoder, words: Dictionary, lm: LM, start_step: int = 0) -> None:
        self._beam, self._decoder, self._words, self.start_step = beam, decoder, words, start_step
        self._lm = lm  # a Python LM must outlive the C++ decoder that calls it
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
        return " ".join(self._words.get_entry(index) for index in self._decoder.get_best_hypothesis().words if index >= 0)

    def finish(self) -> Transcript:
        """End of the stream: the best transcript."""
        return self.finish_all(1)[0]

    def finish_all(self, limit: int) -> list[Transcript]:
        """End of the stream: up to ``limit`` best transcripts, best first (at least one, maybe empty)."""
        self._close_last_word()
        self._decoder.decode_end()
        results = self._decoder.get_all_final_hypothesis()[:limit]
        log_probs = torch.cat(self._log_probs) if self._log_probs else torch.zeros(0, len(self._beam.tokenizer))
        best = log_probs.argmax(dim=-1).tolist()  # (T,) the best token of each step
        # numpy for the per-character lookups: a torch index costs ~10 us each, 2.5 ms for a 20 s utterance
        return [self._transcript(list(result.tokens), log_probs.numpy(), best) for result in results] or [Transcript("")]

    def _close_last_word(self) -> None:
        """Search one more step in which only a word separator or blank can occur.

        The lexicon's spellings end in the separator, and at the end flashlight keeps only the
        hypotheses that stop on a word boundary, when any does. The model was trained on labels
        without a trailing space, so it seldom ends an utterance with one: without this step the
        last word loses to any hypothesis that did reach a boundary, such as "turn on the ad"
        for "turn on the radio".
        """
        closing = torch.full((1, len(self._beam.tokenizer)), CLOSED)  # (1, V)
        closing[0, [self._beam.tokenizer.space_id, self._beam.tokenizer.blank_id]] = 0.0
        self._decoder.decode_step(closing.data_ptr(), 1, closing.shape[1])

    def _transcript(self, raw: list[int], log_probs: np.ndarray, best: list[int]) -> Transcript:
        """flashlight's per-step tokens -> words with times (from ``start_step``) and confidences."""
        tokenizer, seconds = self._beam.tokenizer, self._beam.step_seconds
        characters = []  # (token, its first step)
        for index, token in enumerate(raw):  # collapse repeats and drop blanks
            if token != tokenizer.blank_id and (index == 0 or token != raw[index - 1]):
                characters.append((token, index - 1))  # flashlight's sequence starts with one extra entry
        words: list[Word] = []
        current: list[tuple[int, int]] = []
        for token, step in [*characters, (tokenizer.space_id, -1)]:
            if token != tokenizer.space_id:
                current.append((token, step))
                continue
            if current:
                conf = min(_peak(log_probs, t, s) for t, s in current)
                first, last = current[0][1], _run_end(best, *current[-1])
                start, end = (self.start_step + first) * seconds, (self.start_step + last + 1) * seconds
                words.append(Word(tokenizer.decode([t for t, _ in current]), start, end, conf))
                current = []
        return Transcript(" ".join(w.word for w in words), tuple(words))


class SegmentedBeam:
    """Beam search over one engine stream, cut into the segments its endpointer cuts.

    Feed it each step's log-probs for the stream (what ``StreamingRecognizer.step`` returns),
    right after the step: it takes the stream's greedy segments and returns them with beam
    transcripts instead, each searched over exactly that segment's steps.
    """

    def __init__(self, beam: BeamDecoder, stream: Stream, hotwords: Sequence[tuple[str, float | None]] = ()) -> None:
        self.beam, self.stream, self.hotwords = beam, stream, tuple(hotwords)
        self._current: BeamStream | None = None  # made on the first step, where a server does its compute
        self._steps = 0  # steps accepted so far

    def _search(self) -> BeamStream:
        if self._current is None:
            self._current = self.beam.stream(self._steps, self.hotwords)
        return self._current

    def accept(self, log_probs: torch.Tensor) -> list[Segment]:
        """(T, V) log-probs of the stream's latest step -> the segments that ended in it."""
        ended = []
        for segment in self.stream.take_segments():
            cut = round(segment.end / self.beam.step_seconds)
            search = self._search()
            search.accept(log_probs[: cut - self._steps])
            log_probs, self._steps = log_probs[cut - self._steps :], cut
            ended.append(self._finished(search, segment))
            self._current = None
        self._search().accept(log_probs)
        self._steps += log_probs.shape[0]
        return ended

    @property
    def partial_text(self) -> str:
        return self._current.partial_text if self._current is not None else ""

    def finish(self) -> Segment:
        """After the stream's last step (``Stream.finish``): its last segment."""
        return self._finished(self._search(), self.stream.last_segment())

    def _finished(self, search: BeamStream, segment: Segment) -> Segment:
        """The greedy ``segment`` with the search's transcript, and its n-best alternatives when the config asks for them."""
        best, *alternatives = search.finish_all(self.beam.config.nbest)
        return Segment(segment.index, segment.start, segment.end, best, tuple(alternatives))


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Send what native code writes to file descriptor 2 to /dev/null while the block runs.

    Python's own ``sys.stderr`` is flushed first; the descriptor is restored afterwards, even on error.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _word_numbering(vocabulary: Sequence[str]) -> Dictionary:
    """Word numbers for the decoder and KenLM, with <s>, </s> and <unk> (the default for unknown words)."""
    return create_word_dict({word: [[word]] for word in [*vocabulary, BOS, EOS, UNK]})


def _peak(log_probs: np.ndarray, token: int, step: int) -> float:
    """The token's highest posterior within one step of where the decoder placed it.

    The decoder may place a character a step off its acoustic peak when the LM pulls it there.
    """
    window = log_probs[max(0, step - 1) : step + 2, token]
    return math.exp(window.max())


def _run_end(best: list[int], token: int, step: int) -> int:
    """The last step of the run, starting at ``step``, where ``token`` stays the best token."""
    while step + 1 < len(best) and best[step + 1] == token:
        step += 1
    return step
