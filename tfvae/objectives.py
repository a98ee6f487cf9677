"""What the VAE minimises: the negative ELBO and its variants.

    log p(x) >= ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z))
                        = E_q[log p(x, z)] + H(q(z|x))

The model computes, per example, a dict of *terms* from K reparameterised
samples z_k ~ q(z|x):

    log_likelihood  [K, B]  log p(x|z_k)
    log_prior       [K, B]  log p(z_k)
    log_posterior   [K, B]  log q(z_k|x)
    kl              [B]     KL(q || p): closed form if TFP has one, else the
                            Monte Carlo mean of log q - log p at the same z_k
    kl_per_dim      [B, d]  per-dimension KL (diagonal q, factorised p only)

An objective maps the terms to the per-example loss. The VAE class never
changes between variants: only its objective does. Each objective class
describes itself: ``name`` (its ``--objective`` value), ``needs`` (the terms
beyond the ones above that the model must compute for it), ``key()`` (its
metric name) and ``description()`` (in words). A new objective is one class
here, added to ``OBJECTIVE_CLASSES``, plus its name in ``tfvae.options.OBJECTIVES``.
"""

from __future__ import annotations

from tfvae.backend import tf, tfd, tfp
from tfvae.options import KL_ESTIMATES, OBJECTIVES  # defined once, with the options


def kl_divergence(
    posterior: tfd.Distribution, prior: tfd.Distribution, z: tf.Tensor, estimate: str = "auto"
) -> tf.Tensor:
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


def reconstruction(terms: dict) -> tf.Tensor:
    """-E_q[log p(x|z)] per example, the mean over the K samples."""
    return -tf.reduce_mean(terms["log_likelihood"], axis=0)


def negative_elbo(terms: dict) -> tf.Tensor:
    """-ELBO per example: reconstruction + KL (no weights): what tfvae reports as ``-elbo``."""
    return reconstruction(terms) + terms["kl"]


def _configured(beta):
    """beta as a number (its value now, if a variable is passed), for the objective's key and description."""
    return float(beta.numpy()) if isinstance(beta, tf.Variable) else float(beta)


# The terms an objective may ask for in ``needs``, beyond the common ones (``VAE.elbo_terms`` computes them).
EXTRA_TERMS = ("kl_per_dim", "log_posterior_stopped", "log_joint_stopped_z")


class ELBO:
    """The negative beta-weighted ELBO: ``reconstruction + beta * KL``.

    ``beta = 1`` is the VAE of Kingma & Welling (2014); ``beta > 1`` the
    beta-VAE of Higgins et al. (2017). ``beta`` may be a ``tf.Variable`` so a
    callback can anneal it without retracing.
    """

    name = "elbo"
    needs = ()

    def __init__(self, beta=1.0, num_samples=1, kl_weight=None):
        """``beta`` as configured; ``kl_weight`` (default ``beta``) multiplies the KL and may be a variable."""
        self.beta = _configured(beta)
        self.kl_weight = beta if kl_weight is None else kl_weight
        self.num_samples = int(num_samples)

    @classmethod
    def from_options(cls, beta, num_samples, free_bits, kl_weight=None):
        """The objective from the model's options (each class takes the ones it uses)."""
        return cls(beta, num_samples, kl_weight)

    def loss(self, terms: dict) -> tf.Tensor:
        """Per-example loss ``[B]``."""
        return reconstruction(terms) + tf.cast(self.kl_weight, terms["kl"].dtype) * terms["kl"]

    def key(self) -> str:
        """The metric name of this objective's value: ``negative_elbo`` or ``negative_beta_elbo``."""
        return "negative_elbo" if self.beta == 1 else "negative_beta_elbo"

    def description(self) -> str:
        """The objective in words."""
        return "negative ELBO" if self.beta == 1 else f"beta-weighted negative ELBO (beta={self.beta:g})"


class IWAE:
    """The negative importance-weighted bound with K samples (Burda et al. 2015).

        L_K = E[log (1/K) sum_k p(x, z_k) / q(z_k|x)],   L_1 = ELBO <= L_K <= log p(x)

    The KL is not separate here, so ``beta`` does not apply.
    """

    name = "iwae"
    needs = ()

    def __init__(self, num_samples=5):
        if int(num_samples) < 1:
            raise ValueError(f"the IWAE objective needs num_samples >= 1, got {num_samples}")
        self.num_samples = int(num_samples)

    @classmethod
    def from_options(cls, beta, num_samples, free_bits, kl_weight=None):
        """The objective from the model's options: only ``num_samples`` (K) applies."""
        return cls(num_samples)

    def loss(self, terms: dict) -> tf.Tensor:
        """Per-example loss ``[B]``: -log-mean-exp of the K log importance weights."""
        log_weights = terms["log_likelihood"] + terms["log_prior"] - terms["log_posterior"]
        return -tfp.math.reduce_logmeanexp(log_weights, axis=0)

    def key(self) -> str:
        """The metric name: ``negative_iwae_bound_k<K>``."""
        return f"negative_iwae_bound_k{self.num_samples}"

    def description(self) -> str:
        """The objective in words."""
        return f"negative IWAE bound (k={self.num_samples})"


class IWAEDReG(IWAE):
    """The IWAE bound with doubly reparameterized gradients for the encoder (Tucker et al. 2019).

    The loss value is the negative IWAE bound; its gradient differs. With
    normalized weights w~_k = w_k / sum_j w_j, the encoder (phi) gets

        sum_k w~_k^2  d log w_k / d z_k  d z_k / d phi

    (no score-function term, so its variance falls as K grows, where the IWAE
    encoder gradient's signal-to-noise ratio falls), and the generative
    parameters (theta) get the usual sum_k w~_k grad_theta log p(x, z_k).
    A surrogate gives both: -sum_k w~_k^2 log w'_k, with log q's parameters
    stopped in log w'_k, plus -sum_k (w~_k - w~_k^2) log p(x, stop(z_k)),
    whose theta-gradients add up to the IWAE one. Needs the terms
    ``log_posterior_stopped`` and ``log_joint_stopped_z`` (one-layer models).
    """

    name = "iwae_dreg"
    needs = ("log_posterior_stopped", "log_joint_stopped_z")

    def description(self) -> str:
        """The objective in words."""
        return f"negative IWAE bound (k={self.num_samples}, DReG gradients)"

    def loss(self, terms: dict) -> tf.Tensor:
        """Per-example loss ``[B]``: the negative IWAE bound, with DReG gradients."""
        value = super().loss(terms)
        log_w = terms["log_likelihood"] + terms["log_prior"] - terms["log_posterior_stopped"]
        weights = tf.stop_gradient(tf.nn.softmax(log_w, axis=0))
        surrogate = -tf.reduce_sum(tf.square(weights) * log_w, axis=0)
        surrogate -= tf.reduce_sum((weights - tf.square(weights)) * terms["log_joint_stopped_z"], axis=0)
        return tf.stop_gradient(value) + surrogate - tf.stop_gradient(surrogate)


class FreeBits:
    """ELBO with free bits (Kingma et al. 2016): each latent dimension's KL,
    averaged over the batch, is floored at ``lambda_`` nats:

        loss = reconstruction + beta * sum_j max(lambda_, mean_batch KL_j)

    Dimensions under the floor get no gradient from the KL term, so the
    encoder may use them without paying for it: a guard against posterior
    collapse. Needs per-dimension KLs (diagonal posterior, standard-Normal prior).
    """

    name = "free_bits"
    needs = ("kl_per_dim",)

    def __init__(self, lambda_=0.5, beta=1.0, num_samples=1, kl_weight=None):
        if float(lambda_) < 0:
            raise ValueError(f"free bits lambda must be >= 0, got {lambda_}")
        self.lambda_ = float(lambda_)
        self.beta = _configured(beta)
        self.kl_weight = beta if kl_weight is None else kl_weight
        self.num_samples = int(num_samples)

    @classmethod
    def from_options(cls, beta, num_samples, free_bits, kl_weight=None):
        """The objective from the model's options: ``free_bits`` is lambda."""
        return cls(free_bits, beta, num_samples, kl_weight)

    def key(self) -> str:
        """The metric name: ``negative_elbo_free_bits``."""
        return "negative_elbo_free_bits"

    def description(self) -> str:
        """The objective in words."""
        return f"negative ELBO with free bits (lambda={self.lambda_:g} nats/dim, beta={self.beta:g})"

    def penalized_kl(self, kl_per_dim):
        """sum_j max(lambda, mean over the batch of KL_j): a scalar."""
        return tf.reduce_sum(tf.maximum(self.lambda_, tf.reduce_mean(kl_per_dim, axis=0)))

    def loss(self, terms: dict) -> tf.Tensor:
        """Per-example loss ``[B]`` (the KL part is shared by the batch)."""
        kl = self.penalized_kl(terms["kl_per_dim"])
        return reconstruction(terms) + tf.cast(self.kl_weight, kl.dtype) * kl


# The objectives by name, in the order of tfvae.options.OBJECTIVES (a test checks that they agree).
OBJECTIVE_CLASSES = (ELBO, IWAE, IWAEDReG, FreeBits)


def objective_key(model) -> str:
    """The training objective's name as a metric key, e.g. ``negative_iwae_bound_k5`` (``model.objective.key()``)."""
    return model.objective.key()


def objective_name(model) -> str:
    """The training objective in words, e.g. ``"negative IWAE bound (k=5)"`` (``model.objective.description()``)."""
    return model.objective.description()


def make_objective(
    kind: str, beta: float = 1.0, num_samples: int = 1, free_bits: float = 0.5, kl_weight=None
) -> ELBO | IWAE | FreeBits:
    """The objective named ``kind`` (one of ``OBJECTIVES``), from the model's options.

    ``kl_weight`` (default ``beta``) is what multiplies the KL in the loss: the
    model passes a variable that KL-annealing callbacks change.
    """
    for objective in OBJECTIVE_CLASSES:
        if objective.name == kind:
            unknown = set(objective.needs) - set(EXTRA_TERMS)
            if unknown:  # a new objective asking for a term the model does not compute
                raise ValueError(f"objective {kind!r} needs terms {sorted(unknown)}; the model computes {EXTRA_TERMS}")
            return objective.from_options(beta, num_samples, free_bits, kl_weight)
    raise ValueError(f"objective must be one of {OBJECTIVES}, got {kind!r}")
