"""Greedy CTC decoding: repeats across chunk boundaries, word times and confidences."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import pytest

from asr.decoding import Emissions, GreedyDecoder, GreedySearch, Transcript
from asr.tokens import Tokenizer

TOKENIZER = Tokenizer()
STEP = 0.03
DECODER = GreedyDecoder(TOKENIZER, STEP)


def one_hot_log_probs(path: str, peak: float = 0.9) -> torch.Tensor:
    """(T, V) log-probs whose best token at step t is path[t] ('_' = blank)."""
    ids = [0 if ch == "_" else TOKENIZER.encode(ch)[0] for ch in path]
    probs = torch.full((len(ids), len(TOKENIZER)), (1 - peak) / (len(TOKENIZER) - 1))
    probs[torch.arange(len(ids)), ids] = peak
    return probs.log()


def emissions(log_probs: torch.Tensor) -> Emissions:
    """(T, V) log-probs with their best tokens and posteriors, as the engine hands them over."""
    return Emissions.of(log_probs)


def decode_in_chunks(log_probs: torch.Tensor, sizes: list[int]) -> GreedySearch:
    search, start = DECODER.search(), 0
    for size in [*sizes, log_probs.shape[0]]:
        search.accept(emissions(log_probs[start : start + size]))
        start += size
    return search


def transcript(search: GreedySearch) -> Transcript:
    (best,) = search.finish()
    return best


def test_repeat_collapse_and_blank_separation() -> None:
    assert decode_in_chunks(one_hot_log_probs("_hh_e_ll_l_oo__"), []).partial_text == "hello"


def test_repeat_split_across_a_chunk_boundary_is_one_token() -> None:
    log_probs = one_hot_log_probs("__aa__bb")
    for boundary in range(1, 8):
        assert decode_in_chunks(log_probs, [boundary]).partial_text == "ab", boundary


@settings(max_examples=80, deadline=None)
@given(
    path=st.text(alphabet="_ ab'", min_size=1, max_size=60),
    sizes=st.lists(st.integers(min_value=0, max_value=10), max_size=12),
)
def test_any_chunking_gives_the_one_pass_transcript(path: str, sizes: list[int]) -> None:
    log_probs = one_hot_log_probs(path)
    assert transcript(decode_in_chunks(log_probs, sizes)) == transcript(decode_in_chunks(log_probs, []))


def test_word_times_come_from_character_spikes() -> None:
    #            0123456789012345
    path = "__hi___ __yes__"
    result = transcript(decode_in_chunks(one_hot_log_probs(path), [4]))
    assert [w.word for w in result.words] == ["hi", "yes"]
    hi, yes = result.words
    assert (hi.start, hi.end) == (2 * STEP, 4 * STEP)
    assert (round(yes.start, 6), round(yes.end, 6)) == (round(10 * STEP, 6), round(13 * STEP, 6))


def test_confidence_is_the_least_certain_character() -> None:
    confident = one_hot_log_probs("_ok_", peak=0.95)
    unsure = one_hot_log_probs("_ok_", peak=0.95)
    unsure[2] = one_hot_log_probs("k", peak=0.4)[0]
    (sure_word,) = transcript(decode_in_chunks(confident, [])).words
    (unsure_word,) = transcript(decode_in_chunks(unsure, [])).words
    assert abs(sure_word.conf - 0.95) < 1e-5
    assert abs(unsure_word.conf - 0.4) < 1e-5


def test_spaces_at_edges_and_runs_do_not_make_empty_words() -> None:
    search = decode_in_chunks(one_hot_log_probs(" _a_ _ _b "), [])
    result = transcript(search)
    assert result.text == search.partial_text == "a b"
    assert [w.word for w in result.words] == ["a", "b"]


def test_a_search_starts_at_its_segment_and_skips_a_token_held_from_the_one_before() -> None:
    search = DECODER.search(start_step=100, previous_token=TOKENIZER.encode("a")[0])
    search.accept(emissions(one_hot_log_probs("aa_b")))
    (word,) = transcript(search).words
    assert word.word == "b" and round(word.start / STEP) == 103


def test_greedy_decoding_refuses_a_phone_model() -> None:
    with pytest.raises(ValueError, match="character model"):
        GreedyDecoder(Tokenizer.for_units("phones"), STEP)
