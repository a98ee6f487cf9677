"""Where a run directory keeps its best weights, in which Keras's format, and converting between the two.

tf_keras writes a TensorFlow checkpoint, ``RUN_DIR/checkpoints/best.index``
and ``best.data-*``; Keras 3 reads and writes only its own file,
``RUN_DIR/checkpoints/best.weights.h5``. A run trained under one is opened
under the other after one command (``tfvae.weights_conversion``)::

    tfvae convert-weights runs/mnist_mlp      # writes the format of the Keras tfvae runs on now
"""

import errno
import math
import os
import shutil
from pathlib import Path

from tfvae.backend import KERAS_VERSION, keras

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


class BestWeightsCheckpoint(keras.callbacks.ModelCheckpoint):
    """Keras's ``ModelCheckpoint`` of a run's best weights (``save_best_only``, lowest ``monitor``), written so
    that a run never keeps a broken file.

    Keras 3 writes ``best.weights.h5`` in place: a process killed or a disk filled mid-write would leave a file
    that ``has_best_weights`` takes for good weights, and the previous best lost. Here Keras writes a partial
    file beside it, which replaces the best file only once complete (``os.replace`` is atomic). h5py fails
    badly on a full disk (tracebacks from its clean-up, then a crash at exit), so the free space is checked
    first and too little is one ``OSError`` (ENOSPC). tf_keras's TF checkpoint already writes its index last and
    fails cleanly: it is passed through unchanged.
    """

    def __init__(self, run_dir, monitor, initial_value_threshold=math.inf):
        self.best_path = best_weights_path(run_dir)
        partial = self.best_path.with_name(PARTIAL) if KERAS_VERSION == 3 else self.best_path
        super().__init__(
            str(partial),
            monitor=monitor,
            mode="min",  # every monitor is a loss; Keras 3 cannot tell from the name negative_elbo
            save_best_only=True,
            save_weights_only=True,
            initial_value_threshold=initial_value_threshold,  # inf, not None: Keras 3 keeps a first NaN
        )

    def on_epoch_end(self, epoch, logs=None):
        if KERAS_VERSION != 3:
            return super().on_epoch_end(epoch, logs)
        partial = Path(self.filepath)
        current = (logs or {}).get(self.monitor)
        if current is not None and current < self.best:  # Keras writes only then (mode "min")
            _check_free_space(partial.parent, sum(v.numpy().nbytes for v in self.model.weights))
        try:
            super().on_epoch_end(epoch, logs)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        if partial.exists():
            os.replace(partial, self.best_path)


class RunBackup(keras.callbacks.BackupAndRestore):
    """Keras's ``BackupAndRestore`` of a run (``RUN_DIR/backup``, kept after the last epoch so that a larger
    ``--epochs`` continues it), written so that a kill never leaves a backup that cannot be read.

    Keras 3 writes ``latest.weights.h5`` and ``training_metadata.json`` in place, so a process killed mid-write
    left an h5 file that the next ``tfvae train`` failed to open ("bad object header version number") instead of
    resuming. Here each is written as a partial file and renamed into place (weights first: a kill between the
    two renames repeats the last epoch rather than skip one). tf_keras's TF checkpoint writes its index last and
    is passed through unchanged.
    """

    def __init__(self, backup_dir):
        super().__init__(str(backup_dir), delete_checkpoint=False)

    def _save_model(self):  # Keras 3's one writer of the backup (called by on_epoch_end)
        finals = [Path(self._weights_path), Path(self._training_metadata_path)]
        partials = [finals[0].with_name("latest.partial.weights.h5"), finals[1].with_name(f"{finals[1].name}.partial")]
        optimizer = getattr(self.model, "optimizer", None)
        variables = [*self.model.weights, *(getattr(optimizer, "variables", None) or [])]  # the optimizer's too
        _check_free_space(finals[0].parent, sum(v.numpy().nbytes for v in variables))
        self._weights_path, self._training_metadata_path = map(str, partials)
        try:
            super()._save_model()
        except BaseException:
            for partial in partials:
                partial.unlink(missing_ok=True)
            raise
        finally:
            self._weights_path, self._training_metadata_path = map(str, finals)
        for partial, final in zip(partials, finals):
            os.replace(partial, final)


PARTIAL = "best.partial.weights.h5"  # Keras 3 insists on the ``.weights.h5`` ending
HDF5_MARGIN = 2**20  # bytes beyond the weights' own: the file's metadata, with room to spare


def _check_free_space(directory: Path, weight_bytes: int) -> None:
    """Raises ``OSError`` (ENOSPC) if ``directory``'s file system cannot take a weights file of ``weight_bytes``."""
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    if free < weight_bytes + HDF5_MARGIN:
        raise OSError(
            errno.ENOSPC,
            f"{os.strerror(errno.ENOSPC)}: {free} bytes free for {weight_bytes + HDF5_MARGIN} of weights",
            str(directory),
        )
