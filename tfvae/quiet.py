"""A quiet start for the command line: TensorFlow's start-up lines hidden, real messages kept.

Importing TensorFlow prints lines like these before its logging is set up, so
``TF_CPP_MIN_LOG_LEVEL`` cannot hide them::

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:... cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
    E0000 00:00:... cuda_platform.cc:52] failed call to cuInit: ...

``import_tensorflow`` imports TensorFlow, TFP and tf_keras with the process's
stderr (file descriptor 2, where C++ writes) captured, finds the devices
(which logs the CUDA lines), and then writes back every captured line that is
not known start-up noise: a broken installation stays visible. After start-up
TensorFlow's C++ logging is off below FATAL (``TF_CPP_MIN_LOG_LEVEL=3``, set
before the import, which is when TensorFlow reads it): at run time it prints
ERROR lines that need no action, such as oneDNN's ``E0000 ... util.cc] oneDNN
supports DT_INT32 only on platforms with AVX-512`` on the first int32 op, and
every real failure also raises a Python exception, which the command prints
as one ``tfvae: error:`` line. Only the command line calls it; importing
``tfvae`` as a library changes nothing.

Under ``TFVAE_KERAS=2`` (tfvae on tf_keras) it also sets ``TF_USE_LEGACY_KERAS=1``
(unless the environment sets it), so that TensorFlow's own ``tf.keras`` does not
import Keras 3, which tfvae then does not use, at every start.

``TFVAE_TF_LOGS=1`` in the environment (or ``tfvae train --verbose 2``) shows
everything, as TensorFlow prints it.
"""

import os
import re
import sys
import tempfile

from tfvae.keras_choice import keras_choice

SHOW_ENV = "TFVAE_TF_LOGS"

# Lines TensorFlow prints at every start on machines without a GPU (or with
# one), none of which the user can or needs to act on.
NOISE = re.compile(
    "|".join(
        [
            r"^WARNING: All log messages before absl::InitializeLog\(\) is called",
            r"^[IW]\d{4} ",  # absl INFO/WARNING lines, printed before TF_CPP_MIN_LOG_LEVEL applies
            r"cudart_stub\.cc|Could not find cuda drivers",
            r"failed call to cuInit",
            r"Unable to register cu(DNN|FFT|BLAS) factory",
            r"computation placer already registered",
            r"TF-TRT Warning: Could not find TensorRT",
            r"oneDNN custom operations are on",
            r"This TensorFlow binary is optimized to use available CPU instructions",
            r"^To enable the following instructions: .* rebuild TensorFlow",
            r"oneDNN supports DT_\w+ only on platforms with AVX-512",
        ]
    )
)


def show_logs(verbose=None):
    """Whether TensorFlow's own logging is shown: ``TFVAE_TF_LOGS=1``, or ``verbose == 2``."""
    return os.environ.get(SHOW_ENV, "0") not in ("", "0") or verbose == 2


def import_tensorflow(show=False):
    """Imports TensorFlow, TFP and tf_keras; hides their start-up lines unless ``show``.

    Returns the captured lines that were hidden (for tests). Under ``TFVAE_KERAS=2``
    it also sets ``TF_USE_LEGACY_KERAS=1`` (unless set): tfvae then runs on
    ``tf_keras`` only, and without it ``import tensorflow`` also imports Keras 3
    for ``tf.keras``, a quarter of the import time here (``python -X importtime``).
    """
    if "tensorflow" not in sys.modules and keras_choice() == 2:
        os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    if show or "tensorflow" in sys.modules:
        import tfvae.backend  # noqa: F401

        return []
    # INFO, WARNING and ERROR lines after start-up (XLA's "Compiled cluster", oneDNN's dtype notes):
    # set, not defaulted, so an inherited TF_CPP_MIN_LOG_LEVEL=2 does not let them through.
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    sys.stderr.flush()
    saved = os.dup(2)
    hidden = []
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tfvae.backend

            tfvae.backend.tf.config.list_physical_devices()  # device discovery logs its CUDA lines now
        finally:
            # Also when the import fails: its own lines may say why.
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines(keepends=True):
                if NOISE.search(line):
                    hidden.append(line)
                else:
                    sys.stderr.write(line)
            sys.stderr.flush()
    return hidden
