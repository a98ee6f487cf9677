"""Training runs: a run directory that holds everything a trained model needs.

    RUN_DIR/config.json        model config + training settings
    RUN_DIR/checkpoints/best*  weights with the best validation loss
    RUN_DIR/backup/            BackupAndRestore state (resume after a kill)
    RUN_DIR/logs/              TensorBoard
    RUN_DIR/history.csv        one row per epoch
    RUN_DIR/metrics.json       final train/test negative ELBO and timings

``train`` is what ``tfvae train`` runs; ``load_run`` gives the trained model
back.
"""

import contextlib
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from tfvae.backend import keras, tf
from tfvae.callbacks import CyclicalSchedule, ImageLogger, KLAnnealing, LinearWarmup
from tfvae.data import binarize_fixed, load_dataset, make_pipeline, one_hot, to_unit_interval
from tfvae.model import VAE

STRATEGIES = ("default", "mirrored", "multiworker")
TEST_BINARIZATION_SEED = 0  # the one fixed draw of binary test images


@dataclasses.dataclass
class TrainSettings:
    """How to train: data, optimisation and bookkeeping (the model's own
    hyperparameters live in its config)."""

    dataset: str = "mnist"
    data_dir: str | None = None
    epochs: int = 10
    batch_size: int = 128
    learning_rate: float = 1e-3
    validation_size: int = 5000
    binarize: str = "dynamic"
    seed: int = 0
    strategy: str = "default"
    # Speed defaults measured by scripts/benchmark.py on a 2-core CPU: XLA makes
    # the MLP step 1.21x faster but the conv step 0.7x (so None = MLP only);
    # 20 steps per tf.function call give the MLP 1.12x; both together 1.42x.
    jit_compile: bool | None = None
    steps_per_execution: int = 20
    backup: bool = True
    image_every: int = 1  # epochs between TensorBoard image grids; 0 turns them off
    conditional: bool = False  # condition encoder and decoder on one-hot labels
    kl_warmup_steps: int = 0  # linear KL warm-up over this many steps (0: none)
    kl_cycle_steps: int = 0  # cyclical KL annealing with this period (0: none)
    mixed_precision: bool = False  # float16 compute (GPUs), float32 variables and loss
    deterministic: bool = False  # tf.config.experimental.enable_op_determinism(): bit-identical reruns


def use_jit(settings, architecture):
    """Whether to compile the train step with XLA: the setting, or by default for MLPs only."""
    return architecture == "mlp" if settings.jit_compile is None else bool(settings.jit_compile)


def get_strategy(name="default"):
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


def model_inputs(images, conditions=None, batch_size=128, binarize="none", shuffle=False, seed=0):
    """A pipeline of model inputs: ``x`` batches, or ``((x, c),)`` for a conditional model.

    The extra tuple level tells Keras that ``(x, c)`` is the input, not ``(x, y)``.
    """
    dataset = make_pipeline(images, batch_size, binarize=binarize, shuffle=shuffle, seed=seed, labels=conditions)
    if conditions is None:
        return dataset
    return dataset.map(lambda x, c: ((x, c),))


def evaluate_negative_elbo(model, images, conditions=None, batch_size=500):
    """Keras's ``evaluate`` on fixed images: mean loss, reconstruction, KL and ELBO per example."""
    dataset = model_inputs(images, conditions, batch_size)
    return {k: float(v) for k, v in model.evaluate(dataset, verbose=0, return_dict=True).items()}


def train(run_dir, model_config, settings, dataset=None, verbose=1, extra_callbacks=()):
    """Trains a VAE and fills ``run_dir``.

    Args:
        run_dir: output directory (created). Re-running the same command in the
            same directory resumes an interrupted run.
        model_config: keyword arguments of ``VAE`` (``data_shape`` is taken
            from the data).
        settings: a ``TrainSettings``.
        dataset: an ``ImageDataset``; loaded from ``settings`` if ``None``.
        verbose: Keras progress-bar verbosity.
        extra_callbacks: more Keras callbacks.

    Returns:
        ``(model, metrics)``: the model with its best weights, and the dict
        written to ``metrics.json``.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(settings.seed)
    if settings.deterministic:
        tf.config.experimental.enable_op_determinism()
    data = dataset if dataset is not None else load_dataset(settings.dataset, settings.data_dir)
    (train_x, train_y), (valid_x, valid_y) = split_validation(data.train_images, data.train_labels,
                                                              settings.validation_size)
    num_classes = int(data.train_labels.max()) + 1
    conditions = (lambda labels: one_hot(labels, num_classes)) if settings.conditional else (lambda labels: None)

    strategy = get_strategy(settings.strategy)
    global_batch = settings.batch_size * strategy.num_replicas_in_sync
    model_config = {**model_config, "data_shape": list(data.data_shape)}
    if settings.conditional:
        model_config["condition_dim"] = num_classes
    policy = dtype_policy("mixed_float16") if settings.mixed_precision else contextlib.nullcontext()
    with strategy.scope(), policy:
        model = VAE(**model_config)
        model.compile(
            optimizer=keras.optimizers.Adam(settings.learning_rate),
            jit_compile=use_jit(settings, model.architecture),
            steps_per_execution=settings.steps_per_execution,
        )
    config = {"model": model.get_config(), "train": dataclasses.asdict(settings)}
    (run_dir / "config.json").write_text(json.dumps(config, indent=2))

    train_data = model_inputs(train_x, conditions(train_y), global_batch, binarize=settings.binarize,
                              shuffle=True, seed=settings.seed)
    valid_data = None
    if len(valid_x):
        valid_data = model_inputs(evaluation_images(valid_x, settings.binarize), conditions(valid_y), global_batch)
    monitor = "val_loss" if valid_data is not None else "loss"
    best = str(run_dir / "checkpoints" / "best")
    callbacks = []
    if settings.backup:
        callbacks.append(keras.callbacks.BackupAndRestore(str(run_dir / "backup")))
    if settings.kl_warmup_steps or settings.kl_cycle_steps:
        schedule = (CyclicalSchedule(settings.kl_cycle_steps, end=model.beta) if settings.kl_cycle_steps
                    else LinearWarmup(settings.kl_warmup_steps, end=model.beta))
        callbacks.append(KLAnnealing(schedule))  # before the loggers, which then see kl_weight
    callbacks += [
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.ModelCheckpoint(best, monitor=monitor, save_best_only=True, save_weights_only=True),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        keras.callbacks.TensorBoard(str(run_dir / "logs")),
        *extra_callbacks,
    ]
    if settings.image_every:
        source_x, source_y = (valid_x, valid_y) if len(valid_x) else (train_x, train_y)
        callbacks.append(ImageLogger(run_dir / "logs", evaluation_images(source_x[:8], settings.binarize),
                                     every=settings.image_every, seed=settings.seed,
                                     conditions=conditions(source_y[:8])))

    start = time.perf_counter()
    history = model.fit(train_data, validation_data=valid_data, epochs=settings.epochs,
                        callbacks=callbacks, verbose=verbose)
    seconds = time.perf_counter() - start
    if not np.all(np.isfinite(history.history.get("loss", [0.0]))):
        raise FloatingPointError(
            f"training diverged (loss is not finite); the last good weights are in {best}"
        )

    model.load_weights(best).expect_partial()
    metrics = {
        "dataset": data.name,
        "epochs": settings.epochs,
        "train_seconds": seconds,
        "train": evaluate_negative_elbo(model, evaluation_images(train_x, settings.binarize), conditions(train_y)),
        "test": evaluate_negative_elbo(model, evaluation_images(data.test_images, settings.binarize),
                                       conditions(data.test_labels)),
        "test_binarization_seed": TEST_BINARIZATION_SEED,
    }
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return model, metrics


def load_run(run_dir):
    """The trained model of ``run_dir`` (its config and best weights)."""
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if not config_path.exists():
        raise FileNotFoundError(f"{config_path}: not a tfvae run directory (no config.json)")
    config = json.loads(config_path.read_text())
    model = VAE.from_config(config["model"])
    model.load_weights(str(run_dir / "checkpoints" / "best")).expect_partial()
    return model


def load_run_settings(run_dir):
    """The ``TrainSettings`` a run was trained with."""
    config = json.loads((Path(run_dir) / "config.json").read_text())
    return TrainSettings(**config["train"])
