"""Writes tests/data/one_layer_parity.npz with the pre-refactor VAE (commit a0dad34)."""

import numpy as np

from tfvae.backend import keras
from tfvae.model import VAE

rng = np.random.default_rng(0)
x = (rng.random((6, 8, 8, 1)) < 0.4).astype(np.float32)
out = {"x": x}
for name, kwargs in {
    "elbo": {},
    "iwae": {"objective": "iwae", "num_samples": 3},
    "free_bits": {"objective": "free_bits", "free_bits": 0.3},
    "vamp": {"prior": "vamp", "prior_components": 4, "objective": "iwae", "num_samples": 2},
}.items():
    keras.utils.set_random_seed(1)
    model = VAE(data_shape=(8, 8, 1), latent_dim=3, hidden_units=(16, 8), seed=5, **kwargs)
    terms = model.elbo_terms(x, seed=7)
    for i, w in enumerate(model.get_weights()):
        out[f"{name}/weight{i}"] = w
    out[f"{name}/loss"] = model.objective.loss(terms).numpy()
    out[f"{name}/elbo"] = terms["elbo"].numpy()
    out[f"{name}/kl"] = terms["kl"].numpy()
    out[f"{name}/encode_mean"] = model.encode(x).mean().numpy()
    out[f"{name}/sample"] = model.sample(2, seed=3).numpy()
    print(name, out[f"{name}/loss"])
np.savez_compressed("tests/data/one_layer_parity.npz", **out)
