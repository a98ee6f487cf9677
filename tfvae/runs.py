"""The run directory: everything a trained model needs, and the rules for reusing one.

    RUN_DIR/config.json        model config + training settings
    RUN_DIR/checkpoints/best*  weights with the best validation loss (``tfvae.run_weights``)
    RUN_DIR/backup/            BackupAndRestore state (resume after a kill)
    RUN_DIR/logs/              TensorBoard
    RUN_DIR/history.csv        one row per epoch (its time in ``epoch_seconds``)
    RUN_DIR/metrics.json       final train/test negative ELBO and timings
    RUN_DIR/.tfvae.lock        while a process trains into it (``tfvae.ownership``)
    RUN_DIR/vocabulary.txt     a text run's vocabulary (``tfvae.text``)

``TrainSettings`` is what ``config.json`` stores beside the model's config;
``run_state`` decides whether ``tfvae.training.train`` starts, resumes,
continues or leaves a run; ``read_run_config`` and ``read_metrics`` are the
one readers of ``config.json`` and ``metrics.json``; ``load_run`` gives the
trained model back.
"""

import csv
import dataclasses
import inspect
import json
import math
import shutil
from pathlib import Path

from tfvae import __version__, options, text
from tfvae.core import BaseVAE
from tfvae.model import VAE
from tfvae.ownership import LOCK_FILE
from tfvae.run_weights import check_best_weights, load_best_weights
from tfvae.sentence import SentenceVAE

RUN_FORMAT = 1  # layout of a run directory; bumped when an older tfvae could not read it
# Settings that may change between invocations of one run: they change where and how fast it runs, not what it
# trains. The rows marked ``runtime`` in the option table, and the one field without a row (no flag).
RUNTIME_SETTINGS = (*options.runtime_settings(), "image_every")
# Files a run writes; --overwrite removes these and nothing else.
RUN_FILES = (
    "config.json",
    "checkpoints",
    "backup",
    "logs",
    "history.csv",
    "metrics.json",
    "eval.json",
    text.VOCABULARY_FILE,
)
MODEL_CLASSES = {"VAE": VAE, "SentenceVAE": SentenceVAE}


@dataclasses.dataclass
class TrainSettings:
    """How to train: data, optimisation and bookkeeping (the model's own
    hyperparameters live in its config)."""

    dataset: str = "mnist"
    data_dir: str | None = None
    # A user's own data (dataset "images" or "array", tfvae.own_data): its path, and a folder's image size.
    data: str | None = None
    image_size: list[int] | None = None
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
    # the MLP step 1.21x faster but the conv step 0.7x (so None = MLPs, in runs of training.JIT_MIN_STEPS or more);
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
    mixed_bfloat16: bool = False  # bfloat16 compute (CPUs with BF16 instructions), float32 variables and loss
    deterministic: bool = False  # tf.config.experimental.enable_op_determinism(): bit-identical reruns
    init_from: str | None = None  # warm start: a run directory or export of the same architecture (tfvae.warm_start)
    # Text (dataset="text"): tfvae.text's vocabulary and tokenization.
    tfds_name: str | None = None  # a TFDS text dataset instead of data_dir
    max_vocab: int | None = None  # most frequent training words kept (None: all)
    min_count: int = 1  # words seen fewer times in training become <unk>
    max_length: int = 100  # words per sentence; longer ones are cut (and counted)
    tokenizer: str = "whitespace"  # or "standardize" (lowercase, strip punctuation)


# Batch of every evaluation pass (validation each epoch, and the final numbers): one batch shape, so the
# XLA-compiled test function is compiled once and reused (5,000 validation and 10,000 test images divide


def check_settings(settings: TrainSettings) -> None:
    """Raises ``ValueError`` naming the field if a setting is one ``tfvae train`` refuses.

    The choices and ranges are the option rows' (``tfvae.options``), so the
    Python API and the command line refuse the same values.
    """
    values = dataclasses.asdict(settings)
    options.check_arguments(values, "train")
    options.check_rules(values, "train")  # e.g. mixed_precision with mixed_bfloat16


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
        if run_dir.exists() and any(p.name != LOCK_FILE for p in run_dir.iterdir()):
            raise FileExistsError(
                f"{run_dir} is not empty and holds no tfvae run (no config.json); choose a new or empty --out"
            )
        return "new"
    stored = read_run_config(run_dir)
    # A model argument added after the run was written is the same if it keeps the constructor's default.
    model_defaults = constructor_defaults(MODEL_CLASSES[stored.get("class", "VAE")])
    differing = [
        key
        for key, value in model_config.items()
        if (key in stored["model"] or key in model_defaults)
        and stored["model"].get(key, _normalised(model_defaults.get(key))) != _normalised(value)
    ]
    # A setting added after the run was written is the same setting if it keeps its default.
    defaults = {field.name: field.default for field in dataclasses.fields(settings)}
    differing += [
        key
        for key, value in dataclasses.asdict(settings).items()
        if key not in RUNTIME_SETTINGS and stored["train"].get(key, _normalised(defaults[key])) != _normalised(value)
    ]
    if differing:
        raise ValueError(
            f"{run_dir} holds a run with other settings ({', '.join(differing)} differ); "
            "use another --out, or --overwrite to replace it"
        )
    if not (run_dir / "metrics.json").exists():
        return "resume"
    done = read_metrics(run_dir)["epochs"]
    if settings.epochs <= done:
        return "finished"
    if not (run_dir / "backup").exists():
        raise ValueError(
            f"{run_dir} finished {done} epochs but keeps no backup state to continue from "
            "(it was trained with --no-backup or by an older tfvae); use --overwrite or a new --out"
        )
    return "continue"


def constructor_defaults(model_class):
    """Default values of ``model_class``'s constructor arguments (a subclass's own first, then its bases')."""
    defaults = {}
    for cls in reversed(model_class.__mro__):
        if "__init__" in vars(cls):
            defaults.update(
                {
                    name: p.default
                    for name, p in inspect.signature(cls.__init__).parameters.items()
                    if p.default is not inspect.Parameter.empty
                }
            )
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


def best_so_far(history_path, monitor):
    """The best (lowest) finite ``monitor`` value in an earlier invocation's ``history.csv``, or ``inf``.

    ``inf`` rather than ``None``: Keras 3's ``ModelCheckpoint`` saves any first value against ``None``, a NaN
    included, and nothing that is not finite may become a run's best weights."""
    if not history_path.exists():
        return math.inf
    with open(history_path) as f:
        values = [float(row[monitor]) for row in csv.DictReader(f) if row.get(monitor)]
    values = [v for v in values if math.isfinite(v)]
    return min(values) if values else math.inf


def history_length(history_path):
    """The number of epochs ``history.csv`` records."""
    with open(history_path) as f:
        return sum(1 for _ in csv.DictReader(f))


def history_seconds(history_path):
    """``(seconds, untimed)``: the sum of the ``epoch_seconds`` column of ``history.csv`` (every invocation's epochs),
    and the number of its epochs without a time (logged by a tfvae up to 0.2.0, which did not time epochs)."""
    with open(history_path) as f:
        times = [row.get("epoch_seconds") or "" for row in csv.DictReader(f)]
    return sum(float(t) for t in times if t), sum(1 for t in times if not t)


def read_run_config(run_dir: str | Path) -> dict:
    """``RUN_DIR/config.json``, checked to be a run format this tfvae reads.

    Runs written before the format was recorded (tfvae 0.1.0) are format 1.
    """
    config_path = Path(run_dir) / "config.json"
    if not config_path.exists():
        raise FileNotFoundError(f"{config_path}: not a tfvae run directory (no config.json)")
    config = json.loads(config_path.read_text())
    if config.get("format", 1) != RUN_FORMAT:
        raise ValueError(
            f"{run_dir} was written by tfvae {config.get('tfvae_version', '?')} in run format "
            f"{config.get('format')}; this tfvae {__version__} reads format {RUN_FORMAT}"
        )
    return config


def read_metrics(run_dir: str | Path) -> dict:
    """``RUN_DIR/metrics.json``: a finished run's final numbers (``FileNotFoundError`` if unfinished)."""
    return json.loads((Path(run_dir) / "metrics.json").read_text())


# What an evaluation record keeps of ``tfvae evaluate``'s results: the estimate and how it was made.
EVALUATION_RECORD_KEYS = (
    "split",
    "nll",
    "nll_stderr",
    "elbo",
    "ppl",
    "kl",
    "active_units",
    "num_samples",
    "num_examples",
    "seed",
    "dataset",
    "binarization",
    "date",
    "command",
)


def evaluation_records(run_dir: str | Path) -> list[dict]:
    """Every log-likelihood evaluation written into ``run_dir`` (``eval*.json`` with an ``nll``), oldest first.

    An export's ``metrics.json`` carries them as ``evaluations``, so that a published number is in the
    file beside the model with its K, split, examples, date and command (older ``eval.json`` files lack
    the date and command: ``tfvae evaluate`` writes them since 0.3).
    """
    records = []
    for path in sorted(Path(run_dir).glob("eval*.json"), key=lambda p: p.stat().st_mtime):
        results = json.loads(path.read_text())
        if isinstance(results, dict) and "nll" in results:
            records.append({key: results[key] for key in EVALUATION_RECORD_KEYS if key in results})
    return records


def load_run(run_dir: str | Path) -> BaseVAE:
    """The trained model of ``run_dir`` (its config and best weights)."""
    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    check_best_weights(run_dir)  # before building: a missing or other-Keras file is one message
    model = MODEL_CLASSES[config.get("class", "VAE")].from_config(config["model"])
    load_best_weights(model, run_dir)
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
