"""The VAE: a ``tf_keras.Model`` that trains with plain ``compile``/``fit``.

    x --encoder--> params --posterior head--> q(z|x)
    z = mu + L eps,  eps ~ N(0, I)                       (reparameterisation)
    z --decoder--> params --likelihood head--> p(x|z)

The parts are separate objects: the encoder and decoder networks (presets or
any Keras model), the heads (``distributions.py``), the prior
(``priors.py``), the objective (``objectives.py``) and, for a hierarchical
VAE (``latent_dims=(100, 50)``), the stochastic layers above z_1
(``latents.py``); with one latent layer the model is the plain VAE.

Per example, the model computes ``reconstruction = -E_q[log p(x|z)]`` and
``kl = KL(q(z|x) || p(z))``, and its objective (``objectives.py``; by default
``reconstruction + beta * kl``) is averaged over the batch and added to the
model's losses with ``add_loss``. So ``compile(optimizer=...)`` is the whole
set-up, Keras's reported ``loss`` is the negative ELBO per example in nats (for
the default objective), and ``reconstruction``, ``kl`` and ``elbo`` are logged
beside it as metrics.
"""

import random

import numpy as np

from tfvae import latents, options, validation
from tfvae.backend import keras, tf
from tfvae.distributions import make_likelihood, make_posterior
from tfvae.latents import LatentLayer
from tfvae.networks import check_network, encoder_input_shape, make_networks, with_condition
from tfvae.objectives import make_objective, negative_elbo, reconstruction
from tfvae.priors import make_prior


@keras.saving.register_keras_serializable(package="tfvae")
class VAE(validation.CheckedEntryPoints, keras.Model):
    """A variational auto-encoder with TFP distribution heads.

    Args:
        data_shape: shape of one example, e.g. ``(28, 28, 1)``.
        latent_dim: number of latent dimensions (``None``: 16, or
            ``latent_dims[0]``).
        latent_dims: sizes of the stochastic layers, lowest first, e.g.
            ``(100, 50)`` for a two-layer hierarchical VAE (``latents.py``);
            ``None`` is ``(latent_dim,)``.
        inference: for two or more layers, ``"bottom_up"`` (Burda et al.
            2015) or ``"ladder"`` (Sønderby et al. 2016). A VampPrior on a
            hierarchy mixes q(z_L | u_k) along the path through the means.
        latent_hidden_units: widths of the MLPs between stochastic layers.
        latent_batch_norm: batch normalisation in those MLPs (Sønderby et al. 2016).
        architecture: ``"mlp"`` or ``"conv"``: the preset networks, and
            how a condition enters the encoder (flat or as image channels).
        encoder: a Keras model x -> the posterior head's parameters
            (``[B, params_size]``), instead of the preset; it gets what the
            preset would get (``architecture``; with a condition appended).
        decoder: a Keras model z_1 -> the likelihood head's flat parameters.
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
        objective: ``"elbo"``, ``"iwae"``, ``"iwae_dreg"`` (IWAE with
            doubly reparameterized encoder gradients; one latent layer) or
            ``"free_bits"`` (see ``objectives``).
        num_samples: samples of z per example in training (K of the IWAE bound).
        free_bits: the per-dimension KL floor lambda (nats) of ``"free_bits"``.
        beta: weight of the KL term (1 gives the ELBO).
        kl_estimate: ``"auto"``, ``"analytic"`` or ``"sample"``. In a
            bottom-up hierarchy only the top layer has a closed form; the
            layers below always use Monte Carlo.
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
        latent_dim=None,
        latent_dims=None,
        inference="bottom_up",
        latent_hidden_units=(256, 256),
        latent_batch_norm=False,
        architecture="mlp",
        encoder=None,
        decoder=None,
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
        latent_dims = _latent_dims(latent_dim, latent_dims, self.min_latent_dim)
        # Each value and each rule over several arguments is written once, in the option table.
        arguments = {
            "latent_dim": latent_dims[0],
            "latent_dims": latent_dims,
            "inference": inference,
            "latent_hidden_units": tuple(latent_hidden_units),
            "latent_batch_norm": latent_batch_norm,
            "architecture": architecture,
            "hidden_units": tuple(hidden_units),
            "filters": tuple(filters),
            "activation": activation,
            "posterior": posterior,
            "likelihood": likelihood,
            "likelihood_scale": likelihood_scale,
            "prior": prior,
            "prior_components": prior_components,
            "objective": objective,
            "num_samples": num_samples,
            "free_bits": free_bits,
            "beta": beta,
            "kl_estimate": kl_estimate,
        }
        if encoder is not None and decoder is not None:
            del arguments["architecture"]  # the presets' name: with networks of one's own, any name will do
        family = self.option_family
        names = {option.name_in(family) for option in options.options(family)}
        arguments = {name: value for name, value in arguments.items() if name in names}
        options.check_arguments(arguments, family)
        options.check_rules(arguments, family)
        if int(condition_dim) < 0:
            raise ValueError(f"condition_dim must be >= 0 (0: unconditional), got {condition_dim}")
        # Hyperparameters, stored under their own names for get_config.
        self.data_shape = tuple(None if d is None else int(d) for d in data_shape)
        self.latent_dims = latent_dims
        self.latent_dim = latent_dims[0]  # the layer the decoder reads
        self.inference = inference
        self.latent_hidden_units = tuple(int(u) for u in latent_hidden_units)
        self.latent_batch_norm = bool(latent_batch_norm)
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
        if prior == "vamp" and self.condition_dim:
            raise ValueError("the VampPrior is unconditional; use prior='normal' or 'mixture' with condition_dim")

        self.posterior = make_posterior(posterior, self.latent_dim)
        self.likelihood = self._make_likelihood()
        self.custom_networks = {"encoder": encoder is not None, "decoder": decoder is not None}
        self.encoder, self.decoder = self._make_networks(encoder, decoder)
        # The stochastic layers above z_1; empty for a one-layer VAE.
        self.latent_layers = [
            LatentLayer(
                dim,
                below,
                self.latent_hidden_units,
                activation,
                inference,
                batch_norm=self.latent_batch_norm,
                name=f"latent_layer_{i + 2}",
            )
            for i, (below, dim) in enumerate(zip(latent_dims, latent_dims[1:]))
        ]
        self.prior = make_prior(prior, latent_dims[-1], self.prior_components, self.data_shape, self._top_posterior)
        # A variable, so KL-annealing callbacks change it without retracing.
        self.kl_weight = tf.Variable(self.beta, trainable=False, dtype=tf.float32, name="kl_weight")
        self.objective = make_objective(objective, self.beta, self.num_samples, self.free_bits, self.kl_weight)
        # The model's own random stream: reproducible, saved with the weights,
        # and split across replicas by tf.distribute.
        self.seed_generator = tf.random.Generator.from_seed(seed if seed is not None else random.getrandbits(62))
        # Every sublayer is built already; saying so lets Keras save and
        # restore weights (BackupAndRestore, load_weights) before the first call.
        self.built = True

    # The smallest latent size; a sentence VAE allows 0 (its language-model baseline).
    min_latent_dim = 1
    option_family = "image"  # the arguments' rows in tfvae.options (a subclass with other parts has its own)

    def _make_likelihood(self):
        """The likelihood head (``distributions.make_likelihood``)."""
        return make_likelihood(self.likelihood_kind, self.data_shape, self.likelihood_scale)

    def _make_networks(self, encoder, decoder):
        """The (encoder, decoder) pair: the user's networks, checked, or the presets."""
        latent_dim, condition_dim, architecture = self.latent_dim, self.condition_dim, self.architecture
        if encoder is None or decoder is None:
            preset_encoder, preset_decoder = make_networks(
                architecture,
                self.data_shape,
                latent_dim,
                self.posterior.params_size(latent_dim),
                self.likelihood.params_size(self.data_shape),
                self.hidden_units,
                self.filters,
                self.activation,
                condition_dim=condition_dim,
            )
        for name, network, input_shape, size, head in (
            (
                "encoder",
                encoder,
                encoder_input_shape(self.data_shape, condition_dim, architecture),
                self.posterior.params_size(latent_dim),
                "posterior",
            ),
            (
                "decoder",
                decoder,
                (latent_dim + condition_dim,),
                self.likelihood.params_size(self.data_shape),
                "likelihood",
            ),
        ):
            if network is not None:
                check_network(network, name, input_shape, size, head)
        return (encoder if encoder is not None else preset_encoder, decoder if decoder is not None else preset_decoder)

    # --- the probabilistic model -------------------------------------------

    def encode(self, x, condition=None):
        """q(z_1|x): the lowest layer's approximate posterior (batch shape ``[B]``).

        For a hierarchical model this is ``encode_layers(x)[0]``.
        """
        x, condition = self._checked_inputs(x, condition)
        if not self.latent_layers:
            return self._encode(x, condition)
        return self._encode_layers(x, condition)[0]

    def encode_layers(self, x, condition=None):
        """Every layer's Gaussian posterior, lowest first, along the path through the means.

        Each layer's q is taken at the means of the layers it depends on (the
        layers below for bottom-up inference, above for the ladder). For one
        layer, and for z_1 of bottom-up inference, this is q exactly.
        """
        x, condition = self._checked_inputs(x, condition)
        return self._encode_layers(x, condition)

    def _encode(self, x, condition=None):
        """The encoder's distribution for z_1, without input checks (``x`` is float32 already)."""
        params = self.encoder(self._with_condition(x, condition, "encoder"))
        # Distributions and the loss stay in float32 under a mixed_float16 policy.
        return self.posterior.distribution(tf.cast(params, tf.float32))

    def _encode_layers(self, x, condition=None):
        posteriors, _, _ = latents.infer(
            self._encode(x, condition), self.latent_layers, self.inference, None, [None] * len(self.latent_dims)
        )
        return posteriors

    def _top_posterior(self, x):
        """q(z_L|x) along the means path: the VampPrior's components at its pseudo-inputs."""
        return self._encode(x) if not self.latent_layers else self._encode_layers(x)[-1]

    def infer(self, x, num_samples=1, seed=None, condition=None):
        """Samples of every latent layer from q, lowest first.

        Returns ``(posteriors, samples, conditionals)``: each layer's q (batch
        ``[B]`` or ``[K, B]``), its samples ``[K, B, d_l]``, and the generative
        p(z_l | z_{l+1}) of the layers below the top at the samples above
        (see ``latents.infer``). ``x`` must be checked float32 already.
        """
        seeds = latents.layer_seeds(self._seed(seed), len(self.latent_dims))
        return latents.infer(self._encode(x, condition), self.latent_layers, self.inference, num_samples, seeds)

    def log_prior(self, samples):
        """log p(z_1, ..., z_L) = log p(z_L) + sum_l log p(z_l | z_{l+1}) for ``samples`` (lowest first)."""
        conditionals = [layer.conditional_prior(z) for layer, z in zip(self.latent_layers, samples[1:])]
        return _log_densities(self.prior().log_prob(samples[-1]), conditionals, samples)

    def decode(self, z, condition=None):
        """p(x|z_1): the likelihood for latents ``z`` of shape ``[..., latent_dim]``.

        For a conditional model, ``condition`` is ``[B, condition_dim]`` and
        broadcasts over the leading sample dimensions of ``z``.
        """
        z = tf.cast(z, tf.float32)
        validation.check_latents_spec(z.shape, self.latent_dim)
        inputs = self._with_condition(z, condition, "decoder")
        params = tf.cast(self.decoder(tf.reshape(inputs, [-1, inputs.shape[-1]])), tf.float32)
        params = tf.reshape(params, tf.concat([tf.shape(z)[:-1], tf.shape(params)[-1:]], axis=0))
        return self.likelihood.distribution(params)

    def likelihood_of(self, x, z, condition=None):
        """p(x|z) as the distribution that scores ``x``: ``decode(z)``.

        An autoregressive decoder (``tfvae.sentence.SentenceVAE``) also reads
        x's own prefix here (teacher forcing). ``x`` is checked already.
        """
        return self.decode(z, condition)

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
        x, condition = self._checked_inputs(x, condition)
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

    def reconstruct(self, x, condition=None):
        """E[x | z_1 = its posterior mean]: a deterministic reconstruction of ``x``."""
        return self.decode(self.encode(x, condition).mean(), condition).mean()

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

    def sample(self, num_samples, seed=None, condition=None):
        """``num_samples`` images: means of p(x|z_1) at latents drawn from the generative model.

        A conditional model needs ``condition``: one vector ``[condition_dim]``
        for all images, or one per image ``[num_samples, condition_dim]``.
        """
        if isinstance(num_samples, (int, np.integer)) and num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        z = self.sample_latents(num_samples, seed)
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
        if self.latent_layers:
            for i, kl in enumerate(terms["kl_layers"]):
                self.add_metric(kl, name=f"kl_{i + 1}")
        return self._call_output(x, condition, terms, training)

    def _call_output(self, x, condition, terms, training):
        """What ``call`` (and so ``predict``) returns: reconstruction means."""
        if training:
            return terms["likelihood"].mean()[0]
        if self.latent_layers:
            return self.reconstruct(x, condition)
        return self.decode(terms["posterior"].mean(), condition).mean()

    def get_config(self):
        """The constructor's arguments; ``VAE.from_config`` rebuilds the model."""
        return {
            **super().get_config(),
            "data_shape": list(self.data_shape),
            "latent_dim": self.latent_dim,
            "latent_dims": list(self.latent_dims),
            "inference": self.inference,
            "latent_hidden_units": list(self.latent_hidden_units),
            "latent_batch_norm": self.latent_batch_norm,
            "architecture": self.architecture,
            # Custom networks as Keras serializes them; presets are rebuilt from the hyperparameters.
            **{
                name: keras.saving.serialize_keras_object(getattr(self, name))
                for name, custom in self.custom_networks.items()
                if custom
            },
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
        config = dict(config)
        for name in ("encoder", "decoder"):
            if isinstance(config.get(name), dict):
                config[name] = keras.saving.deserialize_keras_object(config[name])
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
        """``tensor`` with the condition appended for ``network`` (see ``networks.with_condition``)."""
        return with_condition(tensor, condition, self.condition_dim, self.architecture, network)

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
