"""Which Keras tfvae runs on, read from ``TFVAE_KERAS`` here and nowhere else.

Unset or ``3``: Keras 3 (``import keras``), the default since 0.3.0; ``2``:
tf_keras, the legacy backend. This module imports no TensorFlow, so that the
command line can refuse a bad value in one line and set
``TF_USE_LEGACY_KERAS`` (``tfvae.quiet``) before TensorFlow loads;
``tfvae.backend`` and the tests ask it too.
"""

import os

ENV = "TFVAE_KERAS"


def keras_choice() -> int:
    """3 (Keras 3) or 2 (tf_keras), by ``$TFVAE_KERAS``.

    Raises:
        ImportError: any other value, naming the two that work.
    """
    value = os.environ.get(ENV, "3").strip() or "3"
    if value not in ("2", "3"):
        raise ImportError(f"{ENV}={value!r}: tfvae runs on Keras 3 ({ENV}=3, the default) or tf_keras (2)")
    return int(value)
