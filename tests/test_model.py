"""The VAE: loss = -ELBO by hand, closed-form vs Monte Carlo KL, gradients, shapes, save/load."""

import numpy as np
import pytest

from conftest import WEIGHTS, keras2_only
from tfvae import VAE
from tfvae.backend import keras, tf


def _softplus(x):
    return np.logaddexp(0.0, x)


def _diagonal_kl_by_hand(model, x):
    """KL(N(mu, diag s^2) || N(0, I)) from the encoder's raw outputs, in NumPy."""
    params = model.encoder(x).numpy()
    d = model.latent_dim
    mu, s = params[:, :d], _softplus(params[:, d:]) + 1e-4
    return 0.5 * np.sum(mu**2 + s**2 - 1.0 - 2.0 * np.log(s), axis=-1)


def _small_model(**kwargs):
    keras.utils.set_random_seed(0)  # the same initial weights in every run
    config = dict(latent_dim=4, hidden_units=(32, 16), filters=(4, 8), seed=7)
    config.update(kwargs)
    return VAE(**config)


def test_add_loss_kl_equals_closed_form(binary_batch):
    model = _small_model()
    state = model.seed_generator.state.numpy()
    losses = {}
    for beta in (0.0, 1.0):
        model.kl_weight.assign(beta)
        model.seed_generator.reset(state)  # same z for both
        model(binary_batch)
        (losses[beta],) = [float(loss) for loss in model.losses]
    kl_through_add_loss = losses[1.0] - losses[0.0]
    # A difference of two ~544-nat float32 losses: resolution ~1e-4 nats.
    np.testing.assert_allclose(kl_through_add_loss, _diagonal_kl_by_hand(model, binary_batch).mean(), atol=5e-4)


@pytest.mark.parametrize("posterior", ["diagonal", "full"])
def test_monte_carlo_kl_agrees_with_closed_form(binary_batch, posterior):
    analytic = _small_model(posterior=posterior)
    sampled = _small_model(posterior=posterior, kl_estimate="sample")
    sampled.set_weights(analytic.get_weights())
    x = binary_batch[:8]
    num_samples = 20000
    closed = analytic.elbo_terms(x, seed=0)["kl"].numpy()
    terms = sampled.elbo_terms(x, seed=1, num_samples=num_samples)
    q, z = terms["posterior"], terms["z"]
    per_sample = (q.log_prob(z) - analytic.prior().log_prob(z)).numpy()  # [K, B]
    standard_error = per_sample.std(axis=0) / np.sqrt(num_samples)
    np.testing.assert_allclose(terms["kl"].numpy(), per_sample.mean(0), rtol=1e-5)
    assert np.all(np.abs(terms["kl"].numpy() - closed) < 3 * standard_error + 1e-4)


def test_reported_loss_is_negative_elbo_by_hand(binary_batch):
    model = _small_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    state = model.seed_generator.state.numpy()
    result = model.evaluate(binary_batch, batch_size=len(binary_batch), verbose=0, return_dict=True)

    # Independently: the same noise, TFP densities and the NumPy KL.
    model.seed_generator.reset(state)
    seed = tf.cast(model.seed_generator.make_seeds(1)[:, 0], tf.int32)
    z = model.encode(binary_batch).sample(1, seed=seed)
    log_likelihood = model.decode(z).log_prob(binary_batch).numpy()[0]
    kl = _diagonal_kl_by_hand(model, binary_batch)
    elbo = log_likelihood - kl
    np.testing.assert_allclose(result["loss"], -elbo.mean(), rtol=1e-5)
    np.testing.assert_allclose(result["elbo"], elbo.mean(), rtol=1e-5)
    np.testing.assert_allclose(result["kl"], kl.mean(), rtol=1e-4)
    np.testing.assert_allclose(result["reconstruction"], -log_likelihood.mean(), rtol=1e-5)


def test_loss_is_per_example_mean_over_uneven_batches(binary_batch):
    model = _small_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    state = model.seed_generator.state.numpy()
    whole = model.evaluate(binary_batch[:50], batch_size=50, verbose=0, return_dict=True)
    model.seed_generator.reset(state)
    # Batches of 40 and 10: the KL (no noise) must be the same per-example mean.
    split = model.evaluate(binary_batch[:50], batch_size=40, verbose=0, return_dict=True)
    np.testing.assert_allclose(split["kl"], whole["kl"], rtol=1e-5)


def test_gradient_reaches_every_trainable_variable(binary_batch):
    model = _small_model(likelihood="normal", likelihood_scale="global")
    with tf.GradientTape() as tape:
        model(binary_batch, training=True)
        loss = tf.add_n(model.losses)
    grads = tape.gradient(loss, model.trainable_variables)
    assert len(grads) == len(model.trainable_variables) > 0
    for variable, grad in zip(model.trainable_variables, grads):
        assert grad is not None, variable.name
        assert np.all(np.isfinite(grad.numpy())), variable.name
        assert np.any(grad.numpy() != 0), variable.name


@pytest.mark.parametrize("architecture", ["mlp", "conv"])
@pytest.mark.parametrize("posterior", ["diagonal", "full"])
@pytest.mark.parametrize("likelihood,scale", [("bernoulli", 1.0), ("normal", 0.5), ("normal", "pixel")])
def test_shapes(binary_batch, architecture, posterior, likelihood, scale):
    model = _small_model(architecture=architecture, posterior=posterior, likelihood=likelihood, likelihood_scale=scale)
    x = binary_batch[:5]
    q = model.encode(x)
    assert q.batch_shape == [5] and q.event_shape == [4]
    p = model.decode(q.sample(3, seed=(1, 1)))
    assert p.batch_shape == [3, 5] and p.event_shape == [28, 28, 1]
    assert model(x).shape == (5, 28, 28, 1)
    assert model.elbo(x, seed=0).shape == (5,)
    assert model.sample(6, seed=0).shape == (6, 28, 28, 1)
    assert model.reconstruct(x).shape == (5, 28, 28, 1)
    assert np.all(np.isfinite(model.elbo(x, seed=0).numpy()))


def test_fit_reports_loss_and_metrics_and_learns(binary_batch):
    model = _small_model()
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(binary_batch, batch_size=16, epochs=5, verbose=0)
    for name in ("loss", "reconstruction", "kl", "elbo"):
        assert len(history.history[name]) == 5
    np.testing.assert_allclose(history.history["loss"], -np.array(history.history["elbo"]), rtol=1e-5)
    assert history.history["loss"][-1] < history.history["loss"][0] - 20


def test_beta_weighs_only_the_kl(binary_batch):
    model = _small_model(beta=4.0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    r = model.evaluate(binary_batch, batch_size=64, verbose=0, return_dict=True)
    np.testing.assert_allclose(r["loss"], r["reconstruction"] + 4.0 * r["kl"], rtol=1e-5)
    np.testing.assert_allclose(r["elbo"], -(r["reconstruction"] + r["kl"]), rtol=1e-5)


def test_config_round_trip():
    model = _small_model(
        architecture="conv", posterior="full", likelihood="normal", likelihood_scale="global", beta=2.0
    )
    clone = VAE.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]


def test_invalid_hyperparameters_raise():
    with pytest.raises(ValueError, match="latent_dim"):
        VAE(latent_dim=0)
    with pytest.raises(ValueError, match="beta"):
        VAE(beta=-1.0)
    with pytest.raises(ValueError, match="architecture"):
        VAE(architecture="transformer")
    with pytest.raises(ValueError, match="divisible"):
        VAE(data_shape=(30, 30, 1), architecture="conv")


@keras2_only  # Keras 3's model.save writes .keras/.h5 only (a SavedModel is model.export, not loadable)
@pytest.mark.parametrize("posterior", ["diagonal", "full"])
def test_keras_savedmodel_round_trip(tmp_path, binary_batch, posterior):
    model = _small_model(posterior=posterior, likelihood="normal", likelihood_scale="pixel")
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(binary_batch, batch_size=32, epochs=1, verbose=0)
    model.save(tmp_path / "model")
    loaded = keras.models.load_model(tmp_path / "model")
    assert isinstance(loaded, VAE)
    x = binary_batch[:8]
    np.testing.assert_array_equal(loaded.encode(x).mean().numpy(), model.encode(x).mean().numpy())
    np.testing.assert_array_equal(loaded.elbo(x, seed=3).numpy(), model.elbo(x, seed=3).numpy())


def test_weights_checkpoint_round_trip(tmp_path, binary_batch):
    model = _small_model(architecture="conv")
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(binary_batch, batch_size=32, epochs=1, verbose=0)
    model.save_weights(str(tmp_path / WEIGHTS))
    fresh = VAE.from_config(model.get_config())
    fresh.load_weights(str(tmp_path / WEIGHTS))
    x = binary_batch[:8]
    np.testing.assert_array_equal(fresh.encode(x).mean().numpy(), model.encode(x).mean().numpy())
    np.testing.assert_array_equal(fresh.elbo(x, seed=3).numpy(), model.elbo(x, seed=3).numpy())
    # The random stream is restored too: the next default-seeded draws agree.
    np.testing.assert_array_equal(fresh.sample(2).numpy(), model.sample(2).numpy())


def test_jit_compile_gives_the_same_loss(binary_batch):
    # XLA picks another stateless PRNG algorithm on CPU, so the same seed gives
    # other noise: the noise-free KL must agree exactly, the sampled
    # reconstruction term within Monte Carlo error.
    x = np.concatenate([binary_batch] * 4)
    model = _small_model()
    results = []
    for jit in (False, True):
        model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit)
        results.append(model.evaluate(x, batch_size=64, verbose=0, return_dict=True))
    np.testing.assert_allclose(results[1]["kl"], results[0]["kl"], rtol=1e-5)
    difference = model.elbo_terms(x, seed=1)["reconstruction"] - model.elbo_terms(x, seed=2)["reconstruction"]
    standard_error = float(tf.math.reduce_std(difference)) / np.sqrt(len(x))
    assert abs(results[1]["reconstruction"] - results[0]["reconstruction"]) < 4 * standard_error
    assert abs(results[1]["loss"] - results[0]["loss"]) < 4 * standard_error


class _FlipEmptyImages(keras.layers.Layer):
    """A user's layer whose Python ``if`` on a tensor only works in graph mode after AutoGraph converts it."""

    def call(self, x):
        if tf.reduce_max(x) == 0.0:
            x = 1.0 - x
        return x


@keras2_only  # Keras 3 never runs AutoGraph on a layer's call (its train functions are do_not_convert)
def test_autograph_skips_tfvae_but_still_converts_the_users_layers(binary_batch):
    from tensorflow.python.autograph.core import config

    assert any(getattr(rule, "_prefix", None) == "tfvae" for rule in config.CONVERSION_RULES)
    encoder = keras.Sequential([_FlipEmptyImages(), keras.layers.Flatten(), keras.layers.Dense(8)])
    decoder = keras.Sequential([keras.layers.Dense(784)])
    model = VAE(latent_dim=4, encoder=encoder, decoder=decoder, seed=1)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(binary_batch, batch_size=16, epochs=1, verbose=0)  # the if is a tf.cond in the graph
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize(
    "family",
    ["image", pytest.param("sentence", marks=keras2_only)],  # Keras 3's LSTM takes a Python bool only
)
def test_a_tensor_training_flag_works_in_a_traced_call(binary_batch, family):
    """``training`` as a tensor (as Keras's own Dropout accepts it) inside a tf.function: a graph cond, not an error."""
    if family == "image":
        model, x = _small_model(), tf.constant(binary_batch[:4])
    else:
        from tfvae.sentence import SentenceVAE

        model = SentenceVAE(30, latent_dim=2, embedding_dim=8, units=8, word_dropout=0.5, seed=0)
        x = tf.constant(np.random.default_rng(0).integers(4, 30, size=(4, 7)), tf.int32)
    call = tf.function(lambda x, training: model(x, training=training))
    for flag in (True, False):
        eager = model(x, training=flag)
        traced = call(x, tf.constant(flag))
        assert traced.shape == eager.shape


def test_a_keras_object_of_the_other_package_is_refused_before_tracing(binary_batch):
    """Issue 37: a Keras 3 optimizer, callback or network handed to a tf_keras tfvae model (or the reverse under
    TFVAE_KERAS=3) is a one-line TypeError naming both packages and the fix, not an AttributeError mid-step."""
    from tfvae.backend import KERAS_VERSION

    other = __import__("tf_keras" if KERAS_VERSION == 3 else "keras")
    pattern = r"Keras [23] \(`import (tf_)?keras`\).*but tfvae runs on Keras [23].*TFVAE_KERAS="
    model = _small_model(architecture="mlp")
    with pytest.raises(TypeError, match=pattern):
        model.compile(optimizer=other.optimizers.Adam(1e-3))
    model.compile(optimizer="adam")
    with pytest.raises(TypeError, match=pattern):
        model.fit(binary_batch, epochs=1, verbose=0, callbacks=[other.callbacks.EarlyStopping(monitor="loss")])
    network = other.Sequential([other.layers.Flatten(), other.layers.Dense(8)])
    with pytest.raises(TypeError, match=pattern):
        VAE(latent_dim=4, encoder=network, decoder=network)
