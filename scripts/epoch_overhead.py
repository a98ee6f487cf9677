"""What `tfvae train` adds to each epoch beyond its training steps, measured.

    python scripts/epoch_overhead.py --data-dir ../shared/data/mnist --epochs 8

Runs the CLI's own ``tfvae train`` (the default MLP with every per-epoch job:
validation pass, CSV and TensorBoard scalars, TensorBoard image grids, best
checkpoint, BackupAndRestore) with a timer callback that splits each epoch
into its training steps, its validation pass and the rest (the callbacks'
``on_epoch_end`` work and Keras's own bookkeeping). In the same process it
then runs a bare ``model.fit`` of the same model on the same pipeline, without
validation or callbacks: the in-``fit`` training time the CLI is compared
with. The first epoch (tracing and XLA compilation) is left out of the
medians. Writes ``scripts/results/epoch-overhead-<date>.json``.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tfvae.training  # noqa: E402
from tfvae.backend import keras, tf  # noqa: E402
from tfvae.cli import main as cli_main  # noqa: E402
from tfvae.model import VAE  # noqa: E402
from tfvae.optimization import make_optimizer  # noqa: E402
from tfvae.runs import TrainSettings  # noqa: E402
from tfvae.training import _prepare_images as prepare_images  # noqa: E402  (the CLI's own pipeline)
from tfvae.training import use_jit  # noqa: E402


class PhaseTimer(keras.callbacks.Callback):
    """Per epoch: wall-clock seconds of the whole epoch, of its training steps and of its validation pass."""

    def on_train_begin(self, logs=None):
        self.begins, self.steps, self.validation = [], [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.begins.append(time.perf_counter())
        self.validation_seconds = 0.0

    def on_train_batch_end(self, batch, logs=None):
        self.last_step = time.perf_counter()

    def on_test_begin(self, logs=None):
        self.test_start = time.perf_counter()

    def on_test_end(self, logs=None):
        self.validation_seconds = time.perf_counter() - self.test_start

    def on_epoch_end(self, epoch, logs=None):
        self.steps.append(self.last_step - self.begins[-1])
        self.validation.append(self.validation_seconds)

    def on_train_end(self, logs=None):
        self.begins.append(time.perf_counter())  # closes the last epoch

    def epochs(self):
        """``[{"wall", "steps", "validation", "rest"}]``, one dict per epoch."""
        walls = [b - a for a, b in zip(self.begins, self.begins[1:])]
        return [{"wall": w, "steps": s, "validation": v, "rest": w - s - v}
                for w, s, v in zip(walls, self.steps, self.validation)]


def cli_run(data_dir, epochs, out, flags=()):
    """``tfvae train`` (its defaults, or ``flags``), timed by a ``PhaseTimer`` added to its callbacks."""
    timer = PhaseTimer()
    original = tfvae.training.train

    def timed(*args, **kwargs):
        kwargs["extra_callbacks"] = (*kwargs.get("extra_callbacks", ()), timer)
        return original(*args, **kwargs)

    tfvae.training.train = timed  # the CLI imports train when it runs, so it gets this one
    try:
        status = cli_main(["train", "--data-dir", str(data_dir), "--epochs", str(epochs), "--out", str(out),
                           "--verbose", "2", *flags])
    finally:
        tfvae.training.train = original
    if status != 0:
        raise SystemExit(f"tfvae train failed with exit status {status}")
    return timer.epochs(), json.loads((Path(out) / "config.json").read_text())


def bare_fit(config):
    """The CLI run's model, optimizer and training pipeline in a bare ``model.fit``: no validation, no callbacks."""
    settings = TrainSettings(**config["train"])
    data = prepare_images(settings, None, config["model"], settings.batch_size)
    keras.utils.set_random_seed(settings.seed)
    model = VAE.from_config(config["model"])
    model.compile(optimizer=make_optimizer(settings, data.steps_per_epoch, settings.epochs),
                  jit_compile=use_jit(settings, model.architecture), steps_per_execution=settings.steps_per_execution)
    timer = PhaseTimer()
    model.fit(data.train_data, epochs=settings.epochs, steps_per_epoch=data.fit_steps_per_epoch, callbacks=[timer],
              verbose=0)
    return timer.epochs(), data.steps_per_epoch * settings.batch_size


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="../shared/data/mnist")
    parser.add_argument("--epochs", type=int, default=8, help="the first one (tracing) is not counted")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first epoch is left out)")

    with tempfile.TemporaryDirectory() as directory:
        cli_epochs, config = cli_run(args.data_dir, args.epochs, Path(directory) / "run")
    bare_epochs, examples = bare_fit(config)

    def median(rows, key):
        return statistics.median(row[key] for row in rows[1:])

    cli_wall, cli_steps = median(cli_epochs, "wall"), median(cli_epochs, "steps")
    bare_wall = median(bare_epochs, "wall")
    result = {
        "date": datetime.date.today().isoformat(),
        "machine": {"processor": platform.machine(), "cpus": os.cpu_count(), "tensorflow": tf.__version__},
        "command": f"python scripts/epoch_overhead.py --data-dir {args.data_dir} --epochs {args.epochs}",
        "examples_per_epoch": examples,
        "cli": {"epochs": cli_epochs, "median_wall": cli_wall, "median_steps": cli_steps,
                "median_validation": median(cli_epochs, "validation"), "median_rest": median(cli_epochs, "rest")},
        "bare_fit": {"epochs": bare_epochs, "median_wall": bare_wall},
        "overhead_vs_own_steps": cli_wall / cli_steps - 1,
        "overhead_vs_bare_fit": cli_wall / bare_wall - 1,
        "cli_examples_per_second": examples / cli_wall,
        "bare_fit_examples_per_second": examples / bare_wall,
    }
    out = Path(args.out or Path(__file__).parent / "results" / f"epoch-overhead-{result['date']}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"tfvae train, median epoch: {cli_wall:.2f} s = steps {cli_steps:.2f} + validation "
          f"{result['cli']['median_validation']:.2f} + the rest {result['cli']['median_rest']:.2f}")
    print(f"bare model.fit, median epoch: {bare_wall:.2f} s ({examples / bare_wall:.0f} examples/s)")
    print(f"overhead: {100 * result['overhead_vs_bare_fit']:+.1f} % vs bare fit, "
          f"{100 * result['overhead_vs_own_steps']:+.1f} % vs its own steps; written to {out}")


if __name__ == "__main__":
    main()
