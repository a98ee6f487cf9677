"""The optimizer and its learning-rate schedule.

Schedules are Keras ``LearningRateSchedule``s of the optimizer's step count,
so a run resumed by ``BackupAndRestore`` (which restores the optimizer's
``iterations``) continues its schedule where it stopped.

=============  ================================================================
schedule       learning rate at epoch e (steps are converted with steps/epoch)
=============  ================================================================
constant       lr
exponential    lr * decay_rate ** (e / decay_epochs)
cosine         lr * (alpha + (1 - alpha) * (1 + cos(pi * e / epochs)) / 2)
burda          lr * 10 ** (-i / 7) during the i-th stage, the stages lasting
               3 ** i epochs, i = 0..7 (Burda et al. 2015; 3,280 epochs in all)
=============  ================================================================

A linear warm-up over ``warmup_steps`` multiplies any of them.
"""

from tfvae.backend import keras, tf
from tfvae.options import LR_SCHEDULES, check_rules, check_value  # noqa: F401  (LR_SCHEDULES: defined with the options)

BURDA_STAGES = 8  # i = 0..7: 1 + 3 + ... + 3**7 = 3280 epochs


def burda_boundaries(steps_per_epoch: int, stages: int = BURDA_STAGES) -> tuple[list[int], list[float]]:
    """Step boundaries and learning-rate factors of Burda et al.'s schedule.

    Stage i lasts 3**i epochs at factor 10**(-i/7); the returned boundaries are
    the steps where stages 1..stages-1 begin.
    """
    boundaries, epoch = [], 0
    for i in range(stages - 1):
        epoch += 3**i
        boundaries.append(int(epoch * steps_per_epoch))
    factors = [10.0 ** (-i / 7) for i in range(stages)]
    return boundaries, factors


@keras.saving.register_keras_serializable(package="tfvae")
class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """``schedule(step) * min(1, (step + 1) / warmup_steps)``: a linear ramp from ~0."""

    def __init__(self, schedule, warmup_steps):
        self.schedule = schedule
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        ramp = tf.minimum(1.0, (step + 1.0) / float(max(self.warmup_steps, 1)))
        return ramp * tf.cast(self.schedule(step), tf.float32)

    def get_config(self):
        """The wrapped schedule (serialised) and the warm-up length."""
        return {"schedule": keras.optimizers.schedules.serialize(self.schedule), "warmup_steps": self.warmup_steps}

    @classmethod
    def from_config(cls, config):
        """Inverse of ``get_config``."""
        return cls(keras.optimizers.schedules.deserialize(config["schedule"]), config["warmup_steps"])


def check_optimizer_settings(settings):
    """Raises ``ValueError`` naming the field if an optimizer setting of ``settings`` is out of range.

    The ranges are the option rows' (``tfvae.options``), the same that ``tfvae train`` checks.
    """
    for name in (
        "lr_schedule",
        "learning_rate",
        "lr_decay_rate",
        "lr_decay_epochs",
        "lr_min_fraction",
        "warmup_steps",
        "beta_1",
        "beta_2",
        "epsilon",
    ):
        check_value(name, getattr(settings, name))
    # The rules between these settings are the option table's (reduce_lr_on_plateau wants a constant schedule).
    names = ("lr_schedule", "reduce_lr_on_plateau", "warmup_steps", "learning_rate")
    check_rules({name: getattr(settings, name) for name in names if hasattr(settings, name)}, "train")


def learning_rate_schedule(settings, steps_per_epoch: int, epochs: int):
    """The learning rate: a float (constant) or a ``LearningRateSchedule`` of the step.

    Args:
        settings: a ``tfvae.runs.TrainSettings`` (its ``learning_rate``,
            ``lr_*``, ``warmup_steps`` fields).
        steps_per_epoch: optimizer steps per epoch (batches, not examples).
        epochs: the run's length in epochs (the cosine schedule ends there).
    """
    check_optimizer_settings(settings)
    lr, kind = float(settings.learning_rate), settings.lr_schedule
    schedules = keras.optimizers.schedules
    if kind == "constant":
        schedule = lr
    elif kind == "exponential":
        schedule = schedules.ExponentialDecay(lr, settings.lr_decay_epochs * steps_per_epoch, settings.lr_decay_rate)
    elif kind == "cosine":
        schedule = schedules.CosineDecay(lr, max(1, int(epochs * steps_per_epoch)), alpha=settings.lr_min_fraction)
    else:
        boundaries, factors = burda_boundaries(steps_per_epoch)
        schedule = schedules.PiecewiseConstantDecay(boundaries, [lr * f for f in factors])
    if settings.warmup_steps:
        if kind == "constant":
            schedule = schedules.PolynomialDecay(lr, 1, lr)  # a constant schedule, so it can be wrapped
        schedule = WarmupSchedule(schedule, settings.warmup_steps)
    return schedule


def make_optimizer(settings, steps_per_epoch: int, epochs: int) -> keras.optimizers.Adam:
    """Adam with the settings' betas, epsilon and learning-rate schedule."""
    return keras.optimizers.Adam(
        learning_rate=learning_rate_schedule(settings, steps_per_epoch, epochs),
        beta_1=settings.beta_1,
        beta_2=settings.beta_2,
        epsilon=settings.epsilon,
    )


def current_learning_rate(optimizer) -> float:
    """The learning rate of the optimizer's next step, as a float."""
    # tf_keras's public ``learning_rate`` of a scheduled optimizer holds the
    # rate of the *last* step; the schedule itself is kept in ``_learning_rate``.
    schedule = getattr(optimizer, "_learning_rate", optimizer.learning_rate)
    if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        return float(schedule(optimizer.iterations))
    return float(tf.convert_to_tensor(optimizer.learning_rate))
