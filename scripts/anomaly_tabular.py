"""Anomaly detection on a real table: tfvae's log p(x) against PCA, an autoencoder and an isolation forest.

    python scripts/anomaly_tabular.py --seeds 0 1 2 3 4

The data is scikit-learn's bundled copy of the Wisconsin Diagnostic Breast Cancer set (569 tumours, 30
numeric features of cell nuclei; 357 benign, 212 malignant; it installs with scikit-learn, no network). The
protocol is the one-class one a user would follow: learn what *benign* looks like, then rank new cases by how
unlikely they are, and call the malignant ones the anomalies. For each seed, a random ``--train-fraction`` of the
benign rows is the normal data; the test rows are the other benign rows and every malignant one.

Each detector sees the same normal rows and scores the same test rows (higher: more anomalous):

- ``log_px``: tfvae from the command line, as a user would run it: ``tfvae train --data benign.csv`` (a CSV: a
  Normal likelihood over the features standardised on the training split, an MLP; ``--epochs``,
  ``--latent-dim``), then ``tfvae score RUN test.csv -k K``; the score is -log p(x), importance weighted.
  ``elbo`` and ``reconstruction`` (-ELBO and -E_q log p(x|z)) come from the same CSV.
- ``pca``: the squared error of reconstructing a standardised row from its first ``--latent-dim`` principal
  components (scikit-learn ``PCA``), fitted on the normal rows.
- ``autoencoder``: the squared reconstruction error of a plain Keras autoencoder with tfvae's default MLP
  widths and the same bottleneck, trained with mean squared error for the same epochs (no KL, no likelihood):
  what one would write in a few lines of Keras.
- ``isolation_forest``: scikit-learn's ``IsolationForest`` (200 trees) on the standardised rows, ``-score_samples``.

AUROC is scikit-learn's ``roc_auc_score`` (0.5 is chance, 1 a perfect ranking). Writes
``scripts/results/anomaly-tabular-<date>.json`` with the command, the settings, every seed's AUROCs, their
means and standard deviations, and the timings.
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

from anomaly_scores import run_tfvae  # noqa: E402 - the sibling script's, as a user runs tfvae
from sklearn.datasets import load_breast_cancer  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.ensemble import IsolationForest  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from tfvae.backend import keras  # noqa: E402

TFVAE_SCORES = ("log_px", "elbo", "reconstruction")  # CSV columns: higher is more likely, so -value is the score
BASELINES = ("pca", "autoencoder", "isolation_forest")


def benign_split(seed, train_fraction):
    """``(columns, normal_rows, test_rows, test_is_malignant)`` of the breast-cancer data for one seed."""
    data = load_breast_cancer()
    rows, malignant = data.data.astype(np.float64), data.target == 0  # sklearn's target: 0 malignant, 1 benign
    benign = np.flatnonzero(~malignant)
    order = np.random.default_rng(seed).permutation(benign)
    normal = order[: int(round(train_fraction * len(benign)))]
    test = np.setdiff1d(np.arange(len(rows)), normal)
    columns = [name.replace(" ", "_") for name in data.feature_names]
    return columns, rows[normal], rows[test], malignant[test]


def write_csv(path, columns, rows):
    """A CSV with a header of ``columns``, as a user's export of a table would be."""
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(columns)
        writer.writerows(rows.tolist())


def autoencoder_errors(normal, test, latent_dim, epochs, seed):
    """Squared reconstruction errors of ``test`` by a dense autoencoder (512-256-latent-256-512, ReLU, as tfvae's
    default MLP) trained with mean squared error on ``normal`` (both already standardised)."""
    keras.utils.set_random_seed(seed)
    width = normal.shape[1]
    model = keras.Sequential(
        [keras.Input((width,))]
        + [keras.layers.Dense(n, activation="relu") for n in (512, 256)]
        + [keras.layers.Dense(latent_dim)]
        + [keras.layers.Dense(n, activation="relu") for n in (256, 512)]
        + [keras.layers.Dense(width)]
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    model.fit(normal, normal, epochs=epochs, batch_size=64, verbose=0, shuffle=True)
    return np.sum((model.predict(test, verbose=0) - test) ** 2, axis=1)


def one_seed(seed, args, work):
    """Every detector's AUROC for one random split; with the tfvae commands and the timings."""
    columns, normal, test, malignant = benign_split(seed, args.train_fraction)
    folder = work / f"seed_{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / "benign.csv", columns, normal)
    write_csv(folder / "test.csv", columns, test)
    train_command, train_seconds = run_tfvae(
        ["train", "--data", folder / "benign.csv", "--epochs", args.epochs, "--latent-dim", args.latent_dim]
        + ["--batch-size", 64, "--seed", seed, "--out", folder / "run", "--verbose", 0]
    )
    score_command, score_seconds = run_tfvae(
        ["score", folder / "run", folder / "test.csv", "--out", folder / "scores.csv", "-k", args.num_samples]
    )
    with open(folder / "scores.csv", newline="") as file:
        scores = list(csv.DictReader(file))  # in the order of test.csv's rows
    auroc = {name: float(roc_auc_score(malignant, [-float(r[name]) for r in scores])) for name in TFVAE_SCORES}
    seconds = {"tfvae_train": train_seconds, "tfvae_score": score_seconds}

    scaler = StandardScaler().fit(normal)
    normal_z, test_z = scaler.transform(normal), scaler.transform(test)
    start = time.perf_counter()
    pca = PCA(n_components=args.latent_dim).fit(normal_z)
    pca_error = np.sum((pca.inverse_transform(pca.transform(test_z)) - test_z) ** 2, axis=1)
    auroc["pca"] = float(roc_auc_score(malignant, pca_error))
    seconds["pca"] = time.perf_counter() - start
    start = time.perf_counter()
    ae_error = autoencoder_errors(normal_z, test_z, args.latent_dim, args.epochs, seed)
    auroc["autoencoder"] = float(roc_auc_score(malignant, ae_error))
    seconds["autoencoder"] = time.perf_counter() - start
    start = time.perf_counter()
    forest = IsolationForest(n_estimators=200, random_state=seed).fit(normal_z)
    auroc["isolation_forest"] = float(roc_auc_score(malignant, -forest.score_samples(test_z)))
    seconds["isolation_forest"] = time.perf_counter() - start
    return {
        "seed": seed,
        "normal_rows": int(len(normal)),
        "test_rows": int(len(test)),
        "test_malignant": int(malignant.sum()),
        "auroc": auroc,
        "commands": [train_command, score_command],
        "seconds": seconds,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="one random split each")
    parser.add_argument("--train-fraction", type=float, default=0.7, help="of the benign rows, the normal data")
    parser.add_argument("--epochs", type=int, default=100, help="tfvae's and the autoencoder's")
    parser.add_argument("--latent-dim", type=int, default=4, help="tfvae's latents, PCA's components, the AE's code")
    parser.add_argument("--num-samples", "-k", type=int, default=100, help="K of log p(x)")
    parser.add_argument("--work", default=None, help="keep the runs and CSVs here (default: a temporary directory)")
    parser.add_argument("--out", default=None, help="JSON to write (default scripts/results/anomaly-tabular-...json)")
    args = parser.parse_args()

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(args.work or temporary)
        results = [one_seed(seed, args, work) for seed in args.seeds]
    names = (*TFVAE_SCORES, *BASELINES)
    summary = {
        "command": shlex.join(["python", *sys.argv]),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "data": "scikit-learn load_breast_cancer (Wisconsin Diagnostic Breast Cancer): 569 rows, 30 features",
        "protocol": "train on a random share of the benign rows; test rows: the other benign rows and every "
        "malignant one; AUROC of malignant (roc_auc_score)",
        "settings": {k: v for k, v in vars(args).items() if k not in ("work", "out")},
        "machine": f"{os.cpu_count()} CPU cores",
        "seeds": results,
        "mean_auroc": {name: float(np.mean([r["auroc"][name] for r in results])) for name in names},
        "std_auroc": {name: float(np.std([r["auroc"][name] for r in results], ddof=1)) for name in names}
        if len(results) > 1
        else None,
        "seconds": time.perf_counter() - start,
    }
    out = Path(args.out or Path(__file__).parent / "results" / f"anomaly-tabular-{datetime.date.today()}.json")
    out.write_text(json.dumps(summary, indent=2))
    print(f"{'seed':>5}  " + "  ".join(f"{name:>16}" for name in names))
    for r in results:
        print(f"{r['seed']:>5}  " + "  ".join(f"{r['auroc'][name]:>16.3f}" for name in names))
    print(f"{'mean':>5}  " + "  ".join(f"{summary['mean_auroc'][name]:>16.3f}" for name in names))
    print(f"{summary['seconds']:.0f} s; wrote {out}")


if __name__ == "__main__":
    main()
