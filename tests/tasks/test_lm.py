"""The character n-gram LM: a proper distribution, JSON round trip, and beam search that it and its lexicon
steer."""
import json
import math
import subprocess
import sys

import pytest
import torch

from centaurus.data import CHARACTERS, VOCAB, Tokenizer
from centaurus.errors import CentaurusError
from centaurus.tasks import prefix_beam_search
from centaurus.tasks.lm import ALPHABET, CharNgram, lm_scorer

TEXTS = ["the cat sat on the mat", "a cat is not a dog", "the cat and the hat"]


@pytest.mark.parametrize("order", [1, 3, 5])
def test_every_history_gives_a_distribution_over_the_alphabet(order):
    lm = CharNgram.train(TEXTS, order=order)
    for history in ["", "t", "the c", "zzz", "the cat sat on the m", "qu'"]:
        total = sum(math.exp(lm.logprob(history, c)) for c in ALPHABET)
        assert total == pytest.approx(1.0, abs=1e-9), (order, history)


def test_seen_continuations_beat_unseen_ones_and_the_file_round_trips(tmp_path):
    lm = CharNgram.train(TEXTS, order=4)
    assert lm.logprob("the c", "a") > math.log(0.5) > lm.logprob("the c", "o")
    assert lm.logprob("", "t") > lm.logprob("", "z")  # sentence starts are modelled ("^^^" history)
    path = tmp_path / "lm.json"
    lm.save(path)
    again = CharNgram.load(path)
    assert again.order == 4 and again.logprob("a ca", "t") == lm.logprob("a ca", "t")
    assert not list(tmp_path.glob(".*tmp*"))  # written atomically, nothing left behind


def test_bad_model_files_are_one_line_errors(tmp_path):
    for content in ("not json", '{"kind": "char-ngram"}', '{"kind": "word"}', "[1, 2]"):
        bad = tmp_path / "bad.json"
        bad.write_text(content)
        with pytest.raises(CentaurusError, match="bad.json: not a Centaurus language model"):
            CharNgram.load(bad)
    with pytest.raises(CentaurusError, match="no such language model"):
        CharNgram.load(tmp_path / "missing.json")
    with pytest.raises(CentaurusError, match="cannot write the language model"):
        CharNgram.train(TEXTS).save(tmp_path / "no-such-folder" / "lm.json")


def _frames(spec: list[dict[str, float]]) -> torch.Tensor:
    """(frames, vocab) log-probs: each frame's listed characters get their probability, blank the rest."""
    probs = torch.full((len(spec), len(VOCAB)), 1e-6)
    for t, frame in enumerate(spec):
        for char, p in frame.items():
            probs[t, VOCAB.index(char)] = p
        probs[t, 0] = max(1e-6, 1 - sum(frame.values()))
    return (probs / probs.sum(-1, keepdim=True)).log()


def test_the_lm_settles_what_the_acoustics_leave_open():
    """'the c?t' with the vowel slightly more like 'o' acoustically: the LM, which has only seen 'cat', wins."""
    spec = [{"t": 0.9}, {"h": 0.9}, {"e": 0.9}, {" ": 0.9}, {"c": 0.9}, {"o": 0.46, "a": 0.44}, {"t": 0.9}, {}]
    log_probs = _frames(spec)
    assert prefix_beam_search(log_probs, beam_width=8) == "the cot"
    scorer = lm_scorer(CharNgram.train(TEXTS, order=4), CHARACTERS, weight=0.5, bonus=0.0)
    assert prefix_beam_search(log_probs, beam_width=8, scorer=scorer) == "the cat"


def _encoded(text: str) -> tuple[int, ...]:
    return tuple(VOCAB.index(ch) for ch in text)


def test_a_word_pays_the_oov_penalty_once_when_it_leaves_the_lexicon():
    scorer = lm_scorer(CharNgram.train(TEXTS), CHARACTERS, weight=0.0, bonus=0.0, oov_penalty=2.5)
    paid = {(prefix, ch): scorer(_encoded(prefix), VOCAB.index(ch))
            for prefix, ch in [("the c", "a"), ("the c", "o"), ("the co", "x"), ("the ca", " "), ("the cat", " "),
                               ("the cot", " "), ("", " "), ("the", "n"), ("a", " ")]}
    assert paid == {("the c", "a"): 0.0, ("the c", "o"): -2.5, ("the co", "x"): 0.0, ("the ca", " "): -2.5,
                    ("the cat", " "): 0.0, ("the cot", " "): 0.0, ("", " "): 0.0, ("the", "n"): -2.5,
                    ("a", " "): 0.0}


def test_the_lexicon_picks_the_word_the_acoustics_almost_spell_and_keeps_clear_unknown_words():
    """Without the character LM (weight 0): 'the h?t' leans acoustically to 'hot', a word the texts lack, so the
    lexicon penalty turns it into 'hat'; 'zebra', clearly spoken but unknown, pays the penalty and stays."""
    spec = [{"t": 0.9}, {"h": 0.9}, {"e": 0.9}, {" ": 0.9}, {"h": 0.9}, {"o": 0.5, "a": 0.4}, {"t": 0.9}, {}]
    lm = CharNgram.train(TEXTS)
    lexicon = lm_scorer(lm, CHARACTERS, weight=0.0, bonus=0.0, oov_penalty=3.0)
    assert prefix_beam_search(_frames(spec), beam_width=8) == "the hot"
    assert prefix_beam_search(_frames(spec), beam_width=8, scorer=lexicon) == "the hat"
    zebra = [{"t": 0.9}, {"h": 0.9}, {"e": 0.9}, {" ": 0.9}, *({ch: 0.9} for ch in "zebra"), {}]
    assert prefix_beam_search(_frames(zebra), beam_width=8, scorer=lexicon) == "the zebra"


def test_the_lexicon_round_trips_and_a_file_without_one_refuses_the_penalty(tmp_path):
    lm = CharNgram.train(TEXTS)
    assert lm.words == {"the", "cat", "sat", "on", "mat", "a", "is", "not", "dog", "and", "hat"}
    lm.save(tmp_path / "lm.json")
    assert CharNgram.load(tmp_path / "lm.json").words == lm.words
    old = tmp_path / "old.json"  # written before the lexicon was stored
    old.write_text(json.dumps({"kind": "char-ngram", "order": lm.order, "counts": lm.counts}))
    without = CharNgram.load(old)
    assert without.words == frozenset() and without.logprob("the c", "a") == lm.logprob("the c", "a")
    with pytest.raises(CentaurusError, match="no lexicon"):
        lm_scorer(without, CHARACTERS, weight=0.5, bonus=1.0, oov_penalty=2.0)
    old.write_text(json.dumps({"kind": "char-ngram", "order": 5, "counts": {}, "words": [1, 2]}))
    with pytest.raises(CentaurusError, match="old.json: not a Centaurus language model"):
        CharNgram.load(old)


def test_bpe_models_are_refused():
    bpe = Tokenizer.train_bpe(TEXTS * 5, 20)
    with pytest.raises(CentaurusError, match="BPE"):
        lm_scorer(CharNgram.train(TEXTS), bpe, weight=0.5, bonus=1.0)


def test_lm_command_never_overwrites_its_text_input(tmp_path):
    source = tmp_path / "sentences.txt"
    source.write_text("the cat sat\n")
    done = subprocess.run([sys.executable, "-m", "centaurus_cli.main", "lm", str(source), "--text", str(source)],
                          check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr == f"error: {source}: is one of the --text inputs; choose another " \
                                                   "output file\n", done.stderr
    assert source.read_text() == "the cat sat\n"
