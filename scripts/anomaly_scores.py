"""MNIST one-class-out anomaly detection: tfvae's log p(x) against PCA reconstruction error, by AUROC.

    python scripts/anomaly_scores.py --data-dir ../shared/data/mnist --digits 0 1

For each held-out digit d: the first ``--train`` training images of the other nine digits are written as a
``.npy`` and a VAE is trained on them with the command line a user would run (``tfvae train --data normal.npy``,
the default MLP and Bernoulli likelihood, ``--epochs``); the first ``--test`` test images (all ten digits) are
scored with ``tfvae score RUN test.npy -k K``. The anomalies are the images of digit d, and each score ranks them:

- ``log_px``: -log p(x), the importance-weighted estimate (K samples), the score ``tfvae score`` is for;
- ``elbo`` and ``reconstruction``: -ELBO and -E_q log p(x|z), from the same CSV;
- ``pca``: the squared error of reconstructing x from its first ``--pca-components`` principal components,
  fitted on the same training images (grey values in [0, 1]): what one would otherwise run, in a few lines of
  numpy.

AUROC: the probability that a random anomaly scores above a random normal image (ties count half), 0.5 for
chance. Everything runs on the CPU; the training runs go to a temporary directory (``--work`` keeps them).
Writes ``scripts/results/anomaly-scores-<date>-digits-<digits>.json`` with the command, the settings, the
per-digit AUROCs and timings.
"""

import argparse
import csv
import datetime
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfvae import cli  # noqa: E402
from tfvae.data import load_idx_dataset  # noqa: E402

SCORES = ("log_px", "elbo", "reconstruction")  # CSV columns: higher is more likely, so -value is the score


def auroc(scores, anomalous):
    """The area under the ROC curve of ``scores`` (higher: more anomalous) for the boolean labels ``anomalous``:
    the Mann-Whitney U statistic over the number of (anomaly, normal) pairs, ties given half."""
    scores, anomalous = np.asarray(scores, np.float64), np.asarray(anomalous, bool)
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    _, tie_group, tie_counts = np.unique(scores, return_inverse=True, return_counts=True)
    ranks = (np.bincount(tie_group, weights=ranks) / tie_counts)[tie_group]  # tied scores share their mean rank
    positives, negatives = anomalous.sum(), (~anomalous).sum()
    return float((ranks[anomalous].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def pca_errors(train, test, components):
    """Squared reconstruction error of each ``test`` row from the top ``components`` principal directions of
    ``train`` (rows: flattened images)."""
    mean = train.mean(0)
    _, _, directions = np.linalg.svd(train - mean, full_matrices=False)
    basis = directions[:components]
    centred = test - mean
    return np.sum((centred - centred @ basis.T @ basis) ** 2, axis=1)


def run_tfvae(argv):
    """Runs one ``tfvae`` command in this process; returns its command line and seconds."""
    start = time.perf_counter()
    if cli.main([str(a) for a in argv]) != 0:
        sys.exit(f"failed: tfvae {shlex.join(map(str, argv))}")
    return "tfvae " + shlex.join(map(str, argv)), time.perf_counter() - start


def one_class_out(digit, data, args, work):
    """Trains on the other digits, scores the test images; returns the AUROCs, the commands and the timings."""
    normal = data.train_labels != digit
    train_images = data.train_images[normal][: args.train]
    test_images, anomalous = data.test_images[: args.test], data.test_labels[: args.test] == digit
    folder = work / f"without_{digit}"
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "normal.npy", train_images[..., 0])
    np.save(folder / "test.npy", test_images[..., 0])
    train_command, train_seconds = run_tfvae(
        ["train", "--data", folder / "normal.npy", "--epochs", args.epochs, "--out", folder / "run", "--verbose", 0]
    )
    score_command, score_seconds = run_tfvae(
        ["score", folder / "run", folder / "test.npy", "--out", folder / "scores.csv", "-k", args.num_samples]
    )
    with open(folder / "scores.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    result = {
        "digit": digit,
        "train_images": int(len(train_images)),
        "test_images": int(len(test_images)),
        "anomalies": int(anomalous.sum()),
        "auroc": {name: auroc([-float(r[name]) for r in rows], anomalous) for name in SCORES},
        "commands": [train_command, score_command],
        "train_seconds": train_seconds,
        "score_seconds": score_seconds,
    }
    start = time.perf_counter()
    flat = lambda images: images.reshape(len(images), -1).astype(np.float64) / 255.0  # noqa: E731
    result["auroc"]["pca"] = auroc(pca_errors(flat(train_images), flat(test_images), args.pca_components), anomalous)
    result["pca_seconds"] = time.perf_counter() - start
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="../shared/data/mnist", help="MNIST IDX files")
    parser.add_argument("--digits", type=int, nargs="+", default=[0, 1], help="the held-out digits, one model each")
    parser.add_argument("--train", type=int, default=10_000, help="training images of the other digits")
    parser.add_argument("--test", type=int, default=2_000, help="test images scored (all digits)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--num-samples", "-k", type=int, default=100, help="K of log p(x)")
    parser.add_argument("--pca-components", type=int, default=16, help="the baseline's components (16: the latents)")
    parser.add_argument("--work", default=None, help="keep the runs and CSVs here (default: a temporary directory)")
    parser.add_argument("--out", default=None, help="JSON to write (default scripts/results/anomaly-scores-...json)")
    args = parser.parse_args()

    data = load_idx_dataset(args.data_dir)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(args.work or temporary)
        results = [one_class_out(digit, data, args, work) for digit in args.digits]
    names = (*SCORES, "pca")
    summary = {
        "command": shlex.join(["python", *sys.argv]),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "protocol": "MNIST one class out: train on the other nine digits, AUROC of the held-out digit among the "
        "test images (scores: -log p(x), -ELBO, -E_q log p(x|z) of tfvae score; PCA reconstruction error)",
        "settings": {k: v for k, v in vars(args).items() if k not in ("work", "out")},
        "model": "tfvae train defaults: MLP, 16 latents, Bernoulli likelihood, dynamic binarisation; "
        "test images binarised once per image (tfvae score)",
        "machine": f"{os.cpu_count()} CPU cores",
        "digits": results,
        "mean_auroc": {name: float(np.mean([r["auroc"][name] for r in results])) for name in names},
        "seconds": time.perf_counter() - start,
    }
    name = f"anomaly-scores-{datetime.date.today()}-digits-{'-'.join(map(str, args.digits))}.json"
    out = Path(args.out or Path(__file__).parent / "results" / name)
    out.write_text(json.dumps(summary, indent=2))
    print(f"{'digit':>5}  " + "  ".join(f"{name:>14}" for name in names))
    for r in results:
        print(f"{r['digit']:>5}  " + "  ".join(f"{r['auroc'][name]:>14.3f}" for name in names))
    print(f"{'mean':>5}  " + "  ".join(f"{summary['mean_auroc'][name]:>14.3f}" for name in names))
    print(f"{summary['seconds']:.0f} s; wrote {out}")


if __name__ == "__main__":
    main()
