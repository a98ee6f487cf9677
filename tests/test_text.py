"""Text: the vocabulary and pipelines, the sentence VAE's likelihood, word dropout, the language-model
baseline, importance weighting, mutual information, input checks, export, and the CLI on a slice of PTB.

The checks every sentence-VAE variant gets (config round trip, save/load, gradients, export parity) are in
tests/test_harness.py, whose ``VARIANTS`` hold the text variants beside the image ones."""

import json
import math
import warnings

import numpy as np
import pytest
from scipy.special import log_softmax, logsumexp

from conftest import REPO, SENTENCES, small, tfvae_in_process
from tfvae import text
from tfvae.backend import keras, tf
from tfvae.evaluation import importance_weighted_log_likelihood, mutual_information
from tfvae.sentence import SentenceVAE, WordDropout
from tfvae.text import BOS, EOS, PAD, UNK

PTB = REPO.parent / "shared" / "data" / "ptb"


# --- data ------------------------------------------------------------------------------------------


def test_vocabulary_orders_words_by_count_and_reserves_the_special_ids():
    vocabulary = text.Vocabulary.build(["b a a", "c a b"])
    assert vocabulary.tokens == ["<pad>", "<unk>", "<bos>", "<eos>", "a", "b", "c"]
    assert text.Vocabulary.build(["b a a", "c a b"], min_count=2).words == ["a", "b"]
    assert text.Vocabulary.build(["b a a", "c a b"], max_vocab=1).words == ["a"]
    ids, lengths = vocabulary.ids(["a c", "zebra b a"])
    np.testing.assert_array_equal(ids.numpy(), [[4, 6, EOS, PAD], [UNK, 5, 4, EOS]])
    np.testing.assert_array_equal(lengths.numpy(), [3, 4])
    assert [s.decode() for s in vocabulary.strings(ids).numpy()] == ["a c", "<unk> b a"]
    # Markers written in the text are words the vocabulary does not know: only the pipeline places them.
    np.testing.assert_array_equal(vocabulary.ids(["a <eos> <pad> <bos> b"])[0].numpy(), [[4, UNK, UNK, UNK, 5, EOS]])


def test_vocabulary_cuts_long_sentences_and_counts_them():
    vocabulary = text.Vocabulary.build(["a b c d e"], max_length=3)
    ids, lengths = vocabulary.ids(["a b c d e", "a"])
    assert ids.shape == (2, 4) and list(lengths.numpy()) == [4, 2] and int(ids[0, 3]) == EOS
    assert vocabulary.count_cut(["a b c d e", "a", "a b c d"]) == 2


def test_standardize_tokenizer_lowercases_and_strips_punctuation():
    vocabulary = text.Vocabulary.build(["Hello, World!", "hello there."], tokenizer="standardize")
    assert vocabulary.words == ["hello", "there", "world"]
    assert [s.decode() for s in vocabulary.strings(vocabulary.ids(["HELLO... world?"])[0]).numpy()] == ["hello world"]


def test_vocabulary_round_trips_through_its_file(tmp_path, vocabulary):
    vocabulary.save(tmp_path / "v.txt")
    loaded = text.Vocabulary.load(tmp_path / "v.txt")
    assert loaded.tokens == vocabulary.tokens
    (tmp_path / "bad.txt").write_text("a\nb\n")
    with pytest.raises(text.TextDataError, match="not a tfvae vocabulary"):
        text.Vocabulary.load(tmp_path / "bad.txt")


def test_text_directories_plain_and_ptb_names(tmp_path):
    for split in ("train", "valid", "test"):
        (tmp_path / f"ptb.{split}.txt").write_text(f" one {split} sentence \n\n two words \n")
    data = text.load_text_dir(tmp_path)
    assert data.train == ["one train sentence", "two words"] and data.test[0] == "one test sentence"
    with pytest.raises(text.TextDataError, match="does not exist"):
        text.load_text_dir(tmp_path / "nowhere")
    (tmp_path / "ptb.valid.txt").write_text("\n \n")
    with pytest.raises(text.TextDataError, match="no sentence"):
        text.load_text_dir(tmp_path)
    (tmp_path / "ptb.valid.txt").write_bytes(b"\xff\xfe bad")
    with pytest.raises(text.TextDataError, match="UTF-8"):
        text.load_text_dir(tmp_path)
    (tmp_path / "ptb.valid.txt").unlink()
    with pytest.raises(text.TextDataError, match="valid.txt"):
        text.load_text_dir(tmp_path)


def test_any_directory_of_sentences_reads_wordnet_glosses():
    """The second real corpus: plain train/valid/test.txt, line counts as its README gives them."""
    glosses = REPO.parent / "shared" / "data" / "wordnet_glosses"
    if not glosses.is_dir():
        pytest.skip(f"{glosses} is missing")
    data = text.load_text_dir(glosses)
    assert (len(data.train), len(data.valid), len(data.test)) == (161_722, 9_004, 8_960)
    vocabulary = text.Vocabulary.build(data.valid, min_count=2, tokenizer="standardize", max_length=30)
    ids, lengths = vocabulary.ids(data.test[:50])
    assert ids.shape[0] == 50 and int(lengths.numpy().max()) <= 31


def test_logistic_kl_warmup():
    from tfvae.callbacks import LogisticWarmup

    schedule = LogisticWarmup(1000, end=2.0)
    assert schedule(500) == pytest.approx(1.0)
    assert schedule(0) == pytest.approx(2.0 / (1 + math.exp(5)))
    assert schedule(1000) == pytest.approx(2.0 / (1 + math.exp(-5)))
    assert all(schedule(s) < schedule(s + 100) for s in range(0, 2000, 100))


def test_bucketed_pipeline_keeps_every_sentence_once(vocabulary):
    ragged = text.encode_sentences(vocabulary, SENTENCES)
    every = sorted(tuple(r) for r in ragged.to_list())
    batches = list(text.make_text_pipeline(ragged, batch_size=7, shuffle=False))
    rows = [tuple(int(t) for t in row if t != PAD) for batch in batches for row in batch.numpy()]
    assert sorted(rows) == every and all(batch.dtype == tf.int32 for batch in batches)
    # Shuffled and bucketed for training: still every sentence once, in batches of similar lengths.
    batches = list(text.make_text_pipeline(ragged, batch_size=7, seed=1))
    rows = [tuple(int(t) for t in row if t != PAD) for batch in batches for row in batch.numpy()]
    assert sorted(rows) == every
    assert all(np.sum(batch.numpy() != PAD, axis=1).min() > (batch.shape[1] - 1) // 10 * 10 - 10 for batch in batches)


# --- the model -------------------------------------------------------------------------------------


def test_masked_log_likelihood_equals_a_hand_computation(vocabulary, ids):
    model = small(vocabulary)
    z = tf.random.stateless_normal([3, 6, 4], seed=[1, 2])
    log_prob = model.likelihood_of(ids, z).log_prob(ids).numpy()  # [3, 6]
    logits = model.decoder((tf.reshape(z, [-1, 4]), tf.tile(ids, [3, 1]))).numpy().reshape(3, 6, ids.shape[1], -1)
    log_p = log_softmax(logits, axis=-1)
    x = ids.numpy()
    expected = np.zeros([3, 6])
    for k in range(3):
        for b in range(6):
            expected[k, b] = sum(log_p[k, b, t, x[b, t]] for t in range(x.shape[1]) if x[b, t] != PAD)
    np.testing.assert_allclose(log_prob, expected, rtol=1e-5, atol=1e-4)
    # Scoring's forward-only path (gather minus logsumexp), for [K, B] and [B] samples, gives the same numbers.
    np.testing.assert_allclose(model.log_px_given_z(ids, z).numpy(), expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(model.log_px_given_z(ids, z[1]).numpy(), expected[1], rtol=1e-5, atol=1e-4)
    unknown_rank = tf.function(
        model.log_px_given_z, input_signature=[tf.TensorSpec(None, tf.int32), tf.TensorSpec(None, tf.float32)]
    )
    np.testing.assert_allclose(unknown_rank(ids, z).numpy(), expected, rtol=1e-5, atol=1e-4)
    # More padding changes nothing.
    padded = tf.pad(ids, [[0, 0], [0, 3]])
    np.testing.assert_allclose(model.likelihood_of(padded, z).log_prob(padded).numpy(), log_prob, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(model.log_px_given_z(padded, z).numpy(), expected, rtol=1e-5, atol=1e-4)


def test_latent_size_zero_is_the_language_model(vocabulary, ids):
    model = small(vocabulary, latent_dim=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    loss = model.evaluate(ids, verbose=0, return_dict=True)
    # An LSTM language model's cross-entropy from the decoder's logits, written independently.
    logits = model.decoder((tf.zeros([6, 0]), ids))
    cross_entropy = keras.losses.sparse_categorical_crossentropy(ids, logits, from_logits=True)
    per_sentence = tf.reduce_sum(cross_entropy * tf.cast(ids != PAD, tf.float32), axis=1)
    assert loss["loss"] == pytest.approx(float(tf.reduce_mean(per_sentence)), rel=1e-5)
    assert loss["kl"] == 0.0
    # Its ELBO is log p(x) exactly: importance weighting changes nothing.
    np.testing.assert_allclose(
        importance_weighted_log_likelihood(model, ids, 7, [0, 1]).numpy(), model.elbo(ids, seed=0).numpy(), rtol=1e-5
    )


def test_word_dropout_rate_and_never_outside_training():
    layer = WordDropout(0.3)
    tokens = tf.concat([tf.fill([400, 1], BOS), tf.fill([400, 40], 7), tf.fill([400, 10], PAD)], axis=1)
    dropped = layer(tokens, training=True).numpy()
    words = dropped[:, 1:41]
    rate = np.mean(words == UNK)
    assert abs(rate - 0.3) < 4 * math.sqrt(0.3 * 0.7 / words.size)
    assert np.all(dropped[:, 0] == BOS) and np.all(dropped[:, 41:] == PAD)
    assert np.all(layer(tokens, training=False).numpy() == tokens.numpy())
    assert np.all(layer(tokens).numpy() == tokens.numpy())
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        WordDropout(1.0)


@pytest.mark.parametrize("dropout", ["word_dropout", "decoder_dropout"])
def test_dropout_acts_in_fit_only(vocabulary, ids, dropout):
    model = small(vocabulary, **{dropout: 0.5})
    # Outside training the ELBO is deterministic given the seed, so the dropout is off.
    np.testing.assert_array_equal(model.elbo(ids, seed=3).numpy(), model.elbo(ids, seed=3).numpy())
    clean = small(vocabulary, **{dropout: 0.0})
    clean.set_weights(model.get_weights())
    np.testing.assert_allclose(clean.elbo(ids, seed=3).numpy(), model.elbo(ids, seed=3).numpy(), rtol=1e-6)
    # In training (call with training=True) the loss differs: words (or units) were dropped.
    model.compile(optimizer=keras.optimizers.Adam(0.0))
    clean.compile(optimizer=keras.optimizers.Adam(0.0))
    with tf.GradientTape():
        model(ids, training=True)
        clean(ids, training=True)
    assert float(model.losses[0]) != pytest.approx(float(clean.losses[0]), rel=1e-6)


def test_tied_embeddings_score_with_the_embeddings_transposed(vocabulary, ids):
    untied, tied = small(vocabulary), small(vocabulary, tie_embeddings=True)
    # The output kernel [units, V] is gone; its bias stays.
    assert untied.count_params() - tied.count_params() == 8 * vocabulary.size
    decoder = tied.decoder
    decoder.logits_bias.assign(tf.random.stateless_normal([vocabulary.size], seed=[3, 4]))
    h = tf.random.stateless_normal([2, 5, 8], seed=[5, 6])
    expected = h.numpy() @ decoder.embedding.embeddings.numpy().T + decoder.logits_bias.numpy()
    np.testing.assert_allclose(decoder.output_logits(h).numpy(), expected, rtol=1e-5, atol=1e-5)
    # One matrix, two uses. <pad> is read only at masked positions, so as an input it gets no gradient
    # (untied); as an output its logit enters every softmax, so tied it does.
    for model, reaches_pad in ((untied, False), (tied, True)):
        with tf.GradientTape() as tape:
            model(ids, training=True)
            loss = tf.add_n(model.losses)
        gradient = tf.convert_to_tensor(tape.gradient(loss, model.decoder.embedding.embeddings)).numpy()
        assert np.all(np.isfinite(gradient)) and np.any(gradient[int(ids[0, 0])] != 0)  # a word read as input
        assert np.any(gradient[PAD] != 0) == reaches_pad
    with pytest.raises(ValueError, match="embedding_dim equal to units"):
        small(vocabulary, tie_embeddings=True, embedding_dim=6)


@pytest.mark.parametrize(
    "policy, tied", [("mixed_float16", False), ("mixed_bfloat16", False), ("mixed_bfloat16", True)]
)
def test_generation_stops_at_eos_and_works_under_mixed_precision(vocabulary, ids, policy, tied):
    from tfvae.training import dtype_policy

    with dtype_policy(policy):
        model = small(vocabulary, tie_embeddings=tied)
    # The loss is computed in float32 whatever the compute type.
    assert model(ids[:4], training=True).dtype == tf.float32 and model.losses[0].dtype == tf.float32
    sentences = model.sample(5, seed=1, greedy=False).numpy()
    assert sentences.shape == (5, model.max_length)
    for row in sentences:
        ends = np.flatnonzero(row == EOS)
        tail = row[ends[0] + 1 :] if len(ends) else row[:0]
        assert np.all(tail == PAD) and not np.any(row[: ends[0] if len(ends) else None] == PAD)
        assert not np.any(row == BOS)
    assert model.homotopy(ids[:1], ids[1:2], steps=3).shape[0] == 3
    with pytest.raises(ValueError, match="one sentence"):
        model.homotopy(ids[:2], ids[2:4])


def test_importance_weighting_is_above_the_elbo_and_rises_with_k(vocabulary):
    model = small(vocabulary)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(text.make_text_pipeline(text.encode_sentences(vocabulary, SENTENCES), 16), epochs=3, verbose=0)
    x = vocabulary.ids(SENTENCES[:6] * 4)[0]
    for k in (2, 10):
        # Same seed, same samples: log-mean-exp of the weights >= their mean, sentence by sentence.
        iw = importance_weighted_log_likelihood(model, x, k, [5, 5]).numpy()
        terms = model.elbo_terms(x, seed=[5, 5], num_samples=k)
        monte_carlo_elbo = tf.reduce_mean(terms["log_likelihood"] + terms["log_prior"] - terms["log_posterior"], 0)
        assert np.all(iw >= monte_carlo_elbo.numpy() - 1e-4)
    # The rise with k, on an untrained model: once trained, q is so close to the true posterior that the rise
    # (0.01 nats from k = 10 to 100) is below the Monte Carlo noise (sd 0.02) under either Keras. Untrained, it
    # is 0.5 and 0.06 nats, with a standard error of 0.01 over 20 seeds.
    untrained = small(vocabulary, seed=1)
    # Traced once per k (the seed a tensor): 60 eager calls of the LSTM took most of this test's 32 s.
    estimate = tf.function(lambda k, seed: importance_weighted_log_likelihood(untrained, x, k, seed))
    means = [np.mean([estimate(k, tf.constant([s, 0])).numpy().mean() for s in range(20)]) for k in (1, 10, 100)]
    assert means[0] < means[1] < means[2], means


def test_mutual_information_from_zero_to_log_n():
    rng = np.random.default_rng(0)
    n, d = 300, 3
    same = mutual_information(np.zeros([n, d]), np.ones([n, d]), seed=1)
    assert abs(same) < 0.05  # q(z|x) the same for every x: z says nothing about x
    # z identifies x: I = log N. (The estimate's noise is that of the closed-form entropy against one
    # sampled log q(z_i|x_i) per example: sd 0.07 nats here, 0.03 over 5 seeds.)
    loc = rng.normal(0, 100, [n, d])
    apart = np.mean([mutual_information(loc, np.full([n, d], 1e-2), seed=s) for s in range(5)])
    assert apart == pytest.approx(math.log(n), abs=0.12)
    # Two posteriors N(-m, 1), N(+m, 1): I(x; z) = log 2 - E[softplus-like overlap]; by quadrature:
    m = 1.0
    loc, scale = np.array([[-m], [m]]), np.ones([2, 1])
    grid = np.linspace(-12, 12, 20001)
    log_q1 = -0.5 * (grid + m) ** 2 - 0.5 * math.log(2 * math.pi)
    log_q2 = -0.5 * (grid - m) ** 2 - 0.5 * math.log(2 * math.pi)
    log_mix = logsumexp([log_q1, log_q2], axis=0) - math.log(2)
    exact = np.trapezoid(np.exp(log_q1) * (log_q1 - log_mix), grid)
    estimates = [mutual_information(np.repeat(loc, 2000, 0), np.repeat(scale, 2000, 0), seed=s) for s in range(3)]
    assert np.mean(estimates) == pytest.approx(exact, abs=0.02)


def test_bad_token_inputs_are_refused(vocabulary, ids):
    model = small(vocabulary)
    with pytest.raises(ValueError, match="integer token ids"):
        model.elbo(tf.cast(ids, tf.float32))
    with pytest.raises(ValueError, match=rf"must lie in \[0, {vocabulary.size}\)"):
        model.elbo(ids + vocabulary.size)
    with pytest.raises(ValueError, match=r"shape \[batch, length\]"):
        model.elbo(ids[0])
    with pytest.raises(ValueError, match="Vocabulary.ids"):
        model.check_inputs(np.array([["the cat"]]))
    with pytest.raises(ValueError, match="does not take data_shape: data_shape is an argument of tfvae.VAE"):
        SentenceVAE(vocabulary.size, data_shape=(3,))
    with pytest.raises(ValueError, match="does not take latent_dims: latent_dims is an argument of tfvae.VAE"):
        SentenceVAE(vocabulary.size, latent_dims=(4, 2))
    with pytest.raises(ValueError, match="VampPrior"):
        SentenceVAE(vocabulary.size, prior="vamp")


# --- end to end on Penn Treebank ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def ptb_slice(tmp_path_factory):
    """The first 1,000 training and 100 valid/test sentences of the real Penn Treebank."""
    if not PTB.is_dir():
        pytest.skip(f"{PTB} is missing")
    directory = tmp_path_factory.mktemp("ptb_slice")
    for split, count in (("train", 1000), ("valid", 100), ("test", 100)):
        lines = (PTB / f"ptb.{split}.txt").read_text().splitlines()[:count]
        (directory / f"ptb.{split}.txt").write_text("\n".join(lines) + "\n")
    return directory


@pytest.mark.long
def test_cli_trains_evaluates_samples_and_exports_a_sentence_vae(ptb_slice, tmp_path):
    run = tmp_path / "text"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = tfvae_in_process(
            "train",
            "--dataset",
            "text",
            "--data-dir",
            ptb_slice,
            "--arch",
            "lstm",
            "--epochs",
            "3",
            "--latent-dim",
            "8",
            "--embedding-dim",
            "32",
            "--rnn-units",
            "32",
            "--batch-size",
            "64",
            "--word-dropout",
            "0.2",
            "--learning-rate",
            "3e-3",
            "--verbose",
            "0",
            "--out",
            run,
        )
    assert result.returncode == 0, result.stderr
    # An epoch is one pass over the bucketed sentences: Keras 3 is not to call its end "ran out of data".
    assert not [w for w in caught if "ran out of data" in str(w.message)]
    import csv

    with open(run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    losses = [float(row["loss"]) for row in rows]
    assert losses[-1] < losses[0] - 5, losses  # nats per sentence
    # Each epoch logs I(x; z) (at most log 100 nats; a Monte Carlo estimate, so a little below 0 when q ~ p)
    # and the active units of the validation sentences.
    assert all(-0.5 <= float(row["mi"]) <= math.log(100) + 0.5 and 0 <= int(row["active_units"]) <= 8 for row in rows)
    assert json.loads((run / "config.json").read_text())["class"] == "SentenceVAE"
    result = tfvae_in_process("evaluate", run, "-k", "5")
    assert result.returncode == 0, result.stderr
    for name in ("perplexity", "mutual information", "KL", "active units"):
        assert name in result.stdout
    scores = json.loads((run / "eval.json").read_text())
    assert scores["tokens"] == sum(len(s.split()) + 1 for s in (ptb_slice / "ptb.test.txt").read_text().splitlines())
    assert scores["ppl"] == pytest.approx(math.exp(scores["nll"] * 100 / scores["tokens"]), rel=1e-6)
    result = tfvae_in_process("sample", run, "--n", "3", "--homotopy", "the company said", "the market fell")
    assert result.returncode == 0, result.stderr
    assert "sentences from the prior (top_p" in result.stdout and "homotopy" in result.stdout
    assert "tf.Tensor" not in result.stdout  # sentences, not tensors
    result = tfvae_in_process("export", run, "--out", tmp_path / "served")
    assert result.returncode == 0, result.stderr
    served = tf.saved_model.load(str(tmp_path / "served" / "1")).signatures
    out = served["reconstruct"](sentences=tf.constant(["the company said it would buy the unit"]))
    assert out["sentences"].dtype == tf.string and out["sentences"].shape == (1,)
    result = tfvae_in_process("sample", tmp_path / "served" / "1", "--n", "2")
    # The export's sample_with signature decodes with the same default strategy as the run.
    assert result.returncode == 0 and "sentences from the prior (top_p" in result.stdout, result.stderr
    # The inference gaps of the run and of its export: the same model, so the same numbers for the same seed.
    gaps = ["--gaps", "--limit", "12", "--svi-steps", "5", "-k", "20", "--batch-size", "5"]
    result = tfvae_in_process("evaluate", run, *gaps)
    assert result.returncode == 0 and "amortization gap" in result.stdout, result.stderr
    found = json.loads((run / "gaps.json").read_text())
    per_example = found["per_example"]
    assert len(per_example["log_px"]) == 12 and found["steps"] == 5
    for i in range(12):  # the gaps add up per sentence, in the order of the split
        assert per_example["approximation_gap"][i] == pytest.approx(
            per_example["log_px"][i] - per_example["elbo_optimized"][i], abs=1e-4
        )
    result = tfvae_in_process(
        "evaluate", tmp_path / "served" / "1", *gaps, "--data-dir", ptb_slice, "--out", tmp_path / "g.json"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "g.json").read_text())["log_px"] == pytest.approx(found["log_px"], abs=1e-3)
    # Image flags on text (and text flags on images) are refused in one line.
    result = tfvae_in_process(
        "train", "--dataset", "text", "--data-dir", ptb_slice, "--latent-dims", "4", "2", "--out", tmp_path / "x"
    )
    assert result.returncode == 2 and "image flags" in result.stderr
    result = tfvae_in_process("train", "--word-dropout", "0.3", "--out", tmp_path / "y")
    assert result.returncode == 2 and "text flags" in result.stderr


def test_bn_vae_holds_the_kl_above_its_floor_from_the_first_step():
    """BN-VAE (Zhu et al. 2020): the batch's posterior means have variance gamma^2 per dimension, so the
    mean KL is at least d gamma^2 / 2, even for an untrained encoder whose means barely vary."""
    d, gamma = 6, 0.6
    model = SentenceVAE(60, latent_dim=d, embedding_dim=8, units=8, batch_norm_gamma=gamma)
    x = tf.constant(np.random.default_rng(0).integers(4, 60, size=(64, 9)), tf.int32)
    model(x, training=True)
    kl = {m.name: float(m.result()) for m in model.metrics}["kl"]
    assert kl >= 0.99 * d * gamma**2 / 2, kl


@pytest.mark.long
def test_float16_weights_halve_the_export_and_keep_its_numbers(vocabulary, ids, tmp_path):
    """Weights stored in float16, computations in float32: the same log p(x) to float16's precision."""
    from tfvae.sentence_export import export_sentence_model
    from tfvae.served import rebuild

    model = SentenceVAE(vocabulary.size, latent_dim=4, embedding_dim=16, units=16, batch_norm_gamma=0.5)
    model(ids, training=True)
    paths = {w: export_sentence_model(model, vocabulary, tmp_path / w, 1, weights=w) for w in ("float32", "float16")}
    sizes = {w: sum(f.stat().st_size for f in (p / "variables").iterdir()) for w, p in paths.items()}
    assert sizes["float16"] < 0.6 * sizes["float32"], sizes
    strings = tf.constant(SENTENCES[:6])
    scores = {
        w: tf.saved_model.load(str(p)).signatures["log_likelihood"](sentences=strings, num_samples=tf.constant(4))[
            "log_px"
        ]
        for w, p in paths.items()
    }
    assert scores["float16"].dtype == tf.float32
    np.testing.assert_allclose(scores["float16"].numpy(), scores["float32"].numpy(), rtol=2e-3)
    assert json.loads((paths["float16"] / "tfvae.json").read_text())["weights"] == "float16"
    rebuilt = rebuild(paths["float16"])  # the Python model of a float16 export is float32 again
    assert all(v.dtype == tf.float32 for v in rebuilt.trainable_variables)
    with pytest.raises(ValueError, match="weights must be one of"):
        export_sentence_model(model, vocabulary, tmp_path / "x", 1, weights="int8")


@pytest.mark.long
def test_warm_start_from_an_export_copies_its_weights_and_refuses_another_vocabulary(vocabulary, ids, tmp_path):
    """``init_from`` an export: the new model equals the exported one (to float16 rounding for a float16
    export); another vocabulary, another size or another model class is refused before anything changes."""
    from tfvae.model import VAE
    from tfvae.sentence_export import export_sentence_model
    from tfvae.warm_start import warm_start

    def sentence_vae(**overrides):
        config = {"latent_dim": 4, "embedding_dim": 16, "units": 16, "batch_norm_gamma": 0.5, **overrides}
        model = SentenceVAE(vocabulary.size, **config)
        model(ids, training=True)
        return model

    source = sentence_vae()
    path = export_sentence_model(source, vocabulary, tmp_path / "export", 1, weights="float16")
    target = sentence_vae(decoder_dropout=0.5)  # what adds no variable may differ
    warm_start(target, path, vocabulary)
    # The learned variables (Keras 3 also keeps random-stream states, and a Dropout one more: not copied).
    for got, want in zip(target.portable_variables, source.portable_variables, strict=True):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-3, atol=1e-6)  # float16 keeps 11 bits
    assert target.decoder_dropout == 0.5

    other = text.Vocabulary(list(reversed(vocabulary.words)))  # the same words under other ids
    with pytest.raises(ValueError, match="another vocabulary"):
        warm_start(sentence_vae(), path, other)
    with pytest.raises(ValueError, match="units 16 \\(here 32\\)"):
        warm_start(sentence_vae(units=32), path, vocabulary)
    with pytest.raises(ValueError, match="holds a SentenceVAE"):
        warm_start(VAE(data_shape=(4, 4, 1), latent_dim=4, hidden_units=(8,)), path)
    # Past the config check, copy_weights checks every shape before it assigns any: the embedding, whose
    # shape matches, is left as it was when a later variable does not fit.
    from tfvae.served import copy_weights

    fresh, before = sentence_vae(), sentence_vae(latent_dim=8).variables
    originals = [v.numpy() for v in fresh.variables]
    with pytest.raises(ValueError, match="same architecture"):
        copy_weights(fresh.variables, before, "a model with z of size 8", "use the same architecture")
    assert fresh.variables[0].shape == before[0].shape
    for variable, original in zip(fresh.variables, originals):
        np.testing.assert_array_equal(variable.numpy(), original)
