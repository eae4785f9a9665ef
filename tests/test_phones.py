"""Phones: the maps from each synthesizer's notation, pronunciations (CMUdict, then espeak-ng), the lexicon
file, and the labels that cut what a synthesizer said at the text's word boundaries."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asr.data.gnuspeech import spoken_words as gnuspeech_words
from asr.data.phone_labels import MAX_MERGED, align_words
from asr.data.piper import spoken_words as piper_words
from asr.lexicon import Lexicon, check_hotword, cmudict_pronunciations, espeak_pronunciations, pronounce
from asr.phones import ARPABET, FESTIVAL_PHONESETS, espeak_foreign_to_arpabet, festival_to_arpabet, ipa_to_arpabet, join_words, split_ipa
from asr.tokens import Tokenizer

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (scripts/setup.sh installs it)")


def test_the_phone_tokens_are_39_arpabet_phones_a_boundary_and_the_blank() -> None:
    tokenizer = Tokenizer.for_units("phones")
    assert len(ARPABET) == 39 and len(tokenizer) == 41 and tokenizer.tokens[:2] == ("<blank>", "|")
    labels = "DH AH | K W IH K"
    assert tokenizer.decode(tokenizer.encode(labels)) == labels
    with pytest.raises(ValueError, match="'QQ' is not in the vocabulary"):
        tokenizer.encode("DH QQ")


@pytest.mark.parametrize(
    "said, phones",
    [
        ("k_w_ˈɪ_k", ["K", "W", "IH", "K"]),  # espeak-ng, stress marks dropped
        ("dʒ_ˈʌ_m_p_s", ["JH", "AH", "M", "P", "S"]),
        ("ˌoʊ_v_ɚ", ["OW", "V", "ER"]),
        ("w_ˈʌɹ_l_d", ["W", "ER", "L", "D"]),  # a Scottish r-coloured vowel
        ("p_ˈiː_p_əl", ["P", "IY", "P", "AH", "L"]),  # a syllabic l
        ("f_ˈɪ_ɡ_j_ɚ_ɹ", ["F", "IH", "G", "Y", "ER"]),  # "figure" before "of": the linking r is ER's, as in CMUdict
        ("h_ˈɜː_ɹ_i", ["HH", "ER", "IY"]),  # "hurry"
        ("v_ˈɛ_ɹ_i", ["V", "EH", "R", "IY"]),  # "very" keeps its r
        ("k_w_ˈɑː_s_ɑ̃", ["K", "W", "AA", "S", "AA", "N"]),  # "croissant": a French nasal vowel is the vowel and N
    ],
)
def test_espeak_ipa_maps_to_arpabet(said: str, phones: list[str]) -> None:
    assert ipa_to_arpabet(said.split("_")) == phones



@pytest.mark.parametrize(
    "language, said, phones",
    [
        ("fr", "ʁ_ɑ̃_v_w_ˈa", ["R", "AA", "N", "V", "W", "AA"]),  # "renvoi": uvular r, a nasal vowel, French a
        ("fr", "p_ˈy_ʁ", ["P", "UW", "R"]),  # "pur": French y
        ("ru", "v_ˈy_z_ʌ_v", ["V", "IH", "Z", "AH", "V"]),  # "vyzov": Russian y (ы) is another vowel
        ("ru", "pʲ_i_rʲ_i", ["P", "IY", "R", "IY"]),  # palatalization is not an English phoneme
        ("it", "o_kː_ʊ_p_ˈa_t_o", ["OW", "K", "UH", "P", "AA", "T", "OW"]),  # a long k is one K
        ("it", "ɡ_ˈa_t_t_o", ["G", "AA", "T", "OW"]),  # a geminate written twice is one T too
        ("es", "f_a_β_ˈo_ɾ", ["F", "AA", "B", "OW", "R"]),  # "favor": a lenited b and a tap
        ("fr", "(en)_ð_ɪ_s_(fr)", ["DH", "IH", "S"]),  # espeak-ng's language switches are not said
    ],
)
def test_espeak_foreign_phonemes_map_as_an_english_listener_hears_them(language: str, said: str, phones: list[str]) -> None:
    assert espeak_foreign_to_arpabet(language, said.split("_")) == phones


def test_espeak_foreign_map_refuses_unknown_languages_and_phonemes() -> None:
    with pytest.raises(ValueError, match="no phone map for espeak-ng language 'de'; known: fr, ru, es, it"):
        espeak_foreign_to_arpabet("de", ["a"])
    with pytest.raises(ValueError, match="unknown espeak-ng fr phoneme '☃'"):
        espeak_foreign_to_arpabet("fr", ["a", "☃"])

def test_piper_ipa_is_split_longest_first_and_punctuation_dropped() -> None:
    assert split_ipa("bɹˈaʊn") == ["b", "ɹ", "aʊ", "n"]
    assert piper_words("nˈætʃɚɹəl kˈɜːɹɪdʒ") == [["N", "AE", "CH", "ER", "AH", "L"], ["K", "ER", "IH", "JH"]]  # as CMUdict
    assert piper_words("ðə kwˈɪk bɹˈaʊn fˈɑːks, dʒˈʌmps.") == [["DH", "AH"], ["K", "W", "IH", "K"], ["B", "R", "AW", "N"], ["F", "AA", "K", "S"], ["JH", "AH", "M", "P", "S"]]
    with pytest.raises(ValueError, match="unknown IPA symbol"):
        split_ipa("b☃n")


def test_festival_and_gnuspeech_phones_map_to_arpabet() -> None:
    assert festival_to_arpabet(["pau", "dh", "ax", "k", "w", "ih", "k", "axr"]) == ["DH", "AH", "K", "W", "IH", "K", "ER"]
    phonetic = "/c // /0 # /w dh_uh /w /_k_w_i_k /w /_b_r_ah_uu_n /w /_uh_uu.v_uh_r /w /l /*d_o_g # // /c"
    assert gnuspeech_words(phonetic) == [["DH", "AH"], ["K", "W", "IH", "K"], ["B", "R", "AW", "N"], ["OW", "V", "ER"], ["D", "AA", "G"]]
    with pytest.raises(ValueError, match="unknown festival radio phone 'zz'"):
        festival_to_arpabet(["zz"])


def test_the_british_festival_voice_is_labelled_without_the_r_it_did_not_say() -> None:
    # rab's mrpa names for "the car here", as festival says them: no r after a vowel
    assert festival_to_arpabet(["#", "dh", "@", "k", "aa", "h", "i@"], "mrpa") == ["DH", "AH", "K", "AA", "HH", "IH", "AH"]
    assert festival_to_arpabet(["uh"], "mrpa") == ["AH"] and festival_to_arpabet(["uh"]) == ["UH"]  # one name, two sets
    assert {phone for table in FESTIVAL_PHONESETS.values() for phones in table.values() for phone in phones} <= set(ARPABET)
    with pytest.raises(ValueError, match="unknown festival mrpa phone 'ax'"):
        festival_to_arpabet(["ax"], "mrpa")


def test_cmudict_gives_stressless_pronunciations_with_their_variants() -> None:
    known = cmudict_pronunciations()
    assert known["the"] == (("DH", "AH"), ("DH", "IY"))
    assert all(phone in ARPABET for prons in list(known.values())[:2000] for pron in prons for phone in pron)


@needs_espeak
def test_words_cmudict_lacks_are_pronounced_by_espeak() -> None:
    result = pronounce(["zorblax", "hello", "zorblax"])
    assert list(result) == ["zorblax", "hello"] and result["hello"] == cmudict_pronunciations()["hello"]
    (zorblax,) = result["zorblax"]
    assert zorblax[0] == "Z" and {"B", "L", "K", "S"} <= set(zorblax)
    assert espeak_pronunciations(["brannigan", "qwrtz"])["qwrtz"]  # letters it cannot read are spelled out


@needs_espeak
def test_espeak_variants_add_what_the_training_voices_say_beside_cmudict() -> None:
    plain, varied = pronounce(["dog", "the", "croissant"]), pronounce(["dog", "the", "croissant"], espeak_variants=True)
    assert plain["dog"] == (("D", "AO", "G"),) and varied["dog"] == (("D", "AO", "G"), ("D", "AA", "G"))
    assert varied["the"] == plain["the"] == (("DH", "AH"), ("DH", "IY"))  # espeak-ng's is one of CMUdict's
    # espeak-ng says croissant with a French nasal vowel, which English speakers say as the vowel and N
    assert plain["croissant"] == cmudict_pronunciations()["croissant"]
    assert varied["croissant"] == (*plain["croissant"], ("K", "W", "AA", "S", "AA", "N"))


@needs_espeak
def test_a_word_with_a_sound_outside_the_phone_set_is_named_or_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    said = {"zorblax.": "z_ˈɔː_ɹ_b_l_a_k_s", "blorp.": "b_l_ˈ☃_p"}  # what a newer espeak-ng might write
    monkeypatch.setattr("asr.lexicon.espeak_ipa_lines", lambda lines, voice: [said[line] for line in lines])
    with pytest.raises(ValueError, match="cannot pronounce 'blorp': unknown IPA symbol '☃'"):
        espeak_pronunciations(["zorblax", "blorp"])
    assert list(espeak_pronunciations(["zorblax", "blorp"], strict=False)) == ["zorblax"]


@pytest.mark.parametrize("word", ["r2d2", "c++", "", "Upper", "'quoted'", "two words"])
def test_a_word_that_cannot_be_pronounced_is_named(word: str) -> None:
    with pytest.raises(ValueError, match="cannot pronounce"):
        pronounce([word])


@pytest.mark.parametrize("phrase", ["R2D2", "C++", "fifty 50", "semi;colon", "   "])
def test_hotwords_with_digits_or_symbols_are_refused(phrase: str) -> None:
    with pytest.raises(ValueError, match="letters only"):
        check_hotword(phrase)


def test_a_lexicon_round_trips_through_its_file_byte_for_byte(tmp_path: Path) -> None:
    lexicon = Lexicon({"read": [("R", "IY", "D"), ("R", "EH", "D")], "a": [("AH",)]})
    lexicon.save(tmp_path / "one.txt.gz")
    lexicon.save(tmp_path / "two.txt.gz")
    assert (tmp_path / "one.txt.gz").read_bytes() == (tmp_path / "two.txt.gz").read_bytes()  # no timestamp inside
    loaded = Lexicon.load(tmp_path / "one.txt.gz")
    assert loaded.words == ["read", "a"] and loaded.pronunciations("read") == (("R", "IY", "D"), ("R", "EH", "D"))
    assert gzip.decompress((tmp_path / "one.txt.gz").read_bytes()).decode() == "read\tR IY D\nread\tR EH D\na\tAH\n"


@pytest.mark.parametrize(
    "content, message",
    [("", "empty"), ("word\n", "expected 'word<TAB>phones'"), ("word\tQQ\n", "outside ARPAbet"), ("word\t \n", "expected")],
)
def test_a_bad_lexicon_file_is_named_with_its_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "lexicon.txt"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        Lexicon.load(path)
    with pytest.raises(ValueError, match="not found"):
        Lexicon.load(tmp_path / "missing.txt")


DICTIONARY = {"he": [("HH", "IY")], "was": [("W", "AA", "Z"), ("W", "AH", "Z")], "one": [("W", "AH", "N")], "of": [("AH", "V")],
              "the": [("DH", "AH"), ("DH", "IY")], "best": [("B", "EH", "S", "T")], "in": [("IH", "N")], "world": [("W", "ER", "L", "D")]}  # fmt: skip


def test_words_said_as_one_are_cut_at_the_labels_word_boundaries() -> None:
    spoken = [["HH", "IY"], ["W", "AA", "Z"], ["W", "AH", "N"], ["AH", "V", "DH", "AH"], ["B", "EH", "S", "T"], ["IH", "N", "DH", "AH"], ["W", "ER", "L", "D"]]
    words = "he was one of the best in the world".split()
    aligned = align_words(spoken, words, DICTIONARY.__getitem__)
    assert aligned is not None
    assert join_words(aligned) == "HH IY | W AA Z | W AH N | AH V | DH AH | B EH S T | IH N | DH AH | W ER L D"


def test_speech_that_strays_from_the_label_gets_no_phones() -> None:
    spoken = [["S", "AH", "M"], ["TH", "IH", "NG"], ["EH", "L", "S"]]
    assert align_words(spoken, ["he", "was"], DICTIONARY.__getitem__) is None


@settings(max_examples=60, deadline=None)
@given(words=st.lists(st.sampled_from(sorted(DICTIONARY)), min_size=1, max_size=10), merges=st.lists(st.booleans(), max_size=10))
def test_any_merge_of_dictionary_words_aligns_back_to_them(words: list[str], merges: list[bool]) -> None:
    said = [list(DICTIONARY[word][0]) for word in words]
    spoken: list[list[str]] = []
    covered: list[int] = []  # label words in each spoken word: at most MAX_MERGED (four "he" once made one word of 8 phones)
    for index, phones in enumerate(said):  # merge some words into the one before, as espeak-ng does
        if spoken and index - 1 < len(merges) and merges[index - 1] and covered[-1] < MAX_MERGED:
            spoken[-1] = spoken[-1] + phones
            covered[-1] += 1
        else:
            spoken.append(phones)
            covered.append(1)
    aligned = align_words(spoken, words, DICTIONARY.__getitem__)
    assert aligned is not None and [phone for word in aligned for phone in word] == [phone for word in said for phone in word]
    assert len(aligned) == len(words)
