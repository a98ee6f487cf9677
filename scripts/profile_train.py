"""Where every second of `tfvae train` goes: a timeline of the README's main job, beside an in-fit epoch.

    python scripts/profile_train.py --data-dir ../shared/data/mnist --repeats 3
    python scripts/profile_train.py --data-dir ../shared/data/mnist --repeats 3 -- --image-every 0

Each repeat runs the CLI's own ``tfvae train`` (the README's main job: 10
epochs, MLP, latent 16, Bernoulli; extra flags after ``--``) in a fresh
Python process, so the wall time includes the interpreter, the imports and
the exit. Inside that process the script wraps, without changing them:

* the TensorFlow/TFP/Keras import, the data preparation (loading and
  binarisation), the model build up to ``fit``;
* in ``fit``: every epoch's training steps (the first call of the train
  function, which traces and XLA-compiles, is reported apart), its
  validation pass, each callback's hooks (image grids, checkpoint, backup,
  CSV, TensorBoard, ...) and whatever is left between one epoch's end and
  the next one's start (a stall);
* after ``fit``: the final evaluation (``evaluate_negative_elbo``) and the rest.

Then, in the parent process, it times tfvae's own in-fit epoch: the same model
and pipeline in a bare ``model.fit`` (no validation, no callbacks), which
is what ``scripts/benchmark.py`` times. Results (every repeat, medians and
spreads) go to ``scripts/results/profile-train-<date>.json`` and a summary to
stdout.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

START = time.perf_counter()
MAIN_JOB = ["--epochs", "10", "--latent-dim", "16", "--likelihood", "bernoulli", "--arch", "mlp"]


# --- the child: one instrumented `tfvae train` ---------------------------------------------------


def child(out_path, train_args):
    """Runs ``tfvae train train_args`` in this process and writes its timeline to ``out_path``."""
    marks = {"python_start_to_script": START}
    from tfvae import quiet

    quiet.import_tensorflow()
    import tfvae.training as training
    from tfvae.backend import keras
    from tfvae.cli import main as cli_main

    marks["imported"] = time.perf_counter()
    spans = {}  # name -> list of seconds

    def timed(name, function):
        def wrapper(*args, **kwargs):
            begin = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spans.setdefault(name, []).append(time.perf_counter() - begin)

        return wrapper

    training._prepare_images = timed("data", training._prepare_images)
    training.evaluate_negative_elbo = timed("final_evaluation", training.evaluate_negative_elbo)
    events = []  # (time, what, epoch)

    class Recorder(keras.callbacks.Callback):
        """First in the list: marks epoch and step boundaries."""

        def on_train_begin(self, logs=None):
            events.append((time.perf_counter(), "train_begin", -1))

        def on_epoch_begin(self, epoch, logs=None):
            events.append((time.perf_counter(), "epoch_begin", epoch))

        def on_train_batch_end(self, batch, logs=None):
            events.append((time.perf_counter(), "batch_end", self.epoch))

        def on_test_begin(self, logs=None):
            events.append((time.perf_counter(), "test_begin", self.epoch))

        def on_test_end(self, logs=None):
            events.append((time.perf_counter(), "test_end", self.epoch))

        def on_epoch_end(self, epoch, logs=None):
            self.epoch = epoch + 1
            events.append((time.perf_counter(), "epoch_end", epoch))

        epoch = 0

    class Closer(keras.callbacks.Callback):
        """Last in the list: marks when every callback has finished the epoch."""

        def on_epoch_end(self, epoch, logs=None):
            events.append((time.perf_counter(), "callbacks_done", epoch))

        def on_train_end(self, logs=None):
            events.append((time.perf_counter(), "train_end", -1))

    hooks = ("on_train_begin", "on_epoch_end", "on_train_end", "on_test_end", "on_epoch_begin")
    callback_seconds = {}  # "Class.hook" -> [seconds per call]

    def wrap_callback(callback):
        for hook in hooks:
            method = getattr(callback, hook)
            key = f"{type(callback).__name__}.{hook}"

            def wrapper(*args, _method=method, _key=key, **kwargs):
                begin = time.perf_counter()
                try:
                    return _method(*args, **kwargs)
                finally:
                    callback_seconds.setdefault(_key, []).append(time.perf_counter() - begin)

            setattr(callback, hook, wrapper)
        return callback

    original_fit = keras.Model.fit

    def fit(self, x=None, y=None, callbacks=None, **kwargs):
        marks["fit_start"] = time.perf_counter()
        recorder = Recorder()
        callbacks = [recorder, *(wrap_callback(c) for c in callbacks or []), Closer()]
        try:
            return original_fit(self, x, y, callbacks=callbacks, **kwargs)
        finally:
            marks["fit_end"] = time.perf_counter()

    keras.Model.fit = fit
    code = cli_main(["train", *train_args])
    marks["cli_done"] = time.perf_counter()
    Path(out_path).write_text(
        json.dumps({"code": code, "marks": marks, "spans": spans, "events": events, "callbacks": callback_seconds})
    )


def epochs_from(events):
    """Per-epoch phases from the recorder's events."""
    by_epoch = {}
    for t, what, epoch in events:
        by_epoch.setdefault(epoch, []).append((t, what))
    rows = []
    for epoch in sorted(e for e in by_epoch if e >= 0):
        marks = by_epoch[epoch]
        first = {what: t for t, what in reversed(marks)}
        last = {what: t for t, what in marks}
        batches = [t for t, what in marks if what == "batch_end"]
        begin = first["epoch_begin"]
        rows.append(
            {
                "epoch": epoch + 1,
                "first_call": batches[0] - begin,  # the first train-function call (trace + compile in epoch 1)
                "steps": batches[-1] - begin,
                "validation": last.get("test_end", batches[-1]) - first.get("test_begin", batches[-1]),
                "epoch_end_callbacks": last.get("callbacks_done", last["epoch_end"]) - last["epoch_end"],
                "end": last.get("callbacks_done", last["epoch_end"]),
                "begin": begin,
            }
        )
    for row, following in zip(rows, rows[1:]):
        row["gap_to_next"] = following["begin"] - row["end"]  # between epochs: a stall if large
    for row in rows:
        row["wall"] = row["end"] - row["begin"] + row.get("gap_to_next", 0.0)
        del row["begin"], row["end"]
    return rows


# --- the parent: repeats, the in-fit epoch, the summary ------------------------------------------


def in_fit_epochs(data_dir, epochs):
    """Seconds of tfvae's bare in-fit epochs (same model, pipeline and split as the CLI; no callbacks)."""
    from tfvae import quiet

    quiet.import_tensorflow()
    from tfvae.backend import keras
    from tfvae.data import load_dataset, split_validation
    from tfvae.model import VAE
    from tfvae.optimization import make_optimizer
    from tfvae.runs import TrainSettings
    from tfvae.training import model_inputs, use_jit

    settings = TrainSettings(epochs=epochs)
    mnist = load_dataset("mnist", data_dir)
    (train_x, _), _ = split_validation(mnist.train_images, mnist.train_labels, settings.validation_size)
    keras.utils.set_random_seed(0)
    model = VAE(data_shape=(28, 28, 1), latent_dim=16, likelihood="bernoulli", architecture="mlp")
    steps = len(train_x) // settings.batch_size  # the CLI's: full batches of a repeated pipeline
    model.compile(
        optimizer=make_optimizer(settings, steps, epochs),
        jit_compile=use_jit(settings, "mlp", steps * epochs),
        steps_per_execution=settings.steps_per_execution,
    )
    seconds = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.begin = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.begin)

    data = model_inputs(
        train_x, batch_size=settings.batch_size, binarize="dynamic", shuffle=True, drop_remainder=True
    ).repeat()
    model.fit(data, epochs=epochs, steps_per_epoch=steps, callbacks=[Timer()], verbose=0)
    return seconds


def spread(values):
    """Median, min and max."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarise(run):
    """The numbers the issue asks for, from one repeat."""
    marks, rows = run["marks"], epochs_from(run["events"])
    later = rows[1:]
    median_wall = statistics.median(r["wall"] for r in later)
    callbacks = {}
    for key, values in run["callbacks"].items():
        callbacks[key] = sum(values)
    return {
        "wall": run["wall"],
        "interpreter_and_import": marks["imported"] - marks["python_start_to_script"] + run["spawn_to_script"],
        "data": sum(run["spans"].get("data", [0.0])),
        "build_to_fit": marks["fit_start"] - marks["imported"] - sum(run["spans"].get("data", [0.0])),
        "fit": marks["fit_end"] - marks["fit_start"],
        "first_epoch_wall": rows[0]["wall"],
        "first_epoch_surplus": rows[0]["wall"] - median_wall,
        "first_call_epoch1": rows[0]["first_call"],
        "median_epoch_wall": median_wall,
        "median_epoch_steps": statistics.median(r["steps"] for r in later),
        "median_epoch_validation": statistics.median(r["validation"] for r in later),
        "median_epoch_callbacks": statistics.median(r["epoch_end_callbacks"] for r in later),
        "worst_later_epoch_over_median": max(r["wall"] for r in later) / median_wall - 1,
        "final_evaluation": sum(run["spans"].get("final_evaluation", [0.0])),
        "after_fit": marks["cli_done"] - marks["fit_end"],
        "exit": run["wall"] - (marks["cli_done"] - marks["python_start_to_script"]) - run["spawn_to_script"],
        "callback_seconds_total": callbacks,
        "epochs": rows,
    }


def main():
    if sys.argv[1:2] == ["--child"]:  # the rest is tfvae train's, untouched by this parser
        child(sys.argv[2], sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data/mnist")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--label", default="", help="a name for this row (e.g. 'before')")
    parser.add_argument("--in-fit-epochs", type=int, default=6, help="bare in-fit epochs to time (0: skip)")
    args, extra = parser.parse_known_args()
    extra = [a for a in extra if a != "--"]
    if "--epochs" in extra:
        parser.error("the profile is of the README's main job (10 epochs); --epochs is fixed")
    runs = []
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "timeline.json"
            train_args = [
                *MAIN_JOB,
                "--data-dir",
                args.data_dir,
                "--out",
                str(Path(tmp) / "run"),
                "--verbose",
                "0",
                *extra,
            ]
            begin = time.perf_counter()
            subprocess.run([sys.executable, __file__, "--child", str(out), *train_args], check=True)
            wall = time.perf_counter() - begin
            run = json.loads(out.read_text())
            run["wall"] = wall
            # The child's clock is the same monotonic clock (perf_counter is system-wide on Linux).
            run["spawn_to_script"] = run["marks"]["python_start_to_script"] - begin
            summary = summarise(run)
            metrics = json.loads((Path(tmp) / "run" / "metrics.json").read_text())
            summary["test_negative_elbo"] = metrics["test"]["negative_elbo"]
            runs.append(summary)
            print(f"repeat {repeat + 1}: {wall:.1f} s wall, test -ELBO {summary['test_negative_elbo']:.2f}", flush=True)
    in_fit = in_fit_epochs(args.data_dir, args.in_fit_epochs) if args.in_fit_epochs else []
    keys = [k for k in runs[0] if isinstance(runs[0][k], float)]
    result = {
        "date": datetime.date.today().isoformat(),
        "label": args.label,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "command": "tfvae train " + " ".join(MAIN_JOB + ["--data-dir", args.data_dir, *extra]),
        "summary": {k: spread([r[k] for r in runs]) for k in keys},
        "in_fit_epoch_seconds": in_fit,
        "in_fit_epoch_median": statistics.median(in_fit[1:]) if len(in_fit) > 1 else None,
        "repeats": runs,
    }
    if result["in_fit_epoch_median"]:
        result["cli_epoch_over_in_fit"] = (
            result["summary"]["median_epoch_wall"]["median"] / result["in_fit_epoch_median"] - 1
        )
    name = f"profile-train-{result['date']}{'-' + args.label if args.label else ''}.json"
    path = Path(__file__).parent / "results" / name
    path.write_text(json.dumps(result, indent=2))
    print(f"{'phase':32s} {'median':>8s} {'min':>8s} {'max':>8s}")
    for key in keys:
        s = result["summary"][key]
        print(f"{key:32s} {s['median']:8.2f} {s['min']:8.2f} {s['max']:8.2f}")
    if in_fit:
        print(
            f"in-fit epoch (median of {len(in_fit) - 1} after the first): {result['in_fit_epoch_median']:.2f} s; "
            f"CLI epoch over it: {100 * result['cli_epoch_over_in_fit']:+.1f} %"
        )
    print(f"written to {path}")


if __name__ == "__main__":
    main()
