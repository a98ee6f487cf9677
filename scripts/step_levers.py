"""What each compile-level lever does to tfvae's in-fit training step, on Keras 3 and on tf_keras (issue 38, item 3).

    python scripts/step_levers.py --data-dir ../shared/data/mnist

The README's network (MLP, latent 16, Bernoulli, batch 128, 429 steps an epoch of the 55,000 training images) in a
bare ``model.fit`` over ``training.model_inputs``'s repeating pipeline, as ``tfvae train`` compiles it (XLA, 20
steps per call, the CLI's optimizer), then with one lever changed at a time:

- ``spe1`` / ``spe429``: 1 or 429 (a whole epoch) steps per ``tf.function`` call instead of 20;
- ``nojit``: no XLA;
- ``nometrics``: ``call`` without the Mean updates of the ELBO's terms (only ``add_loss``);
- ``ownstep``: a ``train_step`` that computes the loss and applies the gradients itself, returning only the loss;
- ``plainadam``: ``Adam(1e-3)`` instead of the CLI's optimizer (its schedule and clipping);
- ``cached_input``: images binarised once and held in memory, instead of the per-batch dynamic binarisation;
- ``unroll4``: Keras 3's ``unrolled_steps_per_execution = 4`` (its loop unrolled by 4; tf_keras ignores it).

Each variant runs in a fresh process per Keras (``TFVAE_KERAS=2`` and ``3``), ``--epochs`` epochs; the number is the
median of the later epochs (the first one traces and compiles). The float32 matmul peak is measured in the same
processes, because this shared CPU's speed moves by 2x between days: the fraction of that peak is what compares
across days. Writes ``scripts/results/step-levers-<date>.json``.
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

VARIANTS = ("default", "spe1", "spe429", "nojit", "nometrics", "ownstep", "plainadam", "cached_input", "unroll4")


def measure(variant, data_dir, epochs):
    """One variant in this process: ``{"keras", "variant", "epoch_seconds", "examples_per_second", ...}``."""
    from tfvae import quiet

    quiet.import_tensorflow()
    from benchmark import epoch_timer, forward_flops, matmul_peak_gflops

    from tfvae.backend import KERAS_VERSION, keras, tf
    from tfvae.data import load_dataset, split_validation
    from tfvae.model import VAE
    from tfvae.optimization import make_optimizer
    from tfvae.runs import TrainSettings
    from tfvae.training import model_inputs

    settings = TrainSettings(epochs=epochs)
    mnist = load_dataset("mnist", data_dir)
    (train_x, _), _ = split_validation(mnist.train_images, mnist.train_labels, settings.validation_size)
    keras.utils.set_random_seed(0)
    steps = len(train_x) // settings.batch_size
    steps_per_execution = {"spe1": 1, "spe429": steps}.get(variant, settings.steps_per_execution)

    class WithoutMetrics(VAE):
        def call(self, inputs, training=None):
            x, condition = self._split_inputs(inputs)
            terms = self.elbo_terms(x, condition=condition)
            self.add_loss(tf.reduce_mean(self.objective.loss(terms)))
            return terms["elbo"]

    class OwnStep(VAE):
        def train_step(self, data):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(self.objective.loss(self.elbo_terms(data)))
            grads = tape.gradient(loss, self.trainable_variables)
            if KERAS_VERSION == 3:
                self.optimizer.apply(grads, self.trainable_variables)
            else:
                self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            return {"loss": loss}

    model_class = {"nometrics": WithoutMetrics, "ownstep": OwnStep}.get(variant, VAE)
    model = model_class(data_shape=(28, 28, 1), latent_dim=16, likelihood="bernoulli", architecture="mlp")
    optimizer = keras.optimizers.Adam(1e-3) if variant == "plainadam" else make_optimizer(settings, steps, epochs)
    model.compile(optimizer=optimizer, jit_compile=variant != "nojit", steps_per_execution=steps_per_execution)
    if variant.startswith("unroll"):
        model.unrolled_steps_per_execution = int(variant.removeprefix("unroll"))
    if variant == "cached_input":
        fixed = tf.cast(tf.random.uniform(train_x.shape, seed=0) < train_x / 255.0, tf.float32)
        data = tf.data.Dataset.from_tensor_slices(tf.reshape(fixed, (-1, 28, 28, 1)))
        data = data.batch(settings.batch_size, drop_remainder=True).repeat().prefetch(4)
    else:
        data = model_inputs(
            train_x, batch_size=settings.batch_size, binarize="dynamic", shuffle=True, drop_remainder=True
        ).repeat()
    timer = epoch_timer(keras)
    history = model.fit(data, epochs=epochs, steps_per_epoch=steps, callbacks=[timer], verbose=0)
    seconds = timer.seconds
    later = statistics.median(seconds[1:])
    flops = forward_flops(
        lambda x: model.decode(model.encode(x).sample(seed=(0, 0))).distribution.logits,
        tf.TensorSpec([settings.batch_size, 28, 28, 1]),
    )
    gflop_per_example = 3 * flops / settings.batch_size / 1e9  # forward + backward, as scripts/benchmark.py counts
    peak = matmul_peak_gflops()
    return {
        "keras": KERAS_VERSION,
        "variant": variant,
        "epoch_seconds": [round(s, 3) for s in seconds],
        "later_epoch_seconds": round(later, 3),
        "examples_per_second": round(steps * settings.batch_size / later),
        "train_step_gflop_per_example": gflop_per_example,
        "matmul_peak_gflops": round(peak, 1),
        "fraction_of_matmul_peak": round(steps * settings.batch_size / later * gflop_per_example / peak, 3),
        "last_loss": round(float(history.history["loss"][-1]), 2),
    }


def main():
    """Runs every variant under both Kerases (or one, with ``--one``) and writes the JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="../shared/data/mnist")
    parser.add_argument("--epochs", type=int, default=4, help="per variant; the first is not timed")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--kerases", nargs="+", default=["2", "3"], choices=["2", "3"])
    parser.add_argument("--one", choices=VARIANTS, help=argparse.SUPPRESS)  # the child process's variant
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.data_dir, args.epochs)))
        return
    rows = []
    for variant in args.variants:
        for keras_version in args.kerases:
            env = {**os.environ, "TFVAE_KERAS": keras_version, "TF_CPP_MIN_LOG_LEVEL": "2"}
            command = [sys.executable, __file__, "--one", variant, "--data-dir", args.data_dir]
            done = subprocess.run(
                [*command, "--epochs", str(args.epochs)], env=env, capture_output=True, text=True, check=True
            )
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            row = rows[-1]
            print(
                f"Keras {row['keras']} {variant:12s} {row['later_epoch_seconds']:6.2f} s/epoch "
                f"{row['examples_per_second']:6d} ex/s  {100 * row['fraction_of_matmul_peak']:5.1f} % of "
                f"{row['matmul_peak_gflops']:.0f} GFLOP/s  loss {row['last_loss']}",
                flush=True,
            )
    report = {
        "date": datetime.date.today().isoformat(),
        "command": " ".join(["python", "scripts/step_levers.py", *sys.argv[1:]]),
        "cpus": os.cpu_count(),
        "rows": rows,
    }
    out = Path(args.out or f"scripts/results/step-levers-{report['date']}.json")
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
