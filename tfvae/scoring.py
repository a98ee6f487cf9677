"""``tfvae score MODEL [DATA] --out scores.csv``: one row of numbers per example, e.g. to find anomalies.

Each example of ``DATA`` (a folder of images or a ``.npy``/``.npz`` array, as
``tfvae.own_data.open_examples`` reads it; without ``DATA``, the model's own
test split) gets a row::

    id,log_px,elbo,reconstruction,bits_per_dim,num_samples
    test/7/0001.png,-92.3,-97.1,-75.4,0.170,1000

- ``id``: the file name (relative to the folder), or the row number of an array;
- ``log_px``: the K-sample importance-weighted estimate of log p(x), in nats (K = ``num_samples``, the last
  column); the lowest are the least likely, the anomalies;
- ``elbo`` and ``reconstruction`` (E_q log p(x|z), a log-likelihood: ``tfvae evaluate``'s ``reconstruction`` is
  its negative, a loss), from one sample of q;
- ``bits_per_dim`` = -log_px / (D ln 2), for images only.

The numbers are ``tfvae.evaluation.example_statistics`` of each batch, all drawn with the stateless seed
``(seed, 0)``; an export is scored through its ``log_likelihood`` signature (and ``posterior_sample`` and
``log_joint`` for the reconstruction term), TensorFlow alone, whose seed is fixed at 0. So a run and its export
give the same numbers with the same ``batch_size`` and K (each estimate depends on the batch it was drawn in).

Examples are prepared as ``tfvae evaluate`` prepares test data: scaled to [0, 1] and, for a model trained on
binarised data, binarised once, each example with its own seed (``TEST_BINARIZATION_SEED``, its position), so
its binarisation does not depend on the batch size either. The data is read, scored and written a batch at a
time; the CSV is written beside ``out`` and renamed into place once complete, so an error leaves no CSV.
"""

import csv
import heapq
import math
import os
import time
from pathlib import Path

import numpy as np

from tfvae.data import DataError, to_unit_interval

DEFAULT_SAMPLES = 1000  # K: a fifth of evaluate's 5000, as a score is wanted for every example of large data
DEFAULT_BATCH = 100
LOWEST = 5  # the least likely examples the summary names


def score(
    artifact,
    out,
    data=None,
    num_samples: int = DEFAULT_SAMPLES,
    batch_size: int = DEFAULT_BATCH,
    seed: int = 0,
    data_dir=None,
    verbose: int = 1,
) -> dict:
    """Writes ``out``, a CSV of one row per example of ``data`` scored by ``artifact``'s model; returns a summary.

    Args:
        artifact: a run or an export of an image model (``tfvae.artifacts.open_artifact``).
        out: the CSV to write.
        data: a folder of images or a ``.npy``/``.npz`` file; ``None``: the model's own test split.
        num_samples: K of the importance-weighted estimate.
        batch_size: examples per step (memory: batch_size * min(K, 500) decoder outputs).
        seed: seed of the samples; an export's signature draws with seed 0 only.
        data_dir: the folder of the model's named dataset (``data`` ``None`` only).
        verbose: 1 shows a progress bar.

    Returns:
        ``num_examples``, ``num_samples``, ``seed``, ``mean_log_px``, ``lowest`` (``[(log_px, id)]`` of the
        ``LOWEST`` least likely examples, lowest first), ``seconds``, ``out``.

    Raises:
        ValueError: a text or conditional model, an export with a seed other than 0, or an ``out`` that cannot be
            written; ``DataError``: data that does not fit the model (its shape, its values).
    """
    _check_target(artifact, out, seed)
    examples = _examples(artifact, data, data_dir)
    data_shape = tuple(artifact.model_config["data_shape"])
    if tuple(examples.shape) != data_shape:
        raise DataError(
            f"{examples.source}: examples of shape {list(examples.shape)}, but the model takes "
            f"{list(data_shape)}; give data of that shape"
            + (" (resize the images to it)" if len(data_shape) == 3 and len(examples.shape) == 3 else "")
        )
    step = _export_scorer(artifact, num_samples) if artifact.is_export else _run_scorer(artifact, num_samples, seed)
    binarization = artifact.binarization()
    images = len(data_shape) == 3
    columns = ["id", "log_px", "elbo", "reconstruction", *(["bits_per_dim"] if images else []), "num_samples"]
    bits = int(np.prod(data_shape)) * math.log(2.0)

    from tfvae.backend import keras

    out = Path(out)
    staging = out.with_name(f".{out.name}.tmp-{os.getpid()}")  # renamed into place once complete
    progress = keras.utils.Progbar(math.ceil(examples.count / batch_size), verbose=verbose, unit_name="batch")
    total, count, lowest = 0.0, 0, []  # lowest: a heap of the LOWEST smallest (-log_px, position, id)
    start = time.perf_counter()
    try:
        with open(staging, "w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(columns)
            for i, (ids, raw) in enumerate(examples.batches(batch_size)):
                x = prepare(raw, count, binarization, f"{examples.source} (examples {count}..{count + len(raw) - 1})")
                numbers = step(x)
                for row, example_id in enumerate(ids):
                    log_px = float(numbers["log_px"][row])
                    values = [log_px, numbers["elbo"][row], numbers["reconstruction"][row]]
                    values += [-log_px / bits] if images else []
                    writer.writerow([example_id, *(f"{float(v):.9g}" for v in values), num_samples])
                    entry = (-log_px, count + row, example_id)
                    (heapq.heappush if len(lowest) < LOWEST else heapq.heappushpop)(lowest, entry)
                total += float(np.sum(numbers["log_px"], dtype=np.float64))
                count += len(ids)
                progress.update(i + 1)
        os.replace(staging, out)
    finally:
        staging.unlink(missing_ok=True)
    return {
        "num_examples": count,
        "num_samples": int(num_samples),
        "seed": int(seed),
        "mean_log_px": total / count,
        "lowest": [(-negative, example_id) for negative, _, example_id in sorted(lowest, reverse=True)],
        "seconds": time.perf_counter() - start,
        "out": str(out),
    }


def prepare(raw, first_row, binarization, where="data"):
    """Raw examples (``uint8``, ``bool`` or floats in [0, 1]) as the model's float32 inputs: scaled to [0, 1], and
    binarised (unless ``binarization`` is ``"none"``) with one seed per example, ``(TEST_BINARIZATION_SEED, its
    position)``, ``first_row`` being the position of ``raw[0]``; ``where`` names them in a ``DataError``."""
    from tfvae.training import TEST_BINARIZATION_SEED

    try:
        x = to_unit_interval(raw)
    except DataError as error:
        raise DataError(f"{where}: {error}") from None
    if binarization == "none":
        return x
    uniform = np.stack(
        [np.random.default_rng([TEST_BINARIZATION_SEED, first_row + i]).random(x.shape[1:]) for i in range(len(x))]
    )
    return (uniform < x).astype(np.float32)


def _check_target(artifact, out, seed):
    """Refuses what cannot be scored or written, before any work."""
    if artifact.is_text:
        raise ValueError(
            f"{artifact.path} is a text model: tfvae score reads images and arrays "
            "(a text model's per-sentence numbers: tfvae evaluate)"
        )
    if artifact.model_config.get("condition_dim"):
        raise ValueError(f"{artifact.path} is a conditional model: its log p(x|c) needs each example's class")
    if artifact.is_export and seed != 0:
        raise ValueError("an export's log_likelihood signature draws with the fixed seed 0: leave --seed out")
    out = Path(out)
    if out.is_dir():
        raise ValueError(f"--out {out} is a directory: name the CSV file to write, e.g. {out / 'scores.csv'}")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"--out {out}: no directory {out.parent}; create it first")


def _examples(artifact, data, data_dir):
    """The ``tfvae.own_data.Examples`` to score: ``data``, or the model's own test split."""
    from tfvae.own_data import in_memory_examples, open_examples

    if data is not None:
        return open_examples(data, artifact.data_settings().image_size)  # images resized as in training
    from tfvae.training import load_images

    dataset = load_images(artifact.data_settings(), None, data_dir)
    return in_memory_examples(f"{dataset.name} test split", dataset.test_images)


def _run_scorer(artifact, num_samples, seed):
    """``step(x)`` of a run: ``example_statistics`` with the seed ``(seed, 0)``, as numpy arrays."""
    from tfvae.backend import tf
    from tfvae.evaluation import IMAGE_SAMPLE_CHUNK, example_statistics

    model = artifact.model()
    pair = tf.constant([seed, 0], tf.int32)
    # No XLA, as in tfvae.evaluation; reduce_retracing: the last batch is smaller.
    statistics = tf.function(
        lambda x: example_statistics(model, x, None, num_samples, pair, IMAGE_SAMPLE_CHUNK), reduce_retracing=True
    )

    def step(x):
        numbers = statistics(tf.constant(x))
        return {
            "log_px": numbers["log_px"].numpy(),
            "elbo": numbers["elbo"].numpy(),
            "reconstruction": -numbers["reconstruction"].numpy(),  # a log-likelihood, not the loss
        }

    return step


def _export_scorer(artifact, num_samples):
    """``step(x)`` of an export, through its signatures (TensorFlow alone): ``log_likelihood`` for ``log_px`` and
    ``elbo``; ``log_joint`` at one ``posterior_sample`` of seed 0 for the reconstruction term."""
    from tfvae.backend import tf

    signatures = tf.saved_model.load(str(artifact.path)).signatures
    count = tf.constant(num_samples, tf.int32)

    def step(x):
        x = tf.constant(x)
        bounds = signatures["log_likelihood"](x=x, num_samples=count)
        samples = signatures["posterior_sample"](x=x, num_samples=tf.constant(1), seed=tf.constant(0))
        samples.pop("log_posterior")
        joint = signatures["log_joint"](x=x, **samples)
        return {
            "log_px": bounds["log_px"].numpy(),
            "elbo": bounds["elbo"].numpy(),
            "reconstruction": joint["log_px_given_z"].numpy()[0],
        }

    return step
