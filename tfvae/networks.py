"""Encoder and decoder networks: plain Keras ``Sequential`` models.

An encoder maps x to the parameters of q(z|x); a decoder maps z to the
parameters of p(x|z). Their output sizes come from the heads' ``params_size``.
"""

import numpy as np

from tfvae.backend import check_keras_object, input_layer, keras, tf
from tfvae.options import ARCHITECTURES  # defined once, with the options


def mlp_encoder(input_shape, output_size, hidden_units=(512, 256), activation="relu"):
    """Flatten -> Dense layers of ``hidden_units`` -> ``output_size`` linear outputs."""
    layers = [input_layer(input_shape), keras.layers.Flatten()]
    layers += [keras.layers.Dense(units, activation=activation) for units in hidden_units]
    layers.append(keras.layers.Dense(output_size, name="params"))
    return keras.Sequential(layers, name="encoder")


def mlp_decoder(latent_dim, output_size, hidden_units=(256, 512), activation="relu"):
    """Dense layers of ``hidden_units`` -> ``output_size`` linear outputs."""
    layers = [input_layer((latent_dim,))]
    layers += [keras.layers.Dense(units, activation=activation) for units in hidden_units]
    layers.append(keras.layers.Dense(output_size, name="params"))
    return keras.Sequential(layers, name="decoder")


def conv_encoder(input_shape, output_size, filters=(32, 64), kernel_size=3, activation="relu"):
    """Strided 3x3 convolutions (each halves H and W) -> ``output_size`` outputs."""
    layers = [input_layer(input_shape)]
    layers += [keras.layers.Conv2D(f, kernel_size, strides=2, padding="same", activation=activation) for f in filters]
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
        input_layer((latent_dim,)),
        keras.layers.Dense((height // factor) * (width // factor) * filters[0], activation=activation),
        keras.layers.Reshape((height // factor, width // factor, filters[0])),
    ]
    layers += [
        keras.layers.Conv2DTranspose(f, kernel_size, strides=2, padding="same", activation=activation) for f in filters
    ]
    layers += [keras.layers.Conv2D(channels, kernel_size, padding="same", name="params"), keras.layers.Flatten()]
    return keras.Sequential(layers, name="decoder")


def make_networks(
    architecture,
    data_shape,
    latent_dim,
    encoder_size,
    decoder_size,
    hidden_units=(512, 256),
    filters=(32, 64),
    activation="relu",
    condition_dim=0,
):
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


def encoder_input_shape(data_shape, condition_dim=0, architecture="mlp"):
    """What an encoder reads: the image, with a condition appended as ``with_condition`` appends it."""
    data_shape = tuple(data_shape)
    if not condition_dim:
        return data_shape
    if architecture == "conv":
        return (*data_shape[:-1], data_shape[-1] + condition_dim)
    return (int(np.prod(data_shape)) + condition_dim,)


def with_condition(tensor, condition, condition_dim, architecture, network):
    """Appends the condition to a network's input: to ``[z, c]`` for a decoder; for an encoder, to the
    flattened image (``"mlp"``) or as constant extra image channels (``"conv"``)."""
    if not condition_dim:
        if condition is not None:
            raise ValueError("this model is unconditional (condition_dim=0)")
        return tensor
    if condition is None:
        raise ValueError(f"this model is conditional: pass a condition of size {condition_dim}")
    condition = tf.convert_to_tensor(condition, tf.float32)
    if network == "decoder":
        condition = tf.broadcast_to(condition, tf.concat([tf.shape(tensor)[:-1], [condition_dim]], 0))
        return tf.concat([tensor, condition], axis=-1)
    if architecture == "conv":
        spatial = tf.ones(tf.concat([tf.shape(tensor)[:-1], [1]], 0))
        return tf.concat([tensor, spatial * condition[:, None, None, :]], axis=-1)
    flat = tf.reshape(tensor, [tf.shape(tensor)[0], -1])
    return tf.concat([flat, condition], axis=-1)


def check_network(network, name, input_shape, size, head):
    """Refuses a user's network that does not map ``[1, *input_shape]`` to ``[1, size]`` (one zero input)."""
    if not callable(network):
        raise ValueError(f"{name} must be a Keras layer or model, got {type(network).__name__}")
    check_keras_object(network, name)
    shape = tuple(network(tf.zeros([1, *input_shape])).shape)
    if shape != (1, size):
        raise ValueError(
            f"the {name} must map [batch, {', '.join(map(str, input_shape))}] to [batch, {size}] "
            f"(the {head} head's parameters), but it gives {list(shape)}"
        )
