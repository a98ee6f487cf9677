"""The TFP heads: sizes, densities against scipy/closed forms, finite gradients at extremes."""

import numpy as np
import pytest
import scipy.stats

from tfvae.backend import tf
from tfvae.distributions import (
    BernoulliLikelihood,
    DiagonalNormalPosterior,
    FullCovarianceNormalPosterior,
    NormalLikelihood,
    make_likelihood,
    make_posterior,
)


def test_diagonal_posterior_matches_scipy():
    rng = np.random.default_rng(0)
    params = rng.normal(size=(5, 6)).astype(np.float32)
    q = DiagonalNormalPosterior(3)(params)
    z = rng.normal(size=(5, 3)).astype(np.float32)
    scale = np.log1p(np.exp(params[:, 3:])) + 1e-4
    expected = scipy.stats.norm(params[:, :3], scale).logpdf(z).sum(-1)
    np.testing.assert_allclose(q.log_prob(z).numpy(), expected, rtol=1e-5)


def test_full_covariance_posterior_is_valid_cholesky_and_matches_scipy():
    rng = np.random.default_rng(1)
    d = 3
    params = rng.normal(size=(4, FullCovarianceNormalPosterior.params_size(d))).astype(np.float32)
    q = FullCovarianceNormalPosterior(d)(params)
    cov = q.covariance().numpy()
    z = rng.normal(size=(4, d)).astype(np.float32)
    for i in range(4):
        assert np.all(np.linalg.eigvalsh(cov[i]) > 0)
        expected = scipy.stats.multivariate_normal(params[i, :d], cov[i]).logpdf(z[i])
        np.testing.assert_allclose(q.log_prob(z)[i].numpy(), expected, rtol=1e-4)


def test_bernoulli_likelihood_is_cross_entropy():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(3, 12)).astype(np.float32)
    x = (rng.random((3, 2, 2, 3)) < 0.5).astype(np.float32)
    p = BernoulliLikelihood((2, 2, 3))(logits)
    probs = 1 / (1 + np.exp(-logits.reshape(3, 2, 2, 3)))
    expected = (x * np.log(probs) + (1 - x) * np.log(1 - probs)).sum((1, 2, 3))
    np.testing.assert_allclose(p.log_prob(x).numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(p.mean().numpy(), probs, rtol=1e-6)


@pytest.mark.parametrize("scale", [0.3, "global", "pixel"])
def test_normal_likelihood_matches_scipy(scale):
    rng = np.random.default_rng(3)
    head = NormalLikelihood((4,), scale=scale)
    loc = rng.normal(size=(2, 4)).astype(np.float32)
    x = rng.normal(size=(2, 4)).astype(np.float32)
    sigma = 0.3 if scale == 0.3 else 1.0  # learned scales start at 1
    expected = scipy.stats.norm(loc, sigma).logpdf(x).sum(-1)
    np.testing.assert_allclose(head(loc).log_prob(x).numpy(), expected, rtol=1e-5)
    assert len(head.trainable_weights) == (0 if scale == 0.3 else 1)
    if scale == "pixel":
        assert head.trainable_weights[0].shape == (4,)


def test_learned_scale_gets_gradient():
    head = NormalLikelihood((4,), scale="global")
    with tf.GradientTape() as tape:
        loss = -tf.reduce_sum(head(tf.zeros([2, 4])).log_prob(tf.ones([2, 4]) * 3.0))
    (grad,) = tape.gradient(loss, head.trainable_weights)
    assert float(grad) < 0  # residuals of 3 want a larger sigma


@pytest.mark.parametrize("head", [DiagonalNormalPosterior(2), FullCovarianceNormalPosterior(2)])
def test_posterior_scale_floor_keeps_log_prob_and_gradients_finite(head):
    # Raw scales of -1e4 would make an unfloored softplus 0 and log_prob -inf/NaN.
    params = tf.Variable(tf.fill([3, head.params_size(2)], -1e4))
    with tf.GradientTape() as tape:
        log_prob = head(params).log_prob(tf.zeros([3, 2]))
    grad = tape.gradient(log_prob, params)
    assert np.all(np.isfinite(log_prob.numpy()))
    assert np.all(np.isfinite(grad.numpy()))


def test_bernoulli_gradients_finite_at_extreme_logits():
    logits = tf.Variable([[1e4, -1e4, 0.0, 50.0]])
    with tf.GradientTape() as tape:
        log_prob = BernoulliLikelihood((4,))(logits).log_prob([[0.0, 1.0, 1.0, 0.0]])
    assert np.isfinite(log_prob.numpy()).all()
    assert np.isfinite(tape.gradient(log_prob, logits).numpy()).all()


def test_factories_reject_unknown_names():
    with pytest.raises(ValueError, match="posterior must be one of"):
        make_posterior("gamma", 2)
    with pytest.raises(ValueError, match="likelihood must be one of"):
        make_likelihood("poisson", (2,))
    with pytest.raises(ValueError, match="positive"):
        NormalLikelihood((2,), scale=-1.0)


def test_heads_config_is_plain_hyperparameters():
    config = NormalLikelihood((2, 3), scale="pixel").get_config()
    assert config["event_shape"] == [2, 3] and config["scale"] == "pixel"
    assert "make_distribution_fn" not in config
