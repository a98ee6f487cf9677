"""The ``tfvae`` command line: ``tfvae train|evaluate|sample|plot|export``.

Every command prints one ``tfvae: error: ...`` line and exits with status 2
on bad flags or missing data, instead of a traceback.
"""

import argparse
import json
import os
import sys
from pathlib import Path


def _likelihood_scale(text):
    """``--likelihood-scale``: a positive number, ``global`` or ``pixel``."""
    if text in ("global", "pixel"):
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, 'global' or 'pixel', got {text!r}")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"a fixed scale must be positive, got {text}")
    return value


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def _add_train(subparsers):
    p = subparsers.add_parser("train", help="train a VAE and write a run directory",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", required=True, help="run directory (re-running the command resumes it)")
    p.add_argument("--dataset", default="mnist", help="dataset name (mnist, fashion_mnist, or any TFDS image dataset)")
    p.add_argument("--data-dir", default=None,
                   help="directory of MNIST-format IDX files; default $TFVAE_DATA_DIR, then TFDS")
    p.add_argument("--epochs", type=_positive_int, default=10, help="training epochs")
    p.add_argument("--batch-size", type=_positive_int, default=128, help="examples per batch and device")
    p.add_argument("--learning-rate", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--validation-size", type=int, default=5000,
                   help="training examples held out for validation and best-checkpoint selection")
    p.add_argument("--binarize", choices=["dynamic", "fixed", "none"], default="dynamic",
                   help="training binarisation (test data is binarised once, seed 0, unless 'none')")
    p.add_argument("--seed", type=int, default=0, help="seed of data order, binarisation and initial weights")
    p.add_argument("--latent-dim", type=_positive_int, default=16, help="latent dimensions")
    p.add_argument("--arch", choices=["mlp", "conv"], default="mlp", help="encoder/decoder architecture")
    p.add_argument("--hidden-units", type=_positive_int, nargs="+", default=[512, 256],
                   help="MLP encoder widths (decoder mirrors them)")
    p.add_argument("--filters", type=_positive_int, nargs="+", default=[32, 64],
                   help="conv encoder filters (decoder mirrors them)")
    p.add_argument("--activation", default="relu", help="hidden activation (any Keras name)")
    p.add_argument("--posterior", choices=["diagonal", "full"], default="diagonal", help="q(z|x) covariance")
    p.add_argument("--likelihood", default="bernoulli",
                   choices=["bernoulli", "normal", "continuous_bernoulli", "discretized_logistic"],
                   help="p(x|z); use --binarize none for the last two (grey/8-bit images)")
    p.add_argument("--likelihood-scale", type=_likelihood_scale, default=1.0,
                   help="Normal likelihood sigma: a number, 'global' or 'pixel' (learned)")
    p.add_argument("--prior", choices=["normal", "mixture", "vamp"], default="normal",
                   help="p(z): standard Normal, learned Gaussian mixture, or VampPrior")
    p.add_argument("--prior-components", type=_positive_int, default=None,
                   help="mixture components / VampPrior pseudo-inputs (default 10 / 500)")
    p.add_argument("--objective", choices=["elbo", "iwae", "free_bits"], default="elbo",
                   help="training objective (the true ELBO is always logged as 'elbo')")
    p.add_argument("--num-samples", type=_positive_int, default=1,
                   help="latent samples per example in training (K of the IWAE objective)")
    p.add_argument("--free-bits", type=float, default=0.5, help="KL floor per latent dimension (nats), free_bits only")
    p.add_argument("--beta", type=float, default=1.0, help="weight of the KL term")
    p.add_argument("--kl-warmup-steps", type=int, default=0, help="linear KL warm-up from 0 to beta over N steps")
    p.add_argument("--kl-cycle-steps", type=int, default=0, help="cyclical KL annealing with period N steps")
    p.add_argument("--conditional", action="store_true",
                   help="conditional VAE: encoder and decoder also see the one-hot label")
    p.add_argument("--kl-estimate", choices=["auto", "analytic", "sample"], default="auto",
                   help="closed-form or Monte Carlo KL")
    p.add_argument("--strategy", choices=["default", "mirrored", "multiworker"], default="default",
                   help="tf.distribute strategy (multiworker reads TF_CONFIG)")
    p.add_argument("--jit-compile", choices=["auto", "on", "off"], default="auto",
                   help="compile the training step with XLA (auto: on for mlp, off for conv, as measured)")
    p.add_argument("--steps-per-execution", type=_positive_int, default=20, help="batches per tf.function call")
    p.add_argument("--no-backup", action="store_true", help="do not keep BackupAndRestore state for resuming")
    p.add_argument("--mixed-precision", action="store_true",
                   help="mixed_float16 compute (for GPUs); variables, distributions and loss stay float32")
    p.add_argument("--deterministic", action="store_true", help="enable TF op determinism (bit-identical reruns)")
    p.add_argument("--verbose", type=int, choices=[0, 1, 2], default=1, help="Keras progress output")
    p.set_defaults(run=_run_train)


def _run_train(args):
    from tfvae.training import TrainSettings, train

    model_config = {
        "latent_dim": args.latent_dim,
        "architecture": args.arch,
        "hidden_units": args.hidden_units,
        "filters": args.filters,
        "activation": args.activation,
        "posterior": args.posterior,
        "likelihood": args.likelihood,
        "likelihood_scale": args.likelihood_scale,
        "beta": args.beta,
        "kl_estimate": args.kl_estimate,
        "prior": args.prior,
        "prior_components": args.prior_components,
        "objective": args.objective,
        "num_samples": args.num_samples,
        "free_bits": args.free_bits,
    }
    settings = TrainSettings(
        dataset=args.dataset, data_dir=args.data_dir, epochs=args.epochs, batch_size=args.batch_size,
        learning_rate=args.learning_rate, validation_size=args.validation_size, binarize=args.binarize,
        seed=args.seed, strategy=args.strategy, jit_compile={"auto": None, "on": True, "off": False}[args.jit_compile],
        steps_per_execution=args.steps_per_execution, backup=not args.no_backup,
        conditional=args.conditional, kl_warmup_steps=args.kl_warmup_steps, kl_cycle_steps=args.kl_cycle_steps,
        mixed_precision=args.mixed_precision, deterministic=args.deterministic,
    )
    _, metrics = train(args.out, model_config, settings, verbose=args.verbose)
    print(json.dumps({"test": metrics["test"], "train": metrics["train"]}, indent=2))
    print(f"test negative ELBO: {metrics['test']['loss']:.2f} nats; run directory: {args.out}")


def _load_split(run_dir, split, data_dir, limit=None):
    """The (images, labels) of ``split``, prepared as at evaluation time for the run's model."""
    from tfvae.data import load_dataset
    from tfvae.training import evaluation_images, load_run_settings, split_validation

    settings = load_run_settings(run_dir)
    data = load_dataset(settings.dataset, data_dir or settings.data_dir)
    if split == "test":
        images, labels = data.test_images, data.test_labels
    else:
        (train, valid) = split_validation(data.train_images, data.train_labels, settings.validation_size)
        images, labels = train if split == "train" else valid
    if limit:
        images, labels = images[:limit], labels[:limit]
    return evaluation_images(images, settings.binarize), labels, settings


def _add_evaluate(subparsers):
    p = subparsers.add_parser("evaluate", help="importance-weighted log-likelihood, ELBO and diagnostics",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run_dir", help="a run directory written by 'tfvae train', or an exported SavedModel version "
                                   "directory (saved_models/NAME/N; then --data-dir or $TFVAE_DATA_DIR gives the data)")
    p.add_argument("--num-samples", "-k", type=_positive_int, default=5000, help="K of the importance-weighted bound")
    p.add_argument("--split", choices=["test", "train", "validation"], default="test", help="which data")
    p.add_argument("--limit", type=_positive_int, default=None, help="evaluate only the first N examples")
    p.add_argument("--batch-size", type=_positive_int, default=100, help="examples per step")
    p.add_argument("--chunk-size", type=_positive_int, default=500, help="samples decoded at once (memory)")
    p.add_argument("--seed", type=int, default=0, help="seed of the importance samples")
    p.add_argument("--data-dir", default=None, help="override the run's data directory")
    p.add_argument("--out", default=None, help="where to write the JSON (default RUN_DIR/eval.json)")
    p.set_defaults(run=_run_evaluate)


def _report(results, out, dataset, split, binarize):
    """Adds what data was scored to ``results``, writes them to ``out`` and prints the table."""
    from tfvae.evaluation import format_table, write_results
    from tfvae.training import TEST_BINARIZATION_SEED

    results.update(dataset=dataset, split=split,
                   binarization="none" if binarize == "none" else f"fixed, seed {TEST_BINARIZATION_SEED}")
    write_results(results, out)
    print(format_table(results))
    print(f"wrote {out}")


def _run_evaluate(args):
    from tfvae.data import one_hot
    from tfvae.evaluation import evaluate
    from tfvae.training import load_run

    if (Path(args.run_dir) / "saved_model.pb").exists():
        return _evaluate_saved_model(args)
    model = load_run(args.run_dir)
    images, labels, settings = _load_split(args.run_dir, args.split, args.data_dir, args.limit)
    conditions = one_hot(labels, model.condition_dim) if model.condition_dim else None
    results = evaluate(model, images, num_samples=args.num_samples, batch_size=args.batch_size,
                       chunk_size=args.chunk_size, seed=args.seed, conditions=conditions)
    _report(results, Path(args.out or Path(args.run_dir) / "eval.json"), settings.dataset, args.split,
            settings.binarize)


def _evaluate_saved_model(args):
    """``tfvae evaluate`` on an exported model: data prepared as its ``tfvae.json`` says."""
    from tfvae.data import load_dataset
    from tfvae.evaluation import evaluate_saved_model
    from tfvae.training import evaluation_images

    path = Path(args.run_dir)
    description = json.loads((path / "tfvae.json").read_text())
    if description["model"].get("condition_dim"):
        raise ValueError("evaluating an exported conditional model is not supported; evaluate its run directory")
    if args.split != "test":
        raise ValueError("an exported model is evaluated on the test split only")
    binarize = description["preprocessing"].get("training_binarization", "dynamic")
    data = load_dataset("mnist", args.data_dir)
    images = evaluation_images(data.test_images[: args.limit], binarize)
    results = evaluate_saved_model(path, images, num_samples=args.num_samples, batch_size=args.batch_size)
    # Never write into a served version directory.
    _report(results, Path(args.out or "eval.json"), data.name, "test", binarize)


def _add_sample(subparsers):
    p = subparsers.add_parser("sample", help="draw images from the prior into a PNG grid",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run_dir", help="a run directory written by 'tfvae train'")
    p.add_argument("--n", type=_positive_int, default=64, help="number of images")
    p.add_argument("--seed", type=int, default=0, help="seed of the prior draws")
    p.add_argument("--out", default="samples.png", help="PNG file to write")
    p.add_argument("--label", type=int, default=None, help="for a conditional model: the class to draw")
    p.set_defaults(run=_run_sample)


def _run_sample(args):
    from tfvae.plots import plot_samples
    from tfvae.training import load_run

    from tfvae.data import one_hot

    model = load_run(args.run_dir)
    condition = None
    if model.condition_dim:
        if args.label is None or not 0 <= args.label < model.condition_dim:
            raise ValueError(f"this model is conditional: pass --label in [0, {model.condition_dim})")
        condition = one_hot(args.label, model.condition_dim)
    plot_samples(model, args.out, n=args.n, seed=args.seed, condition=condition)
    print(f"wrote {args.out}")


PLOT_KINDS = ("reconstructions", "latent", "manifold", "traversal", "interpolation", "curves")


def _add_plot(subparsers):
    p = subparsers.add_parser("plot", help="reconstructions, latent space, traversals, interpolation, curves",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run_dir", help="a run directory written by 'tfvae train'")
    p.add_argument("--kind", choices=PLOT_KINDS, required=True, help="which picture")
    p.add_argument("--out", default=None, help="PNG file to write (default KIND.png)")
    p.add_argument("--data-dir", default=None, help="override the run's data directory")
    p.add_argument("--num-points", type=_positive_int, default=5000, help="test examples in the latent scatter")
    p.set_defaults(run=_run_plot)


def _run_plot(args):
    from tfvae import plots
    from tfvae.training import load_run

    out = args.out or f"{args.kind}.png"
    if args.kind == "curves":
        plots.plot_curves(plots.read_history(Path(args.run_dir) / "history.csv"), out)
    else:
        model = load_run(args.run_dir)
        if args.kind == "manifold":
            plots.plot_manifold(model, out)
        else:
            from tfvae.data import one_hot

            images, labels, _ = _load_split(args.run_dir, "test", args.data_dir, args.num_points)
            conditions = one_hot(labels, model.condition_dim) if model.condition_dim else None
            if args.kind == "reconstructions":
                plots.plot_reconstructions(model, images, out, conditions=conditions)
            elif args.kind == "latent":
                plots.plot_latent_space(model, images, labels, out, conditions=conditions)
            elif args.kind == "traversal":
                plots.plot_traversal(model, out, image=images[0])
            else:
                plots.plot_interpolation(model, images[0], images[1], out)
    print(f"wrote {out}")


def _add_export(subparsers):
    p = subparsers.add_parser("export", help="SavedModel (TF Serving layout) and TFLite files",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run_dir", help="a run directory written by 'tfvae train'")
    p.add_argument("--out", required=True, help="model base directory, e.g. saved_models/NAME")
    p.add_argument("--version", type=_positive_int, default=None,
                   help="version number (default: one more than the highest in --out)")
    p.add_argument("--tflite", action="store_true", help="also write vae.tflite and vae_fp16.tflite")
    p.set_defaults(run=_run_export)


def _run_export(args):
    from tfvae.export import default_preprocessing, export
    from tfvae.training import load_run, load_run_settings

    base = Path(args.out)
    version = args.version
    if version is None:
        existing = [int(p.name) for p in base.glob("*") if p.name.isdigit()]
        version = max(existing, default=0) + 1
    settings = load_run_settings(args.run_dir)
    path = export(load_run(args.run_dir), base, version, tflite=args.tflite,
                  preprocessing=default_preprocessing(settings.binarize))
    # The run's numbers travel with the model.
    metrics = {}
    for name in ("metrics.json", "eval.json"):
        source = Path(args.run_dir) / name
        if source.exists():
            metrics[name.removesuffix(".json")] = json.loads(source.read_text())
    (path / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(f"wrote {path}")


def build_parser():
    """The argument parser of the ``tfvae`` command."""
    parser = argparse.ArgumentParser(prog="tfvae", description="Variational auto-encoders on TensorFlow Probability.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_train(subparsers)
    _add_evaluate(subparsers)
    _add_sample(subparsers)
    _add_plot(subparsers)
    _add_export(subparsers)
    return parser


def main(argv=None):
    """Entry point of the ``tfvae`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads
    from tfvae.data import DataError

    try:
        args.run(args)
    except (DataError, FileNotFoundError, FileExistsError, ValueError) as error:
        print(f"tfvae: error: {error}", file=sys.stderr)
        return 2
    except FloatingPointError as error:
        print(f"tfvae: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
