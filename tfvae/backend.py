"""The one place tfvae imports Keras and TensorFlow Probability.

TFP's distribution layers (``tfp.layers``) are built on Keras 2, so tfvae uses
the ``tf_keras`` package everywhere and never Keras 3. Importing this module
changes no global Keras setting.
"""

import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras as keras
from tf_keras.src.mixed_precision.autocast_variable import create_autocast_variable

tfd = tfp.distributions
tfb = tfp.bijectors
tfpl = tfp.layers

__all__ = ["tf", "tfp", "keras", "tfd", "tfb", "tfpl", "create_autocast_variable"]
