"""CTC beam search with a word n-gram language model: flashlight-text's lexicon decoder and KenLM.

Shape legend: T output steps, V vocabulary (blank = 0).

The decoder only builds words of the LM's vocabulary (its unigrams), each spelled in the model's
units followed by the word separator: a character model spells a word with its letters; a phone
model with each of its pronunciations from the lexicon (asr/lexicon.py), so homophones and
variants all compete. A hypothesis scores acoustic log-probability + ``lm_weight`` x LM
log-probability + ``word_score`` per word. A search may instead be held to a grammar (a list of
phrases, as a Vosk client's ``phrase_list``): then it only builds those phrases' words, in any
sequence of whole phrases. A word spans its units' steps: from the first step of
its first unit to the last step of its last unit's run (the decoder reports where each unit
starts), and its confidence is the posterior of its least certain unit (each unit's peak within a
step of where the decoder put it).
"""

from __future__ import annotations

import contextlib
import copy
import gc
import gzip
import itertools
import math
import os
import sys
import threading
import weakref
from collections import Counter, OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from flashlight.lib.text.decoder import LM, CriterionType, LexiconDecoder, LexiconDecoderOptions, LMState, SmearingMode, Trie
from flashlight.lib.text.decoder.kenlm import KenLM
from flashlight.lib.text.dictionary import Dictionary, create_word_dict

from asr.arpa_pack import is_packed, kenlm_readable, packed_vocabulary
from asr.config import BeamConfig
from asr.decoding import Emissions, Hotwords, Transcript, Word
from asr.lexicon import Lexicon, check_hotword, check_word, pronounce
from asr.lm import BOS, EOS, UNK
from asr.tokens import CHARACTERS, Tokenizer, normalize_text

__all__ = ["BeamDecoder", "BeamSearch", "TrieLimitReached", "arpa_vocabulary", "default_lm", "default_lexicon"]

SILENCE = "|"  # the decoder's word separator, standing in for our space token
CLOSED = float("-inf")  # the log-probability of a token that cannot occur
OFF_GRAMMAR = -1000.0  # a grammar's LM score for a word no phrase allows there: finite, so that scores never become NaN
LEXICON_CACHE = 8  # lexicons kept for the most recent hotword lists and grammars
MAX_HOMOPHONES = 6  # words a flashlight trie node can hold (it drops more, with a warning on stderr)
PAUSE_STEPS = 5  # quiet steps (150 ms) after which a partial shows words the search has not completed (BeamSearch)
SETTLE_EVERY = 10  # steps between settlings of a search's old history (BeamSearch)


class TrieLimitReached(RuntimeError):
    """A hotword list needs a trie of its own, and ``BeamDecoder.trie_limit`` of them are in use."""


def default_lm(model_folder: Path) -> Path:
    """The LM shipped beside a model: lm.pack (asr/arpa_pack.py), else lm.arpa.gz, else lm.arpa (which may not exist)."""
    for name in ("lm.pack", "lm.arpa.gz"):
        if (model_folder / name).exists():
            return model_folder / name
    return model_folder / "lm.arpa"


def default_lexicon(model_folder: Path) -> Path:
    """The pronunciation lexicon shipped beside a phone model: lexicon.txt.gz, else lexicon.txt (which may not exist)."""
    packed = model_folder / "lexicon.txt.gz"
    return packed if packed.exists() else model_folder / "lexicon.txt"


def arpa_vocabulary(path: Path) -> list[str]:
    """The words of an ARPA file's (or .arpa.gz's, or a packed LM's) unigram section, without <s>, </s> and <unk>."""
    words = [word for word in (packed_vocabulary(path) if is_packed(path) else _arpa_unigrams(path)) if word not in (BOS, EOS, UNK)]
    if not words:
        raise ValueError(f"{path}: no unigrams found; is it an ARPA language model?")
    return words


def _arpa_unigrams(path: Path) -> Iterator[str]:
    """The words of an ARPA text file's (or .arpa.gz's) unigram section, in its order."""
    in_unigrams = False
    with (gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8")) as handle:
        for line in handle:
            line = line.strip()
            if line == "\\1-grams:":
                in_unigrams = True
            elif in_unigrams and (not line or line.startswith("\\")):
                return
            elif in_unigrams:
                yield line.split("\t")[1]


class _BoostedLM(LM):
    """The KenLM model, seen through a lexicon with hotwords added: each hotword's score gets its boost.

    A hotword the LM does not know is scored as <unk>, then boosted, so it can still win. The states
    are KenLM's own, so that flashlight frees them with its hypotheses: a Python map from states of
    this LM to KenLM's held every state a search ever made (108,769 in a 20 s utterance, 100 ms to free).
    """

    def __init__(self, kenlm: KenLM, to_base: list[int] | None, boosts: dict[int, float]) -> None:
        """``to_base``: each word number's KenLM number (None: the same numbers)."""
        LM.__init__(self)
        self._kenlm, self._to_base, self._boosts = kenlm, to_base, boosts

    def start(self, start_with_nothing: bool) -> LMState:
        return self._kenlm.start(start_with_nothing)

    def score(self, state: LMState, word: int) -> tuple[LMState, float]:
        child, score = self._kenlm.score(state, word if self._to_base is None else self._to_base[word])
        return child, score + self._boosts.get(word, 0.0)

    def finish(self, state: LMState) -> tuple[LMState, float]:
        return self._kenlm.finish(state)


@dataclass(frozen=True)
class _Grammar:
    """Phrases as word-number sequences; a grammar state is the set of phrase prefixes said so far."""

    prefixes: frozenset[tuple[int, ...]]  # every prefix of every phrase, the empty one included
    phrases: frozenset[tuple[int, ...]]  # the whole phrases, and the empty one: where a next phrase may begin

    @classmethod
    def of(cls, phrases: Sequence[Sequence[int]]) -> _Grammar:
        prefixes = {tuple(phrase[:length]) for phrase in phrases for length in range(len(phrase) + 1)}
        return cls(frozenset(prefixes), frozenset({(), *map(tuple, phrases)}))

    def after(self, state: frozenset[tuple[int, ...]], word: int) -> frozenset[tuple[int, ...]]:
        """The prefixes ``word`` leads to: each one it continues, or a new phrase if one ended (empty: off the grammar)."""
        continued = {(*prefix, word) for prefix in state if (*prefix, word) in self.prefixes}
        if (word,) in self.prefixes and not state.isdisjoint(self.phrases):
            continued.add((word,))
        return frozenset(continued)


class _GrammarLM(LM):
    """Scores 0 for a word a phrase allows where it comes, ``OFF_GRAMMAR`` otherwise; an utterance must end on a whole phrase.

    One state per set of phrase prefixes: hypotheses at the same place in the grammar share it (flashlight
    merges them), and a search holds as many states as the grammar has places, however long it runs.
    """

    def __init__(self, grammar: _Grammar) -> None:
        LM.__init__(self)
        self._grammar = grammar
        self._prefixes: dict[LMState, frozenset[tuple[int, ...]]] = {}  # each state's place in the grammar
        self._states: dict[frozenset[tuple[int, ...]], LMState] = {}  # and the state of each place

    def _state(self, prefixes: frozenset[tuple[int, ...]]) -> LMState:
        state = self._states.get(prefixes)
        if state is None:
            state = self._states[prefixes] = LMState()
            self._prefixes[state] = prefixes
        return state

    def start(self, start_with_nothing: bool) -> LMState:
        return self._state(frozenset({()}))

    def score(self, state: LMState, word: int) -> tuple[LMState, float]:
        prefixes = self._grammar.after(self._prefixes[state], word)
        return self._state(prefixes), 0.0 if prefixes else OFF_GRAMMAR

    def finish(self, state: LMState) -> tuple[LMState, float]:
        ended = not self._prefixes[state].isdisjoint(self._grammar.phrases)
        return state, 0.0 if ended else OFF_GRAMMAR


@dataclass(frozen=True)
class _Lexicon:
    """Words ready for search: their numbering, the trie of their spellings, and how to score them."""

    words: Dictionary
    trie: Trie
    spelled: dict[tuple[int, ...], str]  # a spelling's tokens (no separator) -> its likeliest word, for partials
    to_base: list[int] | None = None  # hotword lexicons with words the LM lacks: the KenLM number of each word (else the same)
    boosts: dict[int, float] | None = None  # hotword lexicons: word number -> boost
    grammar: _Grammar | None = None  # grammar lexicons: the phrases, which replace the LM

    def lm(self, kenlm: KenLM) -> LM:
        """KenLM itself, or an LM for one search: a grammar's (it holds the places in the grammar the search reaches), or the hotwords' boosting wrapper."""
        if self.grammar is not None:
            return _GrammarLM(self.grammar)
        return kenlm if self.boosts is None else _BoostedLM(kenlm, self.to_base, self.boosts)


class BeamDecoder:
    """Beam search with the word LM, one segment at a time, optionally with hotwords.

    The LM and the trie of the lexicon's spellings are built once (about a second for 50k
    words) and shared by every search; a segment's own state is a flashlight
    ``LexiconDecoder``, which costs about 0.1 ms to make. Offline decoding is one search fed at once.
    """

    name = "lexicon"

    def __init__(
        self, tokenizer: Tokenizer, step_seconds: float, lm_path: str | Path, config: BeamConfig = BeamConfig(), lexicon: Lexicon | None = None
    ) -> None:
        """``lexicon``: pronunciations for a phone model (words of the LM it lacks are pronounced by
        CMUdict or espeak-ng as the decoder is built); a character model spells words and needs none."""
        lm_path = Path(lm_path)
        if not lm_path.exists():
            raise ValueError(f"language model not found: {lm_path}")
        if tokenizer.units != CHARACTERS and lexicon is None:
            raise ValueError("a phone model's beam search needs a pronunciation lexicon")
        self.tokenizer, self.step_seconds, self.config = tokenizer, step_seconds, config
        self.score_offsets = _prior_offsets(config, len(tokenizer))
        self._tokens = Dictionary([SILENCE if token == tokenizer.separator else token for token in tokenizer.tokens])
        self._vocabulary = arpa_vocabulary(lm_path)
        self._known_words = frozenset(self._vocabulary)
        self._pronunciations = lexicon
        if lexicon is not None:
            missing = [word for word in self._vocabulary if word not in lexicon]
            self._pronunciations = lexicon.extended(pronounce(missing)) if missing else lexicon
        words = _word_numbering(self._vocabulary)
        with kenlm_readable(lm_path) as readable, _quiet_stderr():  # KenLM draws a progress bar and a tip about binary files on stderr
            self._kenlm = KenLM(str(readable), words)
        self._lookahead_scores = _unigram_scores(self._vocabulary, words, self._kenlm)  # the trie's look-ahead for the LM's words
        self._base = _Lexicon(words, *self._build_trie(self._lookahead_scores, words, self._pronunciations))
        self._start_lexicon_caches()
        self.trie_limit: int | None = None  # the most hotword lists with tries of their own at once (a server sets it)
        self.beam_limit: int | None = None  # caps the beam of searches started from now on (the server narrows it under load)

    def _spellings(self, word: str, lexicon: Lexicon | None) -> list[list[str]]:
        """The word in the model's units: its letters, or each of its pronunciations."""
        if lexicon is None:
            return [list(word)]
        return [list(pronunciation) for pronunciation in lexicon.pronunciations(word)]

    def _build_trie(self, scored: Sequence[tuple[float, str]], words: Dictionary, lexicon: Lexicon | None) -> tuple[Trie, dict[tuple[int, ...], str]]:
        """The spellings as a trie, each word with its look-ahead score from ``scored`` ((score, word) pairs;
        ctc_decoder uses LM unigrams), and each spelling's likeliest word (by that score).

        Words go in likeliest first: a trie node holds at most ``MAX_HOMOPHONES`` words (flashlight's
        limit), so where more words sound alike (a phone model's homophones), the rarest are the ones left out.
        """
        unit_ids = {self._tokens.get_entry(i): i for i in range(self._tokens.index_size())}  # a million lookups: ~0.2 s less than flashlight calls
        silence = unit_ids[SILENCE]
        trie = Trie(len(unit_ids), silence)
        spelled: dict[tuple[int, ...], str] = {}
        homophones: Counter[tuple[int, ...]] = Counter()
        for score, word in sorted(scored, key=lambda pair: -pair[0]):
            label = words.get_index(word)
            for spelling in self._spellings(word, lexicon):
                try:
                    tokens = tuple(unit_ids[unit] for unit in spelling)
                except KeyError as error:
                    raise ValueError(f"the word {word!r} is spelled with {error.args[0]!r}, which is not one of the model's units") from None
                homophones[tokens] += 1
                if homophones[tokens] <= MAX_HOMOPHONES:
                    trie.insert([*tokens, silence], label, score)
                spelled.setdefault(tokens, word)
        trie.smear(SmearingMode.MAX)
        return trie, spelled

    def prepare(self, hotwords: Hotwords, grammar: Sequence[str] = ()) -> _Lexicon:
        """Build (or find) the lexicon a search with these hotwords or this grammar needs; while the caller
        holds it, searches reuse it.

        A stream calls this when it is created, so that a hotword list with words the LM lacks (a trie of
        every word: seconds) is built there, and not on a server's inference thread, where it would stall
        every stream in the batch.
        """
        return self._lexicon(self._boosted(hotwords), _phrases(grammar))

    def _boosted(self, hotwords: Hotwords) -> list[tuple[str, float]]:
        return [(phrase, self.config.hotword_boost if boost is None else boost) for phrase, boost in hotwords]

    def _lexicon(self, hotwords: Sequence[tuple[str, float]], grammar: tuple[tuple[str, ...], ...]) -> _Lexicon:
        """The base lexicon, or one that also has the hotwords' words, boosted, or one of the grammar's words
        only; cached per hotword list and per grammar."""
        if hotwords and grammar:
            raise ValueError("a search takes hotwords or a grammar, not both (a grammar already allows nothing else)")
        if not hotwords and not grammar:
            return self._base
        key: tuple[object, ...] = ("grammar", *sorted(set(grammar))) if grammar else ("hotwords", *sorted(hotwords))
        with self._lexicons_lock:
            lexicon = self._lexicons.get(key)
        if lexicon is not None:
            return self._remember(key, lexicon)
        if grammar:
            return self._remember(key, self._build_grammar_lexicon(grammar))
        boosts = _hotword_boosts(hotwords)
        new_words = sorted(set(boosts) - self._known_words)
        if not new_words:
            return self._remember(key, self._shared_trie_lexicon(boosts))
        self._reserve_trie()
        try:  # built unlocked: other streams' searches go on meanwhile
            return self._remember(key, self._hotword_trie_lexicon(boosts, new_words))
        finally:
            with self._lexicons_lock:
                self._tries_building -= 1

    def _remember(self, key: tuple[object, ...], lexicon: _Lexicon) -> _Lexicon:
        """The lexicon cached under ``key`` (``lexicon``, unless another thread cached one first), now the most recent."""
        with self._lexicons_lock:
            lexicon = self._lexicons.setdefault(key, lexicon)
            self._recent_lexicons[key] = lexicon
            self._recent_lexicons.move_to_end(key)
            while len(self._recent_lexicons) > LEXICON_CACHE:
                self._recent_lexicons.popitem(last=False)
        return lexicon

    def _reserve_trie(self) -> None:
        """Count one more hotword trie in the making, or raise TrieLimitReached when ``trie_limit`` are in use
        (held by streams or being built; cached ones that nothing else holds are dropped first)."""
        with self._lexicons_lock:
            if self.trie_limit is not None and self._tries_in_use() >= self.trie_limit:
                for key in [key for key, lexicon in self._recent_lexicons.items() if lexicon.to_base is not None]:
                    del self._recent_lexicons[key]  # a lexicon no stream holds goes with its last reference
                if self._tries_in_use() >= self.trie_limit:
                    # A search that has just ended can still be held in a reference cycle that only the collector
                    # frees: under load, a session opened right after one ended was refused about one time in two.
                    gc.collect()
                if self._tries_in_use() >= self.trie_limit:
                    raise TrieLimitReached(
                        f"{self.trie_limit} hotword lists with words the language model lacks are in use, the most this "
                        "server builds search lexicons for at once; try again when a session using one has ended"
                    )
            self._tries_building += 1

    def _tries_in_use(self) -> int:
        """Hotword tries that exist or are being built (the caller holds the lock)."""
        return self._tries_building + sum(1 for lexicon in self._lexicons.values() if lexicon.to_base is not None)

    def _pronounced(self, new_words: Sequence[str]) -> Lexicon | None:
        """The decoder's pronunciations, extended by CMUdict or espeak-ng with any of ``new_words`` they lack (a character model: None)."""
        missing = [word for word in new_words if self._pronunciations is not None and word not in self._pronunciations]
        return self._pronunciations.extended(pronounce(missing)) if missing else self._pronunciations

    def _shared_trie_lexicon(self, boosts: dict[str, float]) -> _Lexicon:
        """Hotwords the LM knows, boosted where a word ends: the base trie spells them already, so the list costs nothing to prepare."""
        numbered = {self._base.words.get_index(word): boost for word, boost in boosts.items()}
        return _Lexicon(self._base.words, self._base.trie, self._base.spelled, None, numbered)

    def _hotword_trie_lexicon(self, boosts: dict[str, float], new_words: list[str]) -> _Lexicon:
        """The LM's words and hotwords it lacks (``new_words``), in a trie of their own (about 2.7 s and 125 MB for the default
        model's 82,738 words), the hotwords boosted where a word ends.

        The new words' look-ahead is their boosted score (the LM's <unk>, far below any word's, would
        prune them before they end); the LM's words keep their own there, so that a known word's boost
        does the same as in the base trie.
        """
        words = _word_numbering([*self._vocabulary, *new_words])
        to_base = [self._base.words.get_index(words.get_entry(i)) for i in range(words.index_size())]
        numbered = {words.get_index(word): boost for word, boost in boosts.items()}
        scored = [*self._lookahead_scores, *_unigram_scores(new_words, words, _BoostedLM(self._kenlm, to_base, numbered))]
        trie, spelled = self._build_trie(scored, words, self._pronounced(new_words))
        return _Lexicon(words, trie, spelled, to_base, numbered)

    def _build_grammar_lexicon(self, grammar: tuple[tuple[str, ...], ...]) -> _Lexicon:
        """A lexicon of the phrases' words alone, scored by the grammar instead of the LM.

        Every word gets the same look-ahead score: the grammar's score depends on where a word comes,
        which a trie of single words cannot know.
        """
        vocabulary = sorted({word for phrase in grammar for word in phrase})
        words = _word_numbering(vocabulary)
        trie, spelled = self._build_trie([(0.0, word) for word in vocabulary], words, self._pronounced(vocabulary))
        phrases = _Grammar.of([[words.get_index(word) for word in phrase] for phrase in grammar])
        return _Lexicon(words, trie, spelled, grammar=phrases)

    @property
    def nbest(self) -> int:
        return self.config.nbest

    def with_beam(self, config: BeamConfig) -> BeamDecoder:
        """This decoder with other search settings, sharing its LM and lexicon trie (seconds to build), none of its hotword lexicons."""
        twin = copy.copy(self)
        twin.config, twin.score_offsets = config, _prior_offsets(config, len(self.tokenizer))
        twin._start_lexicon_caches()
        return twin

    def _start_lexicon_caches(self) -> None:
        """Empty caches of hotword and grammar lexicons: alive while any stream holds one (weak), and the LEXICON_CACHE latest besides."""
        self._lexicons: weakref.WeakValueDictionary[tuple[object, ...], _Lexicon] = weakref.WeakValueDictionary()
        self._recent_lexicons: OrderedDict[tuple[object, ...], _Lexicon] = OrderedDict()
        self._lexicons_lock = threading.Lock()  # guards both maps and the count below; never held while a lexicon is built
        self._tries_building = 0  # hotword tries being built now

    def search(self, start_step: int = 0, previous_token: int = 0, hotwords: Hotwords = (), grammar: Sequence[str] = ()) -> BeamSearch:
        """An incremental search for one segment; ``start_step``: where its first log-probs are, for word times.

        ``hotwords``: (phrase, boost) pairs; every word of a phrase is favoured by ``boost`` (in the
        LM's log10 units, before ``lm_weight``; None: ``config.hotword_boost``), and words outside
        the LM become possible. ``grammar``: phrases, the only word sequences the search may build
        (any sequence of whole phrases), instead of the LM's. A new hotword list with words the LM
        lacks takes seconds to prepare (see ``prepare``).
        """
        lexicon = self._lexicon(self._boosted(hotwords), _phrases(grammar))
        c = self.config
        limit = self.beam_limit
        beam_size = c.beam_size if limit is None else max(1, min(c.beam_size, limit))
        # log_add: hypotheses that meet add their probabilities (dev WER 22.4%, against 22.6% keeping the larger)
        options = LexiconDecoderOptions(
            beam_size=beam_size, beam_size_token=min(c.tokens_per_step, self._tokens.index_size()), beam_threshold=c.beam_threshold, lm_weight=c.lm_weight,
            word_score=c.word_score, unk_score=float("-inf"), sil_score=0.0, log_add=True, criterion_type=CriterionType.CTC,
        )  # fmt: skip
        silence, unknown = self._tokens.get_index(SILENCE), lexicon.words.get_index(UNK)
        lm = lexicon.lm(self._kenlm)
        decoder = LexiconDecoder(options, lexicon.trie, lm, silence, self.tokenizer.blank_id, unknown, [], False)
        return BeamSearch(self, decoder, lexicon, lm, start_step, beam_size)


class BeamSearch:
    """One segment's beam search, fed log-probs chunk by chunk; the same result as decoding them at once.

    Every ``SETTLE_EVERY`` steps from the segment's start, the history older than ``history_steps`` is
    settled (flashlight's ``prune``): the best path's words up to a word boundary at least that far back
    are kept as they are, and every other hypothesis's history before that boundary is freed. The memory
    of a long utterance's search stays bounded, and freeing it at the end costs milliseconds, not tens of
    them. Chunks are split at those steps, so any chunking settles the same history as decoding at once.
    """

    def __init__(self, beam: BeamDecoder, decoder: LexiconDecoder, lexicon: _Lexicon, lm: LM, start_step: int, beam_size: int) -> None:
        self._beam, self._decoder, self._lexicon, self._words, self.start_step = beam, decoder, lexicon, lexicon.words, start_step
        self.beam_size = beam_size  # the hypotheses it keeps per step
        self._lm = lm  # a Python LM must outlive the C++ decoder that calls it
        self._log_probs: list[torch.Tensor] = []  # (T_i, V) chunks, kept for word times and confidences
        self._best_tokens: list[int] = []  # (T,) each step's likeliest token
        # flashlight's per-step tokens and word labels of the settled history, from the segment's start: index i is
        # the state after i steps, as in a result of the unsettled search. The search's own results start at the
        # last settled state (their index 0, which these lists already hold).
        self._settled_tokens: list[int] = []
        self._settled_labels: list[int] = []
        self._settled_words: list[str] = []
        decoder.decode_begin()

    def accept(self, emissions: Emissions) -> None:
        """Search through the next steps' (T, V) log-probs."""
        chunk = emissions.log_probs.float().cpu().contiguous()
        if not chunk.shape[0]:
            return
        self._log_probs.append(chunk)  # the model's own log-probs, for word times and confidences
        steps = len(self._best_tokens)  # searched before this chunk
        self._best_tokens += emissions.best_tokens
        offsets = self._beam.score_offsets
        searched = chunk if offsets is None else chunk + offsets
        history = self._beam.config.history_steps
        start = 0
        while start < len(searched):
            to_settle = SETTLE_EVERY - (steps + start) % SETTLE_EVERY if history else len(searched)
            piece = searched[start : start + to_settle]
            self._decoder.decode_step(piece.data_ptr(), piece.shape[0], piece.shape[1])
            start += piece.shape[0]
            if history and (steps + start) % SETTLE_EVERY == 0:
                self._settle(history)

    def _settle(self, history: int) -> None:
        """Keep the best path's history up to a word boundary at least ``history`` steps back, and free the rest.

        flashlight walks back from the best hypothesis ``history`` steps, then on to the last step that
        completed a word (at most 100 more); its result spans the unsettled search up to that step, and
        ``prune`` makes that step the search's new start. A result shorter than two states settles nothing.
        """
        settled = self._decoder.get_best_hypothesis(history)
        tokens, labels = list(settled.tokens), list(settled.words)
        if len(tokens) < 2:
            return
        self._decoder.prune(history)
        if self._settled_tokens:  # index 0 is the state settled last time
            tokens, labels = tokens[1:], labels[1:]
        self._settled_tokens += tokens
        self._settled_labels += labels
        self._settled_words += [self._words.get_entry(label) for label in labels if label >= 0]

    @property
    def partial_text(self) -> str:
        """The words of the best hypothesis so far, and at a pause the words said since.

        flashlight's best hypothesis stops at the step after its last completed word, and a word
        completes with the separator that ends its spelling, which the model seldom emits before a
        pause: so the last word before a pause would wait for the final. Once the last ``PAUSE_STEPS``
        steps' likeliest tokens are all blanks or separators, what was said since that word is read
        from them: a character model's letters, or a phone model's words whose phones they spell, up to
        the first run of phones that spells none. Read mid-word too, these guesses would revise the
        partial five times as often (60 clean test files searched step by step: 810 revisions against 153).
        """
        best = self._decoder.get_best_hypothesis()
        labels, tokens = list(best.words), list(best.tokens)
        if self._settled_tokens and labels:
            labels[0] = -1  # the settled state's word is among the settled words
        words = self._settled_words + [self._words.get_entry(index) for index in labels if index >= 0]
        ended = max((i for i, label in enumerate(labels) if label >= 0), default=-1)
        window_start = len(self._settled_tokens) - 1 if self._settled_tokens else 0  # the state the search's results start from
        since = window_start + max(len(tokens) - 1, 0)  # the state its best result ends in, as steps searched
        quiet = (self._beam.tokenizer.blank_id, self._beam.tokenizer.separator_id)
        paused = len(self._best_tokens) - since >= PAUSE_STEPS and all(token in quiet for token in self._best_tokens[-PAUSE_STEPS:])
        return " ".join(words + self._words_in_progress(tokens[ended + 1 :] + self._best_tokens[since:]) if paused else words)

    def _words_in_progress(self, tokens: list[int]) -> list[str]:
        """The words a run of per-step tokens says, by CTC's rule (repeats merged, blanks dropped)."""
        tokenizer = self._beam.tokenizer
        said = [token for i, token in enumerate(tokens) if token != tokenizer.blank_id and (i == 0 or token != tokens[i - 1])]
        if tokenizer.units == CHARACTERS:
            return tokenizer.decode(said).split()
        words = []
        for is_separator, run in itertools.groupby(said, key=lambda token: token == tokenizer.separator_id):
            if not is_separator:
                word = self._lexicon.spelled.get(tuple(run))
                if word is None:
                    break
                words.append(word)
        return words

    def finish(self, nbest: int = 1) -> list[Transcript]:
        """End of the segment: up to ``nbest`` best transcripts, best first (at least one, maybe empty)."""
        self._close_last_word()
        self._decoder.decode_end()
        results = self._decoder.get_all_final_hypothesis()[:nbest]
        log_probs = torch.cat(self._log_probs) if self._log_probs else torch.zeros(0, len(self._beam.tokenizer))
        # numpy for the per-character lookups: a torch index costs ~10 us each, 2.5 ms for a 20 s utterance
        return [
            self._transcript(self._after_settled(list(r.tokens), self._settled_tokens), self._after_settled(list(r.words), self._settled_labels), r.score, log_probs.numpy(), self._best_tokens)
            for r in results
        ] or [Transcript("")]  # fmt: skip

    @staticmethod
    def _after_settled(window: list[int], settled: list[int]) -> list[int]:
        """A result of the search since it was last settled, after the settled history (which holds its index 0)."""
        return settled + window[1:] if settled else window

    def _close_last_word(self) -> None:
        """Search one more step in which only a word separator or blank can occur.

        The lexicon's spellings end in the separator, and at the end flashlight keeps only the
        hypotheses that stop on a word boundary, when any does. The model was trained on labels
        without a trailing space, so it seldom ends an utterance with one: without this step the
        last word loses to any hypothesis that did reach a boundary, such as "turn on the ad"
        for "turn on the radio".
        """
        closing = torch.full((1, len(self._beam.tokenizer)), CLOSED)  # (1, V)
        closing[0, [self._beam.tokenizer.separator_id, self._beam.tokenizer.blank_id]] = 0.0
        self._decoder.decode_step(closing.data_ptr(), 1, closing.shape[1])

    def _transcript(self, raw: list[int], labels: list[int], score: float, log_probs: np.ndarray, best: list[int]) -> Transcript:
        """flashlight's per-step tokens and word labels -> words with times (from ``start_step``) and confidences.

        A word's label comes at the step of the separator that ends its spelling; its units are the
        tokens since the previous word (repeats collapsed, blanks and separators dropped).
        """
        blank, separator, seconds = self._beam.tokenizer.blank_id, self._beam.tokenizer.separator_id, self._beam.step_seconds
        words: list[Word] = []
        units: list[tuple[int, int]] = []  # (token, its first step) of the word in progress
        for index, (token, label) in enumerate(zip(raw, labels)):
            if token not in (blank, separator) and (index == 0 or token != raw[index - 1]):
                units.append((token, index - 1))  # flashlight's sequence starts with one extra entry
            if label >= 0 and units:
                conf = min(_peak(log_probs, t, s) for t, s in units)
                first, last = units[0][1], _run_end(best, *units[-1])
                start, end = (self.start_step + first) * seconds, (self.start_step + last + 1) * seconds
                words.append(Word(self._words.get_entry(label), start, end, conf))
                units = []
        return Transcript(" ".join(w.word for w in words), tuple(words), score)


def _prior_offsets(config: BeamConfig, vocab_size: int) -> torch.Tensor | None:
    """(V,) what the search adds to every step's log-probs: ``-prior_weight * log(token_priors)``; None without priors.

    Dividing posteriors by a power of their priors moves them toward likelihoods: blank, which holds
    about half of all steps, loses the most, so the search drops fewer of the words an unfamiliar
    voice or room makes the model unsure of (the default model's card measures it).
    """
    if not config.prior_weight:
        return None
    if len(config.token_priors) != vocab_size:
        raise ValueError(f"token_priors has {len(config.token_priors)} entries, but the model has {vocab_size} tokens")
    return -config.prior_weight * torch.tensor(config.token_priors).log()


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


def _hotword_boosts(hotwords: Sequence[tuple[str, float]]) -> dict[str, float]:
    """Each word of the hotword phrases -> its boost (the largest of its phrases'); ValueError names a word that cannot be pronounced."""
    boosts: dict[str, float] = {}
    for phrase, boost in hotwords:
        for word in normalize_text(phrase).split():
            boosts[check_word(word)] = max(boost, boosts.get(word, boost))
    return boosts


def _phrases(grammar: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """A grammar's phrases as words (checked: ValueError names one that cannot be pronounced), duplicates and empty ones dropped."""
    phrases = (tuple(check_word(word) for word in normalize_text(check_hotword(phrase, "grammar phrase")).split()) for phrase in grammar)
    return tuple(dict.fromkeys(phrase for phrase in phrases if phrase))


def _unigram_scores(vocabulary: Sequence[str], words: Dictionary, lm: LM) -> list[tuple[float, str]]:
    """(LM score at the start of an utterance, word) for each word: the trie's look-ahead scores."""
    start = lm.start(False)
    return [(lm.score(start, words.get_index(word))[1], word) for word in vocabulary]


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
