"""One harness for every model variant: config round trip, save/load, export parity, finite gradients.

A new variant (a prior, a likelihood, an objective, a latent structure, custom networks) is one line in
``VARIANTS``; every test below then runs on it.
"""

import json

import numpy as np
import pytest

from tfvae import VAE
from tfvae.backend import keras, tf
from tfvae.evaluation import importance_weighted_log_likelihood, log_joint, log_mean_weight
from tfvae.export import LOG_LIKELIHOOD_SEED, export

SHAPE = (8, 8, 1)
CONDITIONS = 4


def _custom_networks():
    """A user's own Keras networks in place of the presets."""
    encoder = keras.Sequential(
        [
            keras.layers.InputLayer(input_shape=SHAPE),
            keras.layers.Flatten(),
            keras.layers.Dense(24, activation="tanh"),
            keras.layers.Dense(6),
        ],
        name="my_encoder",
    )
    decoder = keras.Sequential(
        [keras.layers.InputLayer(input_shape=(3,)), keras.layers.Dense(24, activation="elu"), keras.layers.Dense(64)],
        name="my_decoder",
    )
    return {"encoder": encoder, "decoder": decoder}


# name -> constructor arguments (a callable where the arguments are fresh objects), and whether to test TFLite.
VARIANTS = {
    "mlp_bernoulli": ({}, True),
    "conv": ({"architecture": "conv", "filters": (4, 8)}, False),
    "full_posterior_normal_pixel": ({"posterior": "full", "likelihood": "normal", "likelihood_scale": "pixel"}, True),
    "beta": ({"beta": 4.0}, False),
    "iwae": ({"objective": "iwae", "num_samples": 3}, False),
    "iwae_dreg_vamp": ({"objective": "iwae_dreg", "num_samples": 3, "prior": "vamp", "prior_components": 4}, False),
    "free_bits": ({"objective": "free_bits", "free_bits": 0.2}, False),
    "mixture_prior": ({"prior": "mixture", "prior_components": 3}, False),
    "vamp_prior": ({"prior": "vamp", "prior_components": 4}, False),
    "continuous_bernoulli": ({"likelihood": "continuous_bernoulli"}, False),
    "discretized_logistic": ({"likelihood": "discretized_logistic"}, False),
    "conditional": ({"condition_dim": CONDITIONS}, True),
    "custom_networks": (_custom_networks, True),
    "two_layers": ({"latent_dims": (3, 2)}, True),
    "three_layer_ladder": (
        {"latent_dims": (3, 2, 2), "inference": "ladder", "objective": "iwae", "num_samples": 2},
        True,
    ),
    "two_layers_free_bits": ({"latent_dims": (3, 2), "objective": "free_bits", "free_bits": 0.2}, False),
    "two_layers_ladder_batch_norm": ({"latent_dims": (3, 2), "inference": "ladder", "latent_batch_norm": True}, True),
    "two_layers_vamp_sampled_kl": (
        {"latent_dims": (3, 2), "prior": "vamp", "prior_components": 4, "kl_estimate": "sample"},
        False,
    ),
    "two_layers_mixture_conditional": (
        {"latent_dims": (3, 2), "prior": "mixture", "prior_components": 3, "condition_dim": CONDITIONS},
        False,
    ),
}


def _build(name):
    arguments, _ = VARIANTS[name]
    arguments = arguments() if callable(arguments) else arguments
    defaults = {
        "data_shape": SHAPE,
        "latent_dim": None if "latent_dims" in arguments else 3,
        "hidden_units": (16,),
        "latent_hidden_units": (8,),
        "seed": 4,
    }
    return VAE(**{**defaults, **arguments})


def _inputs(model):
    """A batch ``(x, condition or None)``: binary images, one-hot conditions for a conditional model."""
    rng = np.random.default_rng(0)
    x = (rng.random((6, *SHAPE)) < 0.4).astype(np.float32)
    condition = np.eye(CONDITIONS, dtype=np.float32)[rng.integers(0, CONDITIONS, 6)] if model.condition_dim else None
    return x, condition


def _loss(model, x, condition):
    return model.objective.loss(model.elbo_terms(x, seed=(5, 6), condition=condition)).numpy()


@pytest.fixture(params=list(VARIANTS))
def variant(request):
    model = _build(request.param)
    x, condition = _inputs(model)
    return request.param, model, x, condition


def test_config_round_trip(variant):
    name, model, x, condition = variant
    config = json.loads(json.dumps(model.get_config()))  # JSON-serializable, as run directories store it
    clone = VAE.from_config(config)
    assert json.loads(json.dumps(clone.get_config())) == config
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(_loss(clone, x, condition), _loss(model, x, condition), rtol=1e-6)


def test_save_and_load(variant, tmp_path):
    name, model, x, condition = variant
    expected = _loss(model, x, condition)
    model.save_weights(str(tmp_path / "checkpoint"))  # what runs keep
    restored = VAE.from_config(model.get_config())
    restored.load_weights(str(tmp_path / "checkpoint")).assert_existing_objects_matched()
    np.testing.assert_allclose(_loss(restored, x, condition), expected, rtol=1e-6)
    model.save(tmp_path / "model.keras")  # Keras's own format: config plus weights
    reloaded = keras.models.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(_loss(reloaded, x, condition), expected, rtol=1e-6)


def test_gradients_reach_every_variable_and_are_finite(variant):
    name, model, x, condition = variant
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model.objective.loss(model.elbo_terms(x, seed=(1, 2), condition=condition)))
    gradients = tape.gradient(loss, model.trainable_variables)
    for variable, gradient in zip(model.trainable_variables, gradients):
        assert gradient is not None, variable.name
        assert np.all(np.isfinite(tf.convert_to_tensor(gradient).numpy())), variable.name


def test_export_matches_keras(variant, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    name, model, x, condition = variant
    path = export(model, tmp_path / "served", tflite=VARIANTS[name][1])
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
    if not VARIANTS[name][1]:
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


def test_per_example_inference_runs_on_every_variant(variant):
    from tfvae.inference import elbo_under, fit_posteriors

    name, model, x, condition = variant
    posteriors, curve = fit_posteriors(model, x, steps=5, num_samples=2, seed=3, condition=condition)
    q_star = posteriors.distributions()
    assert [q.event_shape[-1] for q in q_star] == list(model.latent_dims)
    assert curve.shape == (5,) and np.all(np.isfinite(curve))
    assert np.all(np.isfinite(elbo_under(model, x, q_star, 4, (1, 1), condition).numpy()))
