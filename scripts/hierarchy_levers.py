"""What keeps the top layer of a two-layer VAE alive: one short run per lever, the same budget each.

    python scripts/hierarchy_levers.py                       # every configs/hierarchy_levers/*.json
    python scripts/hierarchy_levers.py --only ladder warmup  # some of them
    python scripts/hierarchy_levers.py --limit 2000 -k 1000  # the evaluation (defaults)

Each config is the same two-layer MLP (z 64 + 32, MNIST, 20 epochs, ELBO)
with one lever changed: bottom-up (Burda et al. 2015) or ladder inference
(Sønderby et al. 2016), KL warm-up over all layers, free bits, a VampPrior on
the top layer, or a combination. Every run is an ordinary ``tfvae train
--config FILE`` (so an interrupted one resumes when the script runs again),
then ``tfvae evaluate -k K --limit N``: the importance-weighted NLL, each
layer's KL and active units. Writes ``scripts/results/hierarchy-levers-<date>.json``
and prints a markdown table.
"""

import argparse
import datetime
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs" / "hierarchy_levers"


def run(command):
    """Runs a tfvae command line; returns its wall seconds."""
    begin = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tfvae", *command], check=True, cwd=ROOT)
    return time.perf_counter() - begin


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="config names (file stems) to run")
    parser.add_argument("-k", type=int, default=1000, help="importance samples of the NLL")
    parser.add_argument("--limit", type=int, default=2000, help="test images evaluated")
    args = parser.parse_args()
    paths = sorted(CONFIGS.glob("*.json"))
    if args.only:
        paths = [p for p in paths if p.stem in args.only]
    rows = []
    for path in paths:
        config = json.loads(path.read_text())
        run_dir = ROOT / config["out"]
        train_seconds = run(["train", "--config", str(path)])
        eval_path = run_dir / f"eval-k{args.k}-n{args.limit}.json"
        if not eval_path.exists():
            run(["evaluate", str(run_dir), "-k", str(args.k), "--limit", str(args.limit), "--out", str(eval_path)])
        results = json.loads(eval_path.read_text())
        metrics = json.loads((run_dir / "metrics.json").read_text())
        rows.append(
            {
                "lever": path.stem,
                "config": str(path.relative_to(ROOT)),
                "epochs": config["epochs"],
                "train_seconds": metrics["train_seconds"],
                "wall_seconds_this_invocation": train_seconds,
                "test_negative_elbo": metrics["test"]["negative_elbo"],
                **{
                    key: results[key]
                    for key in ("nll", "nll_stderr", "kl", "kl_layers", "active_units_layers", "latent_dims")
                    if key in results
                },
                "evaluation": {"num_samples": args.k, "examples": args.limit},
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    out = ROOT / "scripts" / "results" / f"hierarchy-levers-{datetime.date.today().isoformat()}.json"
    out.write_text(json.dumps(rows, indent=2))
    print(
        f"| lever | NLL (K={args.k}, {args.limit} images) | -ELBO | KL z1 | KL z2 | active z1 | active z2 | train s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        kl, au, dims = r.get("kl_layers", [0, 0]), r.get("active_units_layers", [0, 0]), r["latent_dims"]
        print(
            f"| {r['lever']} | {r['nll']:.2f} ± {r['nll_stderr']:.2f} | {r['test_negative_elbo']:.2f} | "
            f"{kl[0]:.2f} | {kl[1]:.2f} | {au[0]}/{dims[0]} | {au[1]}/{dims[1]} | {r['train_seconds']:.0f} |"
        )
    print(f"written to {out}")


if __name__ == "__main__":
    main()
