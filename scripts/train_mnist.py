"""Trains, evaluates and exports the reference MNIST models into saved_models/.

    python scripts/train_mnist.py --data-dir ../shared/data/mnist --epochs 30 --num-samples 5000

For each model (``mnist_mlp_bernoulli``: MLP 784-512-256-16; ``mnist_conv_bernoulli``:
the small conv net, latent 16) it runs ``tfvae train`` into ``runs/NAME``,
``tfvae evaluate`` with K importance samples on the 10,000 test images (K for
the MLP, ``--conv-num-samples`` for the conv net, whose decoder costs ~40x
more per sample), and
``tfvae export --tflite`` into ``saved_models/NAME/VERSION``; then it times
the TFLite files with LiteRT and adds sizes and latencies to that version's
``metrics.json``.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from tfvae import cli

MODELS = {
    "mnist_mlp_bernoulli": ["--arch", "mlp"],
    "mnist_conv_bernoulli": ["--arch", "conv"],
}


def tflite_report(version_dir, repeats=200):
    """File sizes and median per-call latency (ms) of each TFLite signature, batch 1."""
    from ai_edge_litert.interpreter import Interpreter

    report = {}
    latent_dim = json.loads((version_dir / "tfvae.json").read_text())["model"]["latent_dim"]
    for file in ("vae.tflite", "vae_fp16.tflite"):
        interpreter = Interpreter(model_path=str(version_dir / file), num_threads=1)
        inputs = {
            "encode": {"x": np.random.default_rng(0).random((1, 28, 28, 1), dtype=np.float32)},
            "decode": {"z": np.zeros((1, latent_dim), np.float32)},
            "sample": {"num_samples": np.array(1, np.int32)},
        }
        latencies = {}
        for name, feed in inputs.items():
            runner = interpreter.get_signature_runner(name)
            runner(**feed)  # warm-up
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                runner(**feed)
                times.append((time.perf_counter() - start) * 1e3)
            latencies[name] = round(statistics.median(times), 4)
        report[file] = {"bytes": (version_dir / file).stat().st_size, "median_ms_batch1_1thread": latencies}
    return report


def main():
    """Runs the pipeline for every model in ``--models``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="../shared/data/mnist")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--num-samples", type=int, default=5000, help="K for the importance-weighted NLL")
    parser.add_argument("--conv-num-samples", type=int, default=100, help="K for the conv model")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--runs", default="runs")
    parser.add_argument("--out", default="saved_models")
    parser.add_argument("--version", type=int, default=1)
    args = parser.parse_args()

    for name in args.models:
        run_dir = Path(args.runs) / name
        steps = [
            [
                "train",
                "--data-dir",
                args.data_dir,
                "--epochs",
                str(args.epochs),
                "--latent-dim",
                "16",
                "--likelihood",
                "bernoulli",
                "--out",
                str(run_dir),
                "--verbose",
                "2",
                *MODELS[name],
            ],
            [
                "evaluate",
                str(run_dir),
                "--data-dir",
                args.data_dir,
                "--num-samples",
                str(args.conv_num_samples if "conv" in name else args.num_samples),
            ],
            ["export", str(run_dir), "--out", str(Path(args.out) / name), "--version", str(args.version), "--tflite"],
        ]
        done = [run_dir / "metrics.json", run_dir / "eval.json", Path(args.out) / name / str(args.version)]
        for step, output in zip(steps, done):
            if output.exists():  # finished by an earlier, interrupted invocation
                print(f"skip tfvae {step[0]}: {output} exists", flush=True)
                continue
            print("tfvae", " ".join(step), flush=True)
            if cli.main(step) != 0:
                raise SystemExit(f"step failed: tfvae {' '.join(step)}")
        version_dir = Path(args.out) / name / str(args.version)
        metrics = json.loads((version_dir / "metrics.json").read_text())
        metrics["tflite"] = tflite_report(version_dir)
        metrics["command"] = "python scripts/train_mnist.py " + " ".join(
            [
                "--data-dir",
                args.data_dir,
                "--epochs",
                str(args.epochs),
                "--num-samples",
                str(args.num_samples),
                "--conv-num-samples",
                str(args.conv_num_samples),
                "--models",
                name,
            ]
        )
        (version_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
        print(
            json.dumps(
                {
                    "model": name,
                    "test": metrics["metrics"]["test"],
                    "nll": metrics["eval"]["nll"],
                    "tflite": metrics["tflite"],
                },
                indent=2,
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
