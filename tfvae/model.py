"""The VAE: a ``tf_keras.Model`` that trains with plain ``compile``/``fit``.

    x --encoder--> params --posterior head--> q(z|x)
    z = mu + L eps,  eps ~ N(0, I)                       (reparameterisation)
    z --decoder--> params --likelihood head--> p(x|z)

Per example, the model computes ``reconstruction = -E_q[log p(x|z)]`` and
``kl = KL(q(z|x) || p(z))`` and adds ``mean(reconstruction + beta * kl)`` to
the model's losses with ``add_loss``. So ``compile(optimizer=...)`` is the
whole set-up, Keras's reported ``loss`` is the negative ELBO per example in
nats (for beta = 1), and ``reconstruction``, ``kl`` and ``elbo`` are logged
beside it as metrics.
"""

import random

from tfvae.backend import keras, tf
from tfvae.distributions import make_likelihood, make_posterior
from tfvae.networks import make_networks
from tfvae.objectives import KL_ESTIMATES, ELBO, kl_divergence
from tfvae.priors import make_prior


@keras.saving.register_keras_serializable(package="tfvae")
class VAE(keras.Model):
    """A variational auto-encoder with TFP distribution heads.

    Args:
        data_shape: shape of one example, e.g. ``(28, 28, 1)``.
        latent_dim: number of latent dimensions.
        architecture: ``"mlp"`` or ``"conv"``.
        hidden_units: MLP encoder widths (the decoder mirrors them).
        filters: conv encoder filters (the decoder mirrors them).
        activation: hidden-layer activation.
        posterior: ``"diagonal"`` or ``"full"`` (full-covariance) Normal.
        likelihood: ``"bernoulli"`` (on logits) or ``"normal"``.
        likelihood_scale: for ``"normal"``: a fixed sigma, ``"global"`` or
            ``"pixel"`` (learned).
        prior: ``"normal"``, the standard Normal N(0, I).
        beta: weight of the KL term (1 gives the ELBO).
        kl_estimate: ``"auto"``, ``"analytic"`` or ``"sample"``.
        seed: seed of the model's sampling noise (``None``: drawn from Python's
            ``random``, so ``keras.utils.set_random_seed`` fixes it).

    Example:
        >>> model = VAE(data_shape=(28, 28, 1), latent_dim=16)
        >>> model.compile(optimizer=keras.optimizers.Adam(1e-3))
        >>> model.fit(train_dataset, epochs=10)            # loss = -ELBO, nats
        >>> model.elbo(x_test, seed=0)                     # per example
        >>> images = model.sample(16, seed=0)
    """

    def __init__(
        self,
        data_shape=(28, 28, 1),
        latent_dim=16,
        architecture="mlp",
        hidden_units=(512, 256),
        filters=(32, 64),
        activation="relu",
        posterior="diagonal",
        likelihood="bernoulli",
        likelihood_scale=1.0,
        prior="normal",
        beta=1.0,
        kl_estimate="auto",
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(latent_dim) < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
        if float(beta) < 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        if kl_estimate not in KL_ESTIMATES:
            raise ValueError(f"kl_estimate must be one of {KL_ESTIMATES}, got {kl_estimate!r}")
        # Hyperparameters, stored under their own names for get_config.
        self.data_shape = tuple(int(d) for d in data_shape)
        self.latent_dim = int(latent_dim)
        self.architecture = architecture
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self.filters = tuple(int(f) for f in filters)
        self.activation = activation
        self.posterior_kind = posterior
        self.likelihood_kind = likelihood
        self.likelihood_scale = likelihood_scale
        self.prior_kind = prior
        self.beta = float(beta)
        self.kl_estimate = kl_estimate
        self.seed = seed

        self.posterior = make_posterior(posterior, self.latent_dim)
        self.likelihood = make_likelihood(likelihood, self.data_shape, likelihood_scale)
        self.prior = make_prior(prior, self.latent_dim)
        self.encoder, self.decoder = make_networks(
            architecture,
            self.data_shape,
            self.latent_dim,
            self.posterior.params_size(self.latent_dim),
            self.likelihood.params_size(self.data_shape),
            self.hidden_units,
            self.filters,
            activation,
        )
        # A variable, so KL-annealing callbacks change it without retracing.
        self.kl_weight = tf.Variable(self.beta, trainable=False, dtype=tf.float32, name="kl_weight")
        self.objective = ELBO(beta=self.kl_weight)
        # The model's own random stream: reproducible, saved with the weights,
        # and split across replicas by tf.distribute.
        self.seed_generator = tf.random.Generator.from_seed(seed if seed is not None else random.getrandbits(62))
        # Every sublayer is built already; saying so lets Keras save and
        # restore weights (BackupAndRestore, load_weights) before the first call.
        self.built = True

    # --- the probabilistic model -------------------------------------------

    def encode(self, x):
        """q(z|x): the approximate posterior for a batch ``x`` (batch shape ``[B]``)."""
        return self.posterior.distribution(self.encoder(tf.convert_to_tensor(x, tf.float32)))

    def decode(self, z):
        """p(x|z): the likelihood for latents ``z`` of shape ``[..., latent_dim]``."""
        z = tf.convert_to_tensor(z, tf.float32)
        params = self.decoder(tf.reshape(z, [-1, self.latent_dim]))
        params = tf.reshape(params, tf.concat([tf.shape(z)[:-1], tf.shape(params)[-1:]], axis=0))
        return self.likelihood.distribution(params)

    def elbo_terms(self, x, seed=None, num_samples=1):
        """Per-example ``reconstruction`` (-E_q log p(x|z)), ``kl`` and ``elbo``.

        The expectation is estimated with ``num_samples`` reparameterised
        samples; ``seed`` (an int or a pair of ints) makes them reproducible.
        Also returns the ``posterior`` and ``likelihood`` distributions and the
        samples ``z`` (shape ``[num_samples, B, latent_dim]``).
        """
        x = tf.convert_to_tensor(x, tf.float32)
        posterior = self.encode(x)
        z = posterior.sample(num_samples, seed=self._seed(seed))
        likelihood = self.decode(z)
        reconstruction = -tf.reduce_mean(likelihood.log_prob(x), axis=0)
        kl = kl_divergence(posterior, self.prior(), z, self.kl_estimate)
        return {
            "reconstruction": reconstruction,
            "kl": kl,
            "elbo": -(reconstruction + kl),
            "posterior": posterior,
            "likelihood": likelihood,
            "z": z,
        }

    def elbo(self, x, seed=None, num_samples=1):
        """The ELBO of each example of ``x``, in nats (shape ``[B]``)."""
        return self.elbo_terms(x, seed, num_samples)["elbo"]

    def reconstruct(self, x):
        """E[x | z = posterior mean]: a deterministic reconstruction of ``x``."""
        return self.decode(self.encode(x).mean()).mean()

    def sample(self, num_samples, seed=None):
        """``num_samples`` images: means of p(x|z) at z drawn from the prior."""
        z = self.prior().sample(num_samples, seed=self._seed(seed))
        return self.decode(z).mean()

    # --- Keras ---------------------------------------------------------------

    def call(self, x, training=None):
        """Adds the loss and metrics for ``x``; returns reconstruction means.

        In training the means are at the sampled z (what the loss used); in
        inference they are ``reconstruct(x)``.
        """
        terms = self.elbo_terms(x)
        self.add_loss(tf.reduce_mean(self.objective.loss(terms["reconstruction"], terms["kl"])))
        # Per-example values, so Keras averages over examples, not batches.
        self.add_metric(terms["reconstruction"], name="reconstruction")
        self.add_metric(terms["kl"], name="kl")
        self.add_metric(terms["elbo"], name="elbo")
        if training:
            return terms["likelihood"].mean()[0]
        return self.decode(terms["posterior"].mean()).mean()

    def get_config(self):
        """The constructor's arguments; ``VAE.from_config`` rebuilds the model."""
        return {
            **super().get_config(),
            "data_shape": list(self.data_shape),
            "latent_dim": self.latent_dim,
            "architecture": self.architecture,
            "hidden_units": list(self.hidden_units),
            "filters": list(self.filters),
            "activation": self.activation,
            "posterior": self.posterior_kind,
            "likelihood": self.likelihood_kind,
            "likelihood_scale": self.likelihood_scale,
            "prior": self.prior_kind,
            "beta": self.beta,
            "kl_estimate": self.kl_estimate,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        """Builds a VAE from ``get_config()`` output."""
        return cls(**config)

    # --- helpers ---------------------------------------------------------------

    def _seed(self, seed=None):
        """A stateless TFP seed: ``seed`` as a pair, or the next from the model's stream."""
        if seed is None:
            return tf.cast(self.seed_generator.make_seeds(1)[:, 0], tf.int32)
        if isinstance(seed, int):
            return tf.constant([seed, 0], tf.int32)
        return tf.cast(seed, tf.int32)
