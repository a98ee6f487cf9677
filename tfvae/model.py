"""The image VAE: a ``tf_keras.Model`` that trains with plain ``compile``/``fit``.

    x --encoder--> params --posterior head--> q(z|x)
    z = mu + L eps,  eps ~ N(0, I)                       (reparameterisation)
    z --decoder--> params --likelihood head--> p(x|z)

The parts are separate objects: the encoder and decoder networks (presets or
any Keras model), the heads (``distributions.py``), the prior
(``priors.py``), the objective (``objectives.py``) and, for a hierarchical
VAE (``latent_dims=(100, 50)``), the stochastic layers above z_1
(``latents.py``); with one latent layer the model is the plain VAE. All but
the networks and the likelihood are the core's (``core.BaseVAE``), which the
sentence VAE shares; this module is the image face: the data's shape, the
networks, the likelihood head and an optional condition.

Per example, the model computes ``reconstruction = -E_q[log p(x|z)]`` and
``kl = KL(q(z|x) || p(z))``, and its objective (``objectives.py``; by default
``reconstruction + beta * kl``) is averaged over the batch and added to the
model's losses with ``add_loss``. So ``compile(optimizer=...)`` is the whole
set-up, Keras's reported ``loss`` is the negative ELBO per example in nats (for
the default objective), and ``reconstruction``, ``kl`` and ``elbo`` are logged
beside it as metrics.
"""

import json

import numpy as np

from tfvae import validation
from tfvae.backend import keras, tf
from tfvae.core import BaseVAE
from tfvae.distributions import make_likelihood
from tfvae.networks import check_network, encoder_input_shape, make_networks, with_condition


@keras.saving.register_keras_serializable(package="tfvae")
class VAE(BaseVAE):
    """A variational auto-encoder of images (or any fixed-shape data) with TFP distribution heads.

    Args:
        data_shape: shape of one example, e.g. ``(28, 28, 1)``.
        latent_dim: number of latent dimensions (``None``: 16, or
            ``latent_dims[0]``).
        architecture: ``"mlp"`` or ``"conv"``: the preset networks, and
            how a condition enters the encoder (flat or as image channels).
        encoder: a Keras model x -> the posterior head's parameters
            (``[B, params_size]``), instead of the preset; it gets what the
            preset would get (``architecture``; with a condition appended).
        decoder: a Keras model z_1 -> the likelihood head's flat parameters.
        hidden_units: MLP encoder widths (the decoder mirrors them).
        filters: conv encoder filters (the decoder mirrors them).
        likelihood: ``"bernoulli"`` (on logits) or ``"normal"``.
        likelihood_scale: for ``"normal"``: a fixed sigma, ``"global"`` or
            ``"pixel"`` (learned).
        condition_dim: size of a conditioning vector c (e.g. one-hot labels)
            fed to encoder and decoder; 0 for an unconditional VAE. A
            conditional model takes ``(x, c)`` as input.
        **core: the core's arguments (``tfvae.core.BaseVAE``): ``latent_dims``,
            ``inference``, ``latent_hidden_units``, ``latent_batch_norm``,
            ``activation``, ``posterior``, ``prior``, ``prior_components``,
            ``objective``, ``num_samples``, ``free_bits``, ``beta``,
            ``kl_estimate``, ``seed``, ``validate_inputs``; and Keras's (``name``).

    Example:
        >>> model = VAE(data_shape=(28, 28, 1), latent_dim=16)
        >>> model.compile(optimizer=keras.optimizers.Adam(1e-3))
        >>> model.fit(train_dataset, epochs=10)            # loss = -ELBO, nats
        >>> model.elbo(x_test, seed=0)                     # per example
        >>> images = model.sample(16, seed=0)
    """

    option_family = "image"

    def __init__(
        self,
        data_shape=(28, 28, 1),
        latent_dim=None,
        *,
        architecture="mlp",
        encoder=None,
        decoder=None,
        hidden_units=(512, 256),
        filters=(32, 64),
        likelihood="bernoulli",
        likelihood_scale=1.0,
        condition_dim=0,
        **core,
    ):
        own = self.row_arguments(locals())  # first: locals() is the arguments alone here
        checked = dict(own)
        if encoder is not None and decoder is not None:
            del checked["architecture"]  # the presets' name: with networks of one's own, any name will do
        if int(condition_dim) < 0:
            raise ValueError(f"condition_dim must be >= 0 (0: unconditional), got {condition_dim}")
        self.check_arguments(checked, {"latent_dim": latent_dim, **core})
        super().__init__(latent_dim=latent_dim, **core)
        self.store_arguments(own)  # self.architecture, self.hidden_units, ..., self.likelihood_kind
        self.data_shape = tuple(None if d is None else int(d) for d in data_shape)
        self.condition_dim = int(condition_dim)
        if self.prior_kind == "vamp" and self.condition_dim:
            raise ValueError("the VampPrior is unconditional; use prior='normal' or 'mixture' with condition_dim")
        self.custom_networks = {"encoder": encoder is not None, "decoder": decoder is not None}
        self.build_parts(encoder, decoder)

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
        """p(x|z) as the distribution that scores ``x``: ``decode(z)`` (``x`` is checked already)."""
        return self.decode(z, condition)

    def reconstruct(self, x, condition=None):
        """E[x | z_1 = its posterior mean]: a deterministic reconstruction of ``x``."""
        return self.decode(self.encode(x, condition).mean(), condition).mean()

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

    def _call_output(self, x, condition, terms, training):
        """What ``call`` (and so ``predict``) returns: reconstruction means.

        In training the means are at the first sampled z (what the loss used);
        in inference they are ``reconstruct(x)``.
        """

        def inference():
            if self.latent_layers:
                return self.reconstruct(x, condition)
            return self.decode(terms["posterior"].mean(), condition).mean()

        # smart_cond: ``training`` may be a tensor (AutoGraph does not rewrite tfvae's code; see backend.py).
        return tf.__internal__.smart_cond.smart_cond(
            False if training is None else training,
            lambda: terms["likelihood"].mean()[0],
            inference,
        )

    def get_config(self):
        """The constructor's arguments; ``VAE.from_config`` rebuilds the model."""
        config = super().get_config()
        core = self.core_arguments()
        return {
            **{key: value for key, value in config.items() if key not in core},  # Keras's: name, trainable, ...
            "data_shape": list(self.data_shape),  # first, as in earlier versions' config.json
            **{key: value for key, value in config.items() if key in core},
            **self.argument_config(self.row_names()),  # architecture, hidden_units, ..., likelihood_scale
            # Custom networks as Keras serializes them, as JSON would give them back (Keras 3 writes tuples);
            # presets are rebuilt from the hyperparameters.
            **{
                name: json.loads(json.dumps(keras.saving.serialize_keras_object(getattr(self, name))))
                for name, custom in self.custom_networks.items()
                if custom
            },
            "condition_dim": self.condition_dim,
        }

    @classmethod
    def from_config(cls, config):
        """Builds a VAE from ``get_config()`` output (custom networks deserialized)."""
        config = dict(config)
        for name in ("encoder", "decoder"):
            if isinstance(config.get(name), dict):
                config[name] = keras.saving.deserialize_keras_object(config[name])
        return cls(**config)

    def _with_condition(self, tensor, condition, network):
        """``tensor`` with the condition appended for ``network`` (see ``networks.with_condition``)."""
        return with_condition(tensor, condition, self.condition_dim, self.architecture, network)
