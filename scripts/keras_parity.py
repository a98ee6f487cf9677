"""tf_keras against Keras 3 under tfvae, side by side in one run (issue 37, item 3).

    python scripts/keras_parity.py --rounds 3                # about 15 minutes on an idle 2-core CPU

Each measurement runs in its own process under ``TFVAE_KERAS=2`` and ``TFVAE_KERAS=3``, alternating which
goes first from round to round so that a drift of the machine's load falls on both:

* ``scripts/benchmark.py --models mlp``: in-fit examples per second of ``tfvae.VAE`` with the training
  defaults (the README's MLP, batch 128, dynamically binarised MNIST) and of the TFP tutorial's baseline,
  which runs on tf_keras in both processes and so shows how loaded the machine was;
* ``scripts/text_throughput.py --variants default``: the sentence VAE's tokens per second on PTB;
* once (``--main-job``, on by default): the README's main job, ``tfvae train`` for 10 epochs, its test
  negative ELBO and its seconds.

Writes ``scripts/results/keras-parity-<date>.json`` and a markdown table of medians over the rounds.
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KERASES = {2: "tf_keras", 3: "Keras 3"}


def _run(argv, keras_version, **kwargs):
    env = {**os.environ, "TFVAE_KERAS": str(keras_version), "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, **kwargs)
    if done.returncode:
        raise RuntimeError(f"{' '.join(map(str, argv))} under {KERASES[keras_version]} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def image_speed(keras_version, data_dir, epochs, scratch):
    """The benchmark's rows, by name: examples/s of tfvae and of the baseline, and the test -ELBO."""
    out = Path(scratch) / f"benchmark-{keras_version}.json"
    argv = [sys.executable, "scripts/benchmark.py", "--models", "mlp", "--epochs", str(epochs)]
    _run([*argv, "--data-dir", data_dir, "--out", str(out)], keras_version)
    rows = json.loads(out.read_text())["rows"]
    return {
        row["name"]: {k: row[k] for k in ("examples_per_second", "test_negative_elbo", "epoch_seconds")} for row in rows
    }


def text_speed(keras_version, ptb_dir, steps):
    """Tokens per second of the sentence VAE's default variant."""
    argv = [sys.executable, "scripts/text_throughput.py", "--variants", "default", "--steps", str(steps)]
    stdout = _run([*argv, "--data-dir", ptb_dir, "--label", f"keras{keras_version}"], keras_version)
    row = json.loads(next(line for line in stdout.splitlines() if line.startswith("{")))
    return {"tokens_per_second": row["tokens_per_second"]}


def main_job(keras_version, data_dir, scratch):
    """The README's main job: its test negative ELBO and wall-clock seconds."""
    out = Path(scratch) / f"mnist_mlp-{keras_version}"
    argv = ["tfvae", "train", "--data-dir", data_dir, "--epochs", "10", "--latent-dim", "16"]
    start = time.perf_counter()
    _run([*argv, "--likelihood", "bernoulli", "--arch", "mlp", "--out", str(out), "--verbose", "0"], keras_version)
    seconds = time.perf_counter() - start
    metrics = json.loads((out / "metrics.json").read_text())
    return {"seconds": seconds, "test_negative_elbo": metrics["test"]["negative_elbo"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    parser.add_argument("--ptb-dir", default=str(ROOT.parent / "shared" / "data" / "ptb"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4, help="benchmark epochs: 1 warm-up + the timed ones")
    parser.add_argument("--text-steps", type=int, default=40)
    parser.add_argument("--no-main-job", dest="main_job", action="store_false")
    args = parser.parse_args()

    rounds = []
    with tempfile.TemporaryDirectory() as scratch:
        for index in range(args.rounds):
            order = (2, 3) if index % 2 == 0 else (3, 2)
            round_ = {"order": list(order)}
            for version in order:
                round_[f"keras{version}"] = {
                    "image": image_speed(version, args.data_dir, args.epochs, scratch),
                    "text": text_speed(version, args.ptb_dir, args.text_steps),
                }
                print(json.dumps({"round": index, "keras": version, **round_[f"keras{version}"]}), flush=True)
            rounds.append(round_)
        jobs = {}
        if args.main_job:
            for version in (2, 3):
                jobs[f"keras{version}"] = main_job(version, args.data_dir, scratch)
                print(json.dumps({"main_job": version, **jobs[f"keras{version}"]}), flush=True)

    def median(version, *path):
        values = []
        for round_ in rounds:
            value = round_[f"keras{version}"]
            for key in path:
                value = value[key]
            values.append(value)
        return statistics.median(values)

    summary = {}
    for version in (2, 3):
        summary[f"keras{version}"] = {
            "tfvae_examples_per_second": median(version, "image", "tfvae", "examples_per_second"),
            "baseline_examples_per_second": median(version, "image", "baseline", "examples_per_second"),
            "benchmark_test_negative_elbo": median(version, "image", "tfvae", "test_negative_elbo"),
            "text_tokens_per_second": median(version, "text", "tokens_per_second"),
            **({"main_job": jobs[f"keras{version}"]} if jobs else {}),
        }
    result = {
        "date": datetime.date.today().isoformat(),
        "machine": {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()},
        "command": "python scripts/keras_parity.py " + " ".join(sys.argv[1:]),
        "summary": summary,
        "rounds": rounds,
    }
    path = ROOT / "scripts" / "results" / f"keras-parity-{result['date']}.json"
    path.write_text(json.dumps(result, indent=2))
    two, three = summary["keras2"], summary["keras3"]
    print(f"medians of {args.rounds} rounds | tf_keras | Keras 3 | Keras 3 / tf_keras |")
    print("|---|---:|---:|---:|")
    for key, label in [
        ("tfvae_examples_per_second", "tfvae in fit, examples/s"),
        ("baseline_examples_per_second", "tutorial baseline (tf_keras in both), examples/s"),
        ("text_tokens_per_second", "sentence VAE, tokens/s"),
        ("benchmark_test_negative_elbo", "benchmark test -ELBO (nats)"),
    ]:
        print(f"| {label} | {two[key]:.0f} | {three[key]:.0f} | {three[key] / two[key]:.2f} |")
    if jobs:
        for key, label in [("test_negative_elbo", "main job test -ELBO (nats)"), ("seconds", "main job seconds")]:
            a, b = two["main_job"][key], three["main_job"][key]
            print(f"| {label} | {a:.2f} | {b:.2f} | {b / a:.2f} |")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
