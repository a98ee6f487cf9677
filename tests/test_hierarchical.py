"""Hierarchical VAEs: the joint density by hand, an exact linear-Gaussian log p(x), one-layer parity, the CLI."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.special
import scipy.stats

from conftest import tfvae_in_process
from tfvae import VAE, latents
from tfvae.backend import input_layer, keras, tf
from tfvae.callbacks import LayerDiagnostics
from tfvae.evaluation import active_units, importance_weighted_log_likelihood

REPO = Path(__file__).resolve().parents[1]
MIN_SCALE = 1e-4  # the heads' scale floor


def _diagonal(params):
    """(mean, stddev) of a diagonal-Normal head's raw parameters, in NumPy."""
    loc, raw = np.split(np.asarray(params, np.float64), 2, axis=-1)
    return loc, np.logaddexp(0.0, raw) + MIN_SCALE


def _normal_log_density(z, loc, scale):
    return scipy.stats.norm.logpdf(z, loc, scale).sum(-1)


@pytest.mark.parametrize("inference", ["bottom_up", "ladder"])
def test_joint_log_density_of_two_layers_by_hand(binary_batch, inference):
    model = VAE(latent_dims=(4, 3), inference=inference, hidden_units=(32,), latent_hidden_units=(16,), seed=3)
    x = binary_batch[:8]
    terms = model.elbo_terms(x, seed=(2, 9), num_samples=3)
    z1, z2 = (z.numpy().astype(np.float64) for z in terms["samples"])
    layer = model.latent_layers[0]
    mean1, std1 = _diagonal(model.encoder(x).numpy())
    if inference == "bottom_up":  # q(z1|x) q(z2|z1)
        mean2, std2 = _diagonal(layer.up(z1.reshape(-1, 4).astype(np.float32)).numpy().reshape(3, 8, 6))
        log_q = _normal_log_density(z1, mean1, std1) + _normal_log_density(z2, mean2, std2)
    else:  # q(z2|x) from the bottom-up pass; q(z1|z2,x) by precision weighting with p(z1|z2)
        summary = np.concatenate([mean1, np.log(std1)], -1).astype(np.float32)
        mean2, std2 = _diagonal(layer.up(summary).numpy())
        prior_mean, prior_std = _diagonal(layer.down(z2.reshape(-1, 3).astype(np.float32)).numpy().reshape(3, 8, 8))
        precision = std1**-2 + prior_std**-2
        mean = (mean1 * std1**-2 + prior_mean * prior_std**-2) / precision
        log_q = _normal_log_density(z1, mean, precision**-0.5) + _normal_log_density(z2, mean2, std2)
    down_mean, down_std = _diagonal(layer.down(z2.reshape(-1, 3).astype(np.float32)).numpy().reshape(3, 8, 8))
    log_prior = _normal_log_density(z2, 0.0, 1.0) + _normal_log_density(z1, down_mean, down_std)
    logits = model.decoder(z1.reshape(-1, 4).astype(np.float32)).numpy().reshape(3, 8, -1).astype(np.float64)
    flat = x.reshape(1, 8, -1)
    log_likelihood = (flat * logits - np.logaddexp(0.0, logits)).sum(-1)
    np.testing.assert_allclose(terms["log_posterior"].numpy(), log_q, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(terms["log_prior"].numpy(), log_prior, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(terms["log_likelihood"].numpy(), log_likelihood, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("inference", ["bottom_up", "ladder"])
def test_layer_kls_are_the_monte_carlo_kl_of_the_joint(binary_batch, inference):
    # The per-layer KLs (closed forms where they hold) sum to E_q[log q(z1, z2|x) - log p(z1, z2)].
    model = VAE(latent_dims=(4, 3), inference=inference, hidden_units=(32,), latent_hidden_units=(16,), seed=3)
    terms = model.elbo_terms(binary_batch[:8], seed=(1, 1), num_samples=20000)
    monte_carlo = (terms["log_posterior"] - terms["log_prior"]).numpy()
    standard_error = monte_carlo.std(0) / np.sqrt(len(monte_carlo))
    assert np.all(np.abs(terms["kl"].numpy() - monte_carlo.mean(0)) < 4 * standard_error + 1e-3)
    per_dimension = latents.kl_per_dimension(
        terms["posteriors"], terms["samples"], terms["conditionals"], model.prior(), inference
    )
    np.testing.assert_allclose(per_dimension.numpy().sum(-1), terms["kl"].numpy(), rtol=1e-4, atol=1e-4)


def _raw_scale(scale):
    """The raw head output whose floored softplus is ``scale``."""
    return np.log(np.expm1(np.asarray(scale) - MIN_SCALE))


def _linear_gaussian_model():
    """p(z2) = N(0, 1), p(z1|z2) = N(A z2 + a, s1^2 I), p(x|z1) = N(B z1 + b, s0^2 I), with x in R^3.

    q is bottom-up: q(z1|x) has the exact posterior's mean and 1.3 times its marginal stddevs (diagonal,
    so also without its correlation); q(z2|z1) is the exact p(z2|z1) with 1.3 times its stddev. Returns
    the model and the exact marginal p(x) = N(B a + b, B (A A^T + s1^2 I) B^T + s0^2 I).
    """
    A, a, s1 = np.array([[1.5], [-0.7]]), np.array([0.3, -0.2]), 0.6
    B, b, s0 = np.array([[1.0, 0.5], [-0.4, 1.2], [0.8, -0.9]]), np.array([0.1, 0.0, -0.3]), 0.5
    decoder = keras.Sequential([input_layer((2,)), keras.layers.Dense(3)])
    encoder = keras.Sequential([input_layer((3,)), keras.layers.Dense(4)])
    model = VAE(
        data_shape=(3,),
        latent_dims=(2, 1),
        latent_hidden_units=(),
        likelihood="normal",
        likelihood_scale=s0,
        encoder=encoder,
        decoder=decoder,
        seed=0,
    )
    f32 = lambda *arrays: [np.asarray(array, np.float32) for array in arrays]  # noqa: E731
    decoder.set_weights(f32(B.T, b))
    layer = model.latent_layers[0]
    layer.down.set_weights(f32(np.concatenate([A.T, np.zeros((1, 2))], 1), [*a, *_raw_scale([s1, s1])]))
    # q(z1|x): the exact Gaussian posterior p(z1|x) = N(M x + c, P^-1), made diagonal and wider.
    prior_z1 = A @ A.T + s1**2 * np.eye(2)
    covariance = np.linalg.inv(np.linalg.inv(prior_z1) + B.T @ B / s0**2)
    M = covariance @ B.T / s0**2
    c = covariance @ (np.linalg.solve(prior_z1, a) - B.T @ b / s0**2)
    encoder.set_weights(
        f32(np.concatenate([M.T, np.zeros((3, 2))], 1), [*c, *_raw_scale(1.3 * np.sqrt(np.diag(covariance)))])
    )
    # q(z2|z1) = p(z2|z1) = N(A^T (z1 - a) / (s1^2 prec), 1 / prec), prec = 1 + A^T A / s1^2; wider.
    precision = 1.0 + float((A.T @ A).item()) / s1**2
    layer.up.set_weights(
        f32(
            np.concatenate([A / (s1**2 * precision), np.zeros((2, 1))], 1),
            [float((-A.T @ a).item()) / (s1**2 * precision), *_raw_scale([1.3 / np.sqrt(precision)])],
        )
    )
    marginal_covariance = B @ prior_z1 @ B.T + s0**2 * np.eye(3)
    return model, scipy.stats.multivariate_normal(B @ a + b, marginal_covariance)


def test_linear_gaussian_two_layers_importance_weighting_approaches_exact_log_px():
    model, marginal = _linear_gaussian_model()
    x = marginal.rvs(size=16, random_state=np.random.default_rng(0)).astype(np.float32)
    exact = marginal.logpdf(x)
    errors = {}
    for k in (10, 1000):
        estimates = np.stack([importance_weighted_log_likelihood(model, x, k, seed=(k, r)).numpy() for r in range(5)])
        errors[k] = np.mean(np.abs(estimates - exact))
        assert np.mean(estimates - exact) < 0.02  # a lower bound in expectation (single draws may exceed it)
    assert errors[1000] < 0.3 * errors[10], errors
    assert errors[1000] < 0.1, errors
    elbo = model.elbo(x, seed=(3, 3), num_samples=4000).numpy()
    assert np.all(elbo < exact), (elbo, exact)


def test_one_layer_model_gives_the_numbers_of_the_previous_implementation():
    # tests/data/one_layer_parity.npz was written by tests/data/make_one_layer_parity.py at commit a0dad34,
    # before the model became a composition of parts: same weights and seeds must give the same numbers.
    reference = np.load(REPO / "tests" / "data" / "one_layer_parity.npz")
    x = reference["x"]
    variants = {
        "elbo": {},
        "iwae": {"objective": "iwae", "num_samples": 3},
        "free_bits": {"objective": "free_bits", "free_bits": 0.3},
        "vamp": {"prior": "vamp", "prior_components": 4, "objective": "iwae", "num_samples": 2},
    }
    for name, kwargs in variants.items():
        model = VAE(data_shape=(8, 8, 1), latent_dim=3, hidden_units=(16, 8), seed=5, **kwargs)
        count = len([key for key in reference if key.startswith(name + "/weight")])
        # The same list under both Kerases (Keras 3's set_weights would also want its seed-stream state).
        variables = model.portable_variables
        assert len(variables) == count
        for variable, i in zip(variables, range(count)):
            variable.assign(reference[f"{name}/weight{i}"])
        terms = model.elbo_terms(x, seed=7)
        np.testing.assert_allclose(model.objective.loss(terms).numpy(), reference[f"{name}/loss"], rtol=1e-6)
        np.testing.assert_allclose(terms["elbo"].numpy(), reference[f"{name}/elbo"], rtol=1e-6)
        # The VampPrior's density is now a matrix product (priors.DiagonalGaussianMixture), not the old sum over
        # [N, K, D]: the same value up to float32 rounding of log-densities near -5 (about 1e-6 absolute).
        atol = 1e-6 if name == "vamp" else 0.0
        np.testing.assert_allclose(terms["kl"].numpy(), reference[f"{name}/kl"], rtol=1e-6, atol=atol)
        np.testing.assert_allclose(model.encode(x).mean().numpy(), reference[f"{name}/encode_mean"], rtol=1e-6)
        np.testing.assert_allclose(model.sample(2, seed=3).numpy(), reference[f"{name}/sample"], rtol=1e-6)


def test_samples_follow_the_generative_path(binary_batch):
    # sample() draws z2 ~ p(z2), z1 ~ p(z1|z2): its z1 has the moments of the model's own ancestral draws.
    model = VAE(latent_dims=(4, 2), hidden_units=(32,), latent_hidden_units=(16,), seed=3)
    z1 = model.sample_latents(20000, seed=(5, 5)).numpy()
    z2 = np.random.default_rng(0).normal(size=(20000, 2)).astype(np.float32)
    by_hand = model.latent_layers[0].conditional_prior(z2)
    expected = by_hand.sample(seed=(1, 1)).numpy()
    np.testing.assert_allclose(z1.mean(0), expected.mean(0), atol=0.05)
    np.testing.assert_allclose(z1.std(0), expected.std(0), rtol=0.05)


@pytest.mark.parametrize("inference", ["bottom_up", "ladder"])
def test_every_objective_trains_a_hierarchy_and_logs_each_layers_kl(binary_batch, inference):
    for objective in ("elbo", "iwae", "free_bits"):
        model = VAE(
            latent_dims=(4, 2),
            inference=inference,
            objective=objective,
            num_samples=2,
            hidden_units=(32,),
            latent_hidden_units=(16,),
            seed=1,
        )
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        history = model.fit(binary_batch, batch_size=32, epochs=1, verbose=0).history
        assert {"kl_1", "kl_2"} <= set(history), history
        assert np.isfinite(history["loss"][0])
        np.testing.assert_allclose(history["kl_1"][0] + history["kl_2"][0], history["kl"][0], rtol=1e-4)


def test_active_units_are_counted_by_hand():
    # Var over examples of each unit's posterior mean: 4.0, 0.0, 0.0025 and 0.0201 (threshold 0.01).
    means = np.array([[2.0, 1.0, 0.05, 0.1418], [-2.0, 1.0, -0.05, -0.1418]])
    assert np.allclose(means.var(0), [4.0, 0.0, 0.0025, 0.02011], atol=1e-5)
    assert active_units(means) == 2
    assert active_units(means, threshold=0.001) == 3


def test_layer_diagnostics_count_each_layers_active_units(binary_batch):
    model = VAE(latent_dims=(6, 3), hidden_units=(32,), latent_hidden_units=(16,), seed=1)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    diagnostics = LayerDiagnostics(binary_batch, batch_size=40)  # a partial last batch too
    history = model.fit(binary_batch, batch_size=32, epochs=1, verbose=0, callbacks=[diagnostics]).history
    expected = [int(np.sum(q.mean().numpy().var(0) > 0.01)) for q in model.encode_layers(binary_batch)]
    assert [history["active_units_1"][0], history["active_units_2"][0]] == expected
    assert history["active_units"][0] == sum(expected)


def test_bad_hierarchies_are_refused():
    with pytest.raises(ValueError, match="disagrees"):
        VAE(latent_dim=8, latent_dims=(16, 8))
    with pytest.raises(ValueError, match="posterior='diagonal'"):
        VAE(latent_dims=(4, 2), posterior="full")
    with pytest.raises(ValueError, match="inference"):
        VAE(latent_dims=(4, 2), inference="top_down")
    with pytest.raises(ValueError, match="needs two or more latent_dims"):
        VAE(latent_dim=4, inference="ladder")
    with pytest.raises(ValueError, match=">= 1"):
        VAE(latent_dims=(4, 0))
    with pytest.raises(ValueError, match="latent_batch_norm needs two or more"):
        VAE(latent_dim=4, latent_batch_norm=True)
    with pytest.raises(ValueError, match="latent_batch_norm does not go with prior='vamp'"):
        VAE(latent_dims=(4, 2), latent_batch_norm=True, prior="vamp")
    with pytest.raises(ValueError, match=r"\[batch, 32\].*gives \[1, 7\]"):
        VAE(latent_dim=16, encoder=keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(7)]))


@pytest.mark.long
def test_cli_trains_evaluates_and_exports_a_two_layer_model(tmp_path, tiny_idx_dir):
    run = tmp_path / "run"
    result = tfvae_in_process(
        *[
            "train",
            "--data-dir",
            str(tiny_idx_dir),
            "--latent-dims",
            "8",
            "4",
            "--inference",
            "ladder",
            "--epochs",
            "1",
            "--hidden-units",
            "32",
            "--validation-size",
            "64",
            "--out",
            str(run),
            "--verbose",
            "0",
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((run / "config.json").read_text())["model"]["latent_dims"] == [8, 4]
    # Every epoch logs each layer's KL (summing to the total) and active units.
    with open(run / "history.csv") as f:
        row = next(csv.DictReader(f))
    for prefix in ("", "val_"):
        np.testing.assert_allclose(
            float(row[f"{prefix}kl_1"]) + float(row[f"{prefix}kl_2"]), float(row[f"{prefix}kl"]), rtol=1e-4
        )
    assert int(row["active_units_1"]) + int(row["active_units_2"]) == int(row["active_units"])
    assert 0 <= int(row["active_units_1"]) <= 8 and 0 <= int(row["active_units_2"]) <= 4
    result = tfvae_in_process("evaluate", str(run), "-k", "20", "--out", str(tmp_path / "eval.json"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "KL of layer 2" in result.stdout
    results = json.loads((tmp_path / "eval.json").read_text())
    assert len(results["kl_layers"]) == 2 and len(results["active_units_layers"]) == 2
    result = tfvae_in_process("export", str(run), "--out", str(tmp_path / "served"))
    assert result.returncode == 0, result.stderr[-3000:]
    signature = tf.saved_model.load(str(tmp_path / "served" / "1")).signatures["encode"]
    outputs = signature(x=tf.zeros([2, 28, 28, 1]))
    assert outputs["mean"].shape == (2, 8) and outputs["mean_2"].shape == (2, 4)
    # tfvae evaluate on the export reports each layer's KL and active units as on the run: the top layer's KL is a
    # closed form, the lower one's is taken at sampled z_2 (one sample here, 20 on the run).
    result = tfvae_in_process(
        *[
            "evaluate",
            str(tmp_path / "served" / "1"),
            "-k",
            "20",
            "--data-dir",
            str(tiny_idx_dir),
            "--out",
            str(tmp_path / "served_eval.json"),
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "KL of layer 2" in result.stdout and "of layer 2" in result.stdout
    served = json.loads((tmp_path / "served_eval.json").read_text())
    assert served["active_units_layers"] == results["active_units_layers"]
    np.testing.assert_allclose(served["kl_layers"][1], results["kl_layers"][1], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(served["kl_layers"][0], results["kl_layers"][0], rtol=0.05)
