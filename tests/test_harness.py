"""One harness for every model variant, images and sentences: config round trip, save/load, finite gradients
reaching every variable, export parity.

A new variant of either family is one entry in ``VARIANTS``: the model class (``VAE`` or ``SentenceVAE``),
the arguments that differ from the family's small defaults, and the exports to check (``SAVED_MODEL``, or
``TFLITE`` for an image model's SavedModel plus TFLite; nothing for none). The class picks the family's face
in ``FACES`` (``Images``, ``Text``), which builds the small model and its batch. The shared tests then run on
the new variant, and its family's export test too where an export is named.
"""

import json
from typing import NamedTuple

import numpy as np
import pytest

from conftest import KERAS3, SENTENCES, WEIGHTS, sentence_vocabulary, small
from tfvae import VAE, SentenceVAE, text
from tfvae.backend import input_layer, keras, tf
from tfvae.decoding import STRATEGIES, Decoding
from tfvae.evaluation import importance_weighted_log_likelihood, log_joint, log_mean_weight
from tfvae.export import LOG_LIKELIHOOD_SEED, export
from tfvae.text import PAD

SHAPE = (8, 8, 1)
CONDITIONS = 4
SAVED_MODEL, TFLITE = ("saved_model",), ("saved_model", "tflite")  # the exports a variant checks


def _custom_networks():
    """A user's own Keras networks in place of the presets."""
    encoder = keras.Sequential(
        [
            input_layer(SHAPE),
            keras.layers.Flatten(),
            keras.layers.Dense(24, activation="tanh"),
            keras.layers.Dense(6),
        ],
        name="my_encoder",
    )
    decoder = keras.Sequential(
        [input_layer((3,)), keras.layers.Dense(24, activation="elu"), keras.layers.Dense(64)],
        name="my_decoder",
    )
    return {"encoder": encoder, "decoder": decoder}


class Variant(NamedTuple):
    model: type  # VAE or SentenceVAE
    arguments: object  # the constructor's arguments over the family's defaults; a callable for fresh objects
    exports: tuple = ()  # SAVED_MODEL or TFLITE (images only); () checks no export


VARIANTS = {
    "mlp_bernoulli": Variant(VAE, {}, TFLITE),
    "conv": Variant(VAE, {"architecture": "conv", "filters": (4, 8)}, SAVED_MODEL),
    "full_posterior_normal_pixel": Variant(
        VAE, {"posterior": "full", "likelihood": "normal", "likelihood_scale": "pixel"}, TFLITE
    ),
    # No export: an objective that asks for no extra terms (objective.needs) leaves every serving function as
    # mlp_bernoulli's; the objectives that ask for terms (iwae_dreg, free_bits) are exported below.
    "beta": Variant(VAE, {"beta": 4.0}),
    "iwae": Variant(VAE, {"objective": "iwae", "num_samples": 3}),
    "iwae_dreg_vamp": Variant(
        VAE, {"objective": "iwae_dreg", "num_samples": 3, "prior": "vamp", "prior_components": 4}, SAVED_MODEL
    ),
    "free_bits": Variant(VAE, {"objective": "free_bits", "free_bits": 0.2}, SAVED_MODEL),
    "mixture_prior": Variant(VAE, {"prior": "mixture", "prior_components": 3}, SAVED_MODEL),
    "vamp_prior": Variant(VAE, {"prior": "vamp", "prior_components": 4}, SAVED_MODEL),
    "continuous_bernoulli": Variant(VAE, {"likelihood": "continuous_bernoulli"}, SAVED_MODEL),
    "discretized_logistic": Variant(VAE, {"likelihood": "discretized_logistic"}, SAVED_MODEL),
    "conditional": Variant(VAE, {"condition_dim": CONDITIONS}, TFLITE),
    "custom_networks": Variant(VAE, _custom_networks, TFLITE),
    "two_layers": Variant(VAE, {"latent_dims": (3, 2)}, TFLITE),
    "three_layer_ladder": Variant(
        VAE, {"latent_dims": (3, 2, 2), "inference": "ladder", "objective": "iwae", "num_samples": 2}, TFLITE
    ),
    "two_layers_free_bits": Variant(
        VAE, {"latent_dims": (3, 2), "objective": "free_bits", "free_bits": 0.2}, SAVED_MODEL
    ),
    "two_layers_ladder_batch_norm": Variant(
        VAE, {"latent_dims": (3, 2), "inference": "ladder", "latent_batch_norm": True}, TFLITE
    ),
    "two_layers_vamp_sampled_kl": Variant(
        VAE, {"latent_dims": (3, 2), "prior": "vamp", "prior_components": 4, "kl_estimate": "sample"}, SAVED_MODEL
    ),
    "two_layers_mixture_conditional": Variant(
        VAE,
        {"latent_dims": (3, 2), "prior": "mixture", "prior_components": 3, "condition_dim": CONDITIONS},
        SAVED_MODEL,
    ),
    # Sentences. Export parity on four of them (a SavedModel costs ~30 s): the language model, both RNNs,
    # every latent injection, the tied output layer.
    "text_language_model": Variant(SentenceVAE, {"latent_dim": 0}, SAVED_MODEL),
    "text_lstm_both": Variant(SentenceVAE, {}),
    "text_decoder_dropout": Variant(SentenceVAE, {"decoder_dropout": 0.3}),
    "text_tied_embeddings": Variant(SentenceVAE, {"tie_embeddings": True}, SAVED_MODEL),
    "text_gru_initial_state_bidirectional": Variant(
        SentenceVAE, {"rnn": "gru", "latent_injection": "initial_state", "bidirectional": True}, SAVED_MODEL
    ),
    "text_inputs_word_dropout": Variant(SentenceVAE, {"latent_injection": "inputs", "word_dropout": 0.25}, SAVED_MODEL),
    "text_free_bits_bn": Variant(SentenceVAE, {"objective": "free_bits", "free_bits": 0.2, "batch_norm_gamma": 0.5}),
    "text_iwae_mixture_prior": Variant(
        SentenceVAE, {"objective": "iwae", "num_samples": 3, "prior": "mixture", "prior_components": 3}
    ),
}


class Images:
    """Small image VAEs; a batch of 6 binary 8x8 images, with one-hot conditions for a conditional model."""

    @staticmethod
    def build(arguments):
        defaults = {
            "data_shape": SHAPE,
            "latent_dim": None if "latent_dims" in arguments else 3,
            "hidden_units": (16,),
            "latent_hidden_units": (8,),
            "seed": 4,
        }
        return VAE(**{**defaults, **arguments})

    @staticmethod
    def batch(model):
        """``(x, condition or None)``."""
        rng = np.random.default_rng(0)
        x = (rng.random((6, *SHAPE)) < 0.4).astype(np.float32)
        condition = (
            np.eye(CONDITIONS, dtype=np.float32)[rng.integers(0, CONDITIONS, 6)] if model.condition_dim else None
        )
        return x, condition


class Text:
    """Small sentence VAEs on the vocabulary of the test sentences; a batch of their first 6 as token ids."""

    @staticmethod
    def build(arguments):
        return small(sentence_vocabulary(), **arguments)

    @staticmethod
    def batch(model):
        """``(ids [6, length], None)``: a sentence VAE is unconditional."""
        return sentence_vocabulary().ids(SENTENCES[:6])[0], None


FACES = {VAE: Images, SentenceVAE: Text}
IMAGE_VARIANTS = [name for name, v in VARIANTS.items() if v.model is VAE]
TEXT_VARIANTS = [name for name, v in VARIANTS.items() if v.model is SentenceVAE]


def _build(name):
    model_class, arguments, _ = VARIANTS[name]
    return FACES[model_class].build(arguments() if callable(arguments) else arguments)


def _scores(model, x, condition):
    """The objective's loss and the ELBO of each example, from one seeded set of samples (either family)."""
    terms = model.elbo_terms(x, seed=(5, 6), condition=condition)
    return np.stack([model.objective.loss(terms).numpy(), terms["elbo"].numpy()])


def _case(name):
    model = _build(name)
    x, condition = FACES[VARIANTS[name].model].batch(model)
    return name, model, x, condition


@pytest.fixture(params=list(VARIANTS))
def variant(request):
    """Every variant of both families: ``(name, model, x, condition or None)``."""
    return _case(request.param)


@pytest.fixture(params=IMAGE_VARIANTS)
def image_variant(request):
    return _case(request.param)


@pytest.fixture(params=[name for name in IMAGE_VARIANTS if "saved_model" in VARIANTS[name].exports])
def exported_image_variant(request):
    return _case(request.param)


def test_config_round_trip(variant):
    name, model, x, condition = variant
    model_class = VARIANTS[name].model
    config = json.loads(json.dumps(model.get_config()))  # JSON-serializable, as run directories store it
    clone = model_class.from_config(config)
    assert type(clone) is model_class
    assert json.loads(json.dumps(clone.get_config())) == config
    assert clone.get_config() == model.get_config()
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(_scores(clone, x, condition), _scores(model, x, condition), rtol=1e-6)


def test_save_and_load(variant, tmp_path):
    name, model, x, condition = variant
    model_class = VARIANTS[name].model
    expected = _scores(model, x, condition)
    model.save_weights(str(tmp_path / WEIGHTS))  # what runs keep
    restored = model_class.from_config(model.get_config())
    status = restored.load_weights(str(tmp_path / WEIGHTS))
    if not KERAS3:  # Keras 3's load_weights returns None (and raises on a mismatch itself)
        status.assert_existing_objects_matched()
    np.testing.assert_allclose(_scores(restored, x, condition), expected, rtol=1e-6)
    model.save(tmp_path / "model.keras")  # Keras's own format: config plus weights
    reloaded = keras.models.load_model(tmp_path / "model.keras")
    assert type(reloaded) is model_class
    np.testing.assert_allclose(_scores(reloaded, x, condition), expected, rtol=1e-6)


def test_gradients_reach_every_variable_and_are_finite(variant):
    """Through the objective's loss, and through a training call (word dropout and batch norm in training)."""
    name, model, x, condition = variant
    if model.latent_dim == 0:  # a language model has no encoder weights; every variable it has gets a gradient
        assert not model.encoder.trainable_variables
    with tf.GradientTape(persistent=True) as tape:
        losses = [tf.reduce_mean(model.objective.loss(model.elbo_terms(x, seed=(1, 2), condition=condition)))]
        model(x if condition is None else (x, condition), training=True)
        losses.append(tf.add_n(model.losses))
    for loss in losses:
        gradients = tape.gradient(loss, model.trainable_variables)
        for variable, gradient in zip(model.trainable_variables, gradients):
            assert gradient is not None, variable.name
            assert np.all(np.isfinite(tf.convert_to_tensor(gradient).numpy())), variable.name


def test_export_matches_keras(exported_image_variant, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    name, model, x, condition = exported_image_variant
    # The float32 file only: test_export.py checks the float16 file's parity once (its own conversion, ~half the
    # time of a hierarchy's export here, on a path that no variant changes).
    path = export(model, tmp_path / "served", tflite="tflite" in VARIANTS[name].exports, tflite_float16=False)
    signatures = tf.saved_model.load(str(path)).signatures
    extra = {} if condition is None else {"condition": tf.constant(condition)}
    z = np.random.default_rng(1).normal(size=(6, model.latent_dim)).astype(np.float32)
    encoded = signatures["encode"](x=tf.constant(x), **extra)
    layers = model.encode_layers(x, condition)
    np.testing.assert_allclose(encoded["mean"].numpy(), layers[0].mean().numpy(), rtol=1e-5, atol=1e-6)
    for i, q in enumerate(layers[1:], start=2):
        np.testing.assert_allclose(encoded[f"mean_{i}"].numpy(), q.mean().numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(encoded[f"stddev_{i}"].numpy(), q.stddev().numpy(), rtol=1e-5, atol=1e-6)
    decoded = signatures["decode"](z=tf.constant(z), **extra)["mean"].numpy()
    np.testing.assert_allclose(decoded, model.decode(z, condition).mean().numpy(), rtol=1e-5, atol=1e-6)
    one = {} if condition is None else {"condition": tf.constant(condition[:1])}
    sampled = signatures["sample"](num_samples=tf.constant(3), seed=tf.constant(7), **one)["x"].numpy()
    expected = model.sample(3, seed=(7, 0), condition=None if condition is None else condition[0]).numpy()
    np.testing.assert_allclose(sampled, expected, rtol=1e-5, atol=1e-6)
    log_px = signatures["log_likelihood"](x=tf.constant(x), num_samples=tf.constant(16), **extra)["log_px"].numpy()
    by_keras = importance_weighted_log_likelihood(model, x, 16, LOG_LIKELIHOOD_SEED, 500, condition).numpy()
    np.testing.assert_allclose(log_px, by_keras, rtol=1e-5)
    described = json.loads((path / "tfvae.json").read_text())["signatures"]["encode"]
    assert set(described["outputs"]) == set(encoded)
    assert ("condition" in described["inputs"]) == bool(model.condition_dim)
    _check_estimator_signatures(signatures, path, model, x, condition, log_px)
    if "tflite" not in VARIANTS[name].exports:
        return
    interpreter = Interpreter(model_path=str(path / "vae.tflite"))
    lite = interpreter.get_signature_runner("encode")(x=x, **{k: v.numpy() for k, v in extra.items()})
    assert set(lite) == set(encoded)
    for key, value in encoded.items():
        np.testing.assert_allclose(lite[key], value.numpy(), rtol=1e-5, atol=1e-5, err_msg=key)
    if model.prior_kind == "normal" and not model.condition_dim:
        images = interpreter.get_signature_runner("sample")(num_samples=np.array(4, np.int32))["x"]
        assert images.shape == (4, *SHAPE) and np.all(np.isfinite(images))


def _check_estimator_signatures(signatures, path, model, x, condition, log_px):
    """posterior_sample + log_joint of the loaded export give the IW bound: log_likelihood's and evaluation's."""
    extra = {} if condition is None else {"condition": tf.constant(condition)}
    drawn = signatures["posterior_sample"](x=tf.constant(x), num_samples=tf.constant(16), seed=tf.constant(0), **extra)
    names = [f"z_{i + 1}" for i in range(len(model.latent_dims))]
    assert set(drawn) == {*names, "log_posterior"} and drawn["log_posterior"].shape == (16, len(x))
    assert [drawn[name].shape for name in names] == [(16, len(x), d) for d in model.latent_dims]
    joint = signatures["log_joint"](x=tf.constant(x), **{name: drawn[name] for name in names}, **extra)
    np.testing.assert_allclose(joint["log_joint"], joint["log_px_given_z"] + joint["log_pz"], rtol=1e-6)
    log_w = joint["log_joint"].numpy().astype(np.float64) - drawn["log_posterior"].numpy()
    estimate = np.logaddexp.reduce(log_w, axis=0) - np.log(16)
    samples = [drawn[name] for name in names]
    # The same samples scored by tfvae's evaluation; seed 0 draws log_likelihood's (and tfvae evaluate's) samples.
    np.testing.assert_allclose(joint["log_joint"], log_joint(model, x, samples, condition), rtol=1e-5, atol=1e-4)
    by_tfvae = log_mean_weight(model, x, samples, drawn["log_posterior"], condition=condition).numpy()
    np.testing.assert_allclose(estimate, by_tfvae, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(estimate, log_px, rtol=1e-5, atol=1e-4)
    described = json.loads((path / "tfvae.json").read_text())["signatures"]
    for name in ("posterior_sample", "log_joint"):
        inputs, outputs = signatures[name].structured_input_signature[1], signatures[name].structured_outputs
        assert set(described[name]["inputs"]) == set(inputs) and set(described[name]["outputs"]) == set(outputs)


def test_per_example_inference_runs_on_every_variant(image_variant):
    from tfvae.inference import elbo_under, fit_posteriors

    name, model, x, condition = image_variant
    posteriors, curve = fit_posteriors(model, x, steps=5, num_samples=2, seed=3, condition=condition)
    q_star = posteriors.distributions()
    assert [q.event_shape[-1] for q in q_star] == list(model.latent_dims)
    assert curve.shape == (5,) and np.all(np.isfinite(curve))
    assert np.all(np.isfinite(elbo_under(model, x, q_star, 4, (1, 1), condition).numpy()))


# Every strategy with both guards; top_k small enough for the test vocabulary.
DECODINGS = [Decoding(strategy, top_k=5, top_p=0.8, no_unk=True, no_repeat_ngram=2) for strategy in STRATEGIES]


@pytest.mark.parametrize("name", TEXT_VARIANTS)
def test_decoding_traces_like_eager_on_every_text_variant(name):
    """Each strategy gives the same sentences eagerly and inside a tf.function (what a signature runs)."""
    _, model, _, _ = _case(name)
    for decoding in DECODINGS:
        eager = model.sample(4, seed=[2, 0], decoding=decoding, max_length=10)
        traced = tf.function(lambda d=decoding: model.sample(4, seed=[2, 0], decoding=d, max_length=10))()
        np.testing.assert_array_equal(traced.numpy(), eager.numpy(), err_msg=decoding.strategy)


def _decoding_inputs(decoding, max_length=10, seed=2):
    """The settings of sample_with, decode_with and homotopy as the signatures take them."""
    values = {**decoding._asdict(), "max_length": max_length, "seed": seed}
    return {
        key: tf.constant(value, tf.float32 if key in ("temperature", "top_p") else None)
        for key, value in values.items()
    }


def _check_decoding_signatures(served, path, model, ids, decodings):
    """sample_with, decode_with and homotopy agree with the model for each of ``decodings``; bad settings are
    refused."""
    z = tf.random.stateless_normal([3, model.latent_dim], seed=[5, 6])
    for decoding in decodings:
        inputs = _decoding_inputs(decoding)
        sampled = served["sample_with"](num_samples=tf.constant(3), **inputs)
        expected = model.sample(3, seed=[2, 0], decoding=decoding, max_length=10)
        np.testing.assert_array_equal(sampled["ids"].numpy(), expected.numpy(), err_msg=decoding.strategy)
        decoded = served["decode_with"](z=z, **inputs)["ids"].numpy()
        np.testing.assert_array_equal(decoded, model.decode(z, seed=[2, 0], max_length=10, decoding=decoding).numpy())
        if model.latent_dim:
            homotopy = served["homotopy"](
                start=tf.constant(SENTENCES[0]), end=tf.constant(SENTENCES[1]), steps=tf.constant(3), **inputs
            )["ids"].numpy()
            by_model = model.homotopy(ids[:1], ids[1:2], 3, decoding=decoding, seed=[2, 0], max_length=10)
            np.testing.assert_array_equal(homotopy, by_model.numpy())
    good = _decoding_inputs(DECODINGS[3])
    bad = [
        ({"strategy": tf.constant("typical")}, "strategy must be one of"),
        ({"temperature": tf.constant(0.0)}, "temperature must be > 0"),
        ({"top_p": tf.constant(1.5)}, r"top_p must be in \(0, 1\]"),
        ({"strategy": tf.constant("top_k"), "top_k": tf.constant(0)}, "top_k must be in"),
        ({"strategy": tf.constant("top_k"), "top_k": tf.constant(model.vocab_size + 1)}, "top_k must be in"),
        ({"strategy": tf.constant("beam"), "beam_width": tf.constant(0)}, "beam_width must be >= 1"),
        ({"max_length": tf.constant(0)}, "max_length must be >= 1"),
    ]
    for change, message in bad:
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            served["sample_with"](num_samples=tf.constant(2), **{**good, **change})
    if model.latent_dim:
        for start, message in (("", "the sentence is empty"), ("qwzx vbnm", "outside the vocabulary")):
            with pytest.raises(tf.errors.InvalidArgumentError, match=message):
                served["homotopy"](
                    start=tf.constant(start), end=tf.constant(SENTENCES[1]), steps=tf.constant(3), **good
                )
    described = json.loads((path / "tfvae.json").read_text())["signatures"]
    for name in ("sample_with", "decode_with", "homotopy"):
        assert set(described[name]["inputs"]) == set(served[name].structured_input_signature[1]), name


EXPORTED_TEXT_VARIANTS = [name for name in TEXT_VARIANTS if "saved_model" in VARIANTS[name].exports]


def signature_decodings(name):
    """The strategies whose signatures the export test of text variant ``name`` runs.

    The exported variants share the strategies out, so each strategy goes through sample_with, decode_with and
    homotopy once; every strategy on every variant is test_decoding_traces_like_eager_on_every_text_variant's (all
    five on each export cost about 19 s of its 55, AMD EPYC host).
    """
    i, n = EXPORTED_TEXT_VARIANTS.index(name), len(EXPORTED_TEXT_VARIANTS)
    # Shifted by one, so that the first variant, the language model (no latent code, so no homotopy), gets one.
    return [decoding for j, decoding in enumerate(DECODINGS) if (j + 1) % n == i]


def test_the_exported_text_variants_share_out_every_strategy():
    shared = [d.strategy for name in EXPORTED_TEXT_VARIANTS for d in signature_decodings(name)]
    assert sorted(shared) == sorted(STRATEGIES)


@pytest.mark.parametrize("name", EXPORTED_TEXT_VARIANTS)
def test_text_export_matches_the_model(name, tmp_path, monkeypatch):
    """A sentence VAE's SavedModel: string and id signatures agree with the model; bad requests refused by name."""
    from tfvae import sentence_export

    _, model, ids, _ = _case(name)
    vocabulary = sentence_vocabulary()
    # log_likelihood scores groups of GROUP_SIZE sentences, group g with the seed (0, g), each cut to its longest.
    monkeypatch.setattr(sentence_export, "GROUP_SIZE", 4)
    path = sentence_export.export_sentence_model(model, vocabulary, tmp_path / "export", 1)
    served = tf.saved_model.load(str(path)).signatures
    strings = tf.constant(SENTENCES[:6])
    out = served["log_likelihood"](sentences=strings, num_samples=tf.constant(4))
    expected = [importance_weighted_log_likelihood(model, ids[:4], 4, [0, 0], chunk_size=10)]
    expected.append(importance_weighted_log_likelihood(model, ids[4:6], 4, [0, 1], chunk_size=10))
    np.testing.assert_allclose(out["log_px"].numpy(), np.concatenate(expected), rtol=1e-5, atol=1e-4)
    expected_elbo = np.concatenate([model.elbo(ids[:4], seed=[0, 0]), model.elbo(ids[4:6], seed=[0, 1])])
    np.testing.assert_allclose(out["elbo"].numpy(), expected_elbo, rtol=1e-5, atol=1e-4)
    # Padding inside a row (ids from a client) is scored as the model scores it: the cut is after the last word.
    gappy = tf.tensor_scatter_nd_update(ids[:2], [[0, 1], [1, 0]], tf.fill([2], tf.constant(PAD, ids.dtype)))
    gappy = tf.concat([gappy, tf.zeros([2, 3], ids.dtype)], axis=1)  # and three columns of trailing padding
    from_ids = served["log_likelihood_ids"](ids=gappy, num_samples=tf.constant(4))["log_px"]
    expected = importance_weighted_log_likelihood(model, gappy, 4, [0, 0], chunk_size=10)
    np.testing.assert_allclose(from_ids.numpy(), expected.numpy(), rtol=1e-5, atol=1e-4)
    description = json.loads((path / "tfvae.json").read_text())
    assert description["signatures"]["log_likelihood"]["group_size"] == 4
    np.testing.assert_array_equal(out["tokens"].numpy(), np.sum(ids.numpy() != PAD, axis=1))
    encoded = served["encode"](sentences=strings)
    np.testing.assert_allclose(encoded["mean"].numpy(), model.encode(ids).mean().numpy(), rtol=1e-5, atol=1e-6)
    sampled = served["sample"](num_samples=tf.constant(3), seed=tf.constant(2))
    assert sampled["sentences"].shape == (3,)
    expected_ids = model.sample(3, seed=[2, 0], greedy=model.latent_dim > 0)  # a language model samples words
    np.testing.assert_array_equal(sampled["ids"].numpy(), expected_ids.numpy())
    assert text.Vocabulary.load(path / "assets" / text.VOCABULARY_FILE).tokens == vocabulary.tokens
    with pytest.raises(tf.errors.InvalidArgumentError, match="token ids must lie"):
        served["log_likelihood_ids"](ids=ids + 1000, num_samples=tf.constant(2))
    # log p(x|z) at any z: the model's teacher-forced likelihood; with encode_ids, the ELBO by hand.
    z = tf.random.stateless_normal([ids.shape[0], model.latent_dim], seed=[3, 4])
    given = served["log_px_given_z"](ids=ids, z=z)
    np.testing.assert_allclose(
        given["log_px_given_z"].numpy(), model.likelihood_of(ids, z).log_prob(ids).numpy(), rtol=1e-5, atol=1e-4
    )
    np.testing.assert_array_equal(given["tokens"].numpy(), out["tokens"].numpy())
    with pytest.raises(tf.errors.InvalidArgumentError, match="one latent code per sentence"):
        served["log_px_given_z"](ids=ids, z=z[:2])
    if model.latent_dim:  # a language model's z is empty
        with pytest.raises(tf.errors.InvalidArgumentError, match="must be finite"):
            served["log_px_given_z"](ids=ids, z=z * np.nan)
        wide = tf.zeros([ids.shape[0], model.latent_dim + 1])
        for call in (lambda: served["log_px_given_z"](ids=ids, z=wide), lambda: served["decode"](z=wide)):
            with pytest.raises((tf.errors.InvalidArgumentError, ValueError, TypeError), match="latent_dim|shape"):
                call()
    # A request without sentences is refused by name (the encoder's LSTM cannot run on an empty batch).
    none = tf.constant([], tf.string)
    for call in (
        lambda: served["encode"](sentences=none),
        lambda: served["reconstruct"](sentences=none),
        lambda: served["log_likelihood"](sentences=none, num_samples=tf.constant(2)),
    ):
        with pytest.raises(tf.errors.InvalidArgumentError, match="holds no sentence"):
            call()
    _check_decoding_signatures(served, path, model, ids, signature_decodings(name))
