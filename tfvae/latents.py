"""Stochastic layers above the lowest: the latent hierarchy of a hierarchical VAE.

With latents z_1 (lowest, read by the decoder) ... z_L (top):

    generative       p(z_L) p(z_{L-1} | z_L) ... p(z_1 | z_2) p(x | z_1)
    bottom-up q      q(z_1 | x) q(z_2 | z_1) ... q(z_L | z_{L-1})          (Burda et al. 2015)
    ladder q         q(z_L | x) q(z_{L-1} | z_L, x) ... q(z_1 | z_2, x)    (Sønderby et al. 2016)

Every conditional is a diagonal Normal whose parameters an MLP computes. The
ladder runs a deterministic bottom-up pass first, giving estimates
N(mu_hat_l, sigma_hat_l^2) for every layer, and then samples top-down, each
layer's q combining its estimate with the generative p(z_l | z_{l+1}) by
precision weighting:

    sigma_l^-2 = sigma_hat_l^-2 + sigma_p^-2,   mu_l = sigma_l^2 (mu_hat_l sigma_hat_l^-2 + mu_p sigma_p^-2)

so inference shares the generative path. The lowest layer's q(z_1 | x) (or
its bottom-up estimate) comes from the VAE's encoder; a ``LatentLayer`` holds
the two networks that join layer l - 1 to layer l.
"""

from tfvae.backend import input_layer, keras, tf, tfd, tfp
from tfvae.distributions import POSTERIOR_MIN_SCALE, DiagonalNormalPosterior
from tfvae.objectives import kl_divergence
from tfvae.options import INFERENCES  # defined once, with the options


def _apply(network, inputs):
    """``network`` over the last axis of ``inputs`` with any leading shape."""
    flat = network(tf.reshape(inputs, [-1, inputs.shape[-1]]))
    return tf.reshape(flat, tf.concat([tf.shape(inputs)[:-1], tf.shape(flat)[-1:]], axis=0))


def _mlp(input_size, output_size, hidden_units, activation, name, batch_norm=False):
    """An MLP to distribution parameters; ``batch_norm`` normalises each hidden layer before its activation."""
    layers = [input_layer((int(input_size),))]
    for units in hidden_units:
        if batch_norm:
            # No bias: the normalisation's own shift replaces it.
            layers += [
                keras.layers.Dense(int(units), use_bias=False),
                keras.layers.BatchNormalization(),
                keras.layers.Activation(activation),
            ]
        else:
            layers.append(keras.layers.Dense(int(units), activation=activation))
    layers.append(keras.layers.Dense(int(output_size), name="params"))
    return keras.Sequential(layers, name=name)


def summary(posterior):
    """``[mean, log stddev]`` of a diagonal Normal: what the ladder's bottom-up pass carries upwards."""
    return tf.concat([posterior.mean(), tf.math.log(posterior.stddev())], axis=-1)


def precision_weighted(estimate, prior):
    """The diagonal Normal whose precision is the sum of both inputs' (the ladder's q)."""
    estimate_precision = tf.math.reciprocal(tf.square(estimate.stddev()))
    prior_precision = tf.math.reciprocal(tf.square(prior.stddev()))
    variance = tf.math.reciprocal(estimate_precision + prior_precision)
    loc = variance * (estimate.mean() * estimate_precision + prior.mean() * prior_precision)
    return tfd.MultivariateNormalDiag(loc=loc, scale_diag=tf.sqrt(variance))


@keras.saving.register_keras_serializable(package="tfvae")
class LatentLayer(keras.layers.Layer):
    """Stochastic layer l >= 2: the networks between z_{l-1} and z_l.

    * ``up``: the inference network, to q(z_l | z_{l-1}) (bottom-up) or to the
      ladder's estimate N(mu_hat_l, sigma_hat_l^2) from the layer below's
      ``summary`` (its mean and log stddev).
    * ``down``: the generative network, z_l -> p(z_{l-1} | z_l).

    Both are MLPs with ``hidden_units`` and output the parameters of diagonal
    Normals with floored softplus scales (``DiagonalNormalPosterior``).

    Args:
        latent_dim: size of z_l.
        below_dim: size of z_{l-1}.
        hidden_units: widths of both MLPs.
        activation: their hidden activation.
        inference: ``"bottom_up"`` or ``"ladder"`` (what ``up`` reads).
        min_scale: floor of every scale.
        batch_norm: batch normalisation in both MLPs' hidden layers (Sønderby et al. 2016 found it
            needed to train deep hierarchies); statistics of the batch in training, moving averages
            otherwise.
    """

    def __init__(
        self,
        latent_dim,
        below_dim,
        hidden_units=(256, 256),
        activation="relu",
        inference="bottom_up",
        min_scale=POSTERIOR_MIN_SCALE,
        batch_norm=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if inference not in INFERENCES:
            raise ValueError(f"inference must be one of {INFERENCES}, got {inference!r}")
        self.latent_dim = int(latent_dim)
        self.below_dim = int(below_dim)
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self.activation = activation
        self.inference = inference
        self.min_scale = float(min_scale)
        self.batch_norm = bool(batch_norm)
        up_input = self.below_dim if inference == "bottom_up" else 2 * self.below_dim
        self.up = _mlp(up_input, 2 * self.latent_dim, self.hidden_units, activation, "up", self.batch_norm)
        self.down = _mlp(self.latent_dim, 2 * self.below_dim, self.hidden_units, activation, "down", self.batch_norm)
        self.built = True

    def posterior(self, below):
        """q(z_l | below): ``below`` is z_{l-1} (bottom-up) or the ladder's ``summary`` of layer l - 1."""
        return DiagonalNormalPosterior.new(_apply(self.up, below), self.latent_dim, self.min_scale)

    def conditional_prior(self, z):
        """p(z_{l-1} | z_l) for samples ``z`` of shape ``[..., latent_dim]``."""
        return DiagonalNormalPosterior.new(_apply(self.down, z), self.below_dim, self.min_scale)

    def get_config(self):
        """Plain hyperparameters."""
        return {
            **super().get_config(),
            "latent_dim": self.latent_dim,
            "below_dim": self.below_dim,
            "hidden_units": list(self.hidden_units),
            "activation": self.activation,
            "inference": self.inference,
            "min_scale": self.min_scale,
            "batch_norm": self.batch_norm,
        }


def ladder_estimates(lowest, layers):
    """The ladder's deterministic bottom-up pass: every layer's estimate N(mu_hat_l, sigma_hat_l^2), lowest first."""
    estimates = [lowest]
    for layer in layers:
        estimates.append(layer.posterior(summary(estimates[-1])))
    return estimates


def infer(lowest, layers, inference, num_samples, seeds):
    """Samples every layer from q, given the lowest layer's q(z_1 | x) (or its ladder estimate).

    Args:
        lowest: the encoder's distribution for z_1, batch shape ``[B]``.
        layers: the ``LatentLayer`` s for z_2 ... z_L.
        inference: ``"bottom_up"`` or ``"ladder"``.
        num_samples: K, or ``None`` for the deterministic path through the
            means (one "sample" per example, the mean; no leading K axis).
        seeds: one stateless seed per layer, lowest first.

    Returns:
        ``(posteriors, samples, conditionals)``, lowest layer first: the q of
        each layer (batch ``[B]`` or ``[K, B]``), its samples ``[K, B, d_l]``,
        and p(z_l | z_{l+1}) for l < L at the samples above.
    """

    def draw(distribution, seed, first):
        if num_samples is None:
            return distribution.mean()
        return distribution.sample(num_samples, seed=seed) if first else distribution.sample(seed=seed)

    if inference == "bottom_up":
        posteriors, samples = [lowest], [draw(lowest, seeds[0], True)]
        for layer, seed in zip(layers, seeds[1:]):
            posteriors.append(layer.posterior(samples[-1]))
            samples.append(draw(posteriors[-1], seed, False))
        conditionals = [layer.conditional_prior(z) for layer, z in zip(layers, samples[1:])]
        return posteriors, samples, conditionals
    # Ladder: a deterministic pass up, then samples down.
    estimates = ladder_estimates(lowest, layers)
    posteriors, samples, conditionals = [estimates[-1]], [draw(estimates[-1], seeds[-1], True)], []
    for layer, estimate, seed in zip(reversed(layers), reversed(estimates[:-1]), reversed(seeds[:-1])):
        conditionals.insert(0, layer.conditional_prior(samples[0]))
        posteriors.insert(0, precision_weighted(estimate, conditionals[0]))
        samples.insert(0, draw(posteriors[0], seed, False))
    return posteriors, samples, conditionals


def log_posterior_at(lowest, layers, inference, samples):
    """log q(z_1, ..., z_L | x) ``[K, B]`` of the model's own q at any ``samples`` (lowest first).

    ``lowest`` is the encoder's distribution for z_1 (see ``infer``). Used
    where other proposals' samples must be scored under q (``tfvae.inference``).
    """
    if inference == "bottom_up":
        log_q = lowest.log_prob(samples[0])
        for layer, below, z in zip(layers, samples[:-1], samples[1:]):
            log_q += layer.posterior(below).log_prob(z)
        return log_q
    estimates = ladder_estimates(lowest, layers)
    log_q = estimates[-1].log_prob(samples[-1])
    for layer, estimate, z, above in zip(layers, estimates[:-1], samples[:-1], samples[1:]):
        log_q += precision_weighted(estimate, layer.conditional_prior(above)).log_prob(z)
    return log_q


def generate(top, layers, seeds, noise=None):
    """z_1 from a top sample ``top``, descending through every p(z_{l-1} | z_l).

    ``seeds`` has one stateless seed per layer below the top, lowest first;
    ``noise(shape)`` instead draws standard-Normal noise itself (for TFLite,
    which has ``tf.random.normal`` but not TFP's stateless samplers).
    """
    z = top
    for layer, seed in zip(reversed(layers), reversed(seeds)):
        conditional = layer.conditional_prior(z)
        if noise is None:
            z = conditional.sample(seed=seed)
        else:
            z = conditional.mean() + conditional.stddev() * noise(tf.shape(conditional.mean()))
    return z


def layer_seeds(seed, num_layers):
    """One stateless seed per layer; a one-layer model uses ``seed`` itself."""
    if num_layers == 1:
        return [seed]
    return tf.unstack(tfp.random.split_seed(seed, n=num_layers))


def _closed_form(inference, layer, num_layers):
    """Whether layer ``layer``'s KL to its prior has a closed form given the samples drawn before it.

    Bottom-up, z_{l+1} is drawn after z_l and depends on it, so only the top
    layer (whose prior is fixed) has one; top-down (ladder), every layer has.
    """
    return inference == "ladder" or layer == num_layers - 1


def _mean_over_samples(value, rank):
    """Averages a per-sample ``[K, B, ...]`` value over K (a ``[B, ...]`` one is returned as it is)."""
    return tf.reduce_mean(value, axis=0) if value.shape.rank > rank else value


def layer_kls(posteriors, samples, conditionals, prior, inference, estimate="auto"):
    """KL(q(z_l|.) || p(z_l|z_{l+1})) of every layer, lowest first, each ``[B]``.

    A layer uses the closed form where it exists (see ``_closed_form``; and
    ``estimate`` is not ``"sample"``), else the Monte Carlo mean of
    log q - log p at its K samples. Their sum is the KL of the ELBO,
    KL(q(z_1..z_L|x) || p(z_1..z_L)), estimated without bias.
    """
    priors = list(conditionals) + [prior]
    kls = []
    for i, (q, z, p) in enumerate(zip(posteriors, samples, priors)):
        layer_estimate = estimate if _closed_form(inference, i, len(posteriors)) else "sample"
        kls.append(_mean_over_samples(kl_divergence(q, p, z, layer_estimate), 1))
    return kls


def marginals(distribution):
    """The per-dimension Normal marginals of a Gaussian (of a mixture: its moments, a diagnostic only)."""
    if isinstance(distribution, tfd.MultivariateNormalDiag):
        return tfd.Normal(distribution.mean(), distribution.stddev())
    return tfd.Normal(distribution.mean(), tf.sqrt(tf.linalg.diag_part(distribution.covariance())))


def kl_per_dimension(posteriors, samples, conditionals, prior, inference, estimate="auto"):
    """Per-dimension KL of every layer, concatenated lowest layer first: ``[B, sum_l d_l]``.

    Diagonal posteriors: the dimensions of a layer sum to its ``layer_kls``
    entry when its prior is Gaussian (closed form, or Monte Carlo at the same
    samples; for the lower layers of bottom-up inference a one-sample
    estimate can be negative). A mixture prior is replaced by its moments
    (a diagnostic: its dimensions then do not sum to the KL). Free bits floor
    these; evaluation reports them for active-unit diagnostics.
    """
    priors = list(conditionals) + [prior]
    parts = []
    for i, (q, z, p) in enumerate(zip(posteriors, samples, priors)):
        q_marginals, p_marginals = marginals(q), marginals(p)
        if estimate != "sample" and _closed_form(inference, i, len(posteriors)):
            kl = tfd.kl_divergence(q_marginals, p_marginals)
        else:
            kl = q_marginals.log_prob(z) - p_marginals.log_prob(z)
        parts.append(_mean_over_samples(kl, 2))
    return tf.concat(parts, axis=-1)
