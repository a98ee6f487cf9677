"""The one place tfvae imports Keras and TensorFlow Probability.

TFP's distribution layers (``tfp.layers``) are built on Keras 2, so tfvae uses
the ``tf_keras`` package everywhere and never Keras 3. Importing this module
changes no global Keras setting; it adds one AutoGraph rule (below).
"""

import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras as keras
from tf_keras.src.mixed_precision.autocast_variable import create_autocast_variable


def _skip_autograph_for_tfvae():
    """Tells AutoGraph not to rewrite tfvae's own functions, as TensorFlow already does for TFP and Keras.

    tfvae's code is written for graph mode (``tf.cond``, ``tf.while_loop`` where the data decide), so AutoGraph's
    source-to-source conversion of it is pure cost: about 300 conversions and 2-4 s per traced command
    (``scripts/results/autograph-2026-12-01.json``). A user's own layers are still converted when a tfvae model
    calls them. The rule list is TensorFlow's internal ``autograph.core.config``; if it moves, this does
    nothing and tfvae is only slower to trace.
    """
    try:
        from tensorflow.python.autograph.core import config, config_lib
    except ImportError:  # pragma: no cover - a TensorFlow that moved its AutoGraph rules
        return
    rules = getattr(config, "CONVERSION_RULES", None)
    if isinstance(rules, tuple) and not any(getattr(r, "_prefix", None) == "tfvae" for r in rules):
        config.CONVERSION_RULES = (config_lib.DoNotConvert("tfvae"), *rules)


_skip_autograph_for_tfvae()

tfd = tfp.distributions
tfb = tfp.bijectors
tfpl = tfp.layers

__all__ = ["tf", "tfp", "keras", "tfd", "tfb", "tfpl", "create_autocast_variable"]
