"""The one place tfvae imports Keras and TensorFlow Probability.

tfvae runs on Keras 3 (``import keras``, what ``pip install tensorflow`` gives)
by default, and on the legacy ``tf_keras`` (Keras 2) when the environment sets
``TFVAE_KERAS=2`` before tfvae is imported. Every module takes ``keras`` from
here, so one process uses one Keras throughout; the heads are plain Keras layers
returning TFP distributions (not ``tfp.layers``, which need Keras 2), so the
model code is the same on both. Importing this module changes no global Keras
setting; it adds one AutoGraph rule (below).
"""

import tensorflow as tf
import tensorflow_probability as tfp

from tfvae.keras_choice import keras_choice

# Issue 37: Keras 3 by default; TFVAE_KERAS=2 keeps a tf_keras user's code and run directories working.
KERAS_VERSION = keras_choice()
if KERAS_VERSION == 3:
    import keras

    create_autocast_variable = None  # a tf_keras internal: Keras 3 has no AutoCastVariable
else:
    import tf_keras as keras
    from tf_keras.src.mixed_precision.autocast_variable import create_autocast_variable


def _skip_autograph_for_tfvae():
    """Tells AutoGraph not to rewrite tfvae's own functions, as TensorFlow already does for TFP and Keras.

    tfvae's code is written for graph mode (``tf.while_loop``, ``tf.where`` and ``smart_cond`` where the data
    decide), so AutoGraph's source-to-source conversion of it is pure cost: up to 300 conversions and about 4 s
    per command that traces a model (``scripts/results/autograph-2026-12-01.json``). A user's Keras layers are
    still converted when a tfvae model calls them (Keras converts a layer's ``call`` itself); a method that a
    subclass of ``VAE`` or ``SentenceVAE`` overrides, and a plain function passed as a network, are not, and
    must use TensorFlow's control flow. The rule list is TensorFlow's internal ``autograph.core.config``; if it
    moves, this does nothing and tfvae is only slower to trace.
    """
    try:
        from tensorflow.python.autograph.core import config, config_lib
    except ImportError:  # pragma: no cover - a TensorFlow that moved its AutoGraph rules
        return
    rules = getattr(config, "CONVERSION_RULES", None)
    if isinstance(rules, tuple) and not any(getattr(r, "_prefix", None) == "tfvae" for r in rules):
        config.CONVERSION_RULES = (config_lib.DoNotConvert("tfvae"), *rules)


_skip_autograph_for_tfvae()

KERAS_PACKAGE = "keras" if KERAS_VERSION == 3 else "tf_keras"


def check_keras_object(obj, role):
    """Refuses, before any tracing, a Keras object from the other Keras package than tfvae's (``role``: what it is).

    The package is the first Keras class in ``type(obj)``'s MRO, so a user's subclass and a ``tfp.layers``
    layer (Keras 2) are caught too; strings, plain functions and other objects pass.
    """
    for cls in type(obj).__mro__:
        top = cls.__module__.split(".")[0]
        if top in ("keras", "tf_keras"):
            if top != KERAS_PACKAGE:
                names = {"keras": "Keras 3 (`import keras`)", "tf_keras": "Keras 2 (`import tf_keras`)"}
                raise TypeError(
                    f"{role} is a {names[top]} {type(obj).__name__}, but tfvae runs on {names[KERAS_PACKAGE]}: "
                    f"build it with {KERAS_PACKAGE}, or set TFVAE_KERAS={'3' if top == 'keras' else '2'}"
                )
            return


def input_layer(shape):
    """``keras.layers.InputLayer`` of examples of ``shape``: Keras 3 names the argument ``shape`` (and warns on
    tf_keras's ``input_shape``), tf_keras ``input_shape``."""
    if KERAS_VERSION == 3:
        return keras.layers.InputLayer(shape=tuple(shape))
    return keras.layers.InputLayer(input_shape=tuple(shape))


tfd = tfp.distributions
tfb = tfp.bijectors
tfpl = tfp.layers

__all__ = [
    "tf",
    "tfp",
    "keras",
    "tfd",
    "tfb",
    "tfpl",
    "create_autocast_variable",
    "KERAS_VERSION",
    "check_keras_object",
    "input_layer",
]
