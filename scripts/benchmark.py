"""Training speed and quality: tfvae's defaults against a plain TFP-tutorial baseline, in one run.

    python scripts/benchmark.py --data-dir ../shared/data/mnist            # MLP and conv
    python scripts/benchmark.py --models mlp --levers                       # + one row per speed lever
    python scripts/benchmark.py --validation-cost 10 --limit 10000          # input checks on vs off

For each architecture (the reference MLP 784-512-256-16 and the small conv
net, Bernoulli likelihood, batch 128, dynamically binarised MNIST) it trains

* ``baseline``: written as the TFP tutorial does it: a functional tf_keras
  model of ``tfp.layers`` heads (``IndependentNormal``,
  ``IndependentBernoulli``), the KL as ``KLDivergenceAddLoss`` (whose loss,
  measured here, is already the batch mean: weight 1 is the per-example
  scaling, checked after training), ``loss=-log p(x|z)``, default
  ``compile``, and a per-example ``tf.data`` map for the binarisation;
* ``tfvae``: ``tfvae.VAE`` with ``tfvae.training`` defaults;

and reports examples/second (median of the timed epochs after one warm-up
epoch), seconds/epoch, the test negative ELBO after the same epochs, the
FLOPs of one training step (forward + backward ~ 3x the forward FLOPs that
TF's profiler counts) and the fraction of this machine's measured float32
matmul peak that the step reaches. Results go to
``scripts/results/benchmark-<date>.json`` and a markdown table to stdout.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tf_keras as tutorial_keras  # noqa: E402 - the baseline is the TFP tutorial, on tf_keras

from tfvae.backend import KERAS_PACKAGE, keras, tf, tfd, tfpl  # noqa: E402
from tfvae.data import TEST_BINARIZATION_SEED, binarize_fixed, load_dataset, make_pipeline  # noqa: E402
from tfvae.model import VAE  # noqa: E402
from tfvae.runs import TrainSettings  # noqa: E402
from tfvae.training import use_jit  # noqa: E402

BATCH = 128
LATENT = 16


def epoch_timer(package=keras):
    """A callback of ``package`` (a Keras module) recording the wall-clock seconds of every epoch."""

    class EpochTimer(package.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.start)

    return EpochTimer()


def matmul_peak_gflops(size=2048, repeats=20):
    """Measured float32 matmul throughput of this machine (best of a few timed runs)."""
    a = tf.random.normal([size, size])
    b = tf.random.normal([size, size])
    matmul = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    matmul()
    best = 0.0
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeats):
            matmul().numpy()
        best = max(best, 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9)
    return best


def forward_flops(function, *specs):
    """Floating-point operations of one call of ``function``, as TF's profiler counts them."""
    from tensorflow.python.profiler import model_analyzer, option_builder

    graph = tf.function(function).get_concrete_function(*specs).graph
    options = option_builder.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return model_analyzer.profile(graph, options=options).total_float_ops


# --- the baseline: the TFP tutorial's way -----------------------------------


def baseline_model(architecture):
    """Encoder/decoder Sequentials of tfp.layers heads in one functional model, in tf_keras (the TFP
    tutorial's Keras, which ``tfp.layers`` need) whichever Keras tfvae runs on."""
    prior = tfd.Independent(tfd.Normal(loc=tf.zeros(LATENT), scale=1.0), reinterpreted_batch_ndims=1)
    layers = tutorial_keras.layers
    if architecture == "mlp":
        encoder_trunk = [layers.Flatten(), layers.Dense(512, "relu"), layers.Dense(256, "relu")]
        decoder_trunk = [layers.Dense(256, "relu"), layers.Dense(512, "relu"), layers.Dense(784)]
    else:
        encoder_trunk = [
            layers.Conv2D(32, 3, 2, "same", activation="relu"),
            layers.Conv2D(64, 3, 2, "same", activation="relu"),
            layers.Flatten(),
        ]
        decoder_trunk = [
            layers.Dense(7 * 7 * 64, "relu"),
            layers.Reshape((7, 7, 64)),
            layers.Conv2DTranspose(64, 3, 2, "same", activation="relu"),
            layers.Conv2DTranspose(32, 3, 2, "same", activation="relu"),
            layers.Conv2D(1, 3, padding="same"),
            layers.Flatten(),
        ]
    encoder = tutorial_keras.Sequential(
        [
            layers.InputLayer(input_shape=(28, 28, 1)),
            *encoder_trunk,
            layers.Dense(tfpl.IndependentNormal.params_size(LATENT)),
            tfpl.IndependentNormal(LATENT),
            # Measured with TFP 0.25 / tf_keras 2.21: this layer's loss is already the
            # batch mean of the (one-sample) KL, so weight 1 is the per-example
            # scaling; check_baseline_kl() verifies it.
            tfpl.KLDivergenceAddLoss(prior, weight=1.0),
        ]
    )
    decoder = tutorial_keras.Sequential(
        [
            layers.InputLayer(input_shape=(LATENT,)),
            *decoder_trunk,
            tfpl.IndependentBernoulli((28, 28, 1), tfd.Bernoulli.logits),
        ]
    )
    model = tutorial_keras.Model(inputs=encoder.inputs, outputs=decoder(encoder.outputs[0]))
    model.compile(optimizer=tutorial_keras.optimizers.Adam(1e-3), loss=lambda x, rv_x: -rv_x.log_prob(x))
    return model


def check_baseline_kl(model, x):
    """Asserts that the baseline adds the per-example mean KL (not a sum, not a fraction)."""
    model(x)
    added = float(tf.add_n(model.losses))
    h = x
    for layer in model.layers[1:]:
        if isinstance(layer, tfpl.KLDivergenceAddLoss):
            break
        h = layer(h)
    prior = tfd.Independent(tfd.Normal(tf.zeros(LATENT), 1.0), reinterpreted_batch_ndims=1)
    exact = float(tf.reduce_mean(tfd.kl_divergence(h, prior)))
    # One-sample Monte Carlo KL vs the closed form: equal within sampling noise.
    assert abs(added - exact) < 0.2 * exact + 1.0, (added, exact)


def baseline_pipeline(images, seed=0):
    """Per-example shuffling, binarisation and batching, as in the tutorial."""

    def binarize(image):
        x = tf.cast(image, tf.float32) / 255.0
        x = tf.cast(tf.random.uniform(tf.shape(x)) < x, tf.float32)
        return x, x

    return (
        tf.data.Dataset.from_tensor_slices(images)
        .shuffle(len(images), seed=seed)
        .map(binarize)
        .batch(BATCH, drop_remainder=True)
        .prefetch(1)
    )


# --- runs ---------------------------------------------------------------------


def run(name, architecture, train_images, test_x, epochs, settings=None):
    """Trains one configuration; returns its row of the table."""
    keras.utils.set_random_seed(0)
    tutorial_keras.utils.set_random_seed(0)
    timer = epoch_timer(tutorial_keras if name == "baseline" else keras)
    if name == "baseline":
        model = baseline_model(architecture)
        model.fit(baseline_pipeline(train_images), epochs=epochs, callbacks=[timer], verbose=0)
        check_baseline_kl(model, test_x[:500])
        test_loss = model.evaluate(test_x, test_x, batch_size=500, verbose=0)
        steps = len(train_images) // BATCH
        flops = forward_flops(lambda x: model(x).distribution.logits, tf.TensorSpec([BATCH, 28, 28, 1]))
    else:
        settings = settings or TrainSettings()
        batch = settings.batch_size
        model = VAE(latent_dim=LATENT, architecture=architecture)
        model.compile(
            optimizer=keras.optimizers.Adam(settings.learning_rate),
            jit_compile=use_jit(settings, architecture),
            steps_per_execution=settings.steps_per_execution,
        )
        data = make_pipeline(train_images, batch, binarize="dynamic", seed=0)
        model.fit(data, epochs=epochs, callbacks=[timer], verbose=0)
        test_loss = model.evaluate(test_x, batch_size=500, verbose=0, return_dict=True)["loss"]
        steps = -(-len(train_images) // batch)
        flops = forward_flops(
            lambda x: model.decode(model.encode(x).sample(seed=(0, 0))).distribution.logits,
            tf.TensorSpec([BATCH, 28, 28, 1]),
        )
    timed = timer.seconds[1:]
    seconds = statistics.median(timed)
    examples = steps * (BATCH if name == "baseline" else settings.batch_size)
    return {
        "name": name,
        "architecture": architecture,
        "examples_per_second": examples / seconds,
        "seconds_per_epoch": seconds,
        "epoch_seconds": timer.seconds,
        "test_negative_elbo": float(test_loss),
        "epochs": epochs,
        "train_step_gflop_per_example": 3 * flops / BATCH / 1e9,
        "settings": None if settings is None else settings.__dict__,
    }


def lever_settings():
    """Settings that each change one speed lever from the defaults."""
    return {
        "tfvae, no lever (jit off, 1 step/call)": TrainSettings(jit_compile=False, steps_per_execution=1),
        "tfvae, XLA only": TrainSettings(jit_compile=True, steps_per_execution=1),
        "tfvae, 20 steps/call only": TrainSettings(jit_compile=False, steps_per_execution=20),
        "tfvae, XLA on both nets": TrainSettings(jit_compile=True),
        "tfvae, batch 512 + lr 2e-3": TrainSettings(batch_size=512, learning_rate=2e-3),
    }


def validation_cost(architecture, train_images, rounds, settings=None):
    """Training speed with ``validate_inputs`` on and off, in one process, epochs interleaved.

    Two identical models train one epoch at a time, in the order on, off,
    off, on, ... (so drift of a shared machine hits both alike), after one
    warm-up epoch each. Returns each model's median examples/second over
    the epochs themselves (timed by a callback) and the cost
    ``1 - on / off``, both from the medians and as the median of the
    per-round ratios; ``fit``'s own set-up time, once per call, is reported
    apart.
    """
    settings = settings or TrainSettings()
    data = make_pipeline(train_images, settings.batch_size, binarize="dynamic", seed=0)
    examples = len(train_images)
    models, seconds = {}, {True: [], False: []}
    for flag in (True, False):
        keras.utils.set_random_seed(0)
        models[flag] = VAE(latent_dim=LATENT, architecture=architecture, validate_inputs=flag)
        models[flag].compile(
            optimizer=keras.optimizers.Adam(settings.learning_rate),
            jit_compile=use_jit(settings, architecture),
            steps_per_execution=settings.steps_per_execution,
        )
        models[flag].fit(data, epochs=1, verbose=0)  # warm-up: tracing and compilation
    overhead = {True: [], False: []}
    for i in range(rounds):
        for flag in (True, False) if i % 2 == 0 else (False, True):
            timer = epoch_timer()
            start = time.perf_counter()
            models[flag].fit(data, epochs=1, verbose=0, callbacks=[timer])
            seconds[flag].append(timer.seconds[0])  # the epoch itself
            overhead[flag].append(time.perf_counter() - start - timer.seconds[0])  # fit's set-up, once per call
    on, off = (examples / statistics.median(seconds[flag]) for flag in (True, False))
    paired = statistics.median(b / a for a, b in zip(seconds[True], seconds[False]))
    check = check_seconds(next(iter(data)))
    step = statistics.median(seconds[False]) / -(-examples // settings.batch_size)
    return {
        "architecture": architecture,
        "jit_compile": use_jit(settings, architecture),
        "examples_per_epoch": examples,
        "examples_per_second_validated": on,
        "examples_per_second_unvalidated": off,
        "cost": 1 - on / off,
        "cost_paired_median": 1 - paired,
        "epoch_seconds_validated": seconds[True],
        "epoch_seconds_unvalidated": seconds[False],
        # Once per fit call (the pipeline check's map is built there under XLA), not per epoch.
        "fit_setup_seconds_validated": statistics.median(overhead[True]),
        "fit_setup_seconds_unvalidated": statistics.median(overhead[False]),
        # The check alone, on one batch, against the unvalidated step: an upper bound of the cost that
        # does not drown in the noise of a shared machine (the check is ~nothing when it overlaps).
        "check_seconds_per_batch": check,
        "step_seconds_unvalidated": step,
        "cost_bound": check / step,
    }


def check_seconds(batch, calls=500, repeats=9):
    """Seconds per call of the value check of one batch (``tfvae.validation.check_values``), net of a bare call.

    Both functions sum their output (so neither is a no-op); the two are timed
    alternately and the median of the per-repeat differences is returned.
    """
    from tfvae.validation import check_values

    checked = tf.function(lambda x: tf.reduce_sum(check_values(x, (0.0, 1.0), "x")))
    bare = tf.function(lambda x: tf.reduce_sum(tf.identity(x)))
    differences = []
    for function in (checked, bare):
        function(batch)
    for _ in range(repeats):
        seconds = []
        for function in (checked, bare):
            start = time.perf_counter()
            for _ in range(calls):
                function(batch)
            seconds.append((time.perf_counter() - start) / calls)
        differences.append(seconds[0] - seconds[1])
    return statistics.median(differences)


def main():
    """Runs the benchmark and writes its JSON and table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="../shared/data/mnist")
    parser.add_argument("--epochs", type=int, default=4, help="1 warm-up epoch + the timed ones")
    parser.add_argument("--models", nargs="+", default=["mlp", "conv"], choices=["mlp", "conv"])
    parser.add_argument("--levers", action="store_true", help="also time each speed lever alone")
    parser.add_argument("--limit", type=int, default=None, help="use only N training images (smoke runs)")
    parser.add_argument("--out", default=None)
    parser.add_argument(
        "--validation-cost",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="instead: time input validation on vs off, ROUNDS interleaved epochs each "
        "(writes scripts/results/validation-cost-<date>.json)",
    )
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be >= 2 (one warm-up epoch)")

    data = load_dataset("mnist", args.data_dir)
    train_images = data.train_images[: args.limit]
    if args.validation_cost:
        rows = []
        for architecture in args.models:
            rows.append(validation_cost(architecture, train_images, args.validation_cost))
            print(
                json.dumps(
                    {
                        k: rows[-1][k]
                        for k in (
                            "architecture",
                            "examples_per_second_validated",
                            "examples_per_second_unvalidated",
                            "cost",
                            "cost_paired_median",
                        )
                    }
                ),
                flush=True,
            )
        result = {
            "date": datetime.date.today().isoformat(),
            "machine": {
                "processor": platform.processor() or platform.machine(),
                "cpus": os.cpu_count(),
                "tensorflow": tf.__version__,
            },
            "command": "python scripts/benchmark.py " + " ".join(os.sys.argv[1:]),
            "rows": rows,
        }
        out = Path(args.out or Path(__file__).parent / "results" / f"validation-cost-{result['date']}.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
        print(
            "| model | XLA | examples/s validated | examples/s not | cost (medians) | cost (paired) | "
            "check / batch | step / batch | bound |"
        )
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            print(
                f"| {r['architecture']} | {r['jit_compile']} | {r['examples_per_second_validated']:.0f} | "
                f"{r['examples_per_second_unvalidated']:.0f} | {100 * r['cost']:.1f} % | "
                f"{100 * r['cost_paired_median']:.1f} % | {1e6 * r['check_seconds_per_batch']:.0f} us | "
                f"{1e3 * r['step_seconds_unvalidated']:.1f} ms | {100 * r['cost_bound']:.1f} % |"
            )
        print(f"wrote {out}")
        return
    test_x = binarize_fixed(data.test_images, TEST_BINARIZATION_SEED)
    peak = matmul_peak_gflops()
    rows = []
    for architecture in args.models:
        configs = {"baseline": None, "tfvae": TrainSettings()}
        if args.levers:
            configs.update(lever_settings())
        for name, settings in configs.items():
            row = run(name, architecture, train_images, test_x, args.epochs, settings)
            row["fraction_of_matmul_peak"] = row["examples_per_second"] * row["train_step_gflop_per_example"] / peak
            rows.append(row)
            print(
                json.dumps({k: row[k] for k in ("name", "architecture", "examples_per_second", "test_negative_elbo")}),
                flush=True,
            )
    result = {
        "date": datetime.date.today().isoformat(),
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "tensorflow": tf.__version__,
            "tfvae_keras": f"{KERAS_PACKAGE} {keras.__version__}",
            "matmul_peak_gflops": peak,
        },
        "command": "python scripts/benchmark.py " + " ".join(os.sys.argv[1:]),
        "rows": rows,
    }
    out = Path(args.out or Path(__file__).parent / "results" / f"benchmark-{result['date']}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(markdown_table(result))
    print(f"wrote {out}")


def markdown_table(result):
    """The rows as a markdown table, with each tfvae row's speed-up over its baseline."""
    baselines = {r["architecture"]: r["examples_per_second"] for r in result["rows"] if r["name"] == "baseline"}
    lines = [
        f"float32 matmul peak: {result['machine']['matmul_peak_gflops']:.0f} GFLOP/s "
        f"({result['machine']['cpus']} CPUs, TF {result['machine']['tensorflow']})",
        "",
        "| model | run | examples/s | s/epoch | speed-up | test -ELBO (nats) | GFLOP/example | % of peak |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['architecture']} | {r['name']} | {r['examples_per_second']:.0f} | {r['seconds_per_epoch']:.2f} | "
            f"{r['examples_per_second'] / baselines[r['architecture']]:.2f}x | {r['test_negative_elbo']:.2f} | "
            f"{r['train_step_gflop_per_example']:.4f} | {100 * r['fraction_of_matmul_peak']:.1f} |"
        )
    lines.append(
        f"\n{result['rows'][0]['epochs']} epochs each (1 warm-up + {result['rows'][0]['epochs'] - 1} timed), "
        f"batch {BATCH}, Adam 1e-3 unless the run says otherwise."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
