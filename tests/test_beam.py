"""The lexicon search with a word LM: it fixes what the best path gets wrong, over letters or phones,
with word times, confidences, hotwords and n-best lists, and streams exactly as it decodes offline."""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asr.arpa_pack import pack_arpa
from asr.beam import PAUSE_STEPS, SETTLE_EVERY, BeamDecoder, TrieLimitReached, _Grammar, arpa_vocabulary
from asr.cli import hotword_argument, main
from asr.config import BeamConfig
from asr.decoding import GreedyDecoder, Hotwords, Transcript
from asr.formats import FileTranscript
from asr.lexicon import Lexicon, pronounce
from asr.lm import estimate, write_arpa
from asr.segmenter import Segmenter
from asr.tokens import Tokenizer
from tests.test_decoding import emissions, one_hot_log_probs

pytest.importorskip("flashlight.lib.text.decoder", reason="flashlight-text is not installed")

TOKENIZER = Tokenizer()
PHONES = Tokenizer.for_units("phones")
STEP = 0.03
SENTENCES = ["the cat sat on the mat", "the dog sat on the log", "a cat ran", "the mat is red"]
LEXICON = Lexicon({
    "the": [("DH", "AH"), ("DH", "IY")], "cat": [("K", "AE", "T")], "sat": [("S", "AE", "T")], "on": [("AA", "N")],
    "mat": [("M", "AE", "T")], "dog": [("D", "AO", "G")], "log": [("L", "AO", "G")], "a": [("AH",)], "ran": [("R", "AE", "N")],
    "is": [("IH", "Z")], "red": [("R", "EH", "D")],
})  # fmt: skip


@pytest.fixture(scope="module")
def lm_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lm") / "lm.arpa"
    write_arpa(estimate(SENTENCES, 3), path)
    return path


@pytest.fixture(scope="module")
def small_beam(lm_path: Path) -> BeamDecoder:
    return BeamDecoder(TOKENIZER, STEP, lm_path)


@pytest.fixture(scope="module")
def phone_beam(lm_path: Path) -> BeamDecoder:
    return BeamDecoder(PHONES, STEP, lm_path, lexicon=LEXICON)


def decode(beam: BeamDecoder, log_probs: torch.Tensor, hotwords: Hotwords = ()) -> list[Transcript]:
    """Offline decoding: one search fed everything at once."""
    search = beam.search(hotwords=hotwords)
    search.accept(emissions(log_probs))
    return search.finish(beam.nbest)


def blurred(path: str, swaps: dict[int, str]) -> torch.Tensor:
    """One-hot-ish log-probs of ``path`` where step i's best token is ``swaps[i]`` and the true one a close second."""
    log_probs = one_hot_log_probs(path, peak=0.9).exp()
    for step, wrong in swaps.items():
        true = log_probs[step].argmax()
        log_probs[step, true] = 0.35
        log_probs[step, TOKENIZER.encode(wrong)[0]] = 0.55
    return log_probs.log()


def phone_log_probs(steps: list[str], swaps: dict[int, str] = {}, peak: float = 0.9) -> torch.Tensor:  # noqa: B006 - read only
    """(T, V) log-probs over phones whose best token at step t is ``steps[t]`` ('_' blank), or ``swaps[t]`` with the true one second."""
    probs = torch.full((len(steps), len(PHONES)), (1 - peak) / (len(PHONES) - 1))
    for step, phone in enumerate(steps):
        true = 0 if phone == "_" else PHONES.encode(phone)[0]
        if step in swaps:
            probs[step, true], probs[step, PHONES.encode(swaps[step])[0]] = 0.35, 0.55
        else:
            probs[step, true] = peak
    return probs.log()


CAT_SAT = "_ DH _ AH _ | _ K _ AE _ T _ | _ S S _ AE _ T _".split()  # "the cat sat", with "cat" heard as "K EH T" below


def test_the_vocabulary_comes_from_the_unigrams(lm_path: Path, tmp_path: Path) -> None:
    assert sorted(arpa_vocabulary(lm_path)) == sorted({word for sentence in SENTENCES for word in sentence.split()})
    (tmp_path / "not.arpa").write_text("hello\n")
    with pytest.raises(ValueError, match="not.arpa: no unigrams"):
        arpa_vocabulary(tmp_path / "not.arpa")


def test_loading_the_lm_leaves_stderr_quiet_and_working(lm_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    BeamDecoder(TOKENIZER, STEP, lm_path)  # KenLM itself would print a progress bar and a tip
    print("still here", file=sys.stderr)
    assert capfd.readouterr().err == "still here\n"


def test_beam_search_with_the_lm_fixes_a_letter_greedy_gets_wrong(lm_path: Path) -> None:
    #        0         1         2         3
    #        012345678901234567890123456789012
    path = "_tt_hh_ee_ _cc_aa_tt_ _ss_aa_ttt_"
    log_probs = blurred(path, {15: "u", 16: "u"})  # "cut" is what the audio seems to say
    greedy = GreedyDecoder(TOKENIZER, STEP).search()
    greedy.accept(emissions(log_probs))
    assert greedy.partial_text == "the cut sat"

    (best,) = decode(BeamDecoder(TOKENIZER, STEP, lm_path), log_probs)
    assert best.text == "the cat sat"
    cat = best.words[1]
    assert cat.word == "cat" and cat.start == pytest.approx(12 * STEP) and cat.end == pytest.approx(20 * STEP)  # steps 12-19
    assert 0.3 < cat.conf < 0.4  # its least certain letter, the "a" that lost to "u"
    assert best.words[0].conf == pytest.approx(0.9, abs=1e-6)
    sat = best.words[2]
    assert (sat.start, sat.end) == (pytest.approx(23 * STEP), pytest.approx(32 * STEP))  # to the end of the 3-step "t"


def test_the_lexicon_search_over_phones_spells_words_with_their_pronunciations(phone_beam: BeamDecoder) -> None:
    log_probs = phone_log_probs(CAT_SAT, {9: "EH"})  # the best path says "K EH T", which is no word
    (best,) = decode(phone_beam, log_probs)
    assert best.text == "the cat sat"
    the, cat, sat = best.words
    assert (cat.start, cat.end) == (pytest.approx(7 * STEP), pytest.approx(12 * STEP))  # K at step 7 to T at step 11
    assert 0.3 < cat.conf < 0.4 and the.conf == pytest.approx(0.9, abs=1e-6)
    assert (sat.start, sat.end) == (pytest.approx(15 * STEP), pytest.approx(21 * STEP))  # the 2-step S starts it


def test_a_packed_lm_searches_as_its_arpa_file_does(lm_path: Path, phone_beam: BeamDecoder, tmp_path: Path) -> None:
    pack_arpa(lm_path, tmp_path / "lm.pack", decimals=6)
    packed = BeamDecoder(PHONES, STEP, tmp_path / "lm.pack", lexicon=LEXICON)
    assert arpa_vocabulary(tmp_path / "lm.pack") == arpa_vocabulary(lm_path)
    for swaps in ({}, {9: "EH"}, {2: "IY", 9: "EH", 16: "Z"}):
        log_probs = phone_log_probs(CAT_SAT, swaps)
        assert decode(packed, log_probs) == decode(phone_beam, log_probs)


def partials_step_by_step(beam: BeamDecoder, log_probs: torch.Tensor) -> list[str]:
    search = beam.search()
    return [search.accept(emissions(log_probs[step : step + 1])) or search.partial_text for step in range(len(log_probs))]


def test_partials_show_the_words_said_since_the_last_complete_one_at_a_pause(phone_beam: BeamDecoder) -> None:
    partials = partials_step_by_step(phone_beam, phone_log_probs(CAT_SAT + ["_"] * PAUSE_STEPS, {9: "EH"}))
    assert partials[3] == ""  # DH AH said, but the word is not complete and the speaker has not paused
    assert partials[14] == "the cat"  # completed by the search, though the best path says "K EH T"
    said_sat = 20  # its T; no separator follows the last word
    assert partials[said_sat + PAUSE_STEPS - 1] == "the cat" and partials[said_sat + PAUSE_STEPS] == partials[-1] == "the cat sat"


def test_partials_of_a_character_model_show_the_letters_so_far_at_a_pause(small_beam: BeamDecoder) -> None:
    partials = partials_step_by_step(small_beam, one_hot_log_probs("_tt_hh_ee_ _cc_aa_tt_ _ss_aa_t" + "_" * PAUSE_STEPS))
    assert (partials[15], partials[28], partials[-1]) == ("the", "the cat", "the cat sat")


def test_a_phone_model_needs_a_lexicon(lm_path: Path) -> None:
    with pytest.raises(ValueError, match="lexicon"):
        BeamDecoder(PHONES, STEP, lm_path)


def test_an_lm_word_a_character_model_cannot_spell_is_named(tmp_path: Path) -> None:
    path = tmp_path / "lm.arpa"
    write_arpa(estimate(["the café is open", "the cat is out"], 2), path)
    with pytest.raises(ValueError, match="the word 'café' is spelled with 'é', which is not one of the model's units"):
        BeamDecoder(TOKENIZER, STEP, path)


@pytest.mark.parametrize(
    "setting", [{"beam_size": 0}, {"tokens_per_step": 0}, {"nbest": 0}, {"beam_threshold": 0.0}, {"prior_weight": -1.0}, {"prior_weight": float("nan")},
                {"prior_weight": 0.5}, {"token_priors": (0.5, 0.0)}]
)
def test_impossible_beam_settings_are_refused_by_name(setting: dict) -> None:
    (name,) = setting
    with pytest.raises(ValueError, match=name):
        BeamConfig(**setting)


def test_a_missing_language_model_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="language model not found: .*nope.arpa"):
        BeamDecoder(TOKENIZER, STEP, tmp_path / "nope.arpa")


def faint_sat(peak: float = 0.35) -> torch.Tensor:
    """"the cat sat", where each phone of "sat" and its boundary loses to blank (0.6 against ``peak``)."""
    steps = "_ DH _ AH _ | _ K _ AE _ T _ | _ S _ AE _ T _ |".split()
    probs = phone_log_probs(steps).exp()
    for step in range(14, len(steps)):
        if steps[step] != "_":
            probs[step] = (1 - 0.6 - peak) / (len(PHONES) - 2)
            probs[step, PHONES.blank_id], probs[step, PHONES.encode(steps[step])[0]] = 0.6, peak
    return probs.log()


BLANK_HEAVY_PRIORS = BeamConfig(prior_weight=1.0, token_priors=(0.6, *[0.4 / (len(PHONES) - 1)] * (len(PHONES) - 1)))


def test_token_priors_keep_a_faint_word_the_search_would_drop(lm_path: Path) -> None:
    assert decode(BeamDecoder(PHONES, STEP, lm_path, lexicon=LEXICON), faint_sat())[0].text == "the cat"
    (best,) = decode(BeamDecoder(PHONES, STEP, lm_path, BLANK_HEAVY_PRIORS, lexicon=LEXICON), faint_sat())
    assert best.text == "the cat sat"
    assert best.words[2].conf == pytest.approx(0.35, abs=1e-6)  # confidences stay the model's own posteriors


def test_a_decoder_given_other_settings_searches_as_one_built_with_them(phone_beam: BeamDecoder, lm_path: Path) -> None:
    rebeamed = phone_beam.with_beam(BLANK_HEAVY_PRIORS)
    built = BeamDecoder(PHONES, STEP, lm_path, BLANK_HEAVY_PRIORS, lexicon=LEXICON)
    assert decode(rebeamed, faint_sat()) == decode(built, faint_sat())
    assert decode(rebeamed, faint_sat())[0].text == "the cat sat"
    assert decode(phone_beam, faint_sat())[0].text == "the cat"  # the original keeps its own settings


def test_token_priors_must_cover_every_token(lm_path: Path) -> None:
    with pytest.raises(ValueError, match="token_priors has 2 entries, but the model has 41 tokens"):
        BeamDecoder(PHONES, STEP, lm_path, BeamConfig(prior_weight=1.0, token_priors=(0.5, 0.5)), lexicon=LEXICON)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(1, 12), min_size=1, max_size=8))
def test_streaming_search_with_token_priors_equals_offline_for_any_chunking(lm_path: Path, sizes: list[int]) -> None:
    beam = BeamDecoder(PHONES, STEP, lm_path, BLANK_HEAVY_PRIORS, lexicon=LEXICON)
    streamed, _ = stream_in_chunks(beam, faint_sat(), sizes)
    assert streamed == decode(beam, faint_sat())[0]


def test_an_unknown_word_is_recognized_once_it_is_a_hotword(phone_beam: BeamDecoder) -> None:
    """"zorblax" is in neither the LM nor the lexicon: espeak-ng pronounces it, and its boost lets it win."""
    (pronunciation,) = pronounce(["zorblax"])["zorblax"]
    steps = ["_", "DH", "_", "AH", "_", "|", "_"] + [p for phone in pronunciation for p in (phone, "_")] + ["|", "_", "R", "_", "AE", "_", "N", "_"]
    log_probs = phone_log_probs(steps)
    plain = decode(phone_beam, log_probs)[0].text
    boosted = decode(phone_beam, log_probs, [("Zorblax", None)])[0].text
    assert "zorblax" not in plain.split()
    assert boosted == "the zorblax ran"
    assert decode(phone_beam, log_probs, [("zorblax", None)])[0].text == boosted  # the same list: the cached lexicon


def test_a_known_word_given_as_a_hotword_wins_where_it_is_heard_and_shares_the_search_lexicon(phone_beam: BeamDecoder) -> None:
    """"log" is heard (L 0.55 against D 0.35), but the LM prefers "the dog sat": boosted, "log" wins; "mat", unheard, stays out."""
    log_probs = phone_log_probs("_ DH _ AH _ | _ D _ AO _ G _ | _ S _ AE _ T _".split(), {7: "L"})
    assert decode(phone_beam, log_probs)[0].text == "the dog sat"
    assert decode(phone_beam, log_probs, [("log", None)])[0].text == "the log sat"
    assert decode(phone_beam, log_probs, [("mat", None)])[0].text == "the dog sat"
    assert phone_beam.prepare([("log", None)]).trie is phone_beam.prepare(()).trie  # words the LM knows: no trie to build


def test_hotword_lists_with_words_the_lm_lacks_are_held_to_the_trie_limit(lm_path: Path) -> None:
    beam = BeamDecoder(PHONES, STEP, lm_path, lexicon=LEXICON)
    beam.trie_limit = 1
    held = beam.prepare([("zorblax", None)])  # a stream holds it
    assert held.trie is not beam.prepare(()).trie
    with pytest.raises(TrieLimitReached, match="1 hotword lists with words the language model lacks are in use"):
        beam.prepare([("quintana", None)])
    assert beam.prepare([("log", None)]).trie is beam.prepare(()).trie  # words the LM knows need no trie of their own
    assert beam.prepare([("zorblax", None)]) is held  # the same list: the same lexicon
    del held
    assert beam.prepare([("quintana", None)]).trie is not beam.prepare(()).trie  # the cached one nobody holds made way


def test_a_grammar_recognizes_only_sequences_of_its_phrases(phone_beam: BeamDecoder) -> None:
    dog_sat = "_ DH _ AH _ | _ D _ AO _ G _ | _ S S _ AE _ T _".split()
    log_probs = phone_log_probs(dog_sat, {7: "K", 9: "AE", 11: "T"})  # "the dog sat", heard a little more as "the cat sat"
    assert decode(phone_beam, log_probs)[0].text == "the cat sat"
    search = phone_beam.search(grammar=["the dog sat", "the mat is red"])
    search.accept(emissions(log_probs))
    assert search.finish()[0].text == "the dog sat"  # "cat" is no word of the grammar
    search = phone_beam.search(grammar=["The cat", "sat"])  # normalized like any text; phrases in any sequence
    search.accept(emissions(phone_log_probs(CAT_SAT)))
    assert search.finish()[0].text == "the cat sat"


def test_a_grammar_may_hold_words_the_lm_lacks(phone_beam: BeamDecoder) -> None:
    (pronunciation,) = pronounce(["zorblax"])["zorblax"]
    steps = ["_", "DH", "_", "AH", "_", "|", "_"] + [p for phone in pronunciation for p in (phone, "_")] + ["|", "_", "R", "_", "AE", "_", "N", "_"]
    log_probs = phone_log_probs(steps)
    search = phone_beam.search(grammar=["the zorblax ran", "the cat sat"])
    search.accept(emissions(log_probs[:10]))
    search.accept(emissions(log_probs[10:]))
    assert search.finish()[0].text == "the zorblax ran"


def test_a_grammar_state_follows_every_phrase_a_word_may_continue() -> None:
    """Phrases "a b", "b c" and "a": "a b c" is "a" then "b c", though "a b" is a phrase too."""
    grammar = _Grammar.of([[1, 2], [2, 3], [1]])
    state = grammar.after(frozenset({()}), 1)
    assert state == {(1,)}
    state = grammar.after(state, 2)
    assert state == {(1, 2), (2,)}
    state = grammar.after(state, 3)
    assert state == {(2, 3)} and not state.isdisjoint(grammar.phrases)
    assert grammar.after(state, 3) == frozenset()  # "c" starts no phrase: off the grammar


@pytest.mark.parametrize("grammar, hotwords, message", [(["R2D2"], (), "grammar phrase 'R2D2'"), (["cat"], [("dog", None)], "not both")])
def test_a_bad_grammar_is_refused_by_name(phone_beam: BeamDecoder, grammar: list[str], hotwords: Hotwords, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Segmenter(phone_beam, None, STEP, hotwords, grammar=grammar)
    with pytest.raises(ValueError, match="needs the lexicon search"):
        GreedyDecoder(TOKENIZER, STEP).prepare((), ["cat"])


@pytest.mark.parametrize("value, parsed", [("brannigan", ("brannigan", None)), ("new york:4.5", ("new york", 4.5)), (" new  york :-2", ("new york", -2.0))])
def test_hotword_options_parse_a_phrase_and_an_optional_boost(value: str, parsed: tuple) -> None:
    assert hotword_argument(value) == parsed


@pytest.mark.parametrize("value, message", [("R2D2", "letters only"), ("a:b:2", "letters only"), ("cat:loud", "must be a number"), ("cat:nan", "must be a number"), ("cat:inf", "must be a number")])
def test_hotword_options_that_could_not_work_are_refused_when_parsed(value: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        hotword_argument(value)


def test_an_nbest_list_on_request(lm_path: Path) -> None:
    log_probs = blurred("_tt_hh_ee_ _cc_aa_tt_ _ss_aa_ttt_", {15: "u", 16: "u"})
    one = decode(BeamDecoder(TOKENIZER, STEP, lm_path), log_probs)
    three = decode(BeamDecoder(TOKENIZER, STEP, lm_path, BeamConfig(nbest=3, beam_threshold=50)), log_probs)  # keep the unlikely ones too
    assert len(one) == 1 and len(three) == 3 and three[0] == one[0]
    assert len({t.text for t in three}) == 3
    record = FileTranscript("a.wav", three[0], 1.0, tuple(three[1:])).to_dict()
    assert [a["text"] for a in record["alternatives"]] == [t.text for t in three[1:]]


def stream_in_chunks(beam: BeamDecoder, log_probs: torch.Tensor, sizes: list[int]) -> tuple[Transcript, list[str]]:
    search, start, partials = beam.search(), 0, []
    for size in itertools.cycle(sizes):
        if start >= len(log_probs):
            break
        search.accept(emissions(log_probs[start : start + size]))
        partials.append(search.partial_text)
        start += size
    return search.finish()[0], partials


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(1, 12), min_size=1, max_size=8))
def test_streaming_beam_search_equals_offline_for_any_chunking(small_beam: BeamDecoder, sizes: list[int]) -> None:
    log_probs = blurred("_tt_hh_ee_ _dd_oo_gg_ _ss_aa_tt_ _oo_nn_ _tt_hh_ee_ _ll_oo_gg_", {15: "a", 28: "e"})
    streamed, partials = stream_in_chunks(small_beam, log_probs, sizes)
    assert streamed == decode(small_beam, log_probs)[0]
    assert partials[-1].split() and all(len(p.split()) <= len(partials[-1].split()) + 1 for p in partials)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(1, 12), min_size=1, max_size=8))
def test_streaming_phone_lexicon_search_equals_offline_for_any_chunking(phone_beam: BeamDecoder, sizes: list[int]) -> None:
    steps = CAT_SAT + "_ | _ AA _ N _ | DH _ AH _ | _ M _ AE _ T _".split()  # "the cat sat on the mat"
    log_probs = phone_log_probs(steps, {9: "EH", 30: "EH"})
    streamed, partials = stream_in_chunks(phone_beam, log_probs, sizes)
    offline = decode(phone_beam, log_probs)[0]
    assert streamed == offline and offline.text == "the cat sat on the mat"
    assert all(later.startswith(earlier) for earlier, later in zip(partials, partials[1:]) if earlier)


SPOKEN_AT_LENGTH = (CAT_SAT + "_ | _ AA _ N _ | DH _ AH _ | _ M _ AE _ T _ |".split()) * 5 + ["_"] * PAUSE_STEPS  # "the cat sat on the mat" five times, then a pause
SETTLED_HISTORY = 12  # steps; words end at most 9 steps apart in SPOKEN_AT_LENGTH


@pytest.fixture(scope="module")
def settling_beam(lm_path: Path) -> BeamDecoder:
    return BeamDecoder(PHONES, STEP, lm_path, BeamConfig(history_steps=SETTLED_HISTORY), lexicon=LEXICON)


def spoken_at_length() -> torch.Tensor:
    """(220, V) phone log-probs of SPOKEN_AT_LENGTH, where every "cat" sounds like "K EH T"."""
    return phone_log_probs(SPOKEN_AT_LENGTH, {step: "EH" for step, phone in enumerate(SPOKEN_AT_LENGTH) if phone == "AE" and SPOKEN_AT_LENGTH[step - 2] == "K"})


def test_a_long_search_settles_its_old_history_and_finds_what_keeping_it_finds(settling_beam: BeamDecoder, lm_path: Path) -> None:
    log_probs = spoken_at_length()
    settling = settling_beam.search()
    settling.accept(emissions(log_probs))
    keeping = BeamDecoder(PHONES, STEP, lm_path, BeamConfig(history_steps=0), lexicon=LEXICON).search()
    keeping.accept(emissions(log_probs))
    # its best result runs from the search's start (to the step after the last word): all 220 steps, or the last few dozen
    assert len(keeping._decoder.get_best_hypothesis().tokens) > len(log_probs) - 9
    assert len(settling._decoder.get_best_hypothesis().tokens) <= SETTLED_HISTORY + 9 + SETTLE_EVERY + 1
    assert settling.partial_text == keeping.partial_text == " ".join(["the cat sat on the mat"] * 5)  # the last word in progress too
    (settled,), (kept,) = settling.finish(), keeping.finish()
    assert settled.text == kept.text and settled.words == kept.words  # the same words, times and confidences


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(1, 25), min_size=1, max_size=8))
def test_a_settling_search_streams_exactly_as_it_decodes_offline(settling_beam: BeamDecoder, sizes: list[int]) -> None:
    log_probs = spoken_at_length()
    streamed, partials = stream_in_chunks(settling_beam, log_probs, sizes)
    assert streamed == decode(settling_beam, log_probs)[0]  # the settled history, its words' times and the score too
    assert all(later.startswith(earlier) for earlier, later in zip(partials, partials[1:]) if earlier)


def test_an_nbest_list_varies_only_the_words_not_yet_settled(lm_path: Path) -> None:
    def nbest(history_steps: int) -> list[Transcript]:
        config = BeamConfig(history_steps=history_steps, nbest=3, beam_threshold=50)  # a wide threshold keeps unlikely alternatives
        return decode(BeamDecoder(PHONES, STEP, lm_path, config, lexicon=LEXICON), spoken_at_length())

    settling, keeping = nbest(SETTLED_HISTORY), nbest(0)
    assert settling[0].text == keeping[0].text == " ".join(["the cat sat on the mat"] * 5)
    assert len(settling) == len(keeping) == 3
    early = slice(0, 20)  # of 30 words: those that end more than 2 s before the end
    assert any(other.text.split()[early] != keeping[0].text.split()[early] for other in keeping[1:])  # "a cat" for "the cat"
    assert all(other.words[early] == settling[0].words[early] for other in settling[1:])


def test_eval_puts_the_lexicon_search_beside_pocketsphinx(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The default model with an LM that knows the sentences, on espeak-ng speech, next to pocketsphinx."""
    from tests.server_util import speak

    sentences = ["please turn on the kitchen lights", "call my sister tomorrow morning"]
    with (tmp_path / "test.jsonl").open("w") as manifest:
        for i, sentence in enumerate(sentences):
            speak(sentence, tmp_path / f"{i}.wav", voice="en")
            manifest.write(json.dumps({"audio": f"{i}.wav", "text": sentence, "condition": "clean"}) + "\n")
    (tmp_path / "text.txt").write_text("\n".join([*sentences, *SENTENCES]) + "\n")
    assert main(["lm", "build", str(tmp_path / "text.txt"), "-o", str(tmp_path / "lm.arpa")]) == 0
    capsys.readouterr()
    command = ["eval", str(tmp_path / "test.jsonl"), "--decoder", "lexicon", "--lm", str(tmp_path / "lm.arpa"), "--device", "cpu", "--no-real-speech"]
    assert main([*command, "--json", str(tmp_path / "report.json")]) == 0
    table = capsys.readouterr().out
    assert "asr (lexicon) WER %" in table and "pocketsphinx WER %" in table
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["scores"]["asr (lexicon)"]["overall"]["wer"] <= 0.25


def test_a_model_folder_carries_the_search_settings_tuned_for_it(tmp_path: Path, lm_path: Path) -> None:
    """``asr export --lm-weight ...`` writes decoder.json; every decoder of the model starts from it, and what a user gives wins."""
    from asr.checkpoint import random_checkpoint, save_checkpoint
    from asr.cli import build_parser, decoder_config
    from asr.config import DecoderConfig
    from asr.decoders import build_decoder, tuned_search
    from tests.conftest import TINY

    save_checkpoint(random_checkpoint(TINY, seed=1), tmp_path / "run.pt")
    sf.write(tmp_path / "dev.wav", np.random.default_rng(0).normal(0, 0.1, 8000), 16000)
    (tmp_path / "dev.jsonl").write_text('{"audio": "dev.wav"}\n')
    tuning = [
        "--beam-size", "7", "--tokens-per-step", "3", "--beam-threshold", "15", "--word-score", "-2",
        "--priors", str(tmp_path / "dev.jsonl"), "--prior-weight", "0.5",
    ]  # fmt: skip
    assert main(["export", str(tmp_path / "run.pt"), "-o", str(tmp_path / "model"), "--lm", str(lm_path), *tuning]) == 0
    folder = tmp_path / "model"
    written = json.loads((folder / "decoder.json").read_text())
    assert written["beam_size"] == 7 and len(written["token_priors"]) == len(TOKENIZER) and sum(written["token_priors"]) == pytest.approx(1)
    tuned = BeamConfig(beam_size=7, tokens_per_step=3, beam_threshold=15.0, word_score=-2.0, prior_weight=0.5, token_priors=written["token_priors"])
    assert tuned_search(folder) == tuned
    assert tuned_search(folder, lm_weight=3.0) == replace(tuned, lm_weight=3.0)
    assert tuned_search(tmp_path) == BeamConfig()  # no decoder.json: the defaults
    with pytest.raises(ValueError, match=r"^search settings beam_threshold=-1\.0 over .*decoder\.json: beam_threshold must be positive"):
        tuned_search(folder, beam_threshold=-1.0)  # a bad value given on the command line is named, not blamed on the file
    assert build_decoder(TOKENIZER, STEP, folder, DecoderConfig()).config == tuned
    given = ["--word-score", "1", "--tokens-per-step", "5", "--beam-threshold", "12.5", "--nbest", "2", "--prior-weight", "0"]
    args = build_parser().parse_args(["transcribe", "x.wav", "--model", str(folder), *given])
    assert decoder_config(args).beam == replace(tuned, word_score=1.0, tokens_per_step=5, beam_threshold=12.5, nbest=2, prior_weight=0.0)

    # a search that cannot work (a prior weight without priors) is refused before anything is written
    assert main(["export", str(tmp_path / "run.pt"), "-o", str(tmp_path / "refused"), "--lm", str(lm_path), "--prior-weight", "0.5"]) == 2
    assert not (tmp_path / "refused").exists()

    # re-exported in place, as a shipped model's search is re-tuned: the same weights, LM and settings
    model_bytes, lm_bytes = (folder / "model.pt").read_bytes(), (folder / "lm.arpa.gz").read_bytes()
    assert main(["export", str(folder / "model.pt"), "-o", str(folder), "--lm", str(folder / "lm.arpa.gz"), *tuning]) == 0
    assert (folder / "model.pt").read_bytes() == model_bytes and (folder / "lm.arpa.gz").read_bytes() == lm_bytes
    again = tuned_search(folder)  # its priors now come from the float16 weights, a hair apart
    assert replace(again, token_priors=tuned.token_priors) == tuned and again.token_priors == pytest.approx(tuned.token_priors, abs=1e-3)

    (folder / "decoder.json").write_text('{"beam_size": 7, "beam_width": 3}')
    with pytest.raises(ValueError, match=r"decoder.json: expected an object with some of the keys"):
        tuned_search(folder)
    (folder / "decoder.json").write_text("{beam")
    with pytest.raises(ValueError, match=r"decoder.json: not readable JSON"):
        tuned_search(folder)
    (folder / "decoder.json").write_text('{"beam_size": 0}')
    with pytest.raises(ValueError, match=r"decoder.json: beam_size must be at least 1"):
        tuned_search(folder)


def test_a_model_folder_may_name_a_narrower_beam_for_servers(tmp_path: Path, lm_path: Path) -> None:
    """``asr export --server-beam-size`` writes decoder.json's server_beam_size; the search everywhere else keeps its beam."""
    from asr.checkpoint import random_checkpoint, save_checkpoint
    from asr.decoders import server_search, tuned_search
    from tests.conftest import TINY

    save_checkpoint(random_checkpoint(TINY, seed=1), tmp_path / "run.pt")
    export = ["export", str(tmp_path / "run.pt"), "-o", str(tmp_path / "model"), "--lm", str(lm_path), "--beam-size", "9"]
    assert main([*export, "--server-beam-size", "5"]) == 0
    folder = tmp_path / "model"
    assert json.loads((folder / "decoder.json").read_text())["server_beam_size"] == 5
    assert server_search(folder) == replace(tuned_search(folder), beam_size=5) and tuned_search(folder).beam_size == 9
    assert server_search(folder, 7).beam_size == 7  # a server's own setting wins
    assert main(export) == 0
    assert server_search(folder) is None and tuned_search(folder).beam_size == 9  # none named: servers use the tuned search
    assert server_search(tmp_path) is None  # no decoder.json at all
    assert main(["export", str(tmp_path / "run.pt"), "-o", str(tmp_path / "refused"), "--lm", str(lm_path), "--server-beam-size", "5"]) == 2
    for bad in ("0", "2.5", "true", '"wide"'):
        (folder / "decoder.json").write_text('{"beam_size": 9, "server_beam_size": %s}' % bad)
        with pytest.raises(ValueError, match=r"decoder\.json: server_beam_size must be a whole number of at least 1"):
            server_search(folder)


def test_a_beam_limit_narrows_the_searches_that_start_after_it(small_beam: BeamDecoder, lm_path: Path) -> None:
    """A server under load caps the beam of new searches; a search under way keeps its own, and a narrowed search
    is the search of a decoder tuned to that beam."""
    noise = torch.randn(11, len(TOKENIZER), generator=torch.Generator().manual_seed(3))
    log_probs = torch.log_softmax(one_hot_log_probs("the cat sat", peak=0.5) + noise, dim=-1)
    under_way = small_beam.search()
    try:
        small_beam.beam_limit = 2
        narrowed = small_beam.search()
        assert (under_way.beam_size, narrowed.beam_size) == (small_beam.config.beam_size, 2)
        alike = BeamDecoder(TOKENIZER, STEP, lm_path, replace(small_beam.config, beam_size=2)).search()
        for search in (narrowed, alike):
            search.accept(emissions(log_probs))
        transcripts = narrowed.finish(), alike.finish()
        assert transcripts[0] == transcripts[1] and transcripts[0][0].text
        small_beam.beam_limit = 10**6  # a limit above the beam changes nothing
        assert small_beam.search().beam_size == small_beam.config.beam_size
    finally:
        small_beam.beam_limit = None
