"""Encoder and decoder networks: plain Keras ``Sequential`` models.

An encoder maps x to the parameters of q(z|x); a decoder maps z to the
parameters of p(x|z). Their output sizes come from the heads' ``params_size``.
"""

import numpy as np

from tfvae.backend import keras

ARCHITECTURES = ("mlp", "conv")


def mlp_encoder(input_shape, output_size, hidden_units=(512, 256), activation="relu"):
    """Flatten -> Dense layers of ``hidden_units`` -> ``output_size`` linear outputs."""
    layers = [keras.layers.InputLayer(input_shape=tuple(input_shape)), keras.layers.Flatten()]
    layers += [keras.layers.Dense(units, activation=activation) for units in hidden_units]
    layers.append(keras.layers.Dense(output_size, name="params"))
    return keras.Sequential(layers, name="encoder")


def mlp_decoder(latent_dim, output_size, hidden_units=(256, 512), activation="relu"):
    """Dense layers of ``hidden_units`` -> ``output_size`` linear outputs."""
    layers = [keras.layers.InputLayer(input_shape=(latent_dim,))]
    layers += [keras.layers.Dense(units, activation=activation) for units in hidden_units]
    layers.append(keras.layers.Dense(output_size, name="params"))
    return keras.Sequential(layers, name="decoder")


def conv_encoder(input_shape, output_size, filters=(32, 64), kernel_size=3, activation="relu"):
    """Strided 3x3 convolutions (each halves H and W) -> ``output_size`` outputs."""
    layers = [keras.layers.InputLayer(input_shape=tuple(input_shape))]
    layers += [
        keras.layers.Conv2D(f, kernel_size, strides=2, padding="same", activation=activation) for f in filters
    ]
    layers += [keras.layers.Flatten(), keras.layers.Dense(output_size, name="params")]
    return keras.Sequential(layers, name="encoder")


def conv_decoder(latent_dim, output_shape, output_size, filters=(64, 32), kernel_size=3, activation="relu"):
    """Dense -> transposed convolutions (each doubles H and W) -> per-pixel parameters.

    ``output_size`` must be a multiple of ``H * W``: the last convolution
    gives ``output_size / (H * W)`` channels, flattened.
    """
    height, width = int(output_shape[0]), int(output_shape[1])
    factor = 2 ** len(filters)
    if height % factor or width % factor:
        raise ValueError(
            f"the conv decoder needs height and width divisible by {factor} "
            f"(2 ** number of filters), got {height}x{width}"
        )
    channels, remainder = divmod(output_size, height * width)
    if remainder:
        raise ValueError(f"output_size {output_size} is not a multiple of {height}x{width}")
    layers = [
        keras.layers.InputLayer(input_shape=(latent_dim,)),
        keras.layers.Dense((height // factor) * (width // factor) * filters[0], activation=activation),
        keras.layers.Reshape((height // factor, width // factor, filters[0])),
    ]
    layers += [
        keras.layers.Conv2DTranspose(f, kernel_size, strides=2, padding="same", activation=activation)
        for f in filters
    ]
    layers += [keras.layers.Conv2D(channels, kernel_size, padding="same", name="params"), keras.layers.Flatten()]
    return keras.Sequential(layers, name="decoder")


def make_networks(architecture, data_shape, latent_dim, encoder_size, decoder_size,
                  hidden_units=(512, 256), filters=(32, 64), activation="relu", condition_dim=0):
    """The (encoder, decoder) pair for ``architecture``; decoders mirror encoders.

    With ``condition_dim > 0`` the networks take the condition too: the MLP
    encoder sees ``[flattened x, c]``, the conv encoder ``c`` as extra image
    channels, and decoders ``[z, c]``.
    """
    data_shape = tuple(data_shape)
    decoder_input = latent_dim + condition_dim
    if architecture == "mlp":
        encoder_input = data_shape if not condition_dim else (int(np.prod(data_shape)) + condition_dim,)
        return (
            mlp_encoder(encoder_input, encoder_size, hidden_units, activation),
            mlp_decoder(decoder_input, decoder_size, tuple(reversed(hidden_units)), activation),
        )
    if architecture == "conv":
        if len(data_shape) != 3:
            raise ValueError(f"the conv architecture needs images of shape (H, W, C), got {data_shape}")
        encoder_input = data_shape[:2] + (data_shape[2] + condition_dim,)
        return (
            conv_encoder(encoder_input, encoder_size, filters, activation=activation),
            conv_decoder(decoder_input, data_shape, decoder_size, tuple(reversed(filters)), activation=activation),
        )
    raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
