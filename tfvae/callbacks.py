"""Keras callbacks for VAEs: KL annealing, learning-rate logging and TensorBoard image grids."""

import csv
import time
from pathlib import Path

import numpy as np

from tfvae.backend import keras, tf
from tfvae.data import one_hot
from tfvae.evaluation import active_units, mutual_information
from tfvae.optimization import current_learning_rate
from tfvae.plots import image_grid


class LinearWarmup:
    """KL weight rising linearly from ``start`` to ``end`` over ``steps`` steps, then flat
    (Bowman et al. 2016)."""

    def __init__(self, steps, start=0.0, end=1.0):
        if int(steps) < 1:
            raise ValueError(f"warm-up steps must be >= 1, got {steps}")
        self.steps, self.start, self.end = int(steps), float(start), float(end)

    def __call__(self, step):
        """The weight at optimizer step ``step``."""
        return self.start + (self.end - self.start) * min(1.0, step / self.steps)


class LogisticWarmup:
    """KL weight on a logistic curve from ``start`` to ``end`` (Bowman et al. 2016's annealing):

        w(step) = start + (end - start) / (1 + exp(-10 (step / steps - 1/2)))

    centred at ``steps / 2``; 0.7 % of the way at step 0 and 99.3 % at ``steps``."""

    def __init__(self, steps, start=0.0, end=1.0):
        if int(steps) < 1:
            raise ValueError(f"warm-up steps must be >= 1, got {steps}")
        self.steps, self.start, self.end = int(steps), float(start), float(end)

    def __call__(self, step):
        """The weight at optimizer step ``step``."""
        return self.start + (self.end - self.start) / (1.0 + np.exp(-10.0 * (step / self.steps - 0.5)))


class CyclicalSchedule:
    """Cyclical KL annealing (Fu et al. 2019): every ``steps`` steps the weight
    restarts at ``start``, rises linearly for ``ratio * steps`` steps to ``end``
    and stays there for the rest of the cycle."""

    def __init__(self, steps, ratio=0.5, start=0.0, end=1.0):
        if int(steps) < 1 or not 0 < float(ratio) <= 1:
            raise ValueError(f"need steps >= 1 and 0 < ratio <= 1, got {steps}, {ratio}")
        self.steps, self.ratio, self.start, self.end = int(steps), float(ratio), float(start), float(end)

    def __call__(self, step):
        """The weight at optimizer step ``step``."""
        phase = (step % self.steps) / self.steps
        return self.start + (self.end - self.start) * min(1.0, phase / self.ratio)


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the optimizer's current learning rate to each epoch's logs as ``learning_rate``."""

    def on_epoch_end(self, epoch, logs=None):
        """Writes ``logs["learning_rate"]`` (list it before the CSV/TensorBoard loggers)."""
        if logs is not None:
            logs["learning_rate"] = current_learning_rate(self.model.optimizer)


class EpochTimer(keras.callbacks.Callback):
    """Adds each epoch's wall-clock seconds to its logs as ``epoch_seconds``.

    An epoch's time runs from the end of the previous one (from the start of
    training for an invocation's first epoch, so tracing and compiling count)
    to this callback's ``on_epoch_end``: training, validation and the
    callbacks listed before it. Listed just before the CSV logger, the times
    go to ``history.csv``, one per epoch of every invocation, and a run's
    training time is their sum (``tfvae.runs.history_seconds``), however
    often it was interrupted and resumed.
    """

    def on_train_begin(self, logs=None):
        self._mark = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        """Writes ``logs["epoch_seconds"]``."""
        now = time.perf_counter()
        if logs is not None:
            logs["epoch_seconds"] = now - self._mark
        self._mark = now


class ObjectiveLogger(keras.callbacks.Callback):
    """Names the numbers in each epoch's logs for what they are.

    Keras calls the training objective ``loss`` whatever it is; this adds it
    again under ``key`` (e.g. ``negative_iwae_bound_k5``, from
    ``objectives.objective_key``) and always adds the plain ``negative_elbo``
    (from the ``elbo`` metric), for training and validation.
    """

    def __init__(self, key):
        super().__init__()
        self.key = key

    def on_epoch_end(self, epoch, logs=None):
        """Adds ``key``/``negative_elbo`` (and their ``val_`` twins) to ``logs``."""
        if logs is None:
            return
        for prefix in ("", "val_"):
            if prefix + "loss" in logs:
                logs[prefix + self.key] = logs[prefix + "loss"]
            if prefix + "elbo" in logs:
                logs[prefix + "negative_elbo"] = -logs[prefix + "elbo"]


class TrimHistory(keras.callbacks.Callback):
    """Drops the rows of a CSV history at or past the epoch that a resumed run starts from.

    Place it after ``BackupAndRestore``, which restores the saved epoch in its
    own ``on_train_begin``. A run killed after the CSV logger wrote an epoch's
    row but before the backup saved that epoch repeats the epoch; without
    this, the history would hold it twice.
    """

    def __init__(self, path):
        super().__init__()
        self.path = Path(path)

    def on_train_begin(self, logs=None):
        """Rewrites the file in place (the CSV logger holds it open for appending)."""
        if not self.path.exists():
            return
        state = getattr(self.model, "_training_state", None)  # tf_keras's BackupAndRestore state
        if state is not None:
            done = int(state._ckpt_saved_epoch.numpy()) + 1  # -1 when nothing was saved
        else:
            done = getattr(self.model, "_initial_epoch", None)  # where Keras 3's BackupAndRestore resumes
            if done is None:
                return
        lines = self.path.read_text().splitlines(keepends=True)
        kept = lines[:1] + [line for line in lines[1:] if int(line.split(",", 1)[0]) < done]
        if len(kept) != len(lines):
            with open(self.path, "r+") as f:
                f.write("".join(kept))
                f.truncate()


class HistoryCSV(keras.callbacks.CSVLogger):
    """Keras's ``CSVLogger`` in append mode whose rows always match the file's header.

    A resumed run may log columns its earlier invocations did not (a tfvae
    that logs more, e.g. ``active_units``): Keras would append rows of the new
    columns under the old header, shifted. Here, at the first epoch, an
    existing file is rewritten with the union of both sets of columns (empty
    where a row has no value) before any row is added.
    """

    def __init__(self, filename):
        super().__init__(filename, append=True)

    def on_epoch_end(self, epoch, logs=None):
        """Settles the columns at the first epoch, then writes the row as Keras does."""
        if self.keys is None and not self.append_header:
            self.csv_file.close()
            with open(self.filename, newline="") as f:
                reader = csv.DictReader(f)
                old_keys, rows = [k for k in reader.fieldnames if k != "epoch"], list(reader)
            self.keys = old_keys + sorted(set(logs or {}) - set(old_keys))
            if self.keys != old_keys:
                with open(self.filename, "w", newline="") as f:
                    writer = csv.DictWriter(f, fieldnames=["epoch"] + self.keys, restval="")
                    writer.writeheader()
                    writer.writerows(rows)
            self.csv_file = open(self.filename, "a")  # noqa: SIM115 (the logger closes it at the end of training)
        super().on_epoch_end(epoch, logs)


class EarlyStopping(keras.callbacks.EarlyStopping):
    """Keras's ``EarlyStopping`` that survives a resumed run.

    On a resumed run, Keras's callback would start counting afresh; this one
    reads the monitored column of the run's earlier ``history.csv`` first, so
    ``best`` and the epochs waited since it carry over the interruption.
    ``stopped_early`` tells whether it ended the training.
    """

    def __init__(self, history_path, monitor, patience):
        super().__init__(monitor=monitor, patience=int(patience), mode="min")
        self.history_path = Path(history_path)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if not self.history_path.exists():
            return
        with open(self.history_path) as f:
            values = [float(row[self.monitor]) for row in csv.DictReader(f) if row.get(self.monitor)]
        finite = [v if np.isfinite(v) else np.inf for v in values]
        if finite:
            best_epoch = int(np.argmin(finite))
            self.best, self.best_epoch, self.wait = finite[best_epoch], best_epoch, len(finite) - 1 - best_epoch

    @property
    def stopped_early(self):
        """Whether this callback stopped the training before its last epoch."""
        return self.stopped_epoch > 0


class KLAnnealing(keras.callbacks.Callback):
    """Sets the model's ``kl_weight`` variable from ``schedule(step)`` before every batch.

    The step is the optimizer's ``iterations``, so a resumed run continues the
    schedule where it stopped. Writing a variable retraces nothing. The weight
    is added to the epoch logs as ``kl_weight`` (History, CSV, TensorBoard).
    """

    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule

    def on_train_batch_begin(self, batch, logs=None):
        """Assigns the scheduled weight."""
        self.model.kl_weight.assign(self.schedule(int(self.model.optimizer.iterations.numpy())))

    def on_epoch_end(self, epoch, logs=None):
        """Logs the current weight."""
        if logs is not None:
            logs["kl_weight"] = float(self.model.kl_weight.numpy())


class LayerDiagnostics(keras.callbacks.Callback):
    """Logs every latent layer's active units each epoch, so a collapsing layer shows while it happens.

    At each epoch's end the posterior means of every layer (``VAE.encode_layers``,
    along the path through the means) of the fixed ``images`` give
    ``active_units_l`` for layer l = 1 (lowest) ... L, and ``active_units`` in
    all; they go to the epoch logs (History, CSV, TensorBoard). The per-layer
    KLs are logged by the model itself as ``kl_l`` (and ``val_kl_l``).

    Args:
        images: a few thousand fixed images, held out where the run has a
            validation split (and ``conditions``, for a conditional model).
        batch_size: images per encoder call.
    """

    def __init__(self, images, conditions=None, batch_size=1000):
        super().__init__()
        self.images = np.asarray(images, np.float32)
        self.conditions = None if conditions is None else np.asarray(conditions, np.float32)
        self.batch_size = int(batch_size)
        self._means = None

    def set_model(self, model):
        """Binds ``model``; the traced encoder function of another model is dropped."""
        super().set_model(model)
        self._means = None

    def layer_means(self):
        """Every layer's posterior means of ``images``, lowest layer first: ``[[N, d_l]]``."""
        if self._means is None:
            model = self.model
            self._means = tf.function(lambda x, c: [q.mean() for q in model.encode_layers(x, c)])
        parts = []
        for start in range(0, len(self.images), self.batch_size):
            stop = start + self.batch_size
            condition = None if self.conditions is None else self.conditions[start:stop]
            parts.append([m.numpy() for m in self._means(self.images[start:stop], condition)])
        return [np.concatenate(layer) for layer in zip(*parts)]

    def on_epoch_end(self, epoch, logs=None):
        """Adds ``active_units`` and ``active_units_1`` ... ``active_units_L`` to ``logs``."""
        if logs is None:
            return
        counts = [active_units(means) for means in self.layer_means()]
        logs["active_units"] = sum(counts)
        if len(counts) > 1:
            for i, count in enumerate(counts):
                logs[f"active_units_{i + 1}"] = count


class SentenceDiagnostics(keras.callbacks.Callback):
    """Logs each epoch's mutual information ``mi`` and ``active_units`` of q(z|x) on fixed sentences.

    The KL alone cannot tell a posterior that carries information about x
    from one that is merely far from the prior; I(x; z) under q (Hoffman &
    Johnson 2016, ``tfvae.evaluation.mutual_information``) can, so a
    collapsing sentence VAE shows while it happens. ``mi`` is estimated
    with q(z) the mixture over these sentences (at most log N nats).

    Args:
        batches: int token arrays ``[B, T]`` (0-padded), held-out sentences.
    """

    def __init__(self, batches):
        super().__init__()
        self.batches = [np.asarray(b, np.int32) for b in batches]
        self._moments = None

    def set_model(self, model):
        """Binds ``model``; the traced encoder function of another model is dropped."""
        super().set_model(model)
        self._moments = None

    def on_epoch_end(self, epoch, logs=None):
        """Adds ``mi`` and ``active_units`` to ``logs``."""
        if logs is None:
            return
        if self._moments is None:
            model = self.model
            self._moments = tf.function(
                lambda x: (model.encode(x).mean(), model.encode(x).stddev()), reduce_retracing=True
            )
        moments = [self._moments(b) for b in self.batches]
        loc = np.concatenate([m[0].numpy() for m in moments])
        scale = np.concatenate([m[1].numpy() for m in moments])
        logs["mi"] = mutual_information(loc, scale, seed=epoch)
        logs["active_units"] = active_units(loc)


class ImageLogger(keras.callbacks.Callback):
    """Logs a grid of prior samples and of reconstructions to TensorBoard.

    Every ``every`` epochs, beside Keras's scalars, under ``log_dir/images``:
    ``samples`` (the same prior draws each time, so the grids show the decoder
    learning) and ``reconstructions`` (inputs above, reconstructions below).

    Args:
        log_dir: the TensorBoard directory (e.g. the ``TensorBoard`` callback's).
        images: a few float images ``[n, H, W, C]`` to reconstruct.
        num_samples: images in the samples grid.
        every: epochs between logs.
        seed: seed of the prior draws.
        conditions: for a conditional model, the conditions of ``images``;
            samples then cycle through the one-hot conditions.
    """

    def __init__(self, log_dir, images, num_samples=64, every=1, seed=0, conditions=None):
        super().__init__()
        self.images = tf.convert_to_tensor(images, tf.float32)
        self.conditions = conditions
        self.num_samples = num_samples
        self.every = max(1, int(every))
        self.seed = seed
        self.writer = tf.summary.create_file_writer(str(log_dir) + "/images")

    def on_epoch_end(self, epoch, logs=None):
        """Writes both grids on epochs ``every - 1``, ``2 * every - 1``, ..."""
        if (epoch + 1) % self.every:
            return
        sample_conditions = None
        if self.conditions is not None:
            width = np.shape(self.conditions)[1]
            sample_conditions = one_hot(np.arange(self.num_samples) % width, width)
        samples = self.model.sample(self.num_samples, seed=self.seed, condition=sample_conditions).numpy()
        recon = self.model.reconstruct(self.images, self.conditions).numpy()
        columns = int(self.num_samples**0.5)
        pairs = image_grid(np.concatenate([self.images.numpy(), recon]), len(self.images))
        with self.writer.as_default(step=epoch + 1):
            tf.summary.image("samples", _as_batch(image_grid(samples, columns)))
            tf.summary.image("reconstructions", _as_batch(pairs))
        self.writer.flush()


def _as_batch(grid):
    """``[H, W]`` or ``[H, W, C]`` -> ``[1, H, W, C]`` for ``tf.summary.image``."""
    grid = tf.convert_to_tensor(grid, tf.float32)
    return grid[None, ..., None] if grid.shape.rank == 2 else grid[None]
