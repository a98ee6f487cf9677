"""tfvae.decoding: the strategies' limits agree with greedy decoding, the guards hold, bad settings are refused
by name. The per-variant checks (traced decoding, the export's signatures) are in tests/test_harness.py."""

import numpy as np
import pytest

from conftest import small
from tfvae.backend import tf
from tfvae.decoding import STRATEGIES, Decoding, check, repeated_ngram_words
from tfvae.text import EOS, PAD, UNK


@pytest.fixture(scope="module")
def model(vocabulary):
    return small(vocabulary)


def test_repeated_ngram_words_bans_what_would_repeat():
    history = tf.constant([[5, 6, 5, -1, -1], [7, 7, 7, -1, -1]])  # three words written, the fourth (t = 3) next
    banned = lambda t, n: [set(np.flatnonzero(row)) for row in repeated_ngram_words(history, t, n, 9).numpy()]  # noqa: E731
    assert banned(3, 2) == [{6}, {7}]  # "5 6" again after "... 5"; "7 7" again
    assert banned(3, 1) == [{5, 6}, {7}]  # no word twice
    assert banned(3, 3) == [set(), {7}]  # no earlier 3-gram starts with (6, 5); "7 7 7" again
    assert banned(3, 0) == [set(), set()]  # off


def test_strategy_limits_are_greedy_and_seeds_repeat(model):
    greedy = model.sample(6, seed=3, decoding=Decoding("greedy"), max_length=12).numpy()
    for limit in (Decoding("top_k", top_k=1), Decoding("top_p", top_p=1e-6), Decoding("beam", beam_width=1)):
        np.testing.assert_array_equal(model.sample(6, seed=3, decoding=limit, max_length=12), greedy, limit.strategy)
    drawn = [model.sample(6, seed=s, decoding=Decoding("temperature"), max_length=12).numpy() for s in (3, 3, 4)]
    np.testing.assert_array_equal(drawn[0], drawn[1])
    assert not np.array_equal(drawn[0], drawn[2])
    # greedy=False is the temperature-1 draw, as before the strategies
    np.testing.assert_array_equal(model.sample(6, seed=3, greedy=False, max_length=12), drawn[0])


@pytest.mark.parametrize("n", [1, 2, 3])
def test_guards_hold_for_every_strategy(model, n):
    for strategy in STRATEGIES:
        decoding = Decoding(strategy, top_k=5, no_unk=True, no_repeat_ngram=n)
        for row in model.sample(8, seed=1, decoding=decoding, max_length=30).numpy():
            words = [w for w in row if w not in (PAD, EOS)]
            grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
            assert UNK not in words and len(grams) == len(set(grams)), (strategy, words)


BAD = [
    (Decoding("temperature", temperature=0.0), r"temperature must be > 0"),
    (Decoding("top_k", top_k=0), r"top_k must be in \[1, 17\]"),
    (Decoding("top_k", top_k=18), r"top_k must be in \[1, 17\]"),
    (Decoding("top_p", top_p=0.0), r"top_p must be in \(0, 1\]"),
    (Decoding("top_p", top_p=1.01), r"top_p must be in \(0, 1\]"),
    (Decoding("beam", beam_width=0), r"beam_width must be >= 1"),
    (Decoding("greedy", no_repeat_ngram=-1), r"no_repeat_ngram must be >= 0"),
    (Decoding("typical"), r"strategy must be one of greedy, temperature, top_k, top_p, beam"),
]


@pytest.mark.parametrize("decoding, message", BAD, ids=[f"{d.strategy}-{i}" for i, (d, _) in enumerate(BAD)])
def test_bad_settings_are_refused_by_name(model, decoding, message):
    with pytest.raises(ValueError, match=message):
        model.sample(2, decoding=decoding)


def test_unused_settings_are_ignored_and_length_zero_refused(model):
    check(Decoding("greedy", top_k=0, top_p=5.0, temperature=0.0, beam_width=0), vocab_size=17)
    with pytest.raises(ValueError, match="max_length must be >= 1"):
        model.sample(2, decoding=Decoding(), max_length=0)


def test_homotopy_refuses_empty_and_unknown_sentences(model, vocabulary, ids):
    for sentence, message in (("", "the sentence is empty"), ("qwzx vbnm", "outside the vocabulary")):
        with pytest.raises(ValueError, match=message):
            model.homotopy(vocabulary.ids([sentence])[0], ids[:1])
    points = model.homotopy(ids[:1], ids[1:2], steps=3, decoding=Decoding("top_p", no_unk=True), seed=[1, 0])
    assert points.shape[0] == 3
