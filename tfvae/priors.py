"""Priors p(z): Keras layers that return a TFP distribution over the latent space.

A prior is a layer so that learned priors own their variables and are saved
with the model; ``prior()`` (no input) returns the distribution.

* ``StandardNormalPrior``: N(0, I); closed-form KL to Gaussian posteriors.
* ``MixturePrior``: a learned mixture of K diagonal Gaussians.
* ``VampPrior``: the mixture of the posteriors of K learned pseudo-inputs,
  p(z) = 1/K sum_k q(z | u_k) (Tomczak & Welling 2018).

The two mixtures have no closed-form KL; the VAE then uses the Monte Carlo
estimate at its posterior samples (see ``objectives.kl_divergence``).
"""

import numpy as np

from tfvae.backend import keras, tf, tfb, tfd
from tfvae.distributions import LIKELIHOOD_MIN_SCALE
from tfvae.options import PRIORS  # defined once, with the options


class _Prior(keras.layers.Layer):
    """A layer called without input."""

    def __call__(self, inputs=None, **kwargs):
        # Keras layers want an input; a prior needs none. Calling ``call``
        # directly also keeps the distribution out of Keras's tensor tracing.
        return self.call(inputs)


class DiagonalGaussianMixture(tfd.MixtureSameFamily):
    """A ``MixtureSameFamily`` of ``MultivariateNormalDiag`` components whose
    log density is computed with matrix products.

    TFP's generic ``log_prob`` broadcasts z against every component, a
    ``[..., K, D]`` tensor: 4 GB for the 50,000 samples of one evaluation
    chunk against a 500-component, 40-dimensional VampPrior. Expanding the
    square needs only ``[..., K]``::

        log N(z; mu_k, sigma_k^2) = -1/2 [z^2 . sigma_k^-2 - 2 z . mu_k sigma_k^-2 + mu_k^2 . sigma_k^-2]
                                    - sum_d log sigma_kd - D/2 log(2 pi)

    and log p(z) = logsumexp_k(log pi_k + log N_k(z)). The components must have
    batch shape ``[K]`` and the mixture batch shape ``[]``; sampling and every
    other method are ``MixtureSameFamily``'s.
    """

    def _log_prob(self, x):
        components = self.components_distribution
        loc, scale = components.loc, components.stddev()  # [K, D]
        x = tf.convert_to_tensor(x, loc.dtype)
        flat = tf.reshape(x, [-1, tf.shape(x)[-1]])
        precision = tf.math.reciprocal(tf.square(scale))
        quadratic = (
            tf.matmul(tf.square(flat), precision, transpose_b=True)
            - 2.0 * tf.matmul(flat, loc * precision, transpose_b=True)
            + tf.reduce_sum(tf.square(loc) * precision, axis=-1)
        )
        dimension = tf.cast(tf.shape(loc)[-1], loc.dtype)
        log_normal = (
            -0.5 * quadratic
            - tf.reduce_sum(tf.math.log(scale), axis=-1)
            - 0.5 * dimension * np.log(2.0 * np.pi).astype(np.float32)
        )
        log_weights = tf.math.log_softmax(self.mixture_distribution.logits_parameter())
        return tf.reshape(tf.reduce_logsumexp(log_normal + log_weights, axis=-1), tf.shape(x)[:-1])


class StandardNormalPrior(_Prior):
    """p(z) = N(0, I) over ``latent_dim`` dimensions.

    It is a ``MultivariateNormalDiag`` so that TFP's closed-form KL applies to
    both diagonal and full-covariance Gaussian posteriors.

    Example:
        >>> prior = StandardNormalPrior(latent_dim=2)
        >>> prior().log_prob([0.0, 0.0]).numpy()  # -log(2 pi)
        -1.837877
    """

    def __init__(self, latent_dim, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = int(latent_dim)
        self.built = True  # nothing to build

    def call(self, inputs=None):
        """Returns the distribution; ``inputs`` is ignored."""
        return tfd.MultivariateNormalDiag(loc=tf.zeros([self.latent_dim]), scale_diag=tf.ones([self.latent_dim]))

    def get_config(self):
        """Plain hyperparameters: ``latent_dim``."""
        return {**super().get_config(), "latent_dim": self.latent_dim}


class MixturePrior(_Prior):
    """p(z) = sum_k pi_k N(z; mu_k, diag(sigma_k^2)), all learned.

    Means start spread out (N(0, 1) draws with a fixed seed), scales at 1 and
    weights uniform. Scales are floored softplus outputs.

    Example:
        >>> prior = MixturePrior(latent_dim=2, num_components=3)
        >>> prior().sample(4, seed=(1, 2)).shape
        TensorShape([4, 2])
    """

    def __init__(self, latent_dim, num_components=10, min_scale=LIKELIHOOD_MIN_SCALE, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = int(latent_dim)
        self.num_components = int(num_components)
        self.min_scale = float(min_scale)
        shape = (self.num_components, self.latent_dim)
        initial_locs = np.random.default_rng(0).normal(size=shape).astype(np.float32)
        self.logits = self.add_weight(name="logits", shape=(self.num_components,), initializer="zeros")
        self.locs = self.add_weight(name="locs", shape=shape, initializer=keras.initializers.Constant(initial_locs))
        raw_one = float(tfb.Softplus(low=self.min_scale).inverse(1.0))
        self.raw_scales = self.add_weight(
            name="raw_scales", shape=shape, initializer=keras.initializers.Constant(raw_one)
        )
        self.built = True

    def call(self, inputs=None):
        """Returns the mixture distribution; ``inputs`` is ignored."""
        return DiagonalGaussianMixture(
            mixture_distribution=tfd.Categorical(logits=self.logits),
            components_distribution=tfd.MultivariateNormalDiag(
                loc=self.locs, scale_diag=tfb.Softplus(low=self.min_scale).forward(self.raw_scales)
            ),
        )

    def get_config(self):
        """Plain hyperparameters."""
        return {
            **super().get_config(),
            "latent_dim": self.latent_dim,
            "num_components": self.num_components,
            "min_scale": self.min_scale,
        }


class VampPrior(_Prior):
    """p(z) = 1/K sum_k q(z | u_k) with K learned pseudo-inputs u_k.

    The pseudo-inputs live in data space (``sigmoid`` of a free variable, so
    they stay in [0, 1] like the images) and go through the model's own
    inference path: ``encode(u)`` is q(z|u) (for a hierarchical VAE, the top
    layer's q along the path through the means).
    """

    def __init__(self, latent_dim, data_shape, encode, num_components=500, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = int(latent_dim)
        self.data_shape = tuple(int(d) for d in data_shape)
        self.num_components = int(num_components)
        self._encode = encode
        # Pseudo-inputs start near 0.5 with small noise (logits ~ N(0, 0.1)).
        initial = np.random.default_rng(0).normal(0.0, 0.1, size=(self.num_components, *self.data_shape))
        self.pseudo_input_logits = self.add_weight(
            name="pseudo_input_logits",
            shape=initial.shape,
            initializer=keras.initializers.Constant(initial.astype(np.float32)),
        )
        self.built = True

    def pseudo_inputs(self):
        """The K pseudo-inputs, in [0, 1]."""
        return tf.sigmoid(self.pseudo_input_logits)

    def call(self, inputs=None):
        """Returns the mixture of the pseudo-inputs' posteriors; ``inputs`` is ignored."""
        components = self._encode(self.pseudo_inputs())
        # Other posteriors (full covariance) take TFP's generic mixture density.
        diagonal = isinstance(components, tfd.MultivariateNormalDiag)
        mixture = DiagonalGaussianMixture if diagonal else tfd.MixtureSameFamily
        return mixture(
            mixture_distribution=tfd.Categorical(logits=tf.zeros([self.num_components])),
            components_distribution=components,
        )

    def get_config(self):
        """Plain hyperparameters (the inference path comes from the VAE)."""
        return {
            **super().get_config(),
            "latent_dim": self.latent_dim,
            "data_shape": list(self.data_shape),
            "num_components": self.num_components,
        }


def make_prior(kind, latent_dim, num_components=None, data_shape=None, encode=None):
    """The prior named ``kind`` (``"normal"``, ``"mixture"`` or ``"vamp"``).

    ``num_components`` defaults to 10 for the mixture and 500 for the
    VampPrior, which also needs ``data_shape`` and the model's ``encode``
    (pseudo-inputs -> q(z|u)).
    """
    if kind == "normal":
        return StandardNormalPrior(latent_dim, name="prior")
    if kind == "mixture":
        return MixturePrior(latent_dim, num_components or 10, name="prior")
    if kind == "vamp":
        return VampPrior(latent_dim, data_shape, encode, num_components or 500, name="prior")
    raise ValueError(f"prior must be one of {PRIORS}, got {kind!r}")
