"""Greedy CTC decoding: repeats across chunk boundaries, word times and confidences."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from asr.decoding import GreedyCTCDecoder, GreedyState
from asr.tokens import Tokenizer

TOKENIZER = Tokenizer()
STEP = 0.03
DECODER = GreedyCTCDecoder(TOKENIZER, STEP)


def one_hot_log_probs(path: str, peak: float = 0.9) -> torch.Tensor:
    """(T, V) log-probs whose best token at step t is path[t] ('_' = blank)."""
    ids = [0 if ch == "_" else TOKENIZER.encode(ch)[0] for ch in path]
    probs = torch.full((len(ids), len(TOKENIZER)), (1 - peak) / (len(TOKENIZER) - 1))
    probs[torch.arange(len(ids)), ids] = peak
    return probs.log()


def decode_in_chunks(log_probs: torch.Tensor, sizes: list[int]) -> GreedyState:
    state, start = GreedyState(), 0
    for size in [*sizes, log_probs.shape[0]]:
        DECODER.advance(state, log_probs[start : start + size])
        start += size
    return state


def test_repeat_collapse_and_blank_separation() -> None:
    state = decode_in_chunks(one_hot_log_probs("_hh_e_ll_l_oo__"), [])
    assert DECODER.text(state) == "hello"


def test_repeat_split_across_a_chunk_boundary_is_one_token() -> None:
    log_probs = one_hot_log_probs("__aa__bb")
    for boundary in range(1, 8):
        state = decode_in_chunks(log_probs, [boundary])
        assert DECODER.text(state) == "ab", boundary


@settings(max_examples=80, deadline=None)
@given(
    path=st.text(alphabet="_ ab'", min_size=1, max_size=60),
    sizes=st.lists(st.integers(min_value=0, max_value=10), max_size=12),
)
def test_any_chunking_gives_the_one_pass_transcript(path: str, sizes: list[int]) -> None:
    log_probs = one_hot_log_probs(path)
    whole = DECODER.transcript(decode_in_chunks(log_probs, []))
    chunked = DECODER.transcript(decode_in_chunks(log_probs, sizes))
    assert chunked == whole


def test_word_times_come_from_character_spikes() -> None:
    #            0123456789012345
    path = "__hi___ __yes__"
    transcript = DECODER.transcript(decode_in_chunks(one_hot_log_probs(path), [4]))
    assert [w.word for w in transcript.words] == ["hi", "yes"]
    hi, yes = transcript.words
    assert (hi.start, hi.end) == (2 * STEP, 4 * STEP)
    assert (round(yes.start, 6), round(yes.end, 6)) == (round(10 * STEP, 6), round(13 * STEP, 6))


def test_confidence_is_the_least_certain_character() -> None:
    confident = one_hot_log_probs("_ok_", peak=0.95)
    unsure = one_hot_log_probs("_ok_", peak=0.95)
    unsure[2] = one_hot_log_probs("k", peak=0.4)[0]
    (sure_word,) = DECODER.transcript(decode_in_chunks(confident, [])).words
    (unsure_word,) = DECODER.transcript(decode_in_chunks(unsure, [])).words
    assert abs(sure_word.conf - 0.95) < 1e-5
    assert abs(unsure_word.conf - 0.4) < 1e-5


def test_spaces_at_edges_and_runs_do_not_make_empty_words() -> None:
    state = decode_in_chunks(one_hot_log_probs(" _a_ _ _b "), [])
    transcript = DECODER.transcript(state)
    assert transcript.text == DECODER.text(state) == "a b"
    assert [w.word for w in transcript.words] == ["a", "b"]
