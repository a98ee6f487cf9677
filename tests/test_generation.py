"""The generation measures (tfvae.generation) against hand computations, and ``tfvae evaluate --generation``."""

import json
import math

import numpy as np
import pytest

from conftest import REPO, SENTENCES, run_cli, small, tfvae_in_process

pytest.importorskip("sacrebleu")

from tfvae import generation  # noqa: E402
from tfvae.backend import tf  # noqa: E402
from tfvae.decoding import DEFAULT, Decoding  # noqa: E402


def test_distinct_n_counts_by_hand():
    sentences = ["a b a b", "a b c", ""]
    # unigrams: a b a b a b c -> {a, b, c} of 7; bigrams: ab ba ab ab bc -> {ab, ba, bc} of 5 (none across sentences)
    assert generation.distinct_n(sentences, 1) == pytest.approx(3 / 7)
    assert generation.distinct_n(sentences, 2) == pytest.approx(3 / 5)
    assert generation.distinct_n(["a"], 2) == 0.0


def test_corpus_bleu_is_the_hand_computed_bleu4():
    # Clipped precisions 5/6, 3/5, 2/4, 1/3 and equal lengths (no brevity penalty): BLEU = (1/12)^(1/4).
    score = generation.corpus_bleu(["the cat sat on the mat"], ["the cat sat on a mat"])
    assert score == pytest.approx(100 * (1 / 12) ** 0.25, abs=1e-6)
    # A hypothesis half as long pays the brevity penalty exp(1 - r / c) = exp(1 - 8 / 4).
    score = generation.corpus_bleu(["a b c d"], ["a b c d e f g h"])
    assert score == pytest.approx(100 * math.exp(-1), abs=1e-6)
    with pytest.raises(ValueError, match="as many hypotheses"):
        generation.corpus_bleu(["a"], [])


def test_self_bleu_scores_each_sample_against_the_others():
    sentences = ["a b c d", "a b c d", "w x y z"]
    # Each of the first two finds itself among the others' references (100); the third shares no word (0).
    assert generation.self_bleu(sentences, hypotheses=2) == pytest.approx(100)
    assert generation.self_bleu(sentences, hypotheses=None) == pytest.approx(200 / 3)
    with pytest.raises(ValueError, match="at least 2"):
        generation.self_bleu(["a"])


def test_perplexity_of_a_uniform_language_model_is_the_vocabulary_size(vocabulary):
    """All decoder weights 0: every logit is 0, so p(word) = 1 / V at every position and PPL = V exactly."""
    lm = small(vocabulary, latent_dim=0)
    for weight in lm.decoder.weights:
        weight.assign(tf.zeros_like(weight))
    ppl, tokens = generation.perplexity(lm, vocabulary, SENTENCES[:6])
    assert tokens == sum(len(s.split()) + 1 for s in SENTENCES[:6])
    assert ppl == pytest.approx(vocabulary.size, rel=1e-5)


def test_perplexity_is_exp_of_the_mean_token_nll(vocabulary, ids):
    """A trained-at-random LM: exp(-sum log p(x) / tokens), with log p(x) summed from the logits by hand."""
    lm = small(vocabulary, latent_dim=0)
    logits = lm.decoder((tf.zeros([6, 0]), ids)).numpy().astype(np.float64)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    mask = ids.numpy() != 0
    picked = np.take_along_axis(log_probs, ids.numpy()[..., None], -1)[..., 0]
    expected = math.exp(-(picked * mask).sum() / mask.sum())
    assert generation.perplexity(lm, vocabulary, SENTENCES[:6])[0] == pytest.approx(expected, rel=1e-4)
    with pytest.raises(ValueError, match="needs a language model"):
        generation.perplexity(small(vocabulary), vocabulary, SENTENCES[:6])


def test_the_measures_of_a_small_vae_and_lm(vocabulary):
    vae, lm = small(vocabulary), small(vocabulary, latent_dim=0)
    tiny = generation.ReverseLM(embedding_dim=8, units=8, epochs=1)
    found = generation.generation_quality(
        vae, vocabulary, SENTENCES[:12], DEFAULT, num_samples=20, language_model=lm, reverse_lm=tiny, max_length=12
    )
    for name in ("reconstruction_bleu", "self_bleu"):
        assert 0 <= found[name] <= 100
    assert found["forward_ppl"] > 1 and found["reverse_ppl"] > 1
    assert 0 < found["distinct_1"] <= 1 and 0 <= found["distinct_2"] <= 1
    assert found["num_samples"] == 20 and found["test_sentences"] == 12 and found["self_bleu_hypotheses"] == 20
    assert found["reverse_lm"]["parameters"] == tiny.parameters(vocabulary.size)
    # Greedy decoding of a language model: no latent, no randomness, so every sample is the same sentence.
    found = generation.generation_quality(lm, vocabulary, SENTENCES[:12], Decoding("greedy"), 5, reverse_lm=None)
    assert found["reconstruction_bleu"] is None and found["forward_ppl"] is None and found["reverse_ppl"] is None
    assert found["self_bleu"] == pytest.approx(100) or found["mean_words"] == 0
    with pytest.raises(ValueError, match="top_p must be"):
        generation.generation_quality(lm, vocabulary, SENTENCES[:12], Decoding("top_p", top_p=0.0), 5)


@pytest.fixture(scope="module")
def text_runs(tmp_path_factory):
    """A 1-epoch sentence VAE and language model on 60 of the test sentences, made by the command line."""
    base = tmp_path_factory.mktemp("generation")
    for split, count in (("train", 60), ("valid", 10), ("test", 10)):
        (base / f"{split}.txt").write_text("\n".join(SENTENCES[:count]) + "\n")
    common = ["--dataset", "text", "--data-dir", base, "--epochs", "1", "--embedding-dim", "8", "--rnn-units", "8"]
    runs = {}
    for name, latent_dim in (("vae", 4), ("lm", 0)):
        status = run_cli_quiet(["train", *common, "--latent-dim", latent_dim, "--out", base / name, "--verbose", "0"])
        assert status == 0
        runs[name] = base / name
    return runs


def run_cli_quiet(argv):
    return tfvae_in_process(*argv).returncode


def test_evaluate_generation_adds_the_measures_to_the_eval_json(text_runs):
    vae, lm = text_runs["vae"], text_runs["lm"]
    (vae / "eval.json").write_text(json.dumps({"nll": 1.0}))
    args = ["evaluate", vae, "--generation", "--n", "6", "--limit", "4", "--max-length", "8"]
    status, out, err = run_cli([*args, "--language-model", lm])
    assert status == 0, err
    assert "reconstruction BLEU" in out and "forward perplexity" in out and "self-BLEU" in out
    status, out, err = run_cli([*args, "--strategy", "greedy"])
    assert status == 0, err
    assert "give --language-model" in out
    held = json.loads((vae / "eval.json").read_text())
    assert held["nll"] == 1.0  # what the file held stays
    assert set(held["generation"]) == {DEFAULT.describe(), DEFAULT._replace(strategy="greedy").describe()}
    measured = held["generation"][DEFAULT.describe()]
    assert measured["test_sentences"] == 4 and measured["num_samples"] == 6 and measured["forward_ppl"] > 1
    assert held["generation"][DEFAULT._replace(strategy="greedy").describe()]["forward_ppl"] is None
    # A language model: no reconstruction, the rest as for the VAE.
    argv = ["evaluate", lm, "--generation", "--n", "4", "--limit", "2", "--out", vae / "x.json"]
    status, out, err = run_cli(argv)
    assert status == 0, err
    assert json.loads((vae / "x.json").read_text())["generation"][DEFAULT.describe()]["reconstruction_bleu"] is None


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--n", "5"], "--n is for --generation"),
        (["--strategy", "beam"], "--strategy is for --generation"),
        (["--generation", "--gaps"], "one at a time"),
        (["--generation", "--top-p", "1.5"], "--top-p must be"),
        (["--generation", "--language-model", "VAE"], "not a language model"),
        (["--generation", "--language-model", "MISSING"], "MISSING"),
    ],
)
def test_bad_generation_flags_are_refused_in_one_line(text_runs, argv, message):
    argv = [{"VAE": text_runs["vae"], "MISSING": text_runs["vae"] / "MISSING"}.get(a, a) for a in argv]
    status, _, err = run_cli(["evaluate", text_runs["vae"], *argv])
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_generation_on_an_image_model_is_refused():
    shipped = REPO / "saved_models" / "mnist_mlp_vamp" / "1"
    status, _, err = run_cli(["evaluate", shipped, "--generation"])
    assert status == 2 and "--generation is for text models" in err, err


def test_generation_on_an_export_needs_data():
    status, _, err = run_cli(["evaluate", REPO / "saved_models" / "ptb_sentence_vae" / "5", "--generation"])
    assert status == 2 and "needs --data-dir" in err, err


def test_without_sacrebleu_the_command_names_the_extra(text_runs, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "sacrebleu.metrics", None)  # import fails as if not installed
    with pytest.raises(ImportError, match=r'pip install "tfvae\[generation\]"'):
        generation.corpus_bleu(["a"], ["a"])
    status, _, err = run_cli(["evaluate", text_runs["vae"], "--generation"])
    assert status == 2 and 'pip install "tfvae[generation]"' in err and len(err.strip().splitlines()) == 1, err
