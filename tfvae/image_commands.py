"""``tfvae evaluate|sample|plot|export`` for an image run (a ``VAE``) or its export.

``tfvae.cli`` parses the flags, opens the command's run directory or export
once (``tfvae.artifacts.open_artifact``, as ``args.artifact``) and hands image
models here, text models to ``tfvae.text_commands``: each family module has
``evaluate``, ``gaps``, ``sample`` and ``export`` with the same arguments.
"""

from pathlib import Path

import numpy as np

GAPS_LIMIT = 500  # examples for --gaps by default: per-example VI costs ~steps/2 evaluations of the same images
DEFAULT_SAMPLES = 64  # images in tfvae sample's grid


def load_split(artifact, split, data_dir, limit=None, data=None):
    """The (images, labels, dataset name) of ``split``, prepared as at evaluation time for the artifact's model.

    A run reads its own dataset and validation split; an export, the test split of the dataset its
    ``tfvae.json`` records (MNIST for one exported before tfvae 0.3, as a note says). ``data`` replaces the
    path of a user's own data (the same data, moved); ``data_dir`` a named dataset's folder.
    """
    from tfvae.data import evaluation_images, train_and_validation
    from tfvae.own_data import load_images

    if artifact.is_export and split != "test":
        raise ValueError("an exported model is used with the test split only")
    if not artifact.dataset_recorded:
        print(f"tfvae: note: {artifact.path} records no dataset (exported by tfvae < 0.3): scoring MNIST")
    settings = artifact.data_settings()
    dataset = load_images(settings, data, data_dir, features=artifact.features())
    if split == "test":
        images, labels = dataset.test_images, dataset.test_labels
    else:
        (train, valid) = train_and_validation(dataset, settings.validation_size)
        images, labels = train if split == "train" else valid
    if not len(images):
        raise ValueError(f"{artifact.path} has no {split} examples (its data held too few to hold some out)")
    if limit:
        images, labels = images[:limit], labels[:limit]
    return evaluation_images(images, artifact.binarization(), dataset.value_range), labels, dataset.name


def check_pictures(model, command):
    """Raises ``ValueError`` if ``model``'s examples are vectors (an ``[N, D]`` array): no images to draw."""
    if len(model.data_shape) != 3:
        raise ValueError(
            f"tfvae {command} draws images; this model's examples are vectors of {model.data_shape[0]} values "
            "(use tfvae evaluate, or the export's signatures)"
        )


def _conditions(model, labels):
    """One-hot classes for a conditional model, else None."""
    from tfvae.data import one_hot

    return one_hot(labels, model.condition_dim) if model.condition_dim else None


def _report(results, out, dataset, split, binarize, command):
    """Adds what data was scored to ``results``, writes them (and ``command``) to ``out``, prints the table."""
    from tfvae.data import TEST_BINARIZATION_SEED
    from tfvae.evaluation import format_table, write_results

    results.update(
        dataset=dataset,
        split=split,
        binarization="none" if binarize == "none" else f"fixed, seed {TEST_BINARIZATION_SEED}",
    )
    write_results(results, out, command)
    print(format_table(results))
    print(f"wrote {out}")


def evaluate(args):
    """Importance-weighted NLL, ELBO and diagnostics of a run (``evaluate``) or an export (its signature)."""
    from tfvae.evaluation import evaluate as evaluate_model
    from tfvae.evaluation import evaluate_saved_model, layer_diagnostics

    artifact = args.artifact
    if artifact.is_export:
        if artifact.model_config.get("condition_dim"):
            raise ValueError("evaluating an exported conditional model is not supported; evaluate its run directory")
        if args.split != "test":
            raise ValueError("an exported model is evaluated on the test split only")
    images, labels, dataset = load_split(artifact, args.split, args.data_dir, args.limit, args.data)
    if artifact.is_export:
        features, served = artifact.features(), images
        if features:  # the export standardises raw features itself (the rebuilt model below does not)
            served = images * np.array(features["std"], np.float32) + np.array(features["mean"], np.float32)
        results = evaluate_saved_model(artifact.path, served, num_samples=args.num_samples, batch_size=args.batch_size)
        if len(artifact.model_config.get("latent_dims") or [0]) > 1:
            # The signatures give totals; each layer's KL and active units need the model behind them.
            results.update(layer_diagnostics(artifact.model(), images))
        out = Path(args.out or "eval.json")  # never into a served version directory
    else:
        model = artifact.model()
        results = evaluate_model(
            model,
            images,
            num_samples=args.num_samples,
            batch_size=args.batch_size,
            chunk_size=args.chunk_size,
            seed=args.seed,
            conditions=_conditions(model, labels),
        )
        out = Path(args.out or Path(args.run_dir) / "eval.json")
    _report(results, out, dataset, args.split, artifact.binarization(), args.command_line)


def gaps(args):
    """``tfvae evaluate --gaps``: the inference gaps (``tfvae.inference``) of a run or an export; returns them."""
    from tfvae.inference import inference_gaps

    model = args.artifact.model()
    limit = args.limit or GAPS_LIMIT
    if not args.limit:
        print(f"inference gaps on the first {limit} {args.split} examples (--limit to change)")
    images, labels, _ = load_split(args.artifact, args.split, args.data_dir, limit, args.data)
    return inference_gaps(
        model,
        images,
        _conditions(model, labels),
        steps=args.svi_steps,
        learning_rate=args.svi_learning_rate,
        num_samples=args.num_samples,
        batch_size=args.batch_size,
        seed=args.seed,
        chunk_size=args.chunk_size,
    )


def sample(args):
    """A PNG grid of ``--n`` images from the prior (of ``--label``'s class for a conditional model)."""
    from tfvae.data import one_hot
    from tfvae.plots import plot_samples
    from tfvae.served import load_model

    args.n = args.n or DEFAULT_SAMPLES
    if args.homotopy:
        raise ValueError("--homotopy is for text models")
    model = load_model(args.run_dir)  # an export runs its signatures, TensorFlow alone
    check_pictures(model, "sample")
    condition = None
    if model.condition_dim:
        if args.label is None or not 0 <= args.label < model.condition_dim:
            raise ValueError(f"this model is conditional: pass --label in [0, {model.condition_dim})")
        condition = one_hot(args.label, model.condition_dim)
    elif args.label is not None:
        raise ValueError("--label is for conditional models (trained with --conditional); this one is not")
    plot_samples(model, args.out, n=args.n, seed=args.seed, condition=condition)
    print(f"wrote {args.out}")


def plot(args):
    """``tfvae plot``: training curves (any run) or a picture of an image model's latent space."""
    from tfvae import plots
    from tfvae.served import load_model

    out = args.out or f"{args.kind}.png"
    if args.kind == "curves":
        if args.artifact.is_export:
            raise ValueError("an export keeps no training history: plot the curves of its run directory")
        plots.plot_curves(plots.read_history(Path(args.run_dir) / "history.csv"), out)
        print(f"wrote {out}")
        return
    model = load_model(args.run_dir)
    check_pictures(model, f"plot --kind {args.kind}")
    if args.kind == "manifold":
        plots.plot_manifold(model, out)
    else:
        images, labels, _ = load_split(args.artifact, "test", args.data_dir, args.num_points, args.data)
        conditions = _conditions(model, labels)
        if args.kind == "reconstructions":
            plots.plot_reconstructions(model, images, out, conditions=conditions)
        elif args.kind == "latent":
            plots.plot_latent_space(model, images, labels, out, conditions=conditions)
        elif args.kind == "traversal":
            plots.plot_traversal(model, out, image=images[0])
        else:
            plots.plot_interpolation(model, images[0], images[1], out)
    print(f"wrote {out}")


def export(args, version, metrics=None):
    """Writes the run's SavedModel (``tfvae.export``), TFLite files with ``--tflite``, and ``metrics``."""
    from tfvae.export import default_preprocessing
    from tfvae.export import export as export_model

    if args.weights != "float32":
        raise ValueError(
            "--weights float16 is for text models; an image model's half-size file is --tflite's vae_fp16.tflite"
        )
    settings = args.artifact.settings()
    return export_model(
        args.artifact.model(),
        args.out,
        version,
        tflite=args.tflite,
        preprocessing=default_preprocessing(settings.binarize, own_data_record(settings), args.artifact.features()),
        metrics=metrics,
        dataset=settings.dataset,
    )


def own_data_record(settings):
    """What finds a run's own data and its test split again, for an export's ``tfvae.json`` (``None``: a named
    dataset, which ``dataset`` records)."""
    from tfvae.options import OWN_DATASETS

    if settings.dataset not in OWN_DATASETS:
        return None
    names = ("dataset", "data", "image_size", "seed", "validation_size")
    return {name: getattr(settings, name) for name in names}
