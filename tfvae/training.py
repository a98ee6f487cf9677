"""Training runs: a run directory that holds everything a trained model needs.

    RUN_DIR/config.json        model config + training settings
    RUN_DIR/checkpoints/best*  weights with the best validation loss
    RUN_DIR/backup/            BackupAndRestore state (resume after a kill)
    RUN_DIR/logs/              TensorBoard
    RUN_DIR/history.csv        one row per epoch
    RUN_DIR/metrics.json       final train/test negative ELBO and timings
    RUN_DIR/vocabulary.txt     a text run's vocabulary (``tfvae.text``)

Images train a ``VAE``; ``dataset="text"`` (a directory of sentences, or a
TFDS text dataset by ``tfds_name``) trains a ``tfvae.sentence.SentenceVAE``
through the same loop, with the text settings below.

``train`` is what ``tfvae train`` runs; ``load_run`` gives the trained model
back.
"""

import contextlib
import csv
import dataclasses
import inspect
import json
import math
import shutil
import time
from pathlib import Path

import numpy as np

from tfvae import __version__, text
from tfvae.backend import keras, tf
from tfvae.callbacks import (
    CyclicalSchedule,
    EarlyStopping,
    HistoryCSV,
    ImageLogger,
    KLAnnealing,
    LayerDiagnostics,
    SentenceDiagnostics,
    LearningRateLogger,
    LinearWarmup,
    LogisticWarmup,
    ObjectiveLogger,
    TrimHistory,
)
from tfvae.data import ImageDataset, binarize_fixed, load_dataset, make_pipeline, one_hot, to_unit_interval
from tfvae.model import VAE
from tfvae.objectives import objective_key, objective_name
from tfvae.optimization import check_optimizer_settings, make_optimizer
from tfvae.sentence import SentenceVAE

STRATEGIES = ("default", "mirrored", "multiworker")
TEST_BINARIZATION_SEED = 0  # the one fixed draw of binary test images
RUN_FORMAT = 1  # layout of a run directory; bumped when an older tfvae could not read it
# Settings that may change between invocations of one run: they change where
# and how fast it runs, not what it trains.
RUNTIME_SETTINGS = ("epochs", "early_stopping", "data_dir", "strategy", "jit_compile", "steps_per_execution", "backup",
                    "image_every")
# Files a run writes; --overwrite removes these and nothing else.
RUN_FILES = ("config.json", "checkpoints", "backup", "logs", "history.csv", "metrics.json", "eval.json",
             text.VOCABULARY_FILE)
TEXT_DATASET = "text"  # settings.dataset of a sentence VAE
MODEL_CLASSES = {"VAE": VAE, "SentenceVAE": SentenceVAE}


@dataclasses.dataclass
class TrainSettings:
    """How to train: data, optimisation and bookkeeping (the model's own
    hyperparameters live in its config)."""

    dataset: str = "mnist"
    data_dir: str | None = None
    epochs: int = 10
    batch_size: int = 128
    learning_rate: float = 1e-3
    # Optimizer and schedule (tfvae.optimization): Adam's betas and epsilon,
    # constant|exponential|cosine|burda, linear warm-up, reduce-on-plateau.
    lr_schedule: str = "constant"
    lr_decay_rate: float = 0.1  # exponential: factor per lr_decay_epochs
    lr_decay_epochs: float = 100.0
    lr_min_fraction: float = 0.0  # cosine: final lr / first lr
    warmup_steps: int = 0
    reduce_lr_on_plateau: int = 0  # patience in epochs (0: off); constant schedule only
    early_stopping: int = 0  # stop after this many epochs without a better validation objective (0: off)
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    validation_size: int = 5000
    binarize: str = "dynamic"
    seed: int = 0
    strategy: str = "default"
    # Speed defaults measured by scripts/benchmark.py on a 2-core CPU: XLA makes
    # the MLP step 1.21x faster but the conv step 0.7x (so None = MLPs, in runs of JIT_MIN_STEPS or more);
    # 20 steps per tf.function call give the MLP 1.12x; both together 1.42x.
    jit_compile: bool | None = None
    steps_per_execution: int = 20
    backup: bool = True
    image_every: int = 1  # epochs between TensorBoard image grids; 0 turns them off
    conditional: bool = False  # condition encoder and decoder on one-hot labels
    kl_warmup_steps: int = 0  # KL warm-up over this many steps (0: none)
    kl_warmup_shape: str = "linear"  # or "logistic" (Bowman et al. 2016)
    kl_cycle_steps: int = 0  # cyclical KL annealing with this period (0: none)
    mixed_precision: bool = False  # float16 compute (GPUs), float32 variables and loss
    deterministic: bool = False  # tf.config.experimental.enable_op_determinism(): bit-identical reruns
    # Text (dataset="text"): tfvae.text's vocabulary and tokenization.
    tfds_name: str | None = None  # a TFDS text dataset instead of data_dir
    max_vocab: int | None = None  # most frequent training words kept (None: all)
    min_count: int = 1  # words seen fewer times in training become <unk>
    max_length: int = 100  # words per sentence; longer ones are cut (and counted)
    tokenizer: str = "whitespace"  # or "standardize" (lowercase, strip punctuation)


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

    ``"multiworker"`` reads the cluster from the ``TF_CONFIG`` environment variable.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}")


@contextlib.contextmanager
def dtype_policy(name):
    """Keras's global dtype policy set to ``name`` inside the block only."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def split_validation(images, labels, validation_size):
    """Holds out the last ``validation_size`` training examples."""
    if not 0 <= validation_size < len(images):
        raise ValueError(f"validation_size must be in [0, {len(images)}), got {validation_size}")
    cut = len(images) - validation_size
    return (images[:cut], labels[:cut]), (images[cut:], labels[cut:])


def evaluation_images(images, binarize):
    """Test-time images: binarised once with a fixed seed, or just scaled."""
    if binarize == "none":
        return to_unit_interval(images)
    return binarize_fixed(images, TEST_BINARIZATION_SEED)


def model_inputs(images, conditions=None, batch_size=128, binarize="none", shuffle=False, seed=0,
                 drop_remainder=False):
    """A pipeline of model inputs: ``x`` batches, or ``((x, c),)`` for a conditional model.

    The extra tuple level tells Keras that ``(x, c)`` is the input, not ``(x, y)``.
    """
    dataset = make_pipeline(images, batch_size, binarize=binarize, shuffle=shuffle, seed=seed, labels=conditions,
                            drop_remainder=drop_remainder)
    if conditions is None:
        return dataset
    return dataset.map(lambda x, c: ((x, c),))


def evaluate_negative_elbo(model, images, conditions=None, batch_size=EVALUATION_BATCH, dataset=None):
    """Keras's ``evaluate`` on fixed images (or on ``dataset``), per example: the objective
    (``loss``, and again under its own name, e.g. ``negative_iwae_bound_k5``), the plain
    ``negative_elbo`` (beta 1, no free bits), reconstruction, KL and ELBO."""
    dataset = model_inputs(images, conditions, batch_size) if dataset is None else dataset
    results = {k: float(v) for k, v in model.evaluate(dataset, verbose=0, return_dict=True).items()}
    results[objective_key(model)] = results["loss"]
    results["negative_elbo"] = -results["elbo"]
    return results


def _normalised(value):
    """``value`` as JSON would store it (tuples become lists), for comparing configs."""
    return json.loads(json.dumps(value))


def run_state(run_dir: str | Path, model_config: dict, settings: "TrainSettings") -> str:
    """What ``train`` will do with ``run_dir``, decided before anything is written.

    Returns one of ``"new"`` (empty or missing directory), ``"resume"`` (an
    interrupted run: same config, no ``metrics.json``), ``"continue"`` (a
    finished run asked for more epochs) or ``"finished"`` (a finished run with
    at least the requested epochs: nothing to do).

    Raises:
        FileExistsError: ``run_dir`` is a file, or a non-empty directory that
            is not a tfvae run.
        ValueError: the run was trained with another model or data
            configuration (the message names the differing keys), or was
            written by a tfvae whose run format differs.
    """
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise FileExistsError(f"{run_dir} is a file, not a run directory; choose another --out")
    config_path = run_dir / "config.json"
    if not config_path.exists():
        if run_dir.exists() and any(run_dir.iterdir()):
            raise FileExistsError(f"{run_dir} is not empty and holds no tfvae run (no config.json); "
                                  "choose a new or empty --out")
        return "new"
    stored = read_run_config(run_dir)
    # A model argument added after the run was written is the same if it keeps the constructor's default.
    model_defaults = _constructor_defaults(MODEL_CLASSES[stored.get("class", "VAE")])
    differing = [key for key, value in model_config.items()
                 if (key in stored["model"] or key in model_defaults)
                 and stored["model"].get(key, _normalised(model_defaults.get(key))) != _normalised(value)]
    # A setting added after the run was written is the same setting if it keeps its default.
    defaults = {field.name: field.default for field in dataclasses.fields(settings)}
    differing += [key for key, value in dataclasses.asdict(settings).items()
                  if key not in RUNTIME_SETTINGS
                  and stored["train"].get(key, _normalised(defaults[key])) != _normalised(value)]
    if differing:
        raise ValueError(f"{run_dir} holds a run with other settings ({', '.join(differing)} differ); "
                         "use another --out, or --overwrite to replace it")
    metrics_path = run_dir / "metrics.json"
    if not metrics_path.exists():
        return "resume"
    done = json.loads(metrics_path.read_text())["epochs"]
    if settings.epochs <= done:
        return "finished"
    if not (run_dir / "backup").exists():
        raise ValueError(f"{run_dir} finished {done} epochs but keeps no backup state to continue from "
                         "(it was trained with --no-backup or by an older tfvae); use --overwrite or a new --out")
    return "continue"


def _constructor_defaults(model_class):
    """Default values of ``model_class``'s constructor arguments (a subclass's own first, then its bases')."""
    defaults = {}
    for cls in reversed(model_class.__mro__):
        if "__init__" in vars(cls):
            defaults.update({name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()
                             if p.default is not inspect.Parameter.empty})
    return defaults


def remove_run(run_dir: str | Path) -> None:
    """Deletes the files a run wrote in ``run_dir`` (and nothing else there)."""
    run_dir = Path(run_dir)
    for name in RUN_FILES:
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _best_so_far(history_path, monitor):
    """The best (lowest) ``monitor`` value in an earlier invocation's ``history.csv``, or ``None``."""
    if not history_path.exists():
        return None
    with open(history_path) as f:
        values = [float(row[monitor]) for row in csv.DictReader(f) if row.get(monitor)]
    values = [v for v in values if math.isfinite(v)]
    return min(values) if values else None


def _history_length(history_path):
    """The number of epochs ``history.csv`` records."""
    with open(history_path) as f:
        return sum(1 for _ in csv.DictReader(f))


def train(
    run_dir: str | Path,
    model_config: dict,
    settings: TrainSettings,
    dataset: ImageDataset | None = None,
    verbose: int = 1,
    extra_callbacks: tuple = (),
    overwrite: bool = False,
) -> tuple[VAE, dict]:
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
    """
    run_dir = Path(run_dir)
    check_optimizer_settings(settings)
    if overwrite and (run_dir / "config.json").exists():
        remove_run(run_dir)
        state = "new"  # other files the user keeps there stay, and do not block the new run
    else:
        state = run_state(run_dir, model_config, settings)
    if state == "finished":
        return load_run(run_dir), json.loads((run_dir / "metrics.json").read_text())
    keras.utils.set_random_seed(settings.seed)
    if settings.deterministic:
        tf.config.experimental.enable_op_determinism()
    strategy = get_strategy(settings.strategy)
    global_batch = settings.batch_size * strategy.num_replicas_in_sync
    prepare = _prepare_text if settings.dataset == TEXT_DATASET else _prepare_images
    data = prepare(settings, dataset, model_config, global_batch)
    policy = dtype_policy("mixed_float16") if settings.mixed_precision else contextlib.nullcontext()
    with strategy.scope(), policy:
        model = data.model_class(**data.model_config)
        model.compile(
            optimizer=make_optimizer(settings, data.steps_per_epoch, settings.epochs),
            jit_compile=use_jit(settings, model.architecture, steps=data.steps_per_epoch * settings.epochs),
            steps_per_execution=data.steps_per_execution or settings.steps_per_execution,
        )
    config = {"tfvae_version": __version__, "format": RUN_FORMAT, "class": type(model).__name__,
              "model": model.get_config(), "train": dataclasses.asdict(settings)}
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(config, indent=2))
    if data.vocabulary is not None:
        data.vocabulary.save(run_dir / text.VOCABULARY_FILE)
    train_data, valid_data = data.train_data, data.valid_data
    # Under KL annealing the loss weighs the KL by less than 1, so the first epochs would look best;
    # the best checkpoint is then the one with the best ELBO, which every epoch measures alike.
    annealed = bool(settings.kl_warmup_steps or settings.kl_cycle_steps)
    monitor = ("val_" if valid_data is not None else "") + ("negative_elbo" if annealed else "loss")
    best = str(run_dir / "checkpoints" / "best")
    callbacks = []
    if settings.kl_warmup_steps or settings.kl_cycle_steps:
        warmup = LogisticWarmup if settings.kl_warmup_shape == "logistic" else LinearWarmup
        schedule = (CyclicalSchedule(settings.kl_cycle_steps, end=model.beta) if settings.kl_cycle_steps
                    else warmup(settings.kl_warmup_steps, end=model.beta))
        callbacks.append(KLAnnealing(schedule))  # before the loggers, which then see kl_weight
    if data.diagnostics is not None:
        callbacks.append(data.diagnostics)
    callbacks += [
        # Before the CSV and TensorBoard loggers, which then see these columns.
        LearningRateLogger(),
        ObjectiveLogger(objective_key(model)),  # and before whatever monitors negative_elbo
    ]
    if settings.reduce_lr_on_plateau:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.5,
                                                           patience=settings.reduce_lr_on_plateau))
    stopper = (EarlyStopping(run_dir / "history.csv", monitor, settings.early_stopping)
               if settings.early_stopping else None)
    callbacks += [
        keras.callbacks.TerminateOnNaN(),
        # A resumed run keeps its best checkpoint unless a later epoch beats it.
        keras.callbacks.ModelCheckpoint(best, monitor=monitor, save_best_only=True, save_weights_only=True,
                                        initial_value_threshold=_best_so_far(run_dir / "history.csv", monitor)),
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
        callbacks += [keras.callbacks.BackupAndRestore(str(run_dir / "backup"), delete_checkpoint=False),
                      TrimHistory(run_dir / "history.csv")]

    start = time.perf_counter()
    history = model.fit(train_data, validation_data=valid_data, epochs=settings.epochs,
                        steps_per_epoch=data.fit_steps_per_epoch, callbacks=callbacks, verbose=verbose)
    seconds = time.perf_counter() - start
    if not np.all(np.isfinite(history.history.get("loss", [0.0]))):
        # The backup holds the diverged weights: resuming from it would only diverge again.
        shutil.rmtree(run_dir / "backup", ignore_errors=True)
        # ModelCheckpoint writes only finite improvements of the monitored loss, so an index means good weights.
        if Path(best + ".index").exists():
            raise FloatingPointError(f"training diverged (loss is not finite); the best weights of the epochs that "
                                     f"finished with a finite {monitor} are in {best}")
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
        raise FloatingPointError("training diverged: no epoch finished with a finite loss, so no weights were kept "
                                 "(lower the learning rate, or check the data)")

    model.load_weights(best).expect_partial()
    metrics = {
        "dataset": data.name,
        "epochs": settings.epochs,
        "objective": {"kind": model.objective_kind, "key": objective_key(model), "name": objective_name(model)},
        "train_seconds": seconds,
        # Epochs in history.csv (all invocations), and whether early stopping ended the run.
        "epochs_trained": _history_length(run_dir / "history.csv"),
        "stopped_early": bool(stopper and stopper.stopped_early),
        **data.final_metrics(model),
    }
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return model, metrics


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
    steps_per_execution: int | None = None  # instead of the setting
    # Set for a repeated (endless) training pipeline: fit's epoch length. A finite pipeline that fit
    # re-iterates every epoch pays for a new iterator (and shuffle buffer) at each epoch boundary:
    # stalls of 3-4 s on MNIST (scripts/profile_train.py).
    fit_steps_per_epoch: int | None = None


def _prepare_images(settings, dataset, model_config, global_batch):
    """Images: a validation split, binarisation, conditions, and a ``VAE``."""
    data = dataset if dataset is not None else load_dataset(settings.dataset, settings.data_dir)
    (train_x, train_y), (valid_x, valid_y) = split_validation(data.train_images, data.train_labels,
                                                              settings.validation_size)
    num_classes = int(data.train_labels.max()) + 1
    conditions = (lambda labels: one_hot(labels, num_classes)) if settings.conditional else (lambda labels: None)
    model_config = {**model_config, "data_shape": list(data.data_shape)}
    if settings.conditional:
        model_config["condition_dim"] = num_classes
    valid_data = None
    if len(valid_x):
        valid_data = model_inputs(evaluation_images(valid_x, settings.binarize), conditions(valid_y),
                                  max(EVALUATION_BATCH, global_batch))
    source_x, source_y = (valid_x, valid_y) if len(valid_x) else (train_x, train_y)

    def final_metrics(model):
        return {
            "train": evaluate_negative_elbo(model, evaluation_images(train_x[:TRAIN_EVALUATION_SIZE],
                                                                     settings.binarize),
                                            conditions(train_y[:TRAIN_EVALUATION_SIZE])),
            "train_examples": min(len(train_x), TRAIN_EVALUATION_SIZE),
            "test": evaluate_negative_elbo(model, evaluation_images(data.test_images, settings.binarize),
                                           conditions(data.test_labels)),
            "test_binarization_seed": TEST_BINARIZATION_SEED,
        }

    # Full batches only (each epoch leaves out a different random remainder, under one batch): a last
    # partial batch is a second input shape, which XLA compiles again (1-2 s of every run's first epoch).
    drop_remainder = len(train_x) >= global_batch
    steps_per_epoch = len(train_x) // global_batch if drop_remainder else 1
    return PreparedData(
        name=data.name, model_class=VAE, model_config=model_config, steps_per_epoch=steps_per_epoch,
        # Reshuffled and binarised afresh on every repetition.
        train_data=model_inputs(train_x, conditions(train_y), global_batch, binarize=settings.binarize,
                                shuffle=True, seed=settings.seed, drop_remainder=drop_remainder).repeat(),
        fit_steps_per_epoch=steps_per_epoch,
        diagnostics=LayerDiagnostics(evaluation_images(source_x[:DIAGNOSTIC_IMAGES], settings.binarize),
                                     conditions(source_y[:DIAGNOSTIC_IMAGES])),
        valid_data=valid_data, final_metrics=final_metrics,
        image_logger=lambda log_dir: ImageLogger(log_dir, evaluation_images(source_x[:8], settings.binarize),
                                                 every=settings.image_every, seed=settings.seed,
                                                 conditions=conditions(source_y[:8])))


def load_text(settings, dataset=None):
    """The run's ``TextDataset``: given, from ``settings.data_dir`` or from TFDS (``settings.tfds_name``)."""
    if dataset is not None:
        return dataset
    if settings.data_dir:
        return text.load_text_dir(settings.data_dir)
    if settings.tfds_name:
        return text.load_tfds_text(settings.tfds_name)
    raise ValueError("text data needs --data-dir (a directory of train/valid/test sentences) or --tfds-name")


def _prepare_text(settings, dataset, model_config, global_batch):
    """Sentences: a vocabulary from the training split, bucketed pipelines, and a ``SentenceVAE``."""
    data = load_text(settings, dataset)
    vocabulary = text.Vocabulary.build(data.train, settings.max_vocab, settings.min_count, settings.tokenizer,
                                       settings.max_length)
    for split in ("train", "valid", "test"):
        cut = vocabulary.count_cut(getattr(data, split))
        if cut:
            print(f"tfvae: {cut} {split} sentences are longer than max_length={settings.max_length} words; "
                  "they are cut (raise --max-length to keep them whole)")
    ids = {split: text.encode_sentences(vocabulary, getattr(data, split)) for split in ("train", "valid", "test")}
    model_config = {**model_config, "vocab_size": vocabulary.size, "max_length": settings.max_length}

    def final_metrics(model):
        # Validation and test: a pass over the training split costs a third of an epoch here.
        return {split: evaluate_negative_elbo(model, None, dataset=text.make_text_pipeline(
                    ids[split], global_batch, shuffle=False, bucket=False)) for split in ("valid", "test")}

    return PreparedData(
        name=data.name, model_class=SentenceVAE, model_config=model_config,
        # Bucketing adds a part-full batch per bucket: the schedules' epoch length is approximate.
        steps_per_epoch=math.ceil(int(ids["train"].nrows()) / global_batch),
        train_data=text.make_text_pipeline(ids["train"], global_batch, shuffle=True, seed=settings.seed),
        valid_data=text.make_text_pipeline(ids["valid"], global_batch, shuffle=False, bucket=False),
        final_metrics=final_metrics, vocabulary=vocabulary,
        diagnostics=_sentence_diagnostics(ids["valid"], model_config),
        # Bucketed batches have no fixed count per epoch, which Keras needs for several steps a call;
        # an RNN step is long enough that one step a call costs nothing measurable.
        steps_per_execution=1)


def _sentence_diagnostics(ids, model_config):
    """A ``SentenceDiagnostics`` over the first ``DIAGNOSTIC_SENTENCES`` of ``ids``, or ``None`` for a
    language model."""
    if not model_config.get("latent_dim", _constructor_defaults(SentenceVAE)["latent_dim"]):
        return None
    batches = text.make_text_pipeline(ids[:DIAGNOSTIC_SENTENCES], 250, shuffle=False, bucket=False)
    return SentenceDiagnostics([batch.numpy() for batch in batches])


def read_run_config(run_dir: str | Path) -> dict:
    """``RUN_DIR/config.json``, checked to be a run format this tfvae reads.

    Runs written before the format was recorded (tfvae 0.1.0) are format 1.
    """
    config_path = Path(run_dir) / "config.json"
    if not config_path.exists():
        raise FileNotFoundError(f"{config_path}: not a tfvae run directory (no config.json)")
    config = json.loads(config_path.read_text())
    if config.get("format", 1) != RUN_FORMAT:
        raise ValueError(f"{run_dir} was written by tfvae {config.get('tfvae_version', '?')} in run format "
                         f"{config.get('format')}; this tfvae {__version__} reads format {RUN_FORMAT}")
    return config


def load_run(run_dir: str | Path) -> VAE:
    """The trained model of ``run_dir`` (its config and best weights)."""
    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    best = run_dir / "checkpoints" / "best"
    if not Path(f"{best}.index").exists():
        raise FileNotFoundError(f"{run_dir} holds no trained weights ({best}*): no epoch has finished with a "
                                "finite loss (the run diverged, or was interrupted in its first epoch)")
    model = MODEL_CLASSES[config.get("class", "VAE")].from_config(config["model"])
    model.load_weights(str(best)).expect_partial()
    return model


def load_vocabulary(run_dir: str | Path) -> text.Vocabulary:
    """A text run's vocabulary, with the tokenizer and ``max_length`` it was trained with."""
    settings = load_run_settings(run_dir)
    path = Path(run_dir) / text.VOCABULARY_FILE
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} holds no {text.VOCABULARY_FILE}: not a text run")
    return text.Vocabulary.load(path, settings.tokenizer, settings.max_length)


def load_run_settings(run_dir: str | Path) -> TrainSettings:
    """The ``TrainSettings`` a run was trained with."""
    return TrainSettings(**read_run_config(run_dir)["train"])
