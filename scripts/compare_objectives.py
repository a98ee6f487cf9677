"""ELBO vs IWAE(K=5) vs VampPrior training on real MNIST: same epochs, seed and network.

    python scripts/compare_objectives.py --data-dir ../shared/data/mnist --epochs 10 --num-samples 1000

Each variant trains the reference MLP (784-512-256, latent 16, Bernoulli)
with ``tfvae.training.train``; all are then scored by the same
importance-weighted estimator (``--num-samples`` K, seed 0) on the 10,000
test images binarised once with seed 0. Writes
``scripts/results/compare-objectives-<date>.json`` and a markdown table.
"""

import argparse
import datetime
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfvae.data import evaluation_images, load_dataset  # noqa: E402
from tfvae.evaluation import evaluate  # noqa: E402
from tfvae.runs import TrainSettings  # noqa: E402
from tfvae.training import train  # noqa: E402

VARIANTS = {
    "ELBO": {},
    "IWAE (K=5)": {"objective": "iwae", "num_samples": 5},
    "VampPrior (500 pseudo-inputs)": {"prior": "vamp", "prior_components": 500},
}


def main():
    """Trains and scores every variant."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="../shared/data/mnist")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--num-samples", type=int, default=1000)
    parser.add_argument("--runs", default="runs/compare")
    args = parser.parse_args()

    data = load_dataset("mnist", args.data_dir)
    test_x = evaluation_images(data.test_images, "dynamic")
    rows = []
    for name, config in VARIANTS.items():
        settings = TrainSettings(epochs=args.epochs, seed=0, image_every=0, backup=False)
        run_dir = Path(args.runs) / name.split()[0].lower()
        model, metrics = train(run_dir, {"latent_dim": 16, **config}, settings, dataset=data, verbose=2)
        scores = evaluate(model, test_x, num_samples=args.num_samples, seed=0, verbose=0)
        rows.append(
            {
                "variant": name,
                "config": config,
                "train_seconds": metrics["train_seconds"],
                "test_negative_elbo": -scores["elbo"],
                "test_nll": scores["nll"],
                "nll_stderr": scores["nll_stderr"],
                "kl": scores["kl"],
                "active_units": scores["active_units"],
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    result = {
        "date": datetime.date.today().isoformat(),
        "epochs": args.epochs,
        "num_samples": args.num_samples,
        "command": "python scripts/compare_objectives.py " + " ".join(os.sys.argv[1:]),
        "rows": rows,
    }
    out = Path(__file__).parent / "results" / f"compare-objectives-{result['date']}.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"| training | test -ELBO (nats) | test NLL, K={args.num_samples} (nats) | KL | active units | train s |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['variant']} | {r['test_negative_elbo']:.2f} | {r['test_nll']:.2f} ± {r['nll_stderr']:.2f} | "
            f"{r['kl']:.2f} | {r['active_units']} | {r['train_seconds']:.0f} |"
        )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
