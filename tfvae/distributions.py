"""TFP distribution heads: layers that turn a network's output into a distribution.

Each head is a plain Keras layer whose ``call`` returns a TFP distribution (no
``tfp.layers``, which need Keras 2), with two static methods, as in TFP's own
``distribution_layer.py``:

* ``params_size(...)`` -- how many numbers the network must output;
* ``new(params, ...)`` -- the distribution those numbers define.

Scales go through a softplus with a floor (``tfb.Softplus(low=...)``): an
unfloored softplus reaches 0 in float32 for very negative inputs and the
log-density becomes -inf/NaN.

Calling a head returns its distribution (never a tensor); the VAE calls
``distribution`` and draws its samples itself, with explicit seeds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tfvae.backend import keras, tf, tfb, tfd, tfp
from tfvae.options import LIKELIHOODS, POSTERIORS  # defined once, with the options

# Floors under every softplus scale, so no scale reaches 0 (a log-density of inf) in float32.
POSTERIOR_MIN_SCALE = 1e-4  # q(z|x): latents are O(1)
LIKELIHOOD_MIN_SCALE = 1e-3  # p(x|z) and learned priors: a pixel level is 1/255 = 4e-3 wide


def _split_channels(params, event_shape, num_params):
    """Reshapes flat ``[..., num_params * prod(event_shape)]`` parameters to
    ``num_params`` tensors of shape ``[..., *event_shape]``.

    The parameters of one element sit side by side on the last (channel) axis,
    so an MLP's flat output and a conv net's ``[H, W, k*C]`` output agree.
    """
    event_shape = list(event_shape)
    stacked_shape = event_shape[:-1] + [num_params * event_shape[-1]]
    params = tf.reshape(params, tf.concat([tf.shape(params)[:-1], stacked_shape], 0))
    return tf.split(params, num_params, axis=-1)


class _Head(keras.layers.Layer):
    """A layer that returns a distribution, and whose config is its plain hyperparameters.

    Subclasses define ``_make(params)`` (the distribution) and
    ``_hyperparameters()`` (their config). A head also describes itself to
    the rest of tfvae: ``kind`` (its option value), ``value_range`` (the data
    a likelihood accepts, checked by ``tfvae.validation``) and
    ``serving_outputs`` (what an export returns beside the mean).
    """

    kind = None  # the option value that selects this head (options.LIKELIHOODS / POSTERIORS)
    value_range = None  # (low, high) of the data a likelihood head models; None: any finite value
    serving_output_names = ()  # the keys of serving_outputs, for an export's description

    def call(self, params):
        """The distribution for ``params`` (``distribution``, through Keras's layer call)."""
        return self._make(params)

    def serving_outputs(self, distribution: tfd.Distribution) -> dict[str, tf.Tensor]:
        """Parameters of ``distribution`` an export returns beside its mean (``serving_output_names``)."""
        return {}

    @classmethod
    def from_options(cls, event_shape: Sequence[int], likelihood_scale: float | str = 1.0, **kwargs) -> _Head:
        """A likelihood head from the model's options (only the Normal takes ``likelihood_scale``)."""
        return cls(event_shape, **kwargs)

    def distribution(self, params: tf.Tensor) -> tfd.Distribution:
        """The distribution for ``params``, built outside Keras's layer call.

        Calling the layer works in eager code and ``fit``; but when Keras
        saves a model it traces every layer call as a function that must
        return tensors, which turns the distribution into its mean. The VAE
        therefore calls this method.
        """
        return self._make(params)

    def get_config(self):
        # The hyperparameters below rebuild the head exactly.
        config = super().get_config()
        config.update(self._hyperparameters())
        return config


class _PosteriorHead(_Head):
    """A posterior head over ``latent_dim`` dimensions with floored scales."""

    def __init__(self, latent_dim, min_scale=POSTERIOR_MIN_SCALE, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = int(latent_dim)
        self.min_scale = float(min_scale)

    def _make(self, params):
        return self.new(params, self.latent_dim, self.min_scale)

    def _hyperparameters(self):
        return {"latent_dim": self.latent_dim, "min_scale": self.min_scale}

    def serving_stddev(self, distribution: tfd.Distribution) -> tf.Tensor:
        """The marginal standard deviations an export's ``encode`` returns, by ops TFLite has."""
        return distribution.stddev()


class _ImageLogitsHead(_Head):
    """A likelihood head with one logit per element of ``event_shape``."""

    def __init__(self, event_shape, **kwargs):
        super().__init__(**kwargs)
        self.event_shape = tuple(int(d) for d in event_shape)

    @staticmethod
    def params_size(event_shape: Sequence[int]) -> int:
        """One logit per element of the event."""
        return int(np.prod(event_shape))

    def _make(self, params):
        return self.new(params, self.event_shape)

    def _hyperparameters(self):
        return {"event_shape": list(self.event_shape)}


class DiagonalNormalPosterior(_PosteriorHead):
    """q(z|x) = N(z; mu(x), diag(sigma(x)^2)).

    The network outputs ``[mu, s]`` (``2 * latent_dim`` numbers) and
    ``sigma = softplus(s) + min_scale``. The distribution is a
    ``MultivariateNormalDiag`` so that its KL to a Gaussian prior has TFP's
    closed form.

    Example:
        >>> head = DiagonalNormalPosterior(latent_dim=2)
        >>> q = head(tf.zeros([5, head.params_size(2)]))
        >>> q.sample(seed=(1, 2)).shape
        TensorShape([5, 2])
    """

    kind = "diagonal"

    @staticmethod
    def params_size(latent_dim: int) -> int:
        """Number of network outputs: a mean and a raw scale per dimension."""
        return 2 * int(latent_dim)

    @staticmethod
    def new(params: tf.Tensor, latent_dim: int, min_scale: float = POSTERIOR_MIN_SCALE) -> tfd.Distribution:
        """The diagonal Normal defined by ``params`` of shape ``[..., 2 * latent_dim]``."""
        loc, raw_scale = tf.split(params, [latent_dim, latent_dim], axis=-1)
        scale = tfb.Softplus(low=min_scale).forward(raw_scale)
        return tfd.MultivariateNormalDiag(loc=loc, scale_diag=scale)


class FullCovarianceNormalPosterior(_PosteriorHead):
    """q(z|x) = N(z; mu(x), L(x) L(x)^T) with L lower triangular.

    The network outputs ``d`` means and ``d (d + 1) / 2`` entries of ``L``;
    ``tfb.FillTriangular`` fills the triangle and a floored softplus maps its
    diagonal, so ``L`` is a valid Cholesky factor for every input.

    Example:
        >>> head = FullCovarianceNormalPosterior(latent_dim=3)
        >>> head(tf.zeros([4, head.params_size(3)])).covariance().shape
        TensorShape([4, 3, 3])
    """

    kind = "full"
    serving_output_names = ("scale_tril",)

    def serving_outputs(self, distribution: tfd.Distribution) -> dict[str, tf.Tensor]:
        """The Cholesky factor L of the covariance L L^T."""
        return {"scale_tril": distribution.scale.to_dense()}

    def serving_stddev(self, distribution: tfd.Distribution) -> tf.Tensor:
        """sqrt(diag(L L^T)) as the row norms of L: TFLite has no ``matrix_diag_part``."""
        return tf.sqrt(tf.reduce_sum(tf.square(distribution.scale.to_dense()), axis=-1))

    @staticmethod
    def params_size(latent_dim: int) -> int:
        """Number of network outputs: ``d`` means plus ``d (d + 1) / 2`` for ``L``."""
        d = int(latent_dim)
        return d + d * (d + 1) // 2

    @staticmethod
    def new(params: tf.Tensor, latent_dim: int, min_scale: float = POSTERIOR_MIN_SCALE) -> tfd.Distribution:
        """The full-covariance Normal defined by ``params``."""
        d = int(latent_dim)
        loc, raw_tril = tf.split(params, [d, d * (d + 1) // 2], axis=-1)
        scale_tril = FullCovarianceNormalPosterior.scale_tril(raw_tril, min_scale)
        return tfd.MultivariateNormalTriL(loc=loc, scale_tril=scale_tril)

    @staticmethod
    def scale_tril(raw_tril: tf.Tensor, min_scale: float = POSTERIOR_MIN_SCALE) -> tf.Tensor:
        """The Cholesky factor L from its ``d (d + 1) / 2`` raw entries.

        Equal to ``tfb.FillScaleTriL(diag_bijector=tfb.Softplus(low=min_scale),
        diag_shift=None)``, but the diagonal is transformed with masks: the
        bijector's ``matrix_diag_part`` has no TFLite builtin.
        """
        tril = tfb.FillTriangular().forward(raw_tril)
        eye = tf.eye(tf.shape(tril)[-1], dtype=tril.dtype)
        diagonal = tfb.Softplus(low=min_scale).forward(tf.reduce_sum(tril * eye, axis=-1))
        return tril * (1.0 - eye) + diagonal[..., None] * eye


class BernoulliLikelihood(_ImageLogitsHead):
    """p(x|z) = prod_i Bernoulli(x_i; sigmoid(logit_i(z))).

    ``log_prob`` is ``-sigmoid_cross_entropy(x, logits)`` summed over the
    event, computed from logits so it stays finite for any logit.

    Example:
        >>> head = BernoulliLikelihood(event_shape=(28, 28, 1))
        >>> p = head(tf.zeros([2, 784]))
        >>> float(p.log_prob(tf.ones([2, 28, 28, 1]))[0])  # 784 * log(1/2)
        -543.4273681640625
    """

    kind = "bernoulli"
    value_range = (0.0, 1.0)  # binary pixels (or grey levels as probabilities)
    serving_output_names = ("logits",)

    def serving_outputs(self, distribution: tfd.Distribution) -> dict[str, tf.Tensor]:
        """The logits of the pixels' Bernoullis."""
        return {"logits": distribution.distribution.logits_parameter()}

    @staticmethod
    def new(params: tf.Tensor, event_shape: Sequence[int]) -> tfd.Distribution:
        """Independent Bernoullis over ``event_shape`` with the given logits."""
        (logits,) = _split_channels(params, event_shape, 1)
        return tfd.Independent(
            tfd.Bernoulli(logits=logits, dtype=params.dtype),
            reinterpreted_batch_ndims=len(event_shape),
        )


class NormalLikelihood(_Head):
    """p(x|z) = prod_i N(x_i; mu_i(z), sigma_i^2).

    ``scale`` sets sigma, which weighs reconstruction against the KL term
    (a fixed sigma is a beta-VAE with beta = 2 sigma^2):

    * a positive number: sigma fixed at that value;
    * ``"global"``: one learned sigma shared by every element;
    * ``"pixel"``: one learned sigma per element of the event.

    Learned scales are ``softplus(s) + min_scale`` and start at 1.

    Example:
        >>> head = NormalLikelihood(event_shape=(4,), scale=0.5)
        >>> head(tf.zeros([3, 4])).stddev()[0].numpy()
        array([0.5, 0.5, 0.5, 0.5], dtype=float32)
    """

    kind = "normal"
    serving_output_names = ("loc", "scale")

    def __init__(self, event_shape, scale=1.0, min_scale=LIKELIHOOD_MIN_SCALE, **kwargs):
        super().__init__(**kwargs)
        self.event_shape = tuple(int(d) for d in event_shape)
        if isinstance(scale, str):
            if scale not in ("global", "pixel"):
                raise ValueError(f"scale must be a positive number, 'global' or 'pixel', got {scale!r}")
        elif not float(scale) > 0:
            raise ValueError(f"a fixed scale must be positive, got {scale!r}")
        self.scale = scale if isinstance(scale, str) else float(scale)
        self.min_scale = float(min_scale)
        if isinstance(scale, str):
            shape = () if scale == "global" else self.event_shape
            initial = float(tfb.Softplus(low=min_scale).inverse(1.0))
            self.raw_scale = self.add_weight(
                name="raw_scale", shape=shape, initializer=keras.initializers.Constant(initial)
            )

    @staticmethod
    def params_size(event_shape: Sequence[int]) -> int:
        """One mean per element of the event (learned scales are not z-dependent)."""
        return int(np.prod(event_shape))

    @staticmethod
    def new(params: tf.Tensor, event_shape: Sequence[int], scale: tf.Tensor) -> tfd.Distribution:
        """Independent Normals with means from ``params`` and the given scale tensor."""
        (loc,) = _split_channels(params, event_shape, 1)
        scale = tf.broadcast_to(tf.cast(scale, loc.dtype), tf.shape(loc))
        return tfd.Independent(tfd.Normal(loc=loc, scale=scale), reinterpreted_batch_ndims=len(event_shape))

    @classmethod
    def from_options(
        cls, event_shape: Sequence[int], likelihood_scale: float | str = 1.0, **kwargs
    ) -> NormalLikelihood:
        """The Normal head with ``scale=likelihood_scale``."""
        return cls(event_shape, scale=likelihood_scale, **kwargs)

    def serving_outputs(self, distribution: tfd.Distribution) -> dict[str, tf.Tensor]:
        """The Normals' means and standard deviations."""
        return {"loc": distribution.distribution.loc, "scale": distribution.distribution.scale}

    def current_scale(self) -> tf.Tensor:
        """sigma as a tensor: the fixed value or the learned one."""
        if isinstance(self.scale, str):
            return tfb.Softplus(low=self.min_scale).forward(self.raw_scale)
        return tf.constant(self.scale)

    def _make(self, params):
        return self.new(params, self.event_shape, self.current_scale())

    def _hyperparameters(self):
        return {"event_shape": list(self.event_shape), "scale": self.scale, "min_scale": self.min_scale}


class ContinuousBernoulliLikelihood(_ImageLogitsHead):
    """p(x|z) = prod_i CB(x_i; lambda_i(z)) for images with values in [0, 1].

    The continuous Bernoulli (Loaiza-Ganem & Cunningham 2019) is the Bernoulli
    cross-entropy plus its normalising constant log C(lambda), so it is a
    proper density on [0, 1] for grey (non-binarised) pixels. TFP's
    ``tfd.ContinuousBernoulli`` on logits.
    """

    kind = "continuous_bernoulli"
    value_range = (0.0, 1.0)  # a density on [0, 1]

    @staticmethod
    def new(params: tf.Tensor, event_shape: Sequence[int]) -> tfd.Distribution:
        """Independent continuous Bernoullis with the given logits."""
        (logits,) = _split_channels(params, event_shape, 1)
        return tfd.Independent(tfd.ContinuousBernoulli(logits=logits), reinterpreted_batch_ndims=len(event_shape))


class DiscretizedLogistic(tfd.Distribution):
    """A logistic distribution discretised to ``num_bins`` values k / (num_bins - 1) in [0, 1].

        P(x) = F((x + h - loc) / scale) - F((x - h - loc) / scale),  h = 1 / (2 (num_bins - 1)),

    with F the logistic CDF; the edge bins are open (x = 0 takes all mass
    below, x = 1 all mass above), as in PixelCNN++ (Salimans et al. 2017).
    ``log_prob`` is the log of that probability mass, so -log p(x) is in nats
    of the discrete 8-bit data.
    """

    def __init__(self, loc, scale, num_bins=256, validate_args=False, allow_nan_stats=True, name="DiscretizedLogistic"):
        parameters = dict(locals())
        with tf.name_scope(name):
            self._loc = tf.convert_to_tensor(loc, tf.float32)
            self._scale = tf.convert_to_tensor(scale, tf.float32)
            self._num_bins = int(num_bins)
            super().__init__(
                dtype=tf.float32,
                reparameterization_type=tfd.NOT_REPARAMETERIZED,
                validate_args=validate_args,
                allow_nan_stats=allow_nan_stats,
                parameters=parameters,
                name=name,
            )

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        return dict(
            loc=tfp.util.ParameterProperties(),
            scale=tfp.util.ParameterProperties(
                default_constraining_bijector_fn=lambda: tfb.Softplus(low=LIKELIHOOD_MIN_SCALE)
            ),
            num_bins=tfp.util.ParameterProperties(event_ndims=None, specifies_shape=True),
        )

    @property
    def loc(self):
        """Location on the [0, 1] scale."""
        return self._loc

    @property
    def scale(self):
        """Scale on the [0, 1] scale."""
        return self._scale

    def _half_bin(self):
        return 0.5 / (self._num_bins - 1)

    def _log_prob(self, x):
        h = self._half_bin()
        upper = (x + h - self._loc) / self._scale
        lower = (x - h - self._loc) / self._scale
        # log(F(u) - F(l)), from the side where the CDF values are small (stable).
        left = tfp.math.log_sub_exp(tf.math.log_sigmoid(upper), tf.math.log_sigmoid(lower))
        right = tfp.math.log_sub_exp(tf.math.log_sigmoid(-lower), tf.math.log_sigmoid(-upper))
        interior = tf.where(x < self._loc, left, right)
        return tf.where(x < h, tf.math.log_sigmoid(upper), tf.where(x > 1.0 - h, tf.math.log_sigmoid(-lower), interior))

    def _mean(self):
        # E[x] = sum_k P(x >= k / (n - 1)) / (n - 1), from the CDF at the n - 1 inner edges.
        steps = self._num_bins - 1
        edges = (tf.range(steps, dtype=self._loc.dtype) + 0.5) / steps
        survival = tf.sigmoid((self._loc[..., None] - edges) / self._scale[..., None])
        return tf.reduce_sum(survival, axis=-1) / steps

    def _sample_n(self, n, seed=None):
        shape = tf.concat([[n], self._batch_shape_tensor()], axis=0)
        uniform = tf.random.stateless_uniform(shape, seed=tfp.random.sanitize_seed(seed), minval=1e-6, maxval=1 - 1e-6)
        continuous = self._loc + self._scale * (tf.math.log(uniform) - tf.math.log1p(-uniform))
        steps = self._num_bins - 1
        return tf.clip_by_value(tf.round(continuous * steps) / steps, 0.0, 1.0)

    def _event_shape(self):
        return tf.TensorShape([])

    def _event_shape_tensor(self):
        return tf.constant([], tf.int32)

    def _default_event_space_bijector(self):
        return None


class DiscretizedLogisticLikelihood(_Head):
    """p(x|z) = prod_i DiscretizedLogistic(x_i; mu_i(z), s_i(z)) for 8-bit images scaled to [0, 1].

    The network outputs a location and a raw scale per element;
    ``s = softplus(raw) + min_scale``.
    """

    kind = "discretized_logistic"
    value_range = (0.0, 1.0)  # 8-bit levels k / 255 (tfvae.data scales them)

    def __init__(self, event_shape, min_scale=LIKELIHOOD_MIN_SCALE, **kwargs):
        super().__init__(**kwargs)
        self.event_shape = tuple(int(d) for d in event_shape)
        self.min_scale = float(min_scale)

    @staticmethod
    def params_size(event_shape: Sequence[int]) -> int:
        """A location and a raw scale per element of the event."""
        return 2 * int(np.prod(event_shape))

    @staticmethod
    def new(params: tf.Tensor, event_shape: Sequence[int], min_scale: float = LIKELIHOOD_MIN_SCALE) -> tfd.Distribution:
        """Independent discretised logistics over ``event_shape``."""
        loc, raw_scale = _split_channels(params, event_shape, 2)
        scale = tfb.Softplus(low=min_scale).forward(raw_scale)
        return tfd.Independent(DiscretizedLogistic(loc + 0.5, scale), reinterpreted_batch_ndims=len(event_shape))

    def _make(self, params):
        return self.new(params, self.event_shape, self.min_scale)

    def _hyperparameters(self):
        return {"event_shape": list(self.event_shape), "min_scale": self.min_scale}


# The heads by option value, in the options' order (tests/test_variants.py checks that they agree).
POSTERIOR_HEADS = (DiagonalNormalPosterior, FullCovarianceNormalPosterior)
LIKELIHOOD_HEADS = (BernoulliLikelihood, NormalLikelihood, ContinuousBernoulliLikelihood, DiscretizedLogisticLikelihood)


def _head_class(heads, kind, what, names):
    """The class in ``heads`` whose ``kind`` is ``kind``; ``ValueError`` listing ``names`` otherwise."""
    for head in heads:
        if head.kind == kind:
            return head
    raise ValueError(f"{what} must be one of {names}, got {kind!r}")


def likelihood_class(kind: str) -> type[_Head]:
    """The likelihood head class named ``kind`` (one of ``LIKELIHOODS``)."""
    return _head_class(LIKELIHOOD_HEADS, kind, "likelihood", LIKELIHOODS)


def make_posterior(kind: str, latent_dim: int, **kwargs) -> _PosteriorHead:
    """The posterior head named ``kind`` (``"diagonal"`` or ``"full"``)."""
    return _head_class(POSTERIOR_HEADS, kind, "posterior", POSTERIORS)(latent_dim, name="posterior", **kwargs)


def make_likelihood(kind: str, event_shape: Sequence[int], scale: float | str = 1.0) -> _Head:
    """The likelihood head named ``kind`` (one of ``LIKELIHOODS``); ``scale`` is the Normal's."""
    return likelihood_class(kind).from_options(event_shape, scale, name="likelihood")
