"""``tfvae convert-weights``: a run's best weights, written by one Keras, rewritten for the other.

It reads the old file (``tfvae.run_weights``) in a subprocess under the
other Keras and copies the model's ``portable_variables`` (the same list
under both) into a model built from the run's ``config.json``, then saves
them in the format of the Keras tfvae runs on now; the old file is kept. The
backup that resumes an unfinished run (``RUN_DIR/backup``) is not converted:
resume it under the Keras that started it.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tfvae.backend import KERAS_VERSION
from tfvae.run_weights import KERAS_NAMES, best_weights_path, check_best_weights, weights_versions


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
        code = f"import tfvae.weights_conversion as c; c._dump_portable_variables({str(run_dir)!r}, {str(dumped)!r})"
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
