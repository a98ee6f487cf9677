"""What the VAE maximises: the ELBO and its pieces.

    log p(x) >= ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z))
                        = E_q[log p(x, z)] + H(q(z|x))

``kl_divergence`` uses TFP's closed form when one is registered for the pair
of distributions and otherwise the Monte Carlo estimate
``log q(z|x) - log p(z)`` at the same reparameterised samples ``z`` that
estimate the reconstruction term.

An objective turns the per-example terms into the per-example loss that
training minimises; the VAE class never changes between variants.
"""

from tfvae.backend import tf, tfd

KL_ESTIMATES = ("auto", "analytic", "sample")


def kl_divergence(posterior, prior, z, estimate="auto"):
    """KL(q || p) per example.

    Args:
        posterior: q(z|x) with batch shape ``[B]``.
        prior: p(z), batch shape ``[]`` or ``[B]``.
        z: samples from ``posterior``, shape ``[K, B, d]``; used only by the
            Monte Carlo estimate (averaged over the K samples).
        estimate: ``"analytic"`` (closed form; error if TFP has none),
            ``"sample"`` (Monte Carlo), or ``"auto"`` (closed form if any).

    Returns:
        A ``[B]`` tensor, in nats.
    """
    if estimate not in KL_ESTIMATES:
        raise ValueError(f"estimate must be one of {KL_ESTIMATES}, got {estimate!r}")
    if estimate != "sample":
        try:
            return tfd.kl_divergence(posterior, prior)
        except NotImplementedError:
            if estimate == "analytic":
                raise
    return tf.reduce_mean(posterior.log_prob(z) - prior.log_prob(z), axis=0)


class ELBO:
    """The negative (beta-weighted) ELBO: ``reconstruction + beta * KL``.

    ``beta = 1`` is the VAE of Kingma & Welling (2014); ``beta > 1`` the
    beta-VAE of Higgins et al. (2017). ``beta`` may be a ``tf.Variable`` so a
    callback can anneal it without retracing.
    """

    def __init__(self, beta=1.0):
        self.beta = beta

    def loss(self, reconstruction, kl):
        """Per-example loss from per-example ``-E_q log p(x|z)`` and KL."""
        return reconstruction + tf.cast(self.beta, kl.dtype) * kl
