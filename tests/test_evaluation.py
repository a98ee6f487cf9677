"""The importance-weighted estimator against exact log-likelihoods, and the diagnostics."""

import numpy as np
import pytest
import scipy.stats
from scipy.special import expit, logsumexp

from conftest import blob_images
from tfvae import VAE
from tfvae.backend import keras, tfb
from tfvae.evaluation import evaluate, importance_weighted_log_likelihood

D, d, SIGMA = 5, 2, 0.5


def _linear_gaussian(encoder_scale=1.0, tril_scale=1.0, kl_estimate="auto"):
    """p(z) = N(0, I), p(x|z) = N(Wz + b, SIGMA^2 I), q = the exact posterior (optionally distorted)."""
    rng = np.random.default_rng(0)
    W = rng.normal(size=(D, d)).astype(np.float32)
    b = rng.normal(size=D).astype(np.float32)
    model = VAE(
        data_shape=(D,),
        latent_dim=d,
        hidden_units=(),
        posterior="full",
        likelihood="normal",
        likelihood_scale=SIGMA,
        kl_estimate=kl_estimate,
        seed=0,
    )
    model.decoder.layers[-1].set_weights([W.T, b])
    cov = np.linalg.inv(np.eye(d) + W.T @ W / SIGMA**2)
    gain = cov @ W.T / SIGMA**2  # mu(x) = gain (x - b)
    fill = tfb.FillScaleTriL(diag_bijector=tfb.Softplus(low=1e-4), diag_shift=None)  # the head's map
    raw_tril = fill.inverse(tril_scale * np.linalg.cholesky(cov).astype(np.float32)).numpy()
    kernel = np.zeros((D, d + len(raw_tril)), np.float32)
    kernel[:, :d] = encoder_scale * gain.T
    bias = np.concatenate([-encoder_scale * gain @ b, raw_tril]).astype(np.float32)
    model.encoder.layers[-1].set_weights([kernel, bias])
    x = rng.normal(size=(20, D)).astype(np.float32) * 2 + b
    exact = scipy.stats.multivariate_normal(b, W @ W.T + SIGMA**2 * np.eye(D)).logpdf(x)
    return model, x, exact


def test_exact_posterior_makes_the_elbo_exact():
    # With the sampled KL, log p(x|z) + log p(z) - log q(z|x) = log p(x) for every z.
    model, x, exact = _linear_gaussian(kl_estimate="sample")
    np.testing.assert_allclose(model.elbo(x, seed=1).numpy(), exact, atol=2e-3)
    # With the closed-form KL only the expectation is exact.
    model, x, exact = _linear_gaussian()
    np.testing.assert_allclose(model.elbo(x, seed=1, num_samples=20000).numpy(), exact, atol=0.05)
    np.testing.assert_allclose(importance_weighted_log_likelihood(model, x, 7, seed=(2, 3)).numpy(), exact, atol=2e-3)


def test_estimator_converges_to_exact_log_likelihood():
    model, x, exact = _linear_gaussian(encoder_scale=0.8, tril_scale=1.4)
    errors = {}
    for k in (10, 1000):
        estimate = importance_weighted_log_likelihood(model, x, k, seed=(0, k)).numpy()
        errors[k] = np.mean(np.abs(estimate - exact))
    elbo = model.elbo(x, seed=(1, 1), num_samples=2000).numpy()
    assert np.all(elbo < exact)  # a distorted posterior: a strict bound
    assert errors[1000] < errors[10]  # (a bound in expectation only: single estimates may overshoot)
    print(errors)
    assert errors[1000] < 0.05, errors  # stated tolerance: 0.05 nats


def test_bernoulli_one_dimensional_latent_matches_quadrature():
    rng = np.random.default_rng(4)
    pixels = 8
    model = VAE(data_shape=(pixels,), latent_dim=1, hidden_units=(), seed=0)
    w, b = rng.normal(size=(1, pixels)).astype(np.float32) * 2, rng.normal(size=pixels).astype(np.float32)
    model.decoder.layers[-1].set_weights([w, b])
    raw_scale = float(tfb.Softplus(low=1e-4).inverse(0.9))
    model.encoder.layers[-1].set_weights([np.zeros((pixels, 2), np.float32), np.array([0.2, raw_scale], np.float32)])
    x = (rng.random((6, pixels)) < 0.5).astype(np.float32)
    z = np.linspace(-12, 12, 48001)
    logits = z[:, None] * w[0] + b  # [grid, pixels]
    log_joint = scipy.stats.norm.logpdf(z)[None, :] + (
        x[:, None, :] * np.log(expit(logits)) + (1 - x[:, None, :]) * np.log(expit(-logits))
    ).sum(-1)  # [examples, grid]
    quadrature = logsumexp(log_joint, axis=1) + np.log(z[1] - z[0])
    estimate = importance_weighted_log_likelihood(model, x, 20000, seed=(5, 5), chunk_size=5000).numpy()
    np.testing.assert_allclose(estimate, quadrature, atol=0.02)


@pytest.fixture(scope="module")
def trained_model():
    images, _ = blob_images(512, seed=9)
    x = (np.random.default_rng(0).random(images.shape) < images / 255.0).astype(np.float32)
    model = VAE(latent_dim=4, hidden_units=(64, 32), seed=3)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(x, batch_size=64, epochs=3, verbose=0)
    return model, x[:128]


def test_bound_rises_with_k_and_k1_is_the_elbo(trained_model):
    model, x = trained_model
    bounds = {k: importance_weighted_log_likelihood(model, x, k, seed=(1, k)).numpy() for k in (1, 10, 100)}
    means = {k: v.mean() for k, v in bounds.items()}
    assert means[1] < means[10] < means[100]
    elbo = model.elbo(x, seed=(7, 7)).numpy()
    standard_error = np.std(bounds[1] - elbo) / np.sqrt(len(x))
    assert abs(means[1] - elbo.mean()) < 3 * standard_error


def test_chunked_equals_unchunked(trained_model):
    model, x = trained_model
    whole = importance_weighted_log_likelihood(model, x, 300, seed=(4, 2)).numpy()
    chunked = importance_weighted_log_likelihood(model, x, 300, seed=(4, 2), chunk_size=64).numpy()
    np.testing.assert_allclose(chunked, whole, atol=1e-4)
    a = evaluate(model, x, num_samples=50, batch_size=128, chunk_size=50, verbose=0)
    b = evaluate(model, x, num_samples=50, batch_size=128, chunk_size=7, verbose=0)
    assert abs(a["nll"] - b["nll"]) < 1e-4


def test_evaluate_reports_consistent_diagnostics(trained_model):
    model, x = trained_model
    r = evaluate(model, x, num_samples=100, batch_size=50, verbose=0)
    assert r["num_examples"] == 128 and r["num_samples"] == 100
    assert r["nll"] <= -r["elbo"] + 3 * r["nll_stderr"]
    np.testing.assert_allclose(sum(r["kl_per_dim"]), r["kl"], rtol=1e-4)  # diagonal q: KL splits by dimension
    np.testing.assert_allclose(r["bits_per_dim"], r["nll"] / (784 * np.log(2)), rtol=1e-6)
    means = model.encode(x).mean().numpy()
    assert r["active_units"] == int(np.sum(means.var(0) > 0.01))
    with pytest.raises(ValueError, match="num_samples"):
        evaluate(model, x, num_samples=0)
