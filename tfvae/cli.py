"""The ``tfvae`` command line: ``tfvae train|evaluate|sample|plot|export|score``.

Here: each command's flags and its dispatch. ``tfvae train``'s flags are the
rows of ``tfvae.options`` and its handler is ``tfvae.training.run_train_command``;
``tfvae score``'s flags are beside its handler in ``tfvae.scoring``. The other
commands open their run directory or export once
(``tfvae.artifacts.open_artifact``) and hand it to the handlers of its family,
``tfvae.image_commands`` or ``tfvae.text_commands``.

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

from tfvae import image_commands, options, scoring
from tfvae.keras_choice import keras_choice

# Flag types, shared with the train options.
_positive_int, _likelihood_scale = options.positive_int, options.likelihood_scale


def _add_train(subparsers):
    p = subparsers.add_parser(
        "train", help="train a VAE and write a run directory", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    options.add_arguments(p)  # every flag is a row of tfvae.options.OPTIONS
    p.set_defaults(run=_run_train)


def _run_train(args):
    from tfvae.training import run_train_command

    run_train_command(args)


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
        f"(on the first {image_commands.GAPS_LIMIT} examples unless --limit says otherwise)",
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
    options.add_generation_arguments(p)
    p.set_defaults(run=_run_evaluate)


def _commands(args):
    """The module with the handlers of the artifact's family: ``text_commands`` or ``image_commands``."""
    from tfvae import text_commands

    return text_commands if args.artifact.is_text else image_commands


def _run_evaluate(args):
    from tfvae.evaluation import IMAGE_SAMPLE_CHUNK, SENTENCE_SAMPLE_CHUNK

    defaults = {
        "num_samples": (5000, 500),
        "batch_size": (100, 25),
        "chunk_size": (IMAGE_SAMPLE_CHUNK, SENTENCE_SAMPLE_CHUNK),
        "svi_steps": (500, 100),
        "svi_learning_rate": (1e-2, 5e-2),
    }
    for name, (image_default, text_default) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, text_default if args.artifact.is_text else image_default)
    if args.data and args.artifact.is_text:
        raise ValueError("--data is for a run on your own images or arrays; a text run's data is --data-dir")
    if args.gaps:
        return write_gaps(args, _commands(args).gaps(args))
    if args.generation:
        from tfvae.text_commands import generation

        return generation(args)
    _commands(args).evaluate(args)


def write_gaps(args, results):
    """Writes ``inference_gaps`` results (images or sentences) as JSON and a curve PNG, and prints the table."""
    from tfvae.inference import format_gaps
    from tfvae.plots import plot_refinement

    # Never write into a served version directory.
    out = Path(args.out or ("gaps.json" if args.artifact.is_export else Path(args.run_dir) / "gaps.json"))
    results.update(split=args.split)
    out.write_text(json.dumps(results, indent=2))
    plot_refinement(results, out.with_suffix(".png"))
    print(format_gaps(results))
    print(f"wrote {out} and {out.with_suffix('.png')}")


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
    options.add_decoding_arguments(p)
    p.set_defaults(run=lambda args: _commands(args).sample(args))


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
    if args.kind != "curves" and args.artifact.is_text:
        raise ValueError(
            f"--kind {args.kind} draws images; for a text model use --kind curves, and 'tfvae sample' for sentences"
        )
    image_commands.plot(args)


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
    from tfvae.export import next_version
    from tfvae.ownership import owned
    from tfvae.runs import evaluation_records

    if args.artifact.is_export:
        raise ValueError(f"{args.run_dir} is already an export; 'tfvae export' reads a run directory")
    # The run's numbers travel with the model, in the version directory before it appears.
    metrics = {}
    for name in ("metrics.json", "eval.json"):
        source = Path(args.run_dir) / name
        if source.exists():
            metrics[name.removesuffix(".json")] = json.loads(source.read_text())
    metrics["evaluations"] = evaluation_records(args.run_dir)  # every published number, with its command
    with owned(Path(args.out), "export"):  # the version is chosen and written by one process at a time
        path = _commands(args).export(args, args.version or next_version(args.out), metrics)
    print(f"wrote {path}")


def _add_convert_weights(subparsers):
    p = subparsers.add_parser(
        "convert-weights",
        help="let a run trained under tf_keras be opened under Keras 3, or the reverse",
        description="Writes a run's best weights in the format of the Keras tfvae runs on now (TFVAE_KERAS), read "
        "from the other Keras's file, which is kept (tfvae.weights_conversion).",
    )
    p.add_argument("run_dir", help="a run directory written by 'tfvae train'")
    p.set_defaults(run=_run_convert_weights)


def _run_convert_weights(args):
    from tfvae.ownership import owned
    from tfvae.weights_conversion import convert_weights

    if args.artifact.is_export:
        raise ValueError(f"{args.run_dir} is an export: exports do not depend on the Keras version")
    with owned(Path(args.run_dir), "convert-weights"):  # not while a tfvae train fills it
        print(f"wrote {convert_weights(args.run_dir)}")


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
    scoring.add_command(subparsers)
    _add_convert_weights(subparsers)
    return parser


MAX_SEED = options.MAX_SEED
MAX_IMAGES = 10_000  # one PNG grid (100 x 100 images)
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
    if args.command in ("sample", "plot", "evaluate", "score") and out and Path(out).is_dir():
        names = {"evaluate": "eval.json", "score": "scores.csv"}
        example = Path(out) / names.get(args.command, f"{args.command}.png")
        raise ValueError(f"--out {out} is a directory: name the file to write, e.g. {example}")
    if args.command in ("sample", "plot") and out and not Path(out).suffix:
        # matplotlib would add ".png" itself, and "wrote OUT" would name a file that does not exist.
        raise ValueError(f"--out {out} has no file extension: name the image file, e.g. {out}.png")
    svi_flags = getattr(args, "svi_steps", None) is not None or getattr(args, "svi_learning_rate", None) is not None
    if args.command == "evaluate" and not args.gaps and svi_flags:
        raise ValueError("--svi-steps and --svi-learning-rate are for --gaps")
    options.check_generation_flags(args)
    init_from = getattr(args, "init_from", None)
    resuming = out and (Path(out) / "backup").is_dir()  # the run's own backup, not the source, is read then
    if args.command == "train" and init_from and not Path(init_from).is_dir() and not resuming:
        raise ValueError(f"--init-from {init_from}: no such run directory or export")
    if args.command == "train" and args.data and args.dataset == "mnist":
        args.dataset = options.data_kind(args.data)  # --data replaces the default dataset by its kind
    if args.command == "train":
        # A CSV's run takes real-valued defaults where the flags are left at the image defaults.
        values = options.table_defaults({option.name: getattr(args, option.dest) for option in options.OPTIONS})
        for option in options.OPTIONS:
            setattr(args, option.dest, values[option.name])
        # The rules over several flags are the option table's, the same that the constructors apply.
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
    args = parser.parse_args(options.expand_config(argv, parser))
    args.command_line = shlex.join(["tfvae", *map(str, sys.argv[1:] if argv is None else argv)])  # for results files
    try:
        check_flags(args)  # before TensorFlow loads: bad flags fail at once
        keras_choice()  # and a TFVAE_KERAS that names no Keras
    except (ValueError, ImportError) as error:
        print(f"tfvae: error: {error}", file=sys.stderr)
        return 2
    from tfvae.quiet import import_tensorflow, show_logs

    import_tensorflow(show=show_logs(getattr(args, "verbose", None)))
    from tfvae.backend import tf
    from tfvae.data import DataError
    from tfvae.ownership import DirectoryInUseError

    try:
        if hasattr(args, "run_dir"):  # every command that reads a trained model opens it here, once
            from tfvae.artifacts import open_artifact

            args.artifact = open_artifact(args.run_dir)
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
