"""Where a run directory keeps its best weights, in which Keras's format, and converting between the two.

tf_keras writes a TensorFlow checkpoint, ``RUN_DIR/checkpoints/best.index``
and ``best.data-*``; Keras 3 reads and writes only its own file,
``RUN_DIR/checkpoints/best.weights.h5``. A run trained under one is opened
under the other after one command (``tfvae.weights_conversion``)::

    tfvae convert-weights runs/mnist_mlp      # writes the format of the Keras tfvae runs on now
"""

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
