"""The VAE: a ``tf_keras.Model`` that trains with plain ``compile``/``fit``.

    x --encoder--> params --posterior head--> q(z|x)
    z = mu + L eps,  eps ~ N(0, I)                       (reparameterisation)
    z --decoder--> params --likelihood head--> p(x|z)

Per example, the model computes ``reconstruction = -E_q[log p(x|z)]`` and
``kl = KL(q(z|x) || p(z))``, and its objective (``objectives.py``; by default
``reconstruction + beta * kl``) is averaged over the batch and added to the
model's losses with ``add_loss``. So ``compile(optimizer=...)`` is the whole
set-up, Keras's reported ``loss`` is the negative ELBO per example in nats (for
the default objective), and ``reconstruction``, ``kl`` and ``elbo`` are logged
beside it as metrics.
"""

import inspect
import random

import numpy as np

from tfvae import validation
from tfvae.backend import keras, tf, tfd
from tfvae.distributions import make_likelihood, make_posterior
from tfvae.networks import make_networks
from tfvae.objectives import KL_ESTIMATES, kl_divergence, make_objective, negative_elbo, reconstruction
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
        prior: ``"normal"`` (N(0, I)), ``"mixture"`` (learned mixture of
            Gaussians) or ``"vamp"`` (VampPrior).
        prior_components: mixture components or VampPrior pseudo-inputs
            (``None``: 10 and 500).
        objective: ``"elbo"``, ``"iwae"`` or ``"free_bits"`` (see ``objectives``).
        num_samples: samples of z per example in training (K of the IWAE bound).
        free_bits: the per-dimension KL floor lambda (nats) of ``"free_bits"``.
        beta: weight of the KL term (1 gives the ELBO).
        kl_estimate: ``"auto"``, ``"analytic"`` or ``"sample"``.
        condition_dim: size of a conditioning vector c (e.g. one-hot labels)
            fed to encoder and decoder; 0 for an unconditional VAE. A
            conditional model takes ``(x, c)`` as input.
        seed: seed of the model's sampling noise (``None``: drawn from Python's
            ``random``, so ``keras.utils.set_random_seed`` fixes it).
        validate_inputs: check the values of every batch that enters the model
            (no NaN or infinity; the likelihood's range, e.g. [0, 1] for
            Bernoulli). ``False`` skips these per-batch checks, for data
            validated upstream; the dtype and shape checks happen once, when a
            function is traced, cost nothing and always stay on. See
            ``tfvae.validation``.

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
        prior_components=None,
        objective="elbo",
        num_samples=1,
        free_bits=0.5,
        beta=1.0,
        kl_estimate="auto",
        condition_dim=0,
        seed=None,
        validate_inputs=True,
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
        self.prior_components = None if prior_components is None else int(prior_components)
        self.objective_kind = objective
        self.num_samples = int(num_samples)
        self.free_bits = float(free_bits)
        self.beta = float(beta)
        self.kl_estimate = kl_estimate
        self.condition_dim = int(condition_dim)
        self.seed = seed
        self.validate_inputs = bool(validate_inputs)
        if objective == "free_bits" and (posterior != "diagonal" or prior != "normal"):
            raise ValueError("free bits need per-dimension KLs: use posterior='diagonal' and prior='normal'")
        if prior == "vamp" and self.condition_dim:
            raise ValueError("the VampPrior is unconditional; use prior='normal' or 'mixture' with condition_dim")

        self.posterior = make_posterior(posterior, self.latent_dim)
        self.likelihood = make_likelihood(likelihood, self.data_shape, likelihood_scale)
        self.encoder, self.decoder = make_networks(
            architecture,
            self.data_shape,
            self.latent_dim,
            self.posterior.params_size(self.latent_dim),
            self.likelihood.params_size(self.data_shape),
            self.hidden_units,
            self.filters,
            activation,
            condition_dim=self.condition_dim,
        )
        self.prior = make_prior(prior, self.latent_dim, self.prior_components, self.data_shape,
                                self.encoder, self.posterior)
        # A variable, so KL-annealing callbacks change it without retracing.
        self.kl_weight = tf.Variable(self.beta, trainable=False, dtype=tf.float32, name="kl_weight")
        self.objective = make_objective(objective, self.kl_weight, self.num_samples, self.free_bits)
        # The model's own random stream: reproducible, saved with the weights,
        # and split across replicas by tf.distribute.
        self.seed_generator = tf.random.Generator.from_seed(seed if seed is not None else random.getrandbits(62))
        # Every sublayer is built already; saying so lets Keras save and
        # restore weights (BackupAndRestore, load_weights) before the first call.
        self.built = True

    # --- the probabilistic model -------------------------------------------

    def encode(self, x, condition=None):
        """q(z|x): the approximate posterior for a batch ``x`` (batch shape ``[B]``)."""
        x, condition = self._checked_inputs(x, condition)
        return self._encode(x, condition)

    def _encode(self, x, condition=None):
        """``encode`` without the input checks (``x`` is float32 already)."""
        params = self.encoder(self._with_condition(x, condition, "encoder"))
        # Distributions and the loss stay in float32 under a mixed_float16 policy.
        return self.posterior.distribution(tf.cast(params, tf.float32))

    def decode(self, z, condition=None):
        """p(x|z): the likelihood for latents ``z`` of shape ``[..., latent_dim]``.

        For a conditional model, ``condition`` is ``[B, condition_dim]`` and
        broadcasts over the leading sample dimensions of ``z``.
        """
        z = tf.cast(z, tf.float32)
        validation.check_latents_spec(z.shape, self.latent_dim)
        inputs = self._with_condition(z, condition, "decoder")
        params = tf.cast(self.decoder(tf.reshape(inputs, [-1, inputs.shape[-1]])), tf.float32)
        params = tf.reshape(params, tf.concat([tf.shape(z)[:-1], tf.shape(params)[-1:]], axis=0))
        return self.likelihood.distribution(params)

    def elbo_terms(self, x, seed=None, num_samples=None, condition=None):
        """Per-example terms of the objective from ``num_samples`` samples of z.

        Returns a dict with the objective's inputs (``log_likelihood``,
        ``log_prior``, ``log_posterior`` ``[K, B]``; ``kl`` ``[B]``;
        ``kl_per_dim`` ``[B, d]`` for free bits), the summaries
        ``reconstruction`` (-E_q log p(x|z)) and ``elbo`` ``[B]``, and the
        ``posterior``, ``likelihood`` and samples ``z`` ``[K, B, d]``.
        ``seed`` (an int or a pair of ints) makes the samples reproducible;
        ``num_samples`` defaults to the model's.
        """
        x, condition = self._checked_inputs(x, condition)
        posterior = self._encode(x, condition)
        z = posterior.sample(num_samples or self.num_samples, seed=self._seed(seed))
        likelihood = self.decode(z, condition)
        prior = self.prior()
        terms = {
            "log_likelihood": likelihood.log_prob(x),
            "log_prior": prior.log_prob(z),
            "log_posterior": posterior.log_prob(z),
            "kl": kl_divergence(posterior, prior, z, self.kl_estimate),
            "posterior": posterior,
            "likelihood": likelihood,
            "z": z,
        }
        if self.objective_kind == "free_bits":
            marginals = tfd.Normal(posterior.mean(), posterior.stddev())
            terms["kl_per_dim"] = tfd.kl_divergence(marginals, tfd.Normal(0.0, 1.0))
        terms["reconstruction"] = reconstruction(terms)
        terms["elbo"] = -negative_elbo(terms)
        return terms

    def elbo(self, x, seed=None, num_samples=1, condition=None):
        """The ELBO of each example of ``x``, in nats (shape ``[B]``)."""
        return self.elbo_terms(x, seed, num_samples, condition)["elbo"]

    def reconstruct(self, x, condition=None):
        """E[x | z = posterior mean]: a deterministic reconstruction of ``x``."""
        x, condition = self._checked_inputs(x, condition)
        return self.decode(self._encode(x, condition).mean(), condition).mean()

    def sample(self, num_samples, seed=None, condition=None):
        """``num_samples`` images: means of p(x|z) at z drawn from the prior.

        A conditional model needs ``condition``: one vector ``[condition_dim]``
        for all images, or one per image ``[num_samples, condition_dim]``.
        """
        if isinstance(num_samples, (int, np.integer)) and num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        z = self.prior().sample(num_samples, seed=self._seed(seed))
        if condition is not None:
            condition = tf.convert_to_tensor(condition, tf.float32)
            condition = tf.broadcast_to(condition, [num_samples, self.condition_dim])
        return self.decode(z, condition).mean()

    # --- Keras ---------------------------------------------------------------

    def call(self, inputs, training=None):
        """Adds the loss and metrics for ``inputs``; returns reconstruction means.

        ``inputs`` is ``x``, or ``(x, c)`` for a conditional model. In training
        the means are at the first sampled z (what the loss used); in
        inference they are ``reconstruct(x)``.
        """
        x, condition = self._split_inputs(inputs)
        terms = self.elbo_terms(x, condition=condition)
        self.add_loss(tf.reduce_mean(self.objective.loss(terms)))
        # Per-example values, so Keras averages over examples, not batches.
        self.add_metric(terms["reconstruction"], name="reconstruction")
        self.add_metric(terms["kl"], name="kl")
        self.add_metric(terms["elbo"], name="elbo")
        if training:
            return terms["likelihood"].mean()[0]
        return self.decode(terms["posterior"].mean(), condition).mean()

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
            "prior_components": self.prior_components,
            "objective": self.objective_kind,
            "num_samples": self.num_samples,
            "free_bits": self.free_bits,
            "beta": self.beta,
            "kl_estimate": self.kl_estimate,
            "condition_dim": self.condition_dim,
            "seed": self.seed,
            "validate_inputs": self.validate_inputs,
        }

    @classmethod
    def from_config(cls, config):
        """Builds a VAE from ``get_config()`` output."""
        return cls(**config)

    # --- input checks at the Keras entry points ---------------------------------
    #
    # ``call`` checks every batch in the graph, but XLA drops Assert ops: with
    # ``jit_compile`` those value checks never fire. So the data is also
    # checked here, before Keras builds its compiled step: arrays and eager
    # tensors at once (a ValueError before anything trains), tf.data pipelines
    # by their element spec at once and, under XLA, by a ``map`` that checks
    # each batch's values in the pipeline, outside the compiled step.

    def fit(self, *args, **kwargs):
        """Keras's ``fit``, with ``x`` and ``validation_data`` checked first (see ``tfvae.validation``)."""
        arguments = _bind(keras.Model.fit, self, args, kwargs)
        arguments["x"] = self._checked_source(arguments.get("x"), element=False)
        if arguments.get("validation_data") is not None:
            arguments["validation_data"] = self._checked_source(arguments["validation_data"], element=True)
        return super().fit(**_unbind(arguments))

    def evaluate(self, *args, **kwargs):
        """Keras's ``evaluate``, with ``x`` checked first."""
        arguments = _bind(keras.Model.evaluate, self, args, kwargs)
        # Inside ``fit``, Keras evaluates the validation data that ``fit`` checked already.
        if not arguments.get("kwargs", {}).get("_use_cached_eval_dataset"):
            arguments["x"] = self._checked_source(arguments.get("x"), element=False)
        return super().evaluate(**_unbind(arguments))

    def predict(self, *args, **kwargs):
        """Keras's ``predict``, with ``x`` checked first."""
        arguments = _bind(keras.Model.predict, self, args, kwargs)
        arguments["x"] = self._checked_source(arguments.get("x"), element=False)
        return super().predict(**_unbind(arguments))

    def train_on_batch(self, x, *args, **kwargs):
        """Keras's ``train_on_batch``, with ``x`` checked first."""
        return super().train_on_batch(self._checked_source(x, element=False), *args, **kwargs)

    def test_on_batch(self, x, *args, **kwargs):
        """Keras's ``test_on_batch``, with ``x`` checked first."""
        return super().test_on_batch(self._checked_source(x, element=False), *args, **kwargs)

    def predict_on_batch(self, x):
        """Keras's ``predict_on_batch``, with ``x`` checked first."""
        return super().predict_on_batch(self._checked_source(x, element=False))

    def check_inputs(self, x, condition=None):
        """Checks model inputs eagerly: ``x`` (and ``condition``) as arrays or eager tensors.

        Raises:
            ValueError: naming the problem (dtype, shape, NaN or infinity, or
                values outside the likelihood's range) and the fix.
        """
        self._inputs().check_arrays(x if condition is None else (x, condition))

    def _inputs(self):
        """The checks of this model's inputs (built when called: ``validate_inputs`` may change)."""
        return validation.InputChecker(self.data_shape, self.condition_dim, self.likelihood_kind,
                                       self.validate_inputs)

    def _checked_source(self, data, element):
        """``data`` of ``fit``/``evaluate``/``predict`` checked (see ``InputChecker.check_source``)."""
        return self._inputs().check_source(data, element=element, compiled=bool(self.jit_compile))

    def _checked_inputs(self, x, condition=None):
        """``x`` as float32 and ``condition``, checked: dtype and shapes always, values if ``validate_inputs``."""
        return self._inputs().check_tensors(x, condition)

    # --- helpers ---------------------------------------------------------------

    def _split_inputs(self, inputs):
        """``x`` or ``(x, c)`` -> ``(x, c or None)``, checked against ``condition_dim``."""
        if isinstance(inputs, (tuple, list)):
            if len(inputs) != 2:
                raise ValueError(f"expected x or (x, condition), got a sequence of {len(inputs)}")
            x, condition = inputs
        else:
            x, condition = inputs, None
        if bool(self.condition_dim) != (condition is not None):
            raise ValueError(
                f"this model has condition_dim={self.condition_dim}: "
                + ("feed (x, condition)" if self.condition_dim else "feed x alone")
            )
        return x, condition

    def _with_condition(self, tensor, condition, network):
        """Appends the condition to a network's input (as extra image channels for conv encoders)."""
        if not self.condition_dim:
            if condition is not None:
                raise ValueError("this model is unconditional (condition_dim=0)")
            return tensor
        if condition is None:
            raise ValueError(f"this model is conditional: pass a condition of size {self.condition_dim}")
        condition = tf.convert_to_tensor(condition, tf.float32)
        if network == "decoder":
            condition = tf.broadcast_to(condition, tf.concat([tf.shape(tensor)[:-1], [self.condition_dim]], 0))
            return tf.concat([tensor, condition], axis=-1)
        if self.architecture == "conv":
            spatial = tf.ones(tf.concat([tf.shape(tensor)[:-1], [1]], 0))
            return tf.concat([tensor, spatial * condition[:, None, None, :]], axis=-1)
        flat = tf.reshape(tensor, [tf.shape(tensor)[0], -1])
        return tf.concat([flat, condition], axis=-1)

    def _seed(self, seed=None):
        """A stateless TFP seed: ``seed`` as a pair, or the next from the model's stream."""
        if seed is None:
            return tf.cast(self.seed_generator.make_seeds(1)[:, 0], tf.int32)
        if isinstance(seed, int):
            return tf.constant([seed, 0], tf.int32)
        return tf.cast(seed, tf.int32)


def _bind(method, model, args, kwargs):
    """The arguments of a call of Keras's ``method`` by name (positional ones included)."""
    arguments = inspect.signature(method).bind(model, *args, **kwargs).arguments
    arguments.pop("self")
    return arguments


def _unbind(arguments):
    """``_bind``'s dict as keyword arguments (a method's ``**kwargs`` merged in)."""
    return {**{k: v for k, v in arguments.items() if k != "kwargs"}, **arguments.get("kwargs", {})}

