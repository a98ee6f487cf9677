"""Per-example stochastic VI and the inference gaps, against a linear-Gaussian model's exact posterior."""

import numpy as np
import pytest
import scipy.stats

from conftest import REPO
from tfvae import VAE
from tfvae.backend import input_layer, keras
from tfvae.inference import elbo_under, fit_posteriors, inference_gaps

W = np.array([[1.2, -0.5], [0.3, 0.9], [-0.7, 0.4]])
B = np.array([0.2, -0.1, 0.3])
SIGMA = 0.5


def _linear_gaussian(encoder_weights=None):
    """p(z) = N(0, I_2), p(x|z) = N(W z + b, sigma^2 I_3); the encoder is given or random."""
    decoder = keras.Sequential([input_layer((2,)), keras.layers.Dense(3)])
    encoder = keras.Sequential([input_layer((3,)), keras.layers.Dense(4)])
    model = VAE(
        data_shape=(3,),
        latent_dim=2,
        likelihood="normal",
        likelihood_scale=SIGMA,
        encoder=encoder,
        decoder=decoder,
        seed=0,
    )
    decoder.set_weights([W.T.astype(np.float32), B.astype(np.float32)])
    if encoder_weights is not None:
        encoder.set_weights(encoder_weights)
    covariance = np.linalg.inv(np.eye(2) + W.T @ W / SIGMA**2)
    marginal = scipy.stats.multivariate_normal(B, W @ W.T + SIGMA**2 * np.eye(3))
    return model, covariance, marginal


def _exact_posterior_mean(x, covariance):
    return (x - B) @ W @ covariance.T / SIGMA**2


def test_stochastic_vi_from_the_prior_finds_the_exact_posterior_and_no_approximation_gap():
    model, covariance, marginal = _linear_gaussian()
    x = marginal.rvs(size=8, random_state=np.random.default_rng(1)).astype(np.float32)
    posteriors, curve = fit_posteriors(
        model, x, steps=1500, start="prior", covariance="full", learning_rate=0.05, num_samples=32, seed=3
    )
    (q,) = posteriors.distributions()
    np.testing.assert_allclose(q.mean().numpy(), _exact_posterior_mean(x, covariance), atol=0.05)
    np.testing.assert_allclose(q.covariance().numpy(), np.broadcast_to(covariance, (8, 2, 2)), atol=0.03)
    assert curve[-1] > curve[0] + 1.0  # the ELBO rose
    # The full-covariance Gaussian family holds the exact posterior: ELBO[q*] = log p(x) (no approximation gap).
    elbo = elbo_under(model, x, [q], 20000, (5, 5)).numpy()
    np.testing.assert_allclose(elbo, marginal.logpdf(x), atol=0.03)


def test_a_poor_encoder_has_an_amortization_gap_that_refinement_closes():
    poor = [np.full((3, 4), 0.3, np.float32), np.array([1.0, -1.0, 2.0, 2.0], np.float32)]  # wrong means, wide
    model, covariance, marginal = _linear_gaussian(poor)
    x = marginal.rvs(size=16, random_state=np.random.default_rng(2)).astype(np.float32)
    results = inference_gaps(
        model, x, steps=800, learning_rate=0.05, num_samples=2000, elbo_samples=4000, batch_size=16, verbose=0
    )
    exact = marginal.logpdf(x)
    assert abs(results["log_px"] - exact.mean()) < 0.1, (results["log_px"], exact.mean())  # a poor proposal: noisy
    assert results["amortization_gap"] > 1.0 + 3 * results["amortization_gap_stderr"], results
    # Refinement closes it up to the family's own limit: a diagonal q* cannot hold the posterior's correlation,
    # so ELBO[q*] sits below the exact log p(x) by the KL from the best diagonal Gaussian to the posterior.
    rho = covariance[0, 1] / np.sqrt(covariance[0, 0] * covariance[1, 1])
    best_diagonal_gap = -0.5 * np.log(1 - rho**2)
    gaps = exact - np.asarray(results["per_example"]["elbo_optimized"])
    assert abs(gaps.mean() - best_diagonal_gap) < 0.015, (gaps.mean(), best_diagonal_gap)
    assert np.all(np.abs(gaps - best_diagonal_gap) < 0.06), gaps  # per example, within Monte Carlo error


@pytest.fixture(scope="module")
def shipped_model():
    from tfvae.served import rebuild

    return rebuild(REPO / "saved_models" / "mnist_mlp_bernoulli" / "2")


def test_on_a_trained_mnist_model_refinement_never_loses_and_stays_below_log_px(shipped_model):
    from conftest import mnist_dir
    from tfvae.data import binarize_fixed, load_dataset

    if not (mnist_dir() / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("the real MNIST files are not here")
    x = binarize_fixed(load_dataset("mnist", mnist_dir()).test_images[:20], seed=0)
    results = inference_gaps(shipped_model, x, steps=300, num_samples=1000, elbo_samples=500, batch_size=20, verbose=0)
    per = {k: np.asarray(v) for k, v in results["per_example"].items()}
    # Per example, within Monte Carlo error (500 samples of ELBO terms: a few tenths of a nat).
    assert np.all(per["elbo_optimized"] >= per["elbo_amortized"] - 0.5), per
    assert np.all(per["log_px"] >= per["elbo_optimized"] - 0.5), per
    assert results["amortization_gap"] > 0 and results["approximation_gap"] > 0


def test_cli_prints_both_gaps_for_an_exported_model(tmp_path):
    import json
    import subprocess
    import sys

    from conftest import mnist_dir

    if not (mnist_dir() / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("the real MNIST files are not here")
    out = tmp_path / "gaps.json"
    shipped = REPO / "saved_models" / "mnist_mlp_bernoulli" / "2"
    command = [
        sys.executable,
        "-m",
        "tfvae",
        "evaluate",
        str(shipped),
        "--gaps",
        "--limit",
        "8",
        "-k",
        "50",
        "--svi-steps",
        "30",
        "--data-dir",
        str(mnist_dir()),
        "--out",
        str(out),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "approximation gap" in result.stdout and "amortization gap" in result.stdout
    results = json.loads(out.read_text())
    assert results["num_examples"] == 8 and len(results["curve"]) == 30
    assert out.with_suffix(".png").exists()
