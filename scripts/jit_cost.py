"""What XLA costs and saves for tfvae's default MLP: the measurement behind ``training.JIT_MIN_STEPS``.

    python scripts/jit_cost.py --steps 300 --repeats 6

For ``jit_compile`` off and on, in one process: the wall time of the first ``fit``
call of 20 steps (tracing, and for XLA compiling), of the first ``evaluate``, and
the steady time per training step of 128 random binary images after that. The
settings alternate (``--repeats`` rounds, each in the other order than the last),
because whichever runs first in a process also pays its one-time start-up; the
medians are compared. The break-even is the extra first-call time divided by the
time XLA saves per step. Writes ``scripts/results/jit-cost-<date>.json``.
"""

import argparse
import datetime
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfvae import VAE  # noqa: E402
from tfvae.backend import keras  # noqa: E402


def measure(jit, steps, batch_size=128, steps_per_execution=20):
    """``{"first_fit_s", "first_evaluate_s", "ms_per_step"}`` for one setting of ``jit_compile``."""
    keras.utils.set_random_seed(0)
    images = (np.random.default_rng(0).random((batch_size * steps, 28, 28, 1)) < 0.3).astype("float32")
    data = tf.data.Dataset.from_tensor_slices(images).batch(batch_size).cache()
    model = VAE(data_shape=(28, 28, 1))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit, steps_per_execution=steps_per_execution)
    start = time.perf_counter()
    model.fit(data.take(steps_per_execution), epochs=1, verbose=0)
    first_fit = time.perf_counter() - start
    start = time.perf_counter()
    model.evaluate(data.take(2), verbose=0)
    first_evaluate = time.perf_counter() - start
    start = time.perf_counter()
    model.fit(data, epochs=1, verbose=0)
    return {
        "first_fit_s": round(first_fit, 3),
        "first_evaluate_s": round(first_evaluate, 3),
        "ms_per_step": round((time.perf_counter() - start) / steps * 1e3, 3),
    }


def main():
    """Measures both settings and writes the JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200, help="timed training steps per setting")
    parser.add_argument("--repeats", type=int, default=2, help="rounds of off/on, alternating the order")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    rounds = []
    for r in range(args.repeats):
        order = (False, True) if r % 2 else (True, False)
        rounds += [{"jit_compile": jit, **measure(jit, args.steps)} for jit in order]

    def median(jit):
        runs = [run for run in rounds if run["jit_compile"] is jit]
        keys = ("first_fit_s", "first_evaluate_s", "ms_per_step")
        return {key: round(statistics.median(run[key] for run in runs), 3) for key in keys}

    off, on = median(False), median(True)
    extra = (on["first_fit_s"] + on["first_evaluate_s"]) - (off["first_fit_s"] + off["first_evaluate_s"])
    saved = off["ms_per_step"] - on["ms_per_step"]
    report = {
        "date": datetime.date.today().isoformat(),
        "cpus": os.cpu_count(),
        "tensorflow": tf.__version__,
        "steps": args.steps,
        "rounds": rounds,
        "jit_off": off,
        "jit_on": on,
        "compile_extra_s": round(extra, 3),
        "saved_ms_per_step": round(saved, 3),
        "break_even_steps": round(extra / saved * 1e3) if saved > 0 else None,
    }
    out = Path(args.out or Path(__file__).parent / "results" / f"jit-cost-{report['date']}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
