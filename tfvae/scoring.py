"""``tfvae score MODEL [DATA] --out scores.csv``: one row of numbers per example, e.g. to find anomalies.

Each example of ``DATA`` (a folder of images, a ``.npy``/``.npz`` array or a
CSV of features, as ``tfvae.own_data.open_examples`` reads it; without
``DATA``, the model's own test split) gets a row::

    id,log_px,elbo,reconstruction,bits_per_dim,num_samples
    test/7/0001.png,-92.3,-97.1,-75.4,0.170,1000

- ``id``: the file name (relative to the folder), or the row number (from 0) of an array or a CSV;
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
its binarisation does not depend on the batch size either. A CSV model's rows are raw feature values, in the
columns it was trained on: a run standardises them with its recorded means and stds, an export inside its
signatures; log densities are those of the standardised features (as ``tfvae evaluate``'s).

The data is read, scored and written a batch at a time; the CSV is written beside ``out`` and renamed into
place once complete, so an error leaves no CSV.
"""

import argparse
import csv
import dataclasses
import heapq
import math
import os
import time
from pathlib import Path

import numpy as np

from tfvae.options import positive_int

# tfvae.data (TensorFlow) is imported where used: the command line reads this module's defaults without it.

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
        data: a folder of images, a ``.npy``/``.npz`` file or a CSV of features (``tfvae.own_data.open_examples``);
            ``None``: the model's own test split.
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
    from tfvae.data import UNIT_RANGE, DataError

    _check_target(artifact, out, seed)
    examples = _examples(artifact, data, data_dir)
    features = artifact.features()
    _check_columns(examples, features)
    data_shape = tuple(artifact.model_config["data_shape"])
    if tuple(examples.shape) != data_shape:
        raise DataError(
            f"{examples.source}: examples of shape {list(examples.shape)}, but the model takes "
            f"{list(data_shape)}; give data of that shape"
            + (" (resize the images to it)" if len(data_shape) == 3 and len(examples.shape) == 3 else "")
        )
    step = _export_scorer(artifact, num_samples) if artifact.is_export else _run_scorer(artifact, num_samples, seed)
    binarization = artifact.binarization()
    value_range = None if features else UNIT_RANGE
    standardise = None if artifact.is_export else features  # an export standardises raw values itself
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
                where = f"{examples.source} (examples {count}..{count + len(raw) - 1})"
                x = prepare(raw, count, binarization, where, value_range, standardise)
                numbers = step(x)
                for row, example_id in enumerate(ids):
                    log_px = float(numbers["log_px"][row])
                    values = [log_px, numbers["elbo"][row], numbers["reconstruction"][row]]
                    values += [-log_px / bits] if images else []
                    writer.writerow([example_id, *(f"{float(v):.9g}" for v in values), num_samples])
                    entry = (-log_px, count + row, example_id)
                    if len(lowest) < LOWEST:
                        heapq.heappush(lowest, entry)
                    else:  # drops the likeliest of the kept
                        heapq.heappushpop(lowest, entry)
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


def prepare(raw, first_row, binarization, where="data", value_range=(0.0, 1.0), features=None):
    """Raw examples (``uint8``, ``bool`` or floats in [0, 1]) as the model's float32 inputs: scaled to [0, 1], and
    binarised (unless ``binarization`` is ``"none"``) with one seed per example, ``(TEST_BINARIZATION_SEED, its
    position)``, ``first_row`` being the position of ``raw[0]``; ``where`` names them in a ``DataError``.

    Real-valued features (``value_range`` ``None``) are checked to be finite and, with ``features`` (a CSV
    model's ``{"mean", "std", ...}``), standardised."""
    from tfvae.data import TEST_BINARIZATION_SEED, DataError, as_inputs

    try:
        x = as_inputs(raw, value_range)
    except DataError as error:
        raise DataError(f"{where}: {error}") from None
    if features:
        return ((x - np.array(features["mean"])) / np.array(features["std"])).astype(np.float32)
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


def _check_columns(examples, features):
    """A CSV model scores a CSV (or its own test split) of the columns it was trained on; other models, no CSV."""
    from tfvae.data import DataError

    if features and examples.columns is None:
        raise DataError(f"{examples.source}: this model was trained on a CSV of features; score a CSV of its columns")
    if features and examples.columns is not None and examples.columns != list(features["columns"]):
        raise DataError(
            f"{examples.source}: columns {examples.columns}, but the model was trained on "
            f"{list(features['columns'])}; give the same columns in the same order"
        )
    if not features and examples.columns is not None:
        raise DataError(f"{examples.source}: a CSV of features, but this model was not trained on one")


def _examples(artifact, data, data_dir):
    """The ``tfvae.own_data.Examples`` to score: ``data``, or the model's own test split."""
    from tfvae.own_data import in_memory_examples, open_examples

    if data is not None:
        return open_examples(data, artifact.data_settings().image_size)  # images resized as in training
    from tfvae.own_data import load_images

    features = artifact.features()
    dataset = load_images(artifact.data_settings(), None, data_dir, features=features)
    test = dataset.test_images
    if features:  # raw values again, as a CSV holds them: scoring standardises them
        test = test.astype(np.float64) * np.array(features["std"]) + np.array(features["mean"])
    examples = in_memory_examples(f"{dataset.name} test split", test)
    return dataclasses.replace(examples, columns=list(features["columns"])) if features else examples


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


# --- the command ------------------------------------------------------------------------------------


def add_command(subparsers):
    """Adds ``tfvae score`` and its flags to the ``tfvae`` parser's ``subparsers`` (``tfvae.cli``)."""
    p = subparsers.add_parser(
        "score",
        help="a CSV of log p(x), ELBO and reconstruction per example (e.g. the least likely: anomalies)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "run_dir", metavar="MODEL", help="a run directory written by 'tfvae train', or an exported saved_models/NAME/N"
    )
    p.add_argument(
        "data",
        nargs="?",
        default=None,
        metavar="DATA",
        help="a folder of PNG/JPEG images or a .npy/.npz array to score (default: the model's own test split)",
    )
    p.add_argument("--out", default="scores.csv", help="the CSV to write (one row per example)")
    p.add_argument(
        "--num-samples", "-k", type=positive_int, default=DEFAULT_SAMPLES, help="K of the importance-weighted log p(x)"
    )
    p.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH, help="examples per step")
    p.add_argument("--seed", type=int, default=0, help="seed of the samples (an export: 0 only)")
    p.add_argument("--data-dir", default=None, help="without DATA: override the run's data directory")
    p.set_defaults(run=run_command)


def run_command(args):
    """``tfvae score``: scores the data, writes the CSV and prints the summary."""
    summary = score(
        args.artifact,
        args.out,
        data=args.data,
        num_samples=args.num_samples,
        batch_size=args.batch_size,
        seed=args.seed,
        data_dir=args.data_dir,
    )
    print(
        f"scored {summary['num_examples']} examples (K={summary['num_samples']}, seed {summary['seed']}) in "
        f"{summary['seconds']:.1f} s: mean log p(x) {summary['mean_log_px']:.2f} nats"
    )
    print("least likely: " + ", ".join(f"{example_id} ({log_px:.2f})" for log_px, example_id in summary["lowest"]))
    print(f"wrote {summary['out']}")
