"""The ``tfvae`` command line: ``tfvae train|evaluate|sample|plot|export``.

Every command prints one ``tfvae: error: ...`` line and exits with status 2
on bad flags or missing data, instead of a traceback.
"""

import argparse
import json
import os
import re
import shlex
import sys
import tempfile
from pathlib import Path

from tfvae import options

# Flag types, shared with the train options.
_positive_int, _likelihood_scale = options.positive_int, options.likelihood_scale


def _add_train(subparsers):
    p = subparsers.add_parser(
        "train", help="train a VAE and write a run directory", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    options.add_arguments(p)  # every flag is a row of tfvae.options.OPTIONS
    p.set_defaults(run=_run_train)


def _run_train(args):
    from tfvae.runs import TrainSettings, read_metrics, run_state
    from tfvae.training import train

    model_config = text_model_config(args) if args.dataset == "text" else image_model_config(args)
    settings = TrainSettings(**options.settings_arguments(vars(args)))
    state = "new" if args.overwrite else run_state(args.out, model_config, settings)
    if state == "finished":
        print(
            f"{args.out} holds a finished run; its results are in {Path(args.out) / 'metrics.json'} "
            "(a larger --epochs continues it, --overwrite starts afresh)"
        )
        metrics = read_metrics(args.out)
    else:
        if state in ("resume", "continue"):
            print(f"{state[:-1]}ing the run in {args.out}")
        _, metrics = train(args.out, model_config, settings, verbose=args.verbose, overwrite=args.overwrite)
        print(json.dumps({split: metrics[split] for split in ("test", "train", "valid") if split in metrics}, indent=2))
    _print_objective(metrics)
    print(f"run directory: {args.out}")


def image_model_config(args):
    """The ``VAE`` arguments of ``tfvae train`` on images: the image rows of ``tfvae.options``."""
    config = options.settings_arguments(vars(args), "image")
    # Resolved here (check_flags refused a disagreement), so a stored run's config compares equal.
    config["latent_dims"] = args.latent_dims or [16 if args.latent_dim is None else args.latent_dim]
    config["latent_dim"] = config["latent_dims"][0]
    config["architecture"] = args.arch or "mlp"
    return config


def text_model_config(args):
    """The ``SentenceVAE`` arguments of ``tfvae train --dataset text``: the text rows of ``tfvae.options``."""
    config = options.settings_arguments(vars(args), "text")
    del config["max_length"]  # a setting: training passes it to the model with the vocabulary's size
    config["latent_dim"] = 32 if args.latent_dim is None else args.latent_dim
    config["rnn"] = args.arch or "lstm"
    return config


def _print_objective(metrics):
    """The test numbers by name: the training objective, and the plain negative ELBO beside it."""
    test = metrics["test"]
    objective = metrics.get("objective", {"key": "negative_elbo", "name": "negative ELBO"})
    print(f"test {objective['name']}: {test['loss']:.2f} nats")
    if objective["key"] != "negative_elbo":
        print(f"test negative ELBO: {-test['elbo']:.2f} nats")


def _load_split(run_dir, split, data_dir, limit=None, data=None):
    """The (images, labels) of ``split``, prepared as at evaluation time for the run's (or export's) model.

    ``data`` replaces the path of a run's own data (the same data, moved); ``data_dir`` a named dataset's folder.
    """
    from tfvae.served import is_export, read_description
    from tfvae.training import evaluation_images, load_images, train_and_validation

    if is_export(run_dir):
        if split != "test":
            raise ValueError("an exported model is used with the test split only")
        settings, binarize = _export_data_settings(read_description(run_dir))
        dataset = load_images(settings, data, data_dir)
        images, labels = dataset.test_images[:limit], dataset.test_labels[:limit]
        return evaluation_images(images, binarize), labels, None
    from tfvae.runs import load_run_settings

    settings = load_run_settings(run_dir)
    dataset = load_images(settings, data, data_dir)
    if split == "test":
        images, labels = dataset.test_images, dataset.test_labels
    else:
        (train, valid) = train_and_validation(dataset, settings.validation_size)
        images, labels = train if split == "train" else valid
    if not len(images):
        raise ValueError(f"{run_dir} has no {split} examples (its data held too few to hold some out)")
    if limit:
        images, labels = images[:limit], labels[:limit]
    return evaluation_images(images, settings.binarize), labels, settings


def _export_data_settings(description):
    """``(settings, binarize)``: the ``TrainSettings`` that find an export's data again (its ``tfvae.json``'s
    ``preprocessing.data``; MNIST when it has none), and its training binarisation."""
    from tfvae.runs import TrainSettings

    preprocessing = description["preprocessing"]
    return TrainSettings(**preprocessing.get("data", {})), preprocessing.get("training_binarization", "dynamic")


def _add_evaluate(subparsers):
    p = subparsers.add_parser(
        "evaluate",
        help="importance-weighted log-likelihood, ELBO and diagnostics",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "run_dir",
        help="a run directory written by 'tfvae train', or an exported SavedModel version "
        "directory (saved_models/NAME/N; then --data-dir or $TFVAE_DATA_DIR gives the data)",
    )
    p.add_argument(
        "--num-samples",
        "-k",
        type=_positive_int,
        default=None,
        help="K of the importance-weighted bound (default 5000; 500 for text)",
    )
    p.add_argument("--split", choices=["test", "train", "validation"], default="test", help="which data")
    p.add_argument("--limit", type=_positive_int, default=None, help="evaluate only the first N examples")
    p.add_argument("--batch-size", type=_positive_int, default=None, help="examples per step (default 100; text 25)")
    p.add_argument(
        "--chunk-size", type=_positive_int, default=None, help="samples decoded at once (memory; default 500, text 10)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the importance samples")
    p.add_argument("--data-dir", default=None, help="override the run's data directory")
    p.add_argument("--data", default=None, metavar="PATH", help="override the path of the run's own data (moved)")
    p.add_argument(
        "--out",
        default=None,
        help="where to write the JSON (default RUN_DIR/eval.json, or gaps.json "
        "with --gaps; a curve PNG of the same name beside it)",
    )
    p.add_argument(
        "--gaps",
        action="store_true",
        help="measure the approximation and amortization gaps by per-example stochastic VI "
        f"(on the first {GAPS_LIMIT} examples unless --limit says otherwise)",
    )
    p.add_argument(
        "--svi-steps",
        type=_positive_int,
        default=None,
        help="with --gaps: Adam steps per example (default 500; text 100)",
    )
    p.add_argument(
        "--svi-learning-rate",
        type=float,
        default=None,
        help="with --gaps: Adam's first step size (default 0.01; text 0.05)",
    )
    p.set_defaults(run=_run_evaluate)


def _report(results, out, dataset, split, binarize, command):
    """Adds what data was scored to ``results``, writes them (and ``command``) to ``out``, prints the table."""
    from tfvae.evaluation import format_table, write_results
    from tfvae.training import TEST_BINARIZATION_SEED

    results.update(
        dataset=dataset,
        split=split,
        binarization="none" if binarize == "none" else f"fixed, seed {TEST_BINARIZATION_SEED}",
    )
    write_results(results, out, command)
    print(format_table(results))
    print(f"wrote {out}")


def _run_evaluate(args):
    from tfvae import text_commands
    from tfvae.data import one_hot
    from tfvae.evaluation import IMAGE_SAMPLE_CHUNK, SENTENCE_SAMPLE_CHUNK, evaluate
    from tfvae.runs import load_run
    from tfvae.served import is_export

    text = text_commands.is_text_model(args.run_dir)
    defaults = {
        "num_samples": (5000, 500),
        "batch_size": (100, 25),
        "chunk_size": (IMAGE_SAMPLE_CHUNK, SENTENCE_SAMPLE_CHUNK),
        "svi_steps": (500, 100),
        "svi_learning_rate": (1e-2, 5e-2),
    }
    for name, (image_default, text_default) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, text_default if text else image_default)
    if text:
        if args.gaps:
            return write_gaps(args, text_commands.gaps(args))
        return text_commands.evaluate(args)
    if args.gaps:
        return _run_gaps(args)
    if is_export(args.run_dir):
        return _evaluate_saved_model(args)
    model = load_run(args.run_dir)
    images, labels, settings = _load_split(args.run_dir, args.split, args.data_dir, args.limit, args.data)
    conditions = one_hot(labels, model.condition_dim) if model.condition_dim else None
    results = evaluate(
        model,
        images,
        num_samples=args.num_samples,
        batch_size=args.batch_size,
        chunk_size=args.chunk_size,
        seed=args.seed,
        conditions=conditions,
    )
    out = Path(args.out or Path(args.run_dir) / "eval.json")
    _report(results, out, settings.dataset, args.split, settings.binarize, args.command_line)


def _run_gaps(args):
    """``tfvae evaluate --gaps``: the inference gaps (``tfvae.inference``) of a run or an export."""
    from tfvae.data import one_hot
    from tfvae.inference import inference_gaps
    from tfvae.runs import load_run
    from tfvae.served import is_export, rebuild

    export = is_export(args.run_dir)
    model = rebuild(args.run_dir) if export else load_run(args.run_dir)
    limit = args.limit or GAPS_LIMIT
    if not args.limit:
        print(f"inference gaps on the first {limit} {args.split} examples (--limit to change)")
    images, labels, _ = _load_split(args.run_dir, args.split, args.data_dir, limit, args.data)
    conditions = one_hot(labels, model.condition_dim) if model.condition_dim else None
    results = inference_gaps(
        model,
        images,
        conditions,
        steps=args.svi_steps,
        learning_rate=args.svi_learning_rate,
        num_samples=args.num_samples,
        batch_size=args.batch_size,
        seed=args.seed,
        chunk_size=args.chunk_size,
    )
    write_gaps(args, results)


def write_gaps(args, results):
    """Writes ``inference_gaps`` results (images or sentences) as JSON and a curve PNG, and prints the table."""
    from tfvae.inference import format_gaps
    from tfvae.plots import plot_refinement
    from tfvae.served import is_export

    # Never write into a served version directory.
    out = Path(args.out or ("gaps.json" if is_export(args.run_dir) else Path(args.run_dir) / "gaps.json"))
    results.update(split=args.split)
    out.write_text(json.dumps(results, indent=2))
    plot_refinement(results, out.with_suffix(".png"))
    print(format_gaps(results))
    print(f"wrote {out} and {out.with_suffix('.png')}")


def _evaluate_saved_model(args):
    """``tfvae evaluate`` on an exported model: data prepared as its ``tfvae.json`` says."""
    from tfvae.evaluation import evaluate_saved_model
    from tfvae.served import read_description
    from tfvae.training import evaluation_images, load_images

    path = Path(args.run_dir)
    description = read_description(path)
    if description["model"].get("condition_dim"):
        raise ValueError("evaluating an exported conditional model is not supported; evaluate its run directory")
    if args.split != "test":
        raise ValueError("an exported model is evaluated on the test split only")
    settings, binarize = _export_data_settings(description)
    data = load_images(settings, args.data, args.data_dir)
    images = evaluation_images(data.test_images[: args.limit], binarize)
    results = evaluate_saved_model(path, images, num_samples=args.num_samples, batch_size=args.batch_size)
    if len(description["model"].get("latent_dims") or [0]) > 1:
        # The signatures give totals; each layer's KL and active units need the model behind them.
        from tfvae.evaluation import layer_diagnostics
        from tfvae.served import rebuild

        results.update(layer_diagnostics(rebuild(path), images))
    # Never write into a served version directory.
    _report(results, Path(args.out or "eval.json"), data.name, "test", binarize, args.command_line)


def _add_sample(subparsers):
    p = subparsers.add_parser(
        "sample",
        help="draw images from the prior into a PNG grid (text: print sentences)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("run_dir", help="a run directory written by 'tfvae train', or an exported saved_models/NAME/N")
    p.add_argument("--n", type=_positive_int, default=None, help="number of images (default 64) or sentences (10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the prior draws")
    p.add_argument("--out", default="samples.png", help="PNG file to write")
    p.add_argument("--label", type=int, default=None, help="for a conditional model: the class to draw")
    p.add_argument(
        "--homotopy",
        nargs=2,
        metavar=("FROM", "TO"),
        default=None,
        help="a text model: also print greedy sentences between these two sentences' posterior means",
    )
    p.add_argument("--steps", type=_positive_int, default=5, help="with --homotopy: points on the line")
    _add_decoding(p)
    p.set_defaults(run=_run_sample)


def _add_decoding(p):
    """The text decoding flags of ``tfvae sample`` (``tfvae.decoding``); None: the default's value."""
    from tfvae.options import DECODING_STRATEGIES as STRATEGIES
    from tfvae.options import DEFAULT_DECODING as DEFAULT

    group = p.add_argument_group(
        "text decoding", f"how a text model picks its words (default: {DEFAULT.describe()}; see docs/sentences.md)"
    )
    group.add_argument("--strategy", choices=STRATEGIES, default=None, help=f"(default {DEFAULT.strategy})")
    group.add_argument(
        "--temperature",
        type=float,
        default=None,
        help=f"temperature, top_k, top_p: logits / T (default {DEFAULT.temperature:g})",
    )
    group.add_argument(
        "--top-k", type=int, default=None, help=f"top_k: draw among the k most probable words (default {DEFAULT.top_k})"
    )
    group.add_argument(
        "--top-p",
        type=float,
        default=None,
        help=f"top_p: draw within the nucleus of probability p (default {DEFAULT.top_p:g})",
    )
    group.add_argument(
        "--beam-width", type=int, default=None, help=f"beam: hypotheses kept (default {DEFAULT.beam_width})"
    )
    group.add_argument(
        "--no-unk", dest="no_unk", action="store_true", default=None, help="never generate <unk> (the default)"
    )
    group.add_argument("--allow-unk", dest="no_unk", action="store_false", help="let <unk> be generated")
    group.add_argument(
        "--no-repeat-ngram",
        type=int,
        default=None,
        help=f"never repeat an n-gram of this size within a sentence; 0: off (default {DEFAULT.no_repeat_ngram})",
    )
    group.add_argument(
        "--max-length", type=int, default=None, help="words generated at most (default: the model's max_length)"
    )


def decoding_of(args):
    """The ``tfvae.decoding.Decoding`` of ``tfvae sample``'s flags: each flag not given takes ``DEFAULT``'s value."""
    from tfvae.options import DEFAULT_DECODING as DEFAULT

    given = {field: getattr(args, field) for field in DEFAULT._fields if getattr(args, field, None) is not None}
    return DEFAULT._replace(**given)


def _run_sample(args):
    from tfvae import text_commands
    from tfvae.data import one_hot
    from tfvae.plots import plot_samples
    from tfvae.served import load_model

    if text_commands.is_text_model(args.run_dir):
        if args.label is not None:
            raise ValueError("--label is for conditional image models")
        args.n = args.n or 10
        return text_commands.sample(args)
    args.n = args.n or 64
    if args.homotopy:
        raise ValueError("--homotopy is for text models")

    model = load_model(args.run_dir)
    _check_pictures(model, "sample")
    condition = None
    if model.condition_dim:
        if args.label is None or not 0 <= args.label < model.condition_dim:
            raise ValueError(f"this model is conditional: pass --label in [0, {model.condition_dim})")
        condition = one_hot(args.label, model.condition_dim)
    elif args.label is not None:
        raise ValueError("--label is for conditional models (trained with --conditional); this one is not")
    plot_samples(model, args.out, n=args.n, seed=args.seed, condition=condition)
    print(f"wrote {args.out}")


def _check_pictures(model, command):
    """Raises ``ValueError`` if ``model``'s examples are vectors (an ``[N, D]`` array): no images to draw."""
    if len(model.data_shape) != 3:
        raise ValueError(
            f"tfvae {command} draws images; this model's examples are vectors of {model.data_shape[0]} values "
            "(use tfvae evaluate, or the export's signatures)"
        )


PLOT_KINDS = ("reconstructions", "latent", "manifold", "traversal", "interpolation", "curves")


def _add_plot(subparsers):
    p = subparsers.add_parser(
        "plot",
        help="reconstructions, latent space, traversals, interpolation, curves",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "run_dir",
        help="a run directory written by 'tfvae train', or an exported saved_models/NAME/N "
        "(then --data-dir or $TFVAE_DATA_DIR gives the test images)",
    )
    p.add_argument("--kind", choices=PLOT_KINDS, required=True, help="which picture")
    p.add_argument("--out", default=None, help="PNG file to write (default KIND.png)")
    p.add_argument("--data-dir", default=None, help="override the run's data directory")
    p.add_argument("--data", default=None, metavar="PATH", help="override the path of the run's own data (moved)")
    p.add_argument("--num-points", type=_positive_int, default=5000, help="test examples in the latent scatter")
    p.set_defaults(run=_run_plot)


def _run_plot(args):
    from tfvae import plots, text_commands
    from tfvae.served import is_export, load_model

    out = args.out or f"{args.kind}.png"
    if args.kind != "curves" and text_commands.is_text_model(args.run_dir):
        raise ValueError(
            f"--kind {args.kind} draws images; for a text model use --kind curves, and 'tfvae sample' for sentences"
        )
    if args.kind == "curves":
        if is_export(args.run_dir):
            raise ValueError("an export keeps no training history: plot the curves of its run directory")
        plots.plot_curves(plots.read_history(Path(args.run_dir) / "history.csv"), out)
    else:
        model = load_model(args.run_dir)
        _check_pictures(model, f"plot --kind {args.kind}")
        if args.kind == "manifold":
            plots.plot_manifold(model, out)
        else:
            from tfvae.data import one_hot

            images, labels, _ = _load_split(args.run_dir, "test", args.data_dir, args.num_points, args.data)
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
    p = subparsers.add_parser(
        "export",
        help="SavedModel (TF Serving layout) and TFLite files",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("run_dir", help="a run directory written by 'tfvae train'")
    p.add_argument("--out", required=True, help="model base directory, e.g. saved_models/NAME")
    p.add_argument(
        "--version",
        type=_positive_int,
        default=None,
        help="version number (default: one more than the highest in --out)",
    )
    p.add_argument("--tflite", action="store_true", help="also write vae.tflite and vae_fp16.tflite")
    p.add_argument(
        "--weights",
        choices=["float32", "float16"],
        default="float32",
        help="text models: store the SavedModel's weights in float16 (half the size, float32 compute)",
    )
    p.set_defaults(run=_run_export)


def _run_export(args):
    from tfvae.export import default_preprocessing, export, next_version
    from tfvae.ownership import owned
    from tfvae.runs import evaluation_records, load_run, load_run_settings

    base = Path(args.out)
    settings = load_run_settings(args.run_dir)
    # The run's numbers travel with the model, in the version directory before it appears.
    metrics = {}
    for name in ("metrics.json", "eval.json"):
        source = Path(args.run_dir) / name
        if source.exists():
            metrics[name.removesuffix(".json")] = json.loads(source.read_text())
    metrics["evaluations"] = evaluation_records(args.run_dir)  # every published number, with its command
    from tfvae import text_commands

    with owned(base, "export"):  # the version is chosen and written by one process at a time
        version = args.version or next_version(base)
        if text_commands.is_text_model(args.run_dir):
            path = text_commands.export(args, version, metrics)
        else:
            if args.weights != "float32":
                raise ValueError(
                    "--weights float16 is for text models; an image model's half-size file is --tflite's "
                    "vae_fp16.tflite"
                )
            path = export(
                load_run(args.run_dir),
                base,
                version,
                tflite=args.tflite,
                preprocessing=default_preprocessing(settings.binarize, _own_data_record(settings)),
                metrics=metrics,
            )
    print(f"wrote {path}")


def _own_data_record(settings):
    """What finds a run's own data and its test split again, for an export's ``tfvae.json`` (``None``: MNIST)."""
    from tfvae.options import OWN_DATASETS

    if settings.dataset not in OWN_DATASETS:
        return None
    names = ("dataset", "data", "image_size", "seed", "validation_size")
    return {name: getattr(settings, name) for name in names}


def build_parser():
    """The argument parser of the ``tfvae`` command."""
    parser = argparse.ArgumentParser(prog="tfvae", description="Variational auto-encoders on TensorFlow Probability.")
    from tfvae import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_train(subparsers)
    _add_evaluate(subparsers)
    _add_sample(subparsers)
    _add_plot(subparsers)
    _add_export(subparsers)
    return parser


def expand_config(argv, parser):
    """``tfvae train --config FILE.json ...``: the file's flags inserted before the others.

    The file is a JSON object whose keys are ``train`` flags (``latent-dim`` or
    ``latent_dim``); ``true`` turns a switch on, ``null``/``false`` leave a
    flag out, a list gives several values. Flags typed on the command line come
    later, so they win; every value goes through the flag's own checks.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "train":
        return argv
    path, rest = None, []
    for i, token in enumerate(argv):
        if token == "--config" and i + 1 < len(argv):
            path = argv[i + 1]
        elif token.startswith("--config="):
            path = token.split("=", 1)[1]
    if path is None:
        return argv
    try:
        config = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        parser.error(f"--config {path}: cannot read a JSON object ({error})")
    if not isinstance(config, dict):
        parser.error(f"--config {path}: expected a JSON object of flags, got {type(config).__name__}")
    train_parser = parser._subparsers._group_actions[0].choices["train"]
    known = {option for action in train_parser._actions for option in action.option_strings}
    unknown = [key for key in config if "--" + key.replace("_", "-") not in known or key == "config"]
    if unknown:
        parser.error(f"--config {path}: unknown flags {', '.join(map(repr, unknown))}")
    for key, value in config.items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False:
            continue
        rest += [flag] if value is True else [flag, *map(str, value if isinstance(value, list) else [value])]
    return [argv[0], *rest, *argv[1:]]


MAX_SEED = options.MAX_SEED
MAX_IMAGES = 10_000  # one PNG grid (100 x 100 images)
GAPS_LIMIT = 500  # examples for --gaps by default: per-example VI costs ~steps/2 evaluations of the same images
# The range of every numeric flag, by its argparse dest: (low, high, low_open, high_open);
# None: unbounded. Floats must also be finite. The train flags' come from their option rows;
# tests/test_bad_inputs.py checks that every numeric flag of every command is listed here.
FLAG_RANGES = {
    **options.flag_ranges(),
    "limit": (1, None),
    "chunk_size": (1, None),
    "n": (1, MAX_IMAGES),
    "label": (0, None),
    "num_points": (1, None),
    "version": (1, None),
    "steps": (1, None),
    "svi_steps": (1, None),
    "svi_learning_rate": (0, None, True),
    # tfvae sample's text decoding (a top_k above the vocabulary is refused once the model is read)
    "temperature": (0, None, True),
    "top_k": (1, None),
    "top_p": (0, 1, True),
    "beam_width": (1, None),
    "no_repeat_ngram": (0, None),
}


def _check_range(dest, value):
    """Raises ``ValueError`` naming the flag if ``value`` is outside ``FLAG_RANGES[dest]``."""
    if value is None or isinstance(value, (str, bool)) or dest not in FLAG_RANGES:
        return
    bounds = (*FLAG_RANGES[dest], False, False)[:4]
    for item in value if isinstance(value, list) else [value]:
        if not options.in_range(item, *bounds):
            raise ValueError(f"--{dest.replace('_', '-')} must be {options.describe_range(*bounds)}, got {item}")


def check_flags(args):
    """Checks every numeric flag's range and refuses flag combinations that cannot work
    (for ``tfvae train``: ``tfvae.options.check_rules``).

    Raises:
        ValueError: one line naming the flags.
    """
    for dest, value in vars(args).items():
        _check_range(dest, value)
    out = getattr(args, "out", None)
    if args.command in ("sample", "plot", "evaluate") and out and Path(out).is_dir():
        example = Path(out) / ("eval.json" if args.command == "evaluate" else f"{args.command}.png")
        raise ValueError(f"--out {out} is a directory: name the file to write, e.g. {example}")
    if args.command in ("sample", "plot") and out and not Path(out).suffix:
        # matplotlib would add ".png" itself, and "wrote OUT" would name a file that does not exist.
        raise ValueError(f"--out {out} has no file extension: name the image file, e.g. {out}.png")
    svi_flags = getattr(args, "svi_steps", None) is not None or getattr(args, "svi_learning_rate", None) is not None
    if args.command == "evaluate" and not args.gaps and svi_flags:
        raise ValueError("--svi-steps and --svi-learning-rate are for --gaps")
    init_from = getattr(args, "init_from", None)
    resuming = out and (Path(out) / "backup").is_dir()  # the run's own backup, not the source, is read then
    if args.command == "train" and init_from and not Path(init_from).is_dir() and not resuming:
        raise ValueError(f"--init-from {init_from}: no such run directory or export")
    if args.command == "train" and args.data and args.dataset == "mnist":
        args.dataset = options.data_kind(args.data)  # --data replaces the default dataset by its kind
    if args.command == "train":
        # The rules over several flags are the option table's, the same that the constructors apply.
        values = {option.name: getattr(args, option.dest) for option in options.OPTIONS}
        options.check_rules(values, "train", style="flag")


def _write_problem(args):
    """Why ``--out`` cannot be written (e.g. "No space left on device"), or ``""``: said after a failed run."""
    out = getattr(args, "out", None)
    if not out:
        return ""
    directory = Path(out) if Path(out).is_dir() else Path(out).parent
    if not directory.is_dir():
        return ""
    try:
        with tempfile.TemporaryFile(dir=directory) as probe:  # a real write: a full disk fails here
            probe.write(b"\0" * 2**20)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as error:
        return f"; cannot write to {directory}: {error.strerror or error}"
    return ""


def _one_line(error):
    """A TensorFlow error's message as one line: its assertion text, or its last line."""
    lines = [line.strip() for line in str(getattr(error, "message", error)).splitlines() if line.strip()]
    for line in lines:
        if "assertion failed" in line:
            return line
    return re.sub(r"\s*name:\s*$", "", lines[-1]) if lines else type(error).__name__


def main(argv=None):
    """Entry point of the ``tfvae`` console script; returns the exit status.

    Exit status 0: done; 2: a bad flag, missing data or a path that cannot be
    used (one ``tfvae: error:`` line); 1: the run failed (training diverged,
    the disk filled up, a TensorFlow error); 130: interrupted.
    """
    parser = build_parser()
    args = parser.parse_args(expand_config(argv, parser))
    args.command_line = shlex.join(["tfvae", *(sys.argv[1:] if argv is None else argv)])  # for results files
    try:
        check_flags(args)  # before TensorFlow loads: bad flags fail at once
    except ValueError as error:
        print(f"tfvae: error: {error}", file=sys.stderr)
        return 2
    from tfvae.quiet import import_tensorflow, show_logs

    import_tensorflow(show=show_logs(getattr(args, "verbose", None)))
    from tfvae.backend import tf
    from tfvae.data import DataError
    from tfvae.ownership import DirectoryInUseError

    try:
        args.run(args)
    except (
        DataError,
        FileNotFoundError,
        FileExistsError,
        NotADirectoryError,
        IsADirectoryError,
        PermissionError,
        ValueError,
        DirectoryInUseError,  # another tfvae process writes --out
    ) as error:
        print(f"tfvae: error: {error}", file=sys.stderr)
        return 2
    except FloatingPointError as error:
        print(f"tfvae: error: {error}", file=sys.stderr)
        return 1
    except (OSError, tf.errors.OpError) as error:  # e.g. no space left on the device
        print(f"tfvae: error: {_one_line(error)}{_write_problem(args)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tfvae: interrupted (run the same command again to resume a training run)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
