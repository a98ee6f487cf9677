"""The core that every tfvae model shares, and the hooks by which the image and sentence VAEs differ.

    BaseVAE                           q(z|x) head, latent stack, prior, objective, seed stream,
      |                               elbo_terms, call (add_loss + metrics), sampling of z,
      |                               its arguments' checks and config
      +-- VAE          (model.py)     images: data_shape, preset or custom networks, likelihood head,
      |                               an optional condition
      +-- SentenceVAE  (sentence.py)  sentences: vocabulary, RNN networks, teacher-forced likelihood

A face (a subclass) takes only its own arguments and passes the core's on in
``**core``. Its constructor has four steps::

    self.check_arguments(own, core)            # the option table's ranges and rules, face and core
    super().__init__(**core)                   # keras.Model, and the core's hyperparameters
    self.<own> = ...                           # the face's hyperparameters
    self.build_parts(encoder, decoder)         # heads, networks, latent stack, prior, objective

``build_parts`` calls the face's hooks: ``_make_likelihood()`` (the likelihood
head) and ``_make_networks(encoder, decoder)``. Scoring goes through
``likelihood_of(x, z, condition)``, p(x|z) as the distribution that scores x
(an autoregressive decoder reads x's prefix there; ``log_px_given_z`` is its
log_prob, which a face may compute faster for scoring), and ``_call_output`` says
what ``call`` returns. Which of the core's arguments a face exposes is the
option table's answer (``tfvae.options``): a core argument without a row in the
face's family (``latent_dims`` for sentences) keeps its default, is refused if
given, and is not in the face's config.
"""

import inspect
import random
import types

import numpy as np

from tfvae import latents, options, validation
from tfvae.backend import KERAS_VERSION, check_keras_object, keras, tf
from tfvae.distributions import make_posterior
from tfvae.latents import LatentLayer
from tfvae.objectives import make_objective, negative_elbo, reconstruction
from tfvae.priors import make_prior

# Core arguments that no option row describes (they are no hyperparameters: a warm start may change both), taken by
# every face.
ARGUMENTS_WITHOUT_ROWS = ("seed", "validate_inputs")
# What keras.Model's constructor takes from a subclass: passed through unchecked.
KERAS_ARGUMENTS = ("name", "trainable", "dtype", "dynamic", "autocast")


class BaseVAE(validation.CheckedEntryPoints, keras.Model):
    """The shared core of tfvae's models: posterior, latent stack, prior, objective and the ``add_loss`` terms.

    Not built directly: ``tfvae.VAE`` (images) and ``tfvae.SentenceVAE``
    (sentences) are its faces. Its arguments are theirs too, where their
    family has the option (see the module docstring).

    Args:
        latent_dim: latent dimensions of the lowest layer (``None``: 16, or
            ``latent_dims[0]``).
        latent_dims: sizes of the stochastic layers, lowest first, e.g.
            ``(100, 50)`` for a two-layer hierarchical VAE (``latents.py``);
            ``None`` is ``(latent_dim,)``.
        inference: for two or more layers, ``"bottom_up"`` (Burda et al.
            2015) or ``"ladder"`` (Sønderby et al. 2016). A VampPrior on a
            hierarchy mixes q(z_L | u_k) along the path through the means.
        latent_hidden_units: widths of the MLPs between stochastic layers.
        latent_batch_norm: batch normalisation in those MLPs (Sønderby et al. 2016).
        activation: hidden-layer activation (the MLPs between layers, and the
            image VAE's preset networks).
        posterior: ``"diagonal"`` or ``"full"`` (full-covariance) Normal.
        prior: ``"normal"`` (N(0, I)), ``"mixture"`` (learned mixture of
            Gaussians) or ``"vamp"`` (VampPrior).
        prior_components: mixture components or VampPrior pseudo-inputs
            (``None``: 10 and 500).
        objective: ``"elbo"``, ``"iwae"``, ``"iwae_dreg"`` (IWAE with
            doubly reparameterized encoder gradients; one latent layer) or
            ``"free_bits"`` (see ``objectives``).
        num_samples: samples of z per example in training (K of the IWAE bound).
        free_bits: the per-dimension KL floor lambda (nats) of ``"free_bits"``.
        beta: weight of the KL term (1 gives the ELBO).
        kl_estimate: ``"auto"``, ``"analytic"`` or ``"sample"``. In a
            bottom-up hierarchy only the top layer has a closed form; the
            layers below always use Monte Carlo.
        seed: seed of the model's sampling noise (``None``: drawn from Python's
            ``random``, so ``keras.utils.set_random_seed`` fixes it).
        validate_inputs: check the values of every batch that enters the model
            (no NaN or infinity; the likelihood's range). ``False`` skips these
            per-batch checks, for data validated upstream; the dtype and shape
            checks happen once, when a function is traced, and always stay on.
            See ``tfvae.validation``.
        **kwargs: Keras's ``Model`` arguments (``name``, ...).
    """

    min_latent_dim = 1  # the smallest latent size; a sentence VAE allows 0 (its language-model baseline)
    option_family: str | None = None  # the face's rows in tfvae.options: every face names its own
    condition_dim = 0  # a face with a condition sets its own
    data_shape = (None,)  # one example's shape, where the face has one (the VampPrior's pseudo-inputs)

    def __init__(
        self,
        latent_dim=None,
        latent_dims=None,
        inference="bottom_up",
        latent_hidden_units=(256, 256),
        latent_batch_norm=False,
        activation="relu",
        posterior="diagonal",
        prior="normal",
        prior_components=None,
        objective="elbo",
        num_samples=1,
        free_bits=0.5,
        beta=1.0,
        kl_estimate="auto",
        seed=None,
        validate_inputs=True,
        **kwargs,
    ):
        if type(self) is BaseVAE:
            raise TypeError("BaseVAE is the core of tfvae's models: build a tfvae.VAE or a tfvae.SentenceVAE")
        rows = self.row_arguments(locals(), BaseVAE)  # first: locals() is the arguments alone here
        super().__init__(**kwargs)
        latent_dims = _latent_dims(latent_dim, latent_dims, self.min_latent_dim)
        self.latent_dims = latent_dims
        self.latent_dim = latent_dims[0]  # the layer the decoder reads
        self.store_arguments(rows)
        self.seed = seed
        self.validate_inputs = bool(validate_inputs)

    # --- the arguments ------------------------------------------------------------

    @classmethod
    def core_arguments(cls) -> dict:
        """``{name: default}`` of the core's arguments that this face takes (its family's rows, and
        ``ARGUMENTS_WITHOUT_ROWS``)."""
        if cls.option_family is None:
            raise TypeError(f"{cls.__name__} must name its option_family (its rows in tfvae.options)")
        rows = {option.name_in(cls.option_family) for option in options.options(cls.option_family)}
        return {
            name: default
            for name, default in _defaults(BaseVAE).items()
            if name in rows or name in ARGUMENTS_WITHOUT_ROWS
        }

    @classmethod
    def row_names(cls, constructor=None) -> tuple[str, ...]:
        """The constructor arguments that are rows of the option table, in the signature's order.

        Args:
            constructor: whose signature: ``BaseVAE`` for the core's; by default the face's own arguments (``cls``'s,
                without the core's, such as ``latent_dim``, that it hands on).

        The latent sizes (``latent_dim``, ``latent_dims``) are the core's to resolve, so they are left out.
        """
        names = _defaults(constructor or cls)
        if constructor is None:
            names = {name: default for name, default in names.items() if name not in _defaults(BaseVAE)}
        return tuple(name for name in names if name not in ("latent_dim", "latent_dims") and name in options.MODEL_ROWS)

    @classmethod
    def row_arguments(cls, arguments: dict, constructor=None) -> dict:
        """``{name: value}`` of the ``row_names`` from ``arguments``: ``locals()`` at the top of the constructor
        (its arguments by name), for ``store_arguments``."""
        return {name: arguments[name] for name in cls.row_names(constructor)}

    def store_arguments(self, arguments: dict) -> None:
        """Sets each of ``arguments`` (``row_arguments``) on the model, as its row says: under the row's
        ``attribute`` (``posterior_kind``) or its name, typed by the row (a list as a tuple of ints, ...)."""
        for name, value in arguments.items():
            row = options.model_row(name)
            setattr(self, row.attribute or name, options.python_value(row, value))

    def argument_config(self, names) -> dict:
        """``{name: value}`` of the row arguments ``names`` as stored (``store_arguments``), JSON-ready: a tuple as a
        list. ``get_config`` is made of these."""
        config = {}
        for name in names:
            value = getattr(self, options.model_row(name).attribute or name)
            config[name] = list(value) if isinstance(value, tuple) else value
        return config

    @classmethod
    def check_arguments(cls, own: dict, core: dict) -> None:
        """Checks the face's ``own`` and the ``core`` arguments against the option table.

        The ranges and the rules between options are each written once, in
        ``tfvae.options``; this applies them to the values as given, before
        anything is built. ``core`` holds the other keyword arguments the face
        was given: the core's, and Keras's (``name``, ...), which pass through
        unchecked.

        Raises:
            ValueError: an argument out of range, a rule broken, or an argument
                this face does not take (naming the model that does).
        """
        taken = cls.core_arguments()
        refused = sorted(name for name in core if name not in taken and name not in KERAS_ARGUMENTS)
        if refused:
            raise ValueError(f"{cls.__name__} does not take {', '.join(refused)}{_owners(cls, refused)}")
        values = {**taken, **core}
        latent_dims = _latent_dims(values.pop("latent_dim", None), values.get("latent_dims"), cls.min_latent_dim)
        values.update(latent_dim=latent_dims[0], latent_dims=latent_dims, **own)
        values = {name: tuple(value) if isinstance(value, list) else value for name, value in values.items()}
        rows = {option.name_in(cls.option_family) for option in options.options(cls.option_family)}
        values = {name: value for name, value in values.items() if name in rows}
        options.check_arguments(values, cls.option_family)
        options.check_rules(values, cls.option_family)

    def build_parts(self, encoder=None, decoder=None):
        """Builds the posterior head, the face's likelihood and networks, the latent stack, prior and objective."""
        self.posterior = make_posterior(self.posterior_kind, self.latent_dim)
        self.likelihood = self._make_likelihood()
        self.encoder, self.decoder = self._make_networks(encoder, decoder)
        # The stochastic layers above z_1; empty for a one-layer VAE.
        self.latent_layers = [
            LatentLayer(
                dim,
                below,
                self.latent_hidden_units,
                self.activation,
                self.inference,
                batch_norm=self.latent_batch_norm,
                name=f"latent_layer_{i + 2}",
            )
            for i, (below, dim) in enumerate(zip(self.latent_dims, self.latent_dims[1:]))
        ]
        self.prior = make_prior(
            self.prior_kind, self.latent_dims[-1], self.prior_components, self.data_shape, self._top_posterior
        )
        # A variable, so KL-annealing callbacks change it without retracing.
        self.kl_weight = tf.Variable(self.beta, trainable=False, dtype=tf.float32, name="kl_weight")
        self.objective = make_objective(
            self.objective_kind, self.beta, self.num_samples, self.free_bits, self.kl_weight
        )
        # The model's own random stream: reproducible, saved with the weights,
        # and split across replicas by tf.distribute.
        seed = self.seed if self.seed is not None else random.getrandbits(62)
        self.seed_generator = tf.random.Generator.from_seed(seed)
        if KERAS_VERSION == 3:
            # Keras 3 saves only its own variables (.weights.h5, .keras): the stream's state becomes one.
            state = self.add_weight(
                name="seed_state",
                shape=self.seed_generator.state.shape,
                dtype="int64",
                trainable=False,
            )
            state.assign(self.seed_generator.state)  # exactly: an initializer would round the int64s as floats
            self.seed_generator = tf.random.Generator(state=state.value, alg=self.seed_generator.algorithm)
        # The logged per-example means (Keras 3 has no add_metric). Held in a namespace that neither Keras
        # nor tf.train tracks, so checkpoints keep the objects they had; ``metrics`` lists them.
        layers = [f"kl_{i + 1}" for i in range(len(self.latent_dims))] if self.latent_layers else []
        names = ["reconstruction", "kl", "elbo", *layers]
        self._logged = types.SimpleNamespace(means={name: keras.metrics.Mean(name=name) for name in names})
        # Every sublayer is built already; saying so lets Keras save and
        # restore weights (BackupAndRestore, load_weights) before the first call.
        self.built = True

    def _make_likelihood(self):
        """The likelihood head (a face's hook)."""
        raise NotImplementedError(f"{type(self).__name__} must define _make_likelihood")

    def _make_networks(self, encoder, decoder):
        """The (encoder, decoder) pair (a face's hook)."""
        raise NotImplementedError(f"{type(self).__name__} must define _make_networks")

    # --- the probabilistic model -------------------------------------------

    def encode(self, x, condition=None):
        """q(z_1|x): the lowest layer's approximate posterior (batch shape ``[B]``).

        For a hierarchical model this is ``encode_layers(x)[0]``.
        """
        x, condition = self.checked_inputs(x, condition)
        if not self.latent_layers:
            return self.encoder_posterior(x, condition)
        return self._encode_layers(x, condition)[0]

    def encode_layers(self, x, condition=None):
        """Every layer's Gaussian posterior, lowest first, along the path through the means.

        Each layer's q is taken at the means of the layers it depends on (the
        layers below for bottom-up inference, above for the ladder). For one
        layer, and for z_1 of bottom-up inference, this is q exactly.
        """
        x, condition = self.checked_inputs(x, condition)
        return self._encode_layers(x, condition)

    def encoder_posterior(self, x, condition=None):
        """The encoder's own q(z_1|x), without input checks (pass ``checked_inputs(x)``).

        For one layer this is ``encode(x)``. For a hierarchy it is the encoder's
        output before the layers above act on it: what bottom-up and ladder
        inference start from (``latents.infer``), and the density whose log
        an estimator of a hierarchy's q needs (``inference``).
        """
        params = self.encoder(self._with_condition(x, condition, "encoder"))
        # Distributions and the loss stay in float32 under a mixed-precision policy.
        return self.posterior.distribution(tf.cast(params, tf.float32))

    def _encode_layers(self, x, condition=None):
        posteriors, _, _ = latents.infer(
            self.encoder_posterior(x, condition),
            self.latent_layers,
            self.inference,
            None,
            [None] * len(self.latent_dims),
        )
        return posteriors

    def _top_posterior(self, x):
        """q(z_L|x) along the means path: the VampPrior's components at its pseudo-inputs."""
        return self.encoder_posterior(x) if not self.latent_layers else self._encode_layers(x)[-1]

    def infer(self, x, num_samples=1, seed=None, condition=None):
        """Samples of every latent layer from q, lowest first.

        Returns ``(posteriors, samples, conditionals)``: each layer's q (batch
        ``[B]`` or ``[K, B]``), its samples ``[K, B, d_l]``, and the generative
        p(z_l | z_{l+1}) of the layers below the top at the samples above
        (see ``latents.infer``). ``x`` must be checked already.
        """
        seeds = latents.layer_seeds(self._seed(seed), len(self.latent_dims))
        return latents.infer(
            self.encoder_posterior(x, condition), self.latent_layers, self.inference, num_samples, seeds
        )

    def log_prior(self, samples):
        """log p(z_1, ..., z_L) = log p(z_L) + sum_l log p(z_l | z_{l+1}) for ``samples`` (lowest first)."""
        conditionals = [layer.conditional_prior(z) for layer, z in zip(self.latent_layers, samples[1:])]
        return _log_densities(self.prior().log_prob(samples[-1]), conditionals, samples)

    def likelihood_of(self, x, z, condition=None):
        """p(x|z) as the distribution that scores ``x`` (a face's hook; ``x`` is checked already)."""
        raise NotImplementedError(f"{type(self).__name__} must define likelihood_of")

    def log_px_given_z(self, x, z, condition=None):
        """log p(x|z) ``[..., B]`` for samples z ``[..., B, d]``: what scoring calls (no gradient needed).

        ``likelihood_of(x, z, condition).log_prob(x)``; a face may compute the
        same number by a path that is faster forward only (``SentenceVAE``).
        Training and the gradient-based gap fits keep ``likelihood_of``.
        """
        return self.likelihood_of(x, z, condition).log_prob(x)

    def elbo_terms(self, x, seed=None, num_samples=None, condition=None):
        """Per-example terms of the objective from ``num_samples`` samples of the latents.

        Returns a dict with the objective's inputs (``log_likelihood``,
        ``log_prior``, ``log_posterior`` ``[K, B]``, over all layers jointly;
        ``kl`` ``[B]``, the sum of ``kl_layers``; ``kl_per_dim`` ``[B, sum d]``
        for free bits), the summaries
        ``reconstruction`` (-E_q log p(x|z)) and ``elbo`` ``[B]``, the lowest
        layer's ``posterior`` and samples ``z`` ``[K, B, d]``, every layer's
        ``posteriors`` and ``samples``, the ``conditionals`` p(z_l|z_{l+1})
        below the top, and the ``likelihood``. ``seed`` (an
        int or a pair of ints) makes the samples reproducible;
        ``num_samples`` defaults to the model's.
        """
        x, condition = self.checked_inputs(x, condition)
        num_samples = self.num_samples if num_samples is None else num_samples
        posteriors, samples, conditionals = self.infer(x, num_samples, seed, condition)
        likelihood = self.likelihood_of(x, samples[0], condition)
        prior = self.prior()
        kl_layers = latents.layer_kls(posteriors, samples, conditionals, prior, self.inference, self.kl_estimate)
        terms = {
            "log_likelihood": likelihood.log_prob(x),
            "log_prior": _log_densities(prior.log_prob(samples[-1]), conditionals, samples),
            "log_posterior": _log_densities(0.0, posteriors, samples),
            "kl": tf.add_n(kl_layers),
            "kl_layers": kl_layers,
            "posterior": posteriors[0],
            "posteriors": posteriors,
            "likelihood": likelihood,
            "z": samples[0],
            "samples": samples,
            "conditionals": conditionals,
        }
        # The terms beyond the common ones that the objective asks for (objectives.*.needs).
        if "log_joint_stopped_z" in self.objective.needs:
            terms.update(_dreg_terms(self, x, posteriors[0], samples[0], condition))
        if "kl_per_dim" in self.objective.needs:
            terms["kl_per_dim"] = latents.kl_per_dimension(
                posteriors, samples, conditionals, prior, self.inference, self.kl_estimate
            )
        terms["reconstruction"] = reconstruction(terms)
        terms["elbo"] = -negative_elbo(terms)
        return terms

    def elbo(self, x, seed=None, num_samples=1, condition=None):
        """The ELBO of each example of ``x``, in nats (shape ``[B]``)."""
        return self.elbo_terms(x, seed, num_samples, condition)["elbo"]

    def sample_latents(self, num_samples, seed=None, noise=None):
        """z_1 ``[num_samples, latent_dim]`` from the generative model: z_L ~ p(z_L), then each p(z_l|z_{l+1}).

        ``noise(shape)`` (e.g. ``tf.random.normal``) instead draws the
        standard-Normal noise of a standard-Normal prior and of every layer:
        what TFLite can run.
        """
        if noise is not None:
            top = noise(tf.stack([num_samples, self.latent_dims[-1]]))
            return latents.generate(top, self.latent_layers, [None] * len(self.latent_layers), noise)
        seeds = latents.layer_seeds(self._seed(seed), len(self.latent_dims))
        return latents.generate(self.prior().sample(num_samples, seed=seeds[-1]), self.latent_layers, seeds[:-1])

    # --- Keras ---------------------------------------------------------------

    def call(self, inputs, training=None):
        """Adds the loss and metrics for ``inputs``; returns what the face's ``_call_output`` says.

        ``inputs`` is ``x``, or ``(x, c)`` for a conditional model. The loss is
        the objective averaged over the batch; ``reconstruction``, ``kl`` and
        ``elbo`` (and each layer's KL in a hierarchy) are logged per example.
        """
        x, condition = self._split_inputs(inputs)
        terms = self.elbo_terms(x, condition=condition)
        self.add_loss(tf.reduce_mean(self.objective.loss(terms)))
        # Per-example values, so Keras averages over examples, not batches.
        means = self._logged.means
        for name in ("reconstruction", "kl", "elbo"):
            means[name].update_state(terms[name])
        if self.latent_layers:
            for i, kl in enumerate(terms["kl_layers"]):
                means[f"kl_{i + 1}"].update_state(kl)
        return self._call_output(x, condition, terms, training)

    def compile(self, optimizer="rmsprop", *args, **kwargs):
        """Keras's ``compile``, refusing an optimizer from the other Keras package first."""
        check_keras_object(optimizer, "optimizer")
        return super().compile(optimizer, *args, **kwargs)

    def compile_from_config(self, config):
        """Compiles a model that Keras loads from a ``.keras`` file, as Keras does for models whose ``compile`` it
        knows (it skips, with a warning, any model that overrides ``compile``; tfvae's only adds a check), so a
        loaded model goes on training with its optimizer's state."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        # Keras creates the optimizer's variables here, for the saved ones to load into; tf_keras's legacy
        # optimizers have no ``build``.
        if self.built and hasattr(self.optimizer, "build"):
            self.optimizer.build(self.trainable_variables)

    # Keras 3 keeps random-stream state as variables that tf_keras does not have: tfvae's own (``build_parts``)
    # and each Keras 3 ``Dropout``'s ``SeedGenerator``. Keras fixes both names.
    KERAS3_STREAM_STATE = ("seed_state", "seed_generator_state")

    @property
    def portable_variables(self) -> list:
        """The variables an export keeps and ``tfvae.served.rebuild`` copies back: the same list, in the same
        order, under tf_keras and Keras 3, so an export of either rebuilds on either.

        tf_keras's ``variables`` (weights, then ``kl_weight``); under Keras 3, its ``variables`` without the
        random streams' state, then ``kl_weight``, which Keras 3 does not track.
        """
        if KERAS_VERSION != 3:
            return list(self.variables)
        learned = [v for v in self.variables if v.name not in self.KERAS3_STREAM_STATE]
        return learned + [self.kl_weight]

    @property
    def metrics(self):
        """Keras's metrics (the loss's, the compiled ones) and the model's logged means."""
        return [*super().metrics, *self._logged.means.values()]

    def _call_output(self, x, condition, terms, training):
        """What ``call`` (and so ``predict``) returns: each example's ELBO (a face may say otherwise)."""
        return terms["elbo"]

    def get_config(self):
        """Keras's config and the core's arguments that this face takes; the face adds its own."""
        taken = self.core_arguments()
        values = {
            "latent_dim": self.latent_dim,
            "latent_dims": list(self.latent_dims),
            **self.argument_config(name for name in self.row_names(BaseVAE) if name in taken),
            "seed": self.seed,
            "validate_inputs": self.validate_inputs,
        }
        # Keras 3's base config adds the layer's name, trainable and dtype policy, which tf_keras's does not;
        # left out, a run's config.json is the same under both (and opens under either), and an automatic name
        # ("vae_22") never makes two runs' configs differ. The dtype comes from the policy in force when built.
        config = {k: v for k, v in super().get_config().items() if k not in ("name", "trainable", "dtype")}
        return {**config, **{name: value for name, value in values.items() if name in taken}}

    @classmethod
    def from_config(cls, config):
        """Builds the model from ``get_config()`` output."""
        return cls(**config)

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
        """``tensor`` as ``network`` reads it (a face with a condition appends it)."""
        return tensor

    def _seed(self, seed=None):
        """A stateless TFP seed: ``seed`` as a pair, or the next from the model's stream."""
        if seed is None:
            return tf.cast(self.seed_generator.make_seeds(1)[:, 0], tf.int32)
        if isinstance(seed, int):
            return tf.constant([seed, 0], tf.int32)
        return tf.cast(seed, tf.int32)


def _latent_dims(latent_dim, latent_dims, smallest=1):
    """The layer sizes from ``latent_dim`` and/or ``latent_dims`` (they must agree)."""
    if latent_dims is None:
        latent_dims = (16 if latent_dim is None else latent_dim,)
    latent_dims = tuple(int(d) for d in np.atleast_1d(latent_dims))
    if not latent_dims or min(latent_dims) < smallest:
        raise ValueError(f"latent_dim and latent_dims must be >= {smallest}, got {list(latent_dims)}")
    if latent_dim is not None and int(latent_dim) != latent_dims[0]:
        raise ValueError(
            f"latent_dim={latent_dim} disagrees with latent_dims={list(latent_dims)} "
            "(latent_dim is the lowest layer's size: pass one of them)"
        )
    return latent_dims


def _log_densities(start, distributions, samples):
    """``start`` plus the log-density of each distribution at its samples (paired in order)."""
    for distribution, z in zip(distributions, samples):
        start = start + distribution.log_prob(z)
    return start


def _defaults(cls) -> dict:
    """``{name: default}`` of ``cls.__init__``'s named arguments."""
    parameters = inspect.signature(cls.__init__).parameters.values()
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name: p.default for p in parameters if p.name != "self" and p.kind in named}


def _owners(face, names) -> str:
    """``": ... is an argument of tfvae.VAE"`` for those of ``names`` that another face takes, else ``""``."""
    others = [cls for cls in BaseVAE.__subclasses__() if cls is not face]
    owned = {name: cls.__name__ for cls in others for name in [*_defaults(cls), *cls.core_arguments()] if name in names}
    if not owned:
        return f" (help(tfvae.{face.__name__}) lists its arguments)"
    said = "; ".join(f"{name} is an argument of tfvae.{owner}" for name, owner in sorted(owned.items()))
    return f": {said}"


def _dreg_terms(model, x, posterior, z, condition):
    """What DReG's surrogate needs: log q at z with q's parameters stopped, and log p(x, z) at a stopped z."""
    stopped = type(posterior)(
        **{
            key: tf.stop_gradient(value) if tf.is_tensor(value) else value
            for key, value in posterior.parameters.items()
        }
    )
    fixed_z = tf.stop_gradient(z)
    return {
        "log_posterior_stopped": stopped.log_prob(z),
        "log_joint_stopped_z": model.likelihood_of(x, fixed_z, condition).log_prob(x) + model.prior().log_prob(fixed_z),
    }
