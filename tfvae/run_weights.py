"""Where a run directory keeps its best weights, in which Keras's format, and converting between the two.

tf_keras writes a TensorFlow checkpoint, ``RUN_DIR/checkpoints/best.index``
and ``best.data-*``; Keras 3 reads and writes only its own file,
``RUN_DIR/checkpoints/best.weights.h5``. A run trained under one is opened
under the other after one command::

    tfvae convert-weights runs/mnist_mlp      # writes the format of the Keras tfvae runs on now

which reads the old file in a subprocess under the other Keras and copies the
model's ``portable_variables`` (the same list under both) into a model
built from the run's ``config.json``; the old file is kept. The backup that
resumes an unfinished run (``RUN_DIR/backup``) is not converted: resume it
under the Keras that started it.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tfvae.backend import KERAS_VERSION

CHECKPOINTS = "checkpoints"
BEST = {2: "best", 3: "best.weights.h5"}  # the file (tf_keras: the checkpoint's prefix) of each Keras
KERAS_NAMES = {2: "tf_keras (TFVAE_KERAS=2)", 3: "Keras 3 (TFVAE_KERAS=3)"}


def best_weights_path(run_dir: str | Path, keras_version: int = KERAS_VERSION) -> Path:
    """Where ``run_dir``'s best weights are written by ``keras_version`` (default: the Keras tfvae runs on)."""
    return Path(run_dir) / CHECKPOINTS / BEST[keras_version]


def _exists(path: Path, keras_version: int) -> bool:
    return (Path(f"{path}.index") if keras_version == 2 else path).exists()


def weights_versions(run_dir: str | Path) -> list[int]:
    """The Keras versions (2, 3) whose best-weights file ``run_dir`` holds; empty if none."""
    return [version for version in BEST if _exists(best_weights_path(run_dir, version), version)]


def has_best_weights(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` holds best weights that the Keras tfvae runs on can read."""
    return KERAS_VERSION in weights_versions(run_dir)


def check_best_weights(run_dir: str | Path) -> Path:
    """The path of ``run_dir``'s best weights for this Keras.

    Raises:
        FileNotFoundError: no epoch finished with a finite loss.
        ValueError: the weights were written by the other Keras (the message gives the command that converts).
    """
    versions = weights_versions(run_dir)
    if KERAS_VERSION in versions:
        return best_weights_path(run_dir)
    if versions:
        other = versions[0]
        raise ValueError(
            f"{run_dir}'s weights were written under {KERAS_NAMES[other]}, and tfvae runs on "
            f"{KERAS_NAMES[KERAS_VERSION]}: convert them once with `tfvae convert-weights {run_dir}`, "
            f"or set TFVAE_KERAS={other}"
        )
    raise FileNotFoundError(
        f"{run_dir} holds no trained weights ({Path(run_dir) / CHECKPOINTS}/best*): no epoch has finished with a "
        "finite loss (the run diverged, or was interrupted in its first epoch)"
    )


def load_best_weights(model, run_dir: str | Path) -> None:
    """Loads ``run_dir``'s best weights into ``model`` (built from the run's config)."""
    status = model.load_weights(str(check_best_weights(run_dir)))
    if KERAS_VERSION == 2:
        status.expect_partial()  # the checkpoint also holds the optimizer's slots, unused here


def _dump_portable_variables(run_dir: str, out: str) -> None:
    """(In the subprocess, under the other Keras.) Writes the run's ``portable_variables`` to ``out`` (``.npz``)."""
    import numpy as np

    from tfvae.runs import load_run

    model = load_run(run_dir)
    np.savez(out, *[variable.numpy() for variable in model.portable_variables])


def convert_weights(run_dir: str | Path) -> Path:
    """Writes ``run_dir``'s best weights in the format of the Keras tfvae runs on, from the other Keras's file.

    Returns the new file's path (the old file is kept). Raises ``ValueError``
    if the run already holds this Keras's weights or none of the other's.
    """
    import numpy as np

    from tfvae.runs import MODEL_CLASSES, read_run_config
    from tfvae.served import copy_weights

    run_dir = Path(run_dir)
    versions = weights_versions(run_dir)
    target = best_weights_path(run_dir)
    if KERAS_VERSION in versions:
        raise ValueError(f"{run_dir} already holds {KERAS_NAMES[KERAS_VERSION]} weights ({target}): nothing to do")
    if not versions:
        check_best_weights(run_dir)  # raises the no-weights message
    other = versions[0]
    config = read_run_config(run_dir)
    with tempfile.TemporaryDirectory() as scratch:
        dumped = Path(scratch) / "weights.npz"
        code = f"from tfvae.run_weights import _dump_portable_variables as d; d({str(run_dir)!r}, {str(dumped)!r})"
        done = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "TFVAE_KERAS": str(other)},
            capture_output=True,
            text=True,
        )
        if done.returncode:
            last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise RuntimeError(f"reading {run_dir}'s weights under {KERAS_NAMES[other]} failed: {last}")
        with np.load(dumped) as arrays:
            values = [arrays[f"arr_{i}"] for i in range(len(arrays.files))]
    model = MODEL_CLASSES[config.get("class", "VAE")].from_config(config["model"])
    copy_weights(model.portable_variables, values, str(run_dir), "its config.json does not fit its weights")
    model.save_weights(str(target))
    return target
