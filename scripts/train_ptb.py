"""Trains the runs of the PTB table (``configs/ptb/*.json``) a few at a time, each with its own threads.

    python scripts/train_ptb.py                      # all four, two at a time, one thread each
    python scripts/train_ptb.py --only lm bn_vae     # some of them
    python scripts/train_ptb.py --epochs 1           # a trial: each config's run, one epoch
    python scripts/train_ptb.py --epochs 1 --rnn-units 32 --embedding-dim 32   # a smaller trial

Flags this script does not know are passed to every run's ``tfvae train`` after the config, so they override it
(``tfvae train`` refuses one it does not know either; the run's log says which).

On a 2-core CPU the sentence VAE's training step is a chain of small LSTM
matmuls that two threads share poorly: one process with two threads trains
3,480 tokens/s, one with one thread 2,140 (``scripts/text_throughput.py``'s
child, batch 128), so two single-threaded runs side by side train about
1.2x the tokens of one run with both cores. Each run is ``tfvae train
--config FILE`` in its own process (log in ``runs/ptb/<name>.log``); it
resumes where it stopped when this script runs again, and a finished run is
left as it is.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORDER = ["bn_vae", "lm", "bowman", "cyclical"]  # the likeliest shipped model first


def main():
    """Runs the queue of configs with ``--workers`` processes at a time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=ORDER, help="config names under configs/ptb/")
    parser.add_argument("--workers", type=int, default=2, help="runs at a time")
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow threads per run")
    parser.add_argument(
        "--epochs", type=int, help="passed to every run's tfvae train (default: each config's own, then early stopping)"
    )
    args, passed = parser.parse_known_args()
    if passed and not passed[0].startswith("--"):
        parser.error(f"unrecognized arguments: {' '.join(passed)}")
    env = {**os.environ, "TF_NUM_INTRAOP_THREADS": str(args.threads), "TF_NUM_INTEROP_THREADS": str(args.threads)}
    (ROOT / "runs" / "ptb").mkdir(parents=True, exist_ok=True)
    queue, running, failed = list(args.only), [], []
    while queue or running:
        while queue and len(running) < args.workers:
            name = queue.pop(0)
            log = open(ROOT / "runs" / "ptb" / f"{name}.log", "a")
            config = ROOT / "configs" / "ptb" / f"{name}.json"
            command = [sys.executable, "-m", "tfvae", "train", "--config", str(config)]
            if args.epochs is not None:
                command += ["--epochs", str(args.epochs)]
            command += passed
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            running.append((name, process))
            print(f"{time.strftime('%H:%M:%S')} started {name}", flush=True)
        time.sleep(5)
        for name, process in list(running):
            if process.poll() is not None:
                running.remove((name, process))
                print(f"{time.strftime('%H:%M:%S')} {name} exited with {process.returncode}", flush=True)
                if process.returncode:
                    failed.append(name)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
