"""Learning-rate schedules against their formulas, and the settings' range checks."""

import math

import pytest

from tfvae.optimization import burda_boundaries, learning_rate_schedule, make_optimizer
from tfvae.runs import TrainSettings


def lr_at(schedule, step):
    return float(schedule(step)) if callable(schedule) else schedule


def test_burda_schedule_stages_last_3_to_the_i_epochs():
    steps = 10
    schedule = learning_rate_schedule(TrainSettings(lr_schedule="burda"), steps, 3280)
    start = 0
    for i in range(8):
        length = 3**i
        for epoch in (start, start + length - 1):  # first and last epoch of stage i (mid-epoch step)
            assert lr_at(schedule, epoch * steps + 5) == pytest.approx(1e-3 * 10 ** (-i / 7), rel=1e-6)
        start += length
    assert start == 3280
    boundaries, factors = burda_boundaries(steps)
    assert boundaries == [10, 40, 130, 400, 1210, 3640, 10930] and factors[-1] == pytest.approx(1e-4 / 1e-3)


@pytest.mark.parametrize(
    "kind,epoch,expected",
    [
        ("constant", 50, 1e-3),
        ("exponential", 50, 1e-3 * 0.1 ** (50 / 100)),
        ("cosine", 50, 1e-3 * (0.1 + 0.9 * (1 + math.cos(math.pi * 50 / 200)) / 2)),
        ("cosine", 400, 1e-3 * 0.1),
    ],
)
def test_schedule_formulas(kind, epoch, expected):
    settings = TrainSettings(lr_schedule=kind, lr_min_fraction=0.1)
    assert lr_at(learning_rate_schedule(settings, 7, 200), epoch * 7) == pytest.approx(expected, rel=1e-5)


def test_warmup_ramps_linearly_then_follows_the_schedule():
    schedule = learning_rate_schedule(TrainSettings(warmup_steps=100), 10, 10)
    assert lr_at(schedule, 0) == pytest.approx(1e-5)
    assert lr_at(schedule, 49) == pytest.approx(5e-4)
    assert lr_at(schedule, 500) == pytest.approx(1e-3)


def test_adam_gets_the_settings():
    optimizer = make_optimizer(TrainSettings(beta_1=0.8, beta_2=0.99, epsilon=1e-4), 10, 10)
    assert (optimizer.beta_1, optimizer.beta_2, optimizer.epsilon) == (0.8, 0.99, 1e-4)


@pytest.mark.parametrize(
    "field,value",
    [
        ("learning_rate", 0.0),
        ("lr_schedule", "linear"),
        ("lr_decay_rate", 1.5),
        ("lr_decay_epochs", 0),
        ("lr_min_fraction", -0.1),
        ("warmup_steps", -1),
        ("beta_1", 1.0),
        ("beta_2", -0.1),
        ("epsilon", 0.0),
    ],
)
def test_out_of_range_settings_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        learning_rate_schedule(TrainSettings(**{field: value}), 10, 10)


def test_plateau_needs_a_constant_schedule():
    with pytest.raises(ValueError, match="reduce_lr_on_plateau"):
        learning_rate_schedule(TrainSettings(reduce_lr_on_plateau=3, lr_schedule="cosine"), 10, 10)
