"""The training loop behind ``tfvae train``: data preparation, pipelines and the fit.

``train`` fills a run directory (its layout, settings and resume rules are
``tfvae.runs``). Images train a ``VAE``; ``dataset="text"`` (a directory of
sentences, or a TFDS text dataset by ``tfds_name``) trains a
``tfvae.sentence.SentenceVAE`` through the same loop, with the text settings
of ``TrainSettings``.
"""

import contextlib
import dataclasses
import json
import math
import shutil
import warnings
from pathlib import Path

import numpy as np

from tfvae import __version__, options, text
from tfvae.backend import KERAS_VERSION, keras, tf
from tfvae.callbacks import (
    CyclicalSchedule,
    EarlyStopping,
    EpochTimer,
    HistoryCSV,
    ImageLogger,
    KLAnnealing,
    LayerDiagnostics,
    LearningRateLogger,
    LinearWarmup,
    LogisticWarmup,
    ObjectiveLogger,
    SentenceDiagnostics,
    TrimHistory,
)
from tfvae.core import BaseVAE
from tfvae.data import (
    TEST_BINARIZATION_SEED,
    UNIT_RANGE,
    ImageDataset,
    evaluation_images,
    make_pipeline,
    one_hot,
    train_and_validation,
)
from tfvae.model import VAE
from tfvae.objectives import objective_key, objective_name
from tfvae.optimization import check_optimizer_settings, make_optimizer
from tfvae.options import STRATEGIES, TEXT_DATASET, check_rules  # defined once, with the options
from tfvae.own_data import load_images
from tfvae.ownership import owned
from tfvae.run_weights import (
    BestWeightsCheckpoint,
    RunBackup,
    best_weights_path,
    check_best_weights,
    has_best_weights,
    load_best_weights,
    weights_versions,
)
from tfvae.runs import (
    RUN_FORMAT,
    TrainSettings,
    best_so_far,
    check_settings,
    constructor_defaults,
    history_length,
    history_seconds,
    load_run,
    read_metrics,
    remove_run,
    run_state,
)
from tfvae.sentence import SentenceVAE
from tfvae.warm_start import warm_start

# Batch of every evaluation pass (validation each epoch, and the final numbers): one batch shape, so the
# XLA-compiled test function is compiled once and reused (5,000 validation and 10,000 test images divide
# evenly); a global training batch above it is used instead.
EVALUATION_BATCH = 500
# The final "train" numbers are measured on this many training examples: a full pass over 55,000
# cost more than the rest of the final evaluation, and this many tell over-fitting as well.
TRAIN_EVALUATION_SIZE = 10_000
# Images (validation, or training without a validation split) whose posterior means give each epoch's
# active units (LayerDiagnostics).
DIAGNOSTIC_IMAGES = 2000
# Validation sentences whose posteriors give each epoch's mutual information and active units.
DIAGNOSTIC_SENTENCES = 2000

# XLA's compile of the MLP's train and test steps pays back after ~200-600 steps of 128 on a 2-core CPU
# (scripts/jit_cost.py; one MNIST epoch is 430 steps).
JIT_MIN_STEPS = 500


def use_jit(settings, architecture, steps=None):
    """Whether to compile the train step with XLA.

    ``settings.jit_compile`` if set; by default (``None``) for MLPs only, and only
    when the run takes at least ``JIT_MIN_STEPS`` training steps (``steps=None``:
    a run of unknown length counts as long): a smoke run or a one-epoch try on a
    slice of data finishes sooner without the compile.
    """
    if settings.jit_compile is not None:
        return bool(settings.jit_compile)
    return architecture == "mlp" and (steps is None or steps >= JIT_MIN_STEPS)


def get_strategy(name: str = "default") -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy named ``name``.

    ``"multiworker"`` reads the cluster from the ``TF_CONFIG`` environment variable. It needs tfvae on tf_keras
    (``TFVAE_KERAS=2``): Keras 3's ``fit`` and ``evaluate`` fail under ``MultiWorkerMirroredStrategy`` for every
    model ("Invalid reduction dimension 0 for input with 0 dimensions": Keras 3 reduces each scalar metric across
    workers along an axis it does not have; tensorflow/tensorflow#72388, Keras 3.15), so it is refused here.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        if KERAS_VERSION == 3:
            raise ValueError(
                "--strategy multiworker needs tfvae on tf_keras: set TFVAE_KERAS=2 on every worker (Keras 3's fit "
                "fails under MultiWorkerMirroredStrategy for any model, tensorflow/tensorflow#72388)"
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}")


def compute_policy(settings):
    """The Keras dtype policy the settings ask for: ``"mixed_float16"``, ``"mixed_bfloat16"`` or ``None``.

    (``runs.check_settings`` refuses both at once, by ``tfvae.options.RULES``.)
    """
    if settings.mixed_precision:
        return "mixed_float16"
    return "mixed_bfloat16" if settings.mixed_bfloat16 else None


@contextlib.contextmanager
def dtype_policy(name):
    """Keras's global dtype policy set to ``name`` inside the block only."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def model_inputs(
    images,
    conditions=None,
    batch_size=128,
    binarize="none",
    shuffle=False,
    seed=0,
    drop_remainder=False,
    value_range=UNIT_RANGE,
):
    """A pipeline of model inputs: ``x`` batches, or ``((x, c),)`` for a conditional model.

    The extra tuple level tells Keras that ``(x, c)`` is the input, not ``(x, y)``.
    """
    dataset = make_pipeline(
        images,
        batch_size,
        binarize=binarize,
        shuffle=shuffle,
        seed=seed,
        labels=conditions,
        drop_remainder=drop_remainder,
        value_range=value_range,
    )
    if conditions is None:
        return dataset
    return dataset.map(lambda x, c: ((x, c),))


def evaluate_negative_elbo(
    model, images, conditions=None, batch_size=EVALUATION_BATCH, dataset=None, value_range=UNIT_RANGE
):
    """Keras's ``evaluate`` on fixed images (or on ``dataset``), per example: the objective
    (``loss``, and again under its own name, e.g. ``negative_iwae_bound_k5``), the plain
    ``negative_elbo`` (beta 1, no free bits), reconstruction, KL and ELBO. ``value_range``: as ``model_inputs``'."""
    dataset = model_inputs(images, conditions, batch_size, value_range=value_range) if dataset is None else dataset
    results = {k: float(v) for k, v in model.evaluate(dataset, verbose=0, return_dict=True).items()}
    results[objective_key(model)] = results["loss"]
    results["negative_elbo"] = -results["elbo"]
    return results


def train(
    run_dir: str | Path,
    model_config: dict,
    settings: TrainSettings,
    dataset: ImageDataset | None = None,
    verbose: int = 1,
    extra_callbacks: tuple = (),
    overwrite: bool = False,
) -> tuple[BaseVAE, dict]:
    """Trains a VAE and fills ``run_dir``.

    Args:
        run_dir: output directory (created). Re-running the same command in the
            same directory resumes an interrupted run and leaves a finished one
            untouched; a larger ``settings.epochs`` continues a finished run;
            other settings are refused (see ``run_state``).
        model_config: keyword arguments of ``VAE`` (``data_shape`` is taken
            from the data), or of ``SentenceVAE`` for ``settings.dataset ==
            "text"`` (``vocab_size`` and ``max_length`` are taken from the data).
        settings: a ``TrainSettings``.
        dataset: an ``ImageDataset`` (or a ``tfvae.text.TextDataset``); loaded
            from ``settings`` if ``None``.
        verbose: Keras progress-bar verbosity.
        extra_callbacks: more Keras callbacks.
        overwrite: delete an existing run in ``run_dir`` and start afresh.

    Returns:
        ``(model, metrics)``: the model with its best weights, and the dict
        written to ``metrics.json``.

    Raises:
        tfvae.ownership.DirectoryInUseError: another process is training
            into ``run_dir`` (it owns it until it ends; see ``tfvae.ownership``).
    """
    run_dir = Path(run_dir)
    check_settings(settings)
    check_optimizer_settings(settings)  # and the rules between them
    with owned(run_dir, "train"):  # before anything is read or written: one process fills a run
        return _fill_run(run_dir, model_config, settings, dataset, verbose, extra_callbacks, overwrite)


def _fill_run(run_dir, model_config, settings, dataset, verbose, extra_callbacks, overwrite):
    """``train``'s work, in the run directory that this process owns."""
    if overwrite and (run_dir / "config.json").exists():
        remove_run(run_dir)
        state = "new"  # other files the user keeps there stay, and do not block the new run
    else:
        state = run_state(run_dir, model_config, settings)
    if state == "finished":
        return load_run(run_dir), read_metrics(run_dir)
    if state != "new" and weights_versions(run_dir) and not has_best_weights(run_dir):
        # The other Keras's backup and checkpoint cannot be read here: resuming would silently start over.
        check_best_weights(run_dir)
    keras.utils.set_random_seed(settings.seed)
    if settings.deterministic:
        tf.config.experimental.enable_op_determinism()
    strategy = get_strategy(settings.strategy)
    prepare = _prepare_text if settings.dataset == TEXT_DATASET else _prepare_images
    data = prepare(settings, dataset, model_config, settings.batch_size * strategy.num_replicas_in_sync)
    model = _compiled_model(settings, data, strategy)
    backup = run_dir / "backup"
    if settings.init_from and not (backup.is_dir() and any(backup.iterdir())):
        # A resumed or continued run's BackupAndRestore loads its own later weights instead.
        warm_start(model, settings.init_from, data.vocabulary)
    _write_run_config(run_dir, model, settings, data.vocabulary, data.features)
    # Under KL annealing the loss weighs the KL by less than 1, so the first epochs would look best;
    # the best checkpoint is then the one with the best ELBO, which every epoch measures alike.
    annealed = bool(settings.kl_warmup_steps or settings.kl_cycle_steps)
    monitor = ("val_" if data.valid_data is not None else "") + ("negative_elbo" if annealed else "loss")
    best = str(best_weights_path(run_dir))
    stopper = (
        EarlyStopping(run_dir / "history.csv", monitor, settings.early_stopping) if settings.early_stopping else None
    )
    callbacks = _callbacks(run_dir, model, settings, data, monitor, stopper, extra_callbacks)
    if state == "continue":
        # No longer finished: an interrupted continuation must resume, not report the old metrics.
        (run_dir / "metrics.json").unlink()
    with warnings.catch_warnings():
        if data.fit_steps_per_epoch is None:
            # A pipeline of unknown length (bucketed sentences) ends its first epoch when its data ends, as
            # meant; Keras 3 says "Your input ran out of data; interrupting training" there all the same.
            warnings.filterwarnings("ignore", message="Your input ran out of data", category=UserWarning)
        history = model.fit(
            data.train_data,
            validation_data=data.valid_data,
            epochs=settings.epochs,
            steps_per_epoch=data.fit_steps_per_epoch,
            callbacks=callbacks,
            verbose=verbose,
            shuffle=False,  # the tf.data pipelines shuffle; Keras 3 warns about shuffle=True on a dataset
        )
    _check_finite(history, run_dir, best, monitor)
    load_best_weights(model, run_dir)
    # Every invocation's epochs: this one's fit may have had none left to train (a run killed after its
    # last epoch, before metrics.json), and a resumed or continued run's earlier epochs count too.
    seconds, untimed = history_seconds(run_dir / "history.csv")
    metrics = {
        "dataset": data.name,
        "epochs": settings.epochs,
        "objective": {"kind": model.objective_kind, "key": objective_key(model), "name": objective_name(model)},
        "train_seconds": seconds,
        **({"untimed_epochs": untimed} if untimed else {}),  # epochs logged by a tfvae that did not time them
        # Epochs in history.csv (all invocations), and whether early stopping ended the run.
        "epochs_trained": history_length(run_dir / "history.csv"),
        "stopped_early": bool(stopper and stopper.stopped_early),
        **data.final_metrics(model),
    }
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return model, metrics


def _compiled_model(settings, data, strategy):
    """The model of ``data.model_config``, built and compiled in the strategy's scope and the compute policy."""
    policy_name = compute_policy(settings)
    policy = dtype_policy(policy_name) if policy_name else contextlib.nullcontext()
    # At most an epoch's steps per execution: Keras 3 would run the whole count on a repeating pipeline.
    steps_per_execution = max(1, min(data.steps_per_execution or settings.steps_per_execution, data.steps_per_epoch))
    with strategy.scope(), policy:
        model = data.model_class(**data.model_config)
        model.compile(
            optimizer=make_optimizer(settings, data.steps_per_epoch, settings.epochs),
            jit_compile=use_jit(settings, model.architecture, steps=data.steps_per_epoch * settings.epochs),
            steps_per_execution=steps_per_execution,
        )
    return model


def _write_run_config(run_dir, model, settings, vocabulary, features=None):
    """``config.json`` (the model's config and the settings; what ``load_run`` rebuilds from; a CSV's ``features``,
    its columns and standardisation) and the vocabulary."""
    config = {
        "tfvae_version": __version__,
        "format": RUN_FORMAT,
        "class": type(model).__name__,
        "model": model.get_config(),
        "train": dataclasses.asdict(settings),
        **({"features": features} if features else {}),
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(config, indent=2))
    if vocabulary is not None:
        vocabulary.save(run_dir / text.VOCABULARY_FILE)


def _callbacks(run_dir, model, settings, data, monitor, stopper, extra_callbacks):
    """The callbacks of a run, in the order that matters: schedules and diagnostics, then loggers, then backup."""
    callbacks = []
    if settings.kl_warmup_steps or settings.kl_cycle_steps:
        warmup = LogisticWarmup if settings.kl_warmup_shape == "logistic" else LinearWarmup
        schedule = (
            CyclicalSchedule(settings.kl_cycle_steps, end=model.beta)
            if settings.kl_cycle_steps
            else warmup(settings.kl_warmup_steps, end=model.beta)
        )
        callbacks.append(KLAnnealing(schedule))  # before the loggers, which then see kl_weight
    if data.diagnostics is not None:
        callbacks.append(data.diagnostics)
    callbacks += [
        # Before the CSV and TensorBoard loggers, which then see these columns.
        LearningRateLogger(),
        ObjectiveLogger(objective_key(model)),  # and before whatever monitors negative_elbo
    ]
    if settings.reduce_lr_on_plateau:
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.5, patience=settings.reduce_lr_on_plateau)
        )
    callbacks += [
        keras.callbacks.TerminateOnNaN(),
        # A resumed run keeps its best checkpoint unless a later epoch beats it.
        BestWeightsCheckpoint(run_dir, monitor, best_so_far(run_dir / "history.csv", monitor)),
        EpochTimer(),  # just before the CSV logger: the callbacks above count in the epoch's time
        HistoryCSV(str(run_dir / "history.csv")),
        *([stopper] if stopper else []),  # after the CSV logger: it reads history.csv on resume
        keras.callbacks.TensorBoard(str(run_dir / "logs")),
        *extra_callbacks,
    ]
    if settings.image_every and data.image_logger is not None:
        callbacks.append(data.image_logger(run_dir / "logs"))
    if settings.backup:
        # Last, so an epoch counts as done only once every logger has written it; kept after
        # the last epoch, so a larger --epochs continues the run. A kill between the loggers
        # and the backup repeats that epoch, and TrimHistory drops its first row.
        callbacks += [
            RunBackup(run_dir / "backup"),
            TrimHistory(run_dir / "history.csv"),
        ]
    return callbacks


def _check_finite(history, run_dir, best, monitor):
    """Raises ``FloatingPointError`` if training diverged, keeping the best finite weights if there are any."""
    if np.all(np.isfinite(history.history.get("loss", [0.0]))):
        return
    # The backup holds the diverged weights: resuming from it would only diverge again.
    shutil.rmtree(run_dir / "backup", ignore_errors=True)
    # ModelCheckpoint writes only finite improvements of the monitored loss, so an index means good weights.
    if has_best_weights(run_dir):
        raise FloatingPointError(
            f"training diverged (loss is not finite); the best weights of the epochs that "
            f"finished with a finite {monitor} are in {best}"
        )
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    raise FloatingPointError(
        "training diverged: no epoch finished with a finite loss, so no weights were kept "
        "(lower the learning rate, or check the data)"
    )


@dataclasses.dataclass
class PreparedData:
    """What ``train`` needs from a dataset: the model to build, pipelines and final metrics."""

    name: str
    model_class: type
    model_config: dict
    steps_per_epoch: int
    train_data: tf.data.Dataset
    valid_data: tf.data.Dataset | None
    final_metrics: object  # model -> {"train": ..., "test": ..., ...}
    image_logger: object = None  # log_dir -> an ImageLogger, or None
    diagnostics: object = None  # a callback that logs per-layer diagnostics, or None
    vocabulary: text.Vocabulary | None = None
    features: dict | None = None  # a CSV's columns and standardisation (ImageDataset.features), for config.json
    steps_per_execution: int | None = None  # instead of the setting
    # Set for a repeated (endless) training pipeline: fit's epoch length. A finite pipeline that fit
    # re-iterates every epoch pays for a new iterator (and shuffle buffer) at each epoch boundary:
    # stalls of 3-4 s on MNIST (scripts/profile_train.py).
    fit_steps_per_epoch: int | None = None


def _prepare_images(settings, dataset, model_config, global_batch):
    """Images: a validation split, binarisation, conditions, and a ``VAE``.

    Longer than most functions here because most of it is one ``PreparedData``, a field a line.
    """
    # The model's likelihood must fit the data (a CSV's: Normal), a rule over settings and model together.
    check_rules(
        {
            "dataset": settings.dataset,
            "data": settings.data,
            "binarize": settings.binarize,
            "likelihood": model_config.get("likelihood", "bernoulli"),
        },
        "train",
    )
    data = dataset if dataset is not None else load_images(settings)
    (train_x, train_y), (valid_x, valid_y) = train_and_validation(data, settings.validation_size)
    num_classes = int(data.train_labels.max()) + 1
    conditions = (lambda labels: one_hot(labels, num_classes)) if settings.conditional else (lambda labels: None)
    model_config = {**model_config, "data_shape": list(data.data_shape)}
    if settings.conditional:
        model_config["condition_dim"] = num_classes
    valid_data = None
    if len(valid_x):
        valid_data = model_inputs(
            evaluation_images(valid_x, settings.binarize, data.value_range),
            conditions(valid_y),
            max(EVALUATION_BATCH, global_batch),
            value_range=data.value_range,
        )
    source_x, source_y = (valid_x, valid_y) if len(valid_x) else (train_x, train_y)

    def final_metrics(model):
        return {
            "train": evaluate_negative_elbo(
                model,
                evaluation_images(train_x[:TRAIN_EVALUATION_SIZE], settings.binarize, data.value_range),
                conditions(train_y[:TRAIN_EVALUATION_SIZE]),
                value_range=data.value_range,
            ),
            "train_examples": min(len(train_x), TRAIN_EVALUATION_SIZE),
            "test": evaluate_negative_elbo(
                model,
                evaluation_images(data.test_images, settings.binarize, data.value_range),
                conditions(data.test_labels),
                value_range=data.value_range,
            ),
            "test_binarization_seed": TEST_BINARIZATION_SEED,
        }

    # Full batches only (each epoch leaves out a different random remainder, under one batch): a last
    # partial batch is a second input shape, which XLA compiles again (1-2 s of every run's first epoch).
    drop_remainder = len(train_x) >= global_batch
    steps_per_epoch = len(train_x) // global_batch if drop_remainder else 1
    return PreparedData(
        name=data.name,
        model_class=VAE,
        model_config=model_config,
        steps_per_epoch=steps_per_epoch,
        # Reshuffled and binarised afresh on every repetition.
        train_data=model_inputs(
            train_x,
            conditions(train_y),
            global_batch,
            binarize=settings.binarize,
            shuffle=True,
            seed=settings.seed,
            drop_remainder=drop_remainder,
            value_range=data.value_range,
        ).repeat(),
        fit_steps_per_epoch=steps_per_epoch,
        diagnostics=LayerDiagnostics(
            evaluation_images(source_x[:DIAGNOSTIC_IMAGES], settings.binarize, data.value_range),
            conditions(source_y[:DIAGNOSTIC_IMAGES]),
        ),
        valid_data=valid_data,
        final_metrics=final_metrics,
        features=data.features,
        # Vectors (an [N, D] array of the user's) have no picture to log.
        image_logger=None
        if len(data.data_shape) != 3
        else lambda log_dir: ImageLogger(
            log_dir,
            evaluation_images(source_x[:8], settings.binarize, data.value_range),
            every=settings.image_every,
            seed=settings.seed,
            conditions=conditions(source_y[:8]),
        ),
    )


def _prepare_text(settings, dataset, model_config, global_batch):
    """Sentences: a vocabulary from the training split, bucketed pipelines, and a ``SentenceVAE``."""
    data = text.load_text(settings, dataset)
    vocabulary = text.Vocabulary.build(
        data.train, settings.max_vocab, settings.min_count, settings.tokenizer, settings.max_length
    )
    for split in ("train", "valid", "test"):
        cut = vocabulary.count_cut(getattr(data, split))
        if cut:
            print(
                f"tfvae: {cut} {split} sentences are longer than max_length={settings.max_length} words; "
                "they are cut (raise --max-length to keep them whole)"
            )
    ids = {split: text.encode_sentences(vocabulary, getattr(data, split)) for split in ("train", "valid", "test")}
    model_config = {**model_config, "vocab_size": vocabulary.size, "max_length": settings.max_length}

    def final_metrics(model):
        # Validation and test: a pass over the training split costs a third of an epoch here.
        return {
            split: evaluate_negative_elbo(
                model, None, dataset=text.make_text_pipeline(ids[split], global_batch, shuffle=False, bucket=False)
            )
            for split in ("valid", "test")
        }

    return PreparedData(
        name=data.name,
        model_class=SentenceVAE,
        model_config=model_config,
        # Bucketing adds a part-full batch per bucket: the schedules' epoch length is approximate.
        steps_per_epoch=math.ceil(int(ids["train"].nrows()) / global_batch),
        train_data=text.make_text_pipeline(ids["train"], global_batch, shuffle=True, seed=settings.seed),
        valid_data=text.make_text_pipeline(ids["valid"], global_batch, shuffle=False, bucket=False),
        final_metrics=final_metrics,
        vocabulary=vocabulary,
        diagnostics=_sentence_diagnostics(ids["valid"], model_config),
        # Bucketed batches have no fixed count per epoch, which Keras needs for several steps a call;
        # an RNN step is long enough that one step a call costs nothing measurable.
        steps_per_execution=1,
    )


def _sentence_diagnostics(ids, model_config):
    """A ``SentenceDiagnostics`` over the first ``DIAGNOSTIC_SENTENCES`` of ``ids``, or ``None`` for a
    language model."""
    if not model_config.get("latent_dim", constructor_defaults(SentenceVAE)["latent_dim"]):
        return None
    batches = text.make_text_pipeline(ids[:DIAGNOSTIC_SENTENCES], 250, shuffle=False, bucket=False)
    return SentenceDiagnostics([batch.numpy() for batch in batches])


# --- the command ------------------------------------------------------------------------------------


def run_train_command(args):
    """``tfvae train``: trains (or resumes, or continues) the run in ``args.out`` from the parsed flags, and prints its
    test numbers; a finished run is left as it is."""
    model_config = options.text_model_config(args) if args.dataset == "text" else options.image_model_config(args)
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


def _print_objective(metrics):
    """The test numbers by name: the training objective, and the plain negative ELBO beside it."""
    test = metrics["test"]
    objective = metrics.get("objective", {"key": "negative_elbo", "name": "negative ELBO"})
    print(f"test {objective['name']}: {test['loss']:.2f} nats")
    if objective["key"] != "negative_elbo":
        print(f"test negative ELBO: {-test['elbo']:.2f} nats")
