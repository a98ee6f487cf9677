"""Priors p(z): Keras layers that return a TFP distribution over the latent space.

A prior is a layer so that learned priors own their variables and are saved
with the model; ``prior()`` (no input) returns the distribution.
"""

from tfvae.backend import keras, tf, tfd

PRIORS = ("normal",)


class StandardNormalPrior(keras.layers.Layer):
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
        self.built = True  # nothing to build: no input

    def call(self, inputs=None):
        """Returns the distribution; ``inputs`` is ignored."""
        return tfd.MultivariateNormalDiag(loc=tf.zeros([self.latent_dim]), scale_diag=tf.ones([self.latent_dim]))

    def __call__(self, inputs=None, **kwargs):
        # Keras layers want an input; a prior needs none.
        return self.call(inputs)

    def get_config(self):
        """Plain hyperparameters: ``latent_dim``."""
        return {**super().get_config(), "latent_dim": self.latent_dim}


def make_prior(kind, latent_dim):
    """The prior named ``kind``."""
    if kind == "normal":
        return StandardNormalPrior(latent_dim, name="prior")
    raise ValueError(f"prior must be one of {PRIORS}, got {kind!r}")
