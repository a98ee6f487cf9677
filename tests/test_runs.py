"""Run directories are never destroyed by accident; schedules and config files.

A finished run stays byte-identical when its command runs again, a larger
``--epochs`` continues it with its learning-rate schedule intact, other
settings are refused before anything is written, ``--overwrite`` starts
afresh; ``--config FILE.json`` gives flags that the command line overrides.
"""

import csv
import json
import shutil

import numpy as np
import pytest

from conftest import KERAS3, REPO
from tfvae.cli import main

FAST = [
    "--validation-size",
    "128",
    "--hidden-units",
    "32",
    "--latent-dim",
    "4",
    "--verbose",
    "0",
    "--steps-per-execution",
    "1",
    "--jit-compile",
    "off",
]
SCHEDULE = ["--lr-schedule", "exponential", "--lr-decay-epochs", "1", "--lr-decay-rate", "0.5"]


def snapshot(directory):
    """Every file under ``directory`` with its bytes."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def history(run):
    with open(run / "history.csv") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_idx_dir):
    """A finished 1-epoch IWAE run with an exponential schedule, trained once for this module."""
    run = tmp_path_factory.mktemp("finished") / "run"
    args = [
        "train",
        "--data-dir",
        str(tiny_idx_dir),
        *FAST,
        *SCHEDULE,
        "--objective",
        "iwae",
        "--num-samples",
        "3",
        "--epochs",
        "1",
        "--out",
        str(run),
    ]
    assert main(args) == 0
    return run, args


@pytest.fixture
def run_copy(finished_run, tmp_path):
    run, args = finished_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    return copy, [a if a != str(run) else str(copy) for a in args]


def test_the_same_command_leaves_a_finished_run_byte_identical(run_copy, capsys):
    run, args = run_copy
    before = snapshot(run)
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "finished run" in out and "metrics.json" in out
    assert snapshot(run) == before


def test_iwae_run_reports_both_numbers_by_name(run_copy, capsys):
    run, args = run_copy
    assert main(args) == 0
    out = capsys.readouterr().out
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["objective"]["key"] == "negative_iwae_bound_k3"
    assert f"test negative IWAE bound (k=3): {metrics['test']['loss']:.2f} nats" in out
    assert f"test negative ELBO: {metrics['test']['negative_elbo']:.2f} nats" in out
    assert metrics["test"]["negative_elbo"] == pytest.approx(-metrics["test"]["elbo"])
    columns = history(run)[0]
    assert columns["negative_iwae_bound_k3"] == columns["loss"]
    assert float(columns["val_negative_elbo"]) == pytest.approx(-float(columns["val_elbo"]))


def test_larger_epochs_continues_with_the_schedule_intact(run_copy):
    run, args = run_copy
    first = history(run)
    assert main([*args, "--epochs", "3"]) == 0
    rows = history(run)
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert rows[0] == first[0]  # the first epoch's row is kept, not rewritten
    # Logged at the end of epoch e, after (e + 1) epochs of steps: lr = 1e-3 * 0.5 ** (e + 1).
    for epoch, row in enumerate(rows):
        assert float(row["learning_rate"]) == pytest.approx(1e-3 * 0.5 ** (epoch + 1), rel=1e-5)
    assert json.loads((run / "metrics.json").read_text())["epochs"] == 3
    assert json.loads((run / "config.json").read_text())["train"]["epochs"] == 3


def test_an_interrupted_continuation_resumes_and_a_smaller_epochs_ends_it(run_copy, monkeypatch):
    from tfvae.backend import keras

    run, args = run_copy
    backup_epoch_end = keras.callbacks.BackupAndRestore.on_epoch_end

    def killed_after_the_first_new_epoch(self, epoch, logs=None):
        backup_epoch_end(self, epoch, logs)
        if epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(keras.callbacks.BackupAndRestore, "on_epoch_end", killed_after_the_first_new_epoch)
    assert main([*args, "--epochs", "3"]) == 130  # interrupted (Ctrl-C)
    # The old metrics (1 epoch) are gone: the run is not finished, so re-running resumes it.
    assert not (run / "metrics.json").exists()
    monkeypatch.undo()
    assert main([*args, "--epochs", "2"]) == 0  # stop where the interruption left it
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs_trained"] == 2 and [int(r["epoch"]) for r in history(run)] == [0, 1]


def test_train_seconds_is_the_sum_of_every_invocations_epochs(run_copy, monkeypatch):
    """Even when the last invocation trains no epoch: killed after its last epoch, before metrics.json."""
    from tfvae.backend import keras

    run, args = run_copy
    first = json.loads((run / "metrics.json").read_text())["train_seconds"]
    assert first == float(history(run)[0]["epoch_seconds"]) > 0
    backup_epoch_end = keras.callbacks.BackupAndRestore.on_epoch_end

    def killed_after_the_last_epoch(self, epoch, logs=None):
        backup_epoch_end(self, epoch, logs)
        if epoch == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(keras.callbacks.BackupAndRestore, "on_epoch_end", killed_after_the_last_epoch)
    assert main([*args, "--epochs", "3"]) == 130
    monkeypatch.undo()
    assert main([*args, "--epochs", "3"]) == 0  # resumes with no epoch left to train
    seconds = [float(row["epoch_seconds"]) for row in history(run)]
    assert len(seconds) == 3 and seconds[0] == first and min(seconds) > 0
    assert json.loads((run / "metrics.json").read_text())["train_seconds"] == pytest.approx(sum(seconds))


def test_other_settings_are_refused_before_anything_is_written(run_copy, capsys):
    run, args = run_copy
    before = snapshot(run)
    assert main([*args, "--latent-dim", "8", "--learning-rate", "0.01"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "latent_dim" in error[0] and "learning_rate" in error[0]
    assert "--overwrite" in error[0]
    assert snapshot(run) == before


def test_a_run_from_an_older_tfvae_continues_when_new_settings_keep_their_defaults(run_copy, capsys):
    # A run written before a setting existed stores no value for it: its default is what it ran with.
    run, args = run_copy
    config = json.loads((run / "config.json").read_text())
    for added in ("kl_warmup_shape", "tokenizer", "max_length"):
        del config["train"][added]
    for added in ("latent_batch_norm", "kl_estimate"):  # model arguments: the constructor's default
        del config["model"][added]
    (run / "config.json").write_text(json.dumps(config))
    # Its history has no column that tfvae logs now: the continued run's rows must still line up.
    rows = history(run)
    columns = [k for k in rows[0] if not k.startswith("active_units")]
    with open(run / "history.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    assert main([*args, "--epochs", "2"]) == 0
    rows = history(run)
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert rows[0]["active_units"] == "" and int(float(rows[1]["active_units"])) >= 0
    assert all(float(r["val_loss"]) > float(r["val_kl"]) for r in rows)  # no column shifted
    # The same settings with another value are still refused.
    assert main([*args, "--epochs", "3", "--kl-warmup-shape", "logistic", "--kl-warmup-steps", "5"]) == 2
    assert "kl_warmup_shape" in capsys.readouterr().err
    assert main([*args, "--epochs", "3", "--kl-estimate", "sample"]) == 2
    assert "kl_estimate" in capsys.readouterr().err


def test_overwrite_starts_afresh(run_copy):
    run, args = run_copy
    (run / "notes.txt").write_text("mine")
    assert main([*args, "--latent-dim", "8", "--overwrite"]) == 0
    assert json.loads((run / "config.json").read_text())["model"]["latent_dim"] == 8
    assert [int(r["epoch"]) for r in history(run)] == [0]
    assert (run / "notes.txt").read_text() == "mine"  # only the run's own files are removed


def test_a_directory_that_is_not_a_run_is_refused(tmp_path, tiny_idx_dir, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "data.txt").write_text("keep")
    assert main(["train", "--data-dir", str(tiny_idx_dir), *FAST, "--epochs", "1", "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert snapshot(out) == {"data.txt": b"keep"}


def test_a_run_of_another_format_says_so(run_copy):
    from tfvae.runs import load_run

    run, _ = run_copy
    config = json.loads((run / "config.json").read_text())
    assert config["format"] == 1 and config["tfvae_version"]
    config.update(format=99, tfvae_version="9.0")
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="tfvae 9.0 in run format 99"):
        load_run(run)


def test_config_file_gives_flags_and_the_command_line_overrides_it(tmp_path, tiny_idx_dir):
    config = tmp_path / "exp.json"
    config.write_text(
        json.dumps(
            {
                "data_dir": str(tiny_idx_dir),
                "latent-dim": 3,
                "hidden_units": [16],
                "epochs": 1,
                "validation_size": 128,
                "verbose": 0,
                "jit_compile": "off",
                "lr_schedule": "cosine",
                "no_backup": False,
                "conditional": None,
            }
        )
    )
    out = tmp_path / "run"
    assert main(["train", "--config", str(config), "--latent-dim", "5", "--out", str(out)]) == 0
    resolved = json.loads((out / "config.json").read_text())
    assert resolved["model"]["latent_dim"] == 5  # the command line wins
    assert resolved["model"]["hidden_units"] == [16]
    assert resolved["train"]["lr_schedule"] == "cosine" and resolved["train"]["backup"] is True


@pytest.mark.parametrize(
    "content,message",
    [
        ({"latent_size": 3}, "unknown flags 'latent_size'"),
        ({"epochs": 0}, "--epochs"),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_bad_config_files_are_one_error_line(tmp_path, content, message, capsys):
    config = tmp_path / "bad.json"
    config.write_text(json.dumps(content))
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--config", str(config), "--out", str(tmp_path / "run")])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_every_config_in_configs_parses():
    from tfvae.cli import build_parser
    from tfvae.options import expand_config

    parser = build_parser()
    paths = sorted((REPO / "configs").rglob("*.json"))  # configs/ptb/ and configs/hierarchy_levers/ too
    assert len(paths) > 20, paths
    for path in paths:
        args = parser.parse_args(expand_config(["train", "--config", str(path), "--out", "x"], parser))
        assert args.epochs >= 1


def test_under_kl_warmup_the_best_checkpoint_is_the_best_elbo_not_the_annealed_loss(
    tmp_path, tiny_idx_dir, monkeypatch
):
    # The warm-up weighs the KL by less than 1, so the annealed val_loss sits below the ELBO by an amount that
    # shrinks as the weight grows: it would favour early epochs. The best checkpoint follows the validation ELBO.
    from tfvae import training
    from tfvae.backend import tf
    from tfvae.run_weights import BestWeightsCheckpoint

    monitors = []

    class RecordingCheckpoint(BestWeightsCheckpoint):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            monitors.append(self.monitor)

    monkeypatch.setattr(training, "BestWeightsCheckpoint", RecordingCheckpoint)
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--data-dir",
                str(tiny_idx_dir),
                *FAST,
                "--epochs",
                "4",
                "--kl-warmup-steps",
                "36",
                "--learning-rate",
                "0.01",
                "--out",
                str(run),
            ]
        )
        == 0
    )
    assert monitors == ["val_negative_elbo"]
    rows = history(run)
    assert all(float(r["val_loss"]) < float(r["val_negative_elbo"]) for r in rows)  # the weight is below 1
    elbos = [float(r["val_negative_elbo"]) for r in rows]
    best_epoch = elbos.index(min(elbos))
    if KERAS3:  # Keras 3's best.weights.h5 keeps the optimizer's step count elsewhere; the monitor is checked
        return
    steps = tf.train.load_checkpoint(str(run / "checkpoints" / "best")).get_tensor(
        "optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"
    )
    assert steps == 3 * (best_epoch + 1)  # 384 training images, batch 128


def test_early_stopping_carries_its_count_over_an_interruption(tmp_path):
    from tfvae.backend import keras
    from tfvae.callbacks import EarlyStopping

    path = tmp_path / "history.csv"
    path.write_text("epoch,val_loss\n0,5.0\n1,4.0\n2,4.5\n")  # best at epoch 1, one epoch waited since
    model = keras.Sequential([keras.layers.Dense(1)])
    model.stop_training = False  # as fit sets it (Keras 3 has no such attribute before)
    stopper = EarlyStopping(path, "val_loss", patience=2)
    stopper.set_model(model)
    stopper.on_train_begin()
    assert (stopper.best, stopper.wait) == (4.0, 1)
    stopper.on_epoch_end(3, {"val_loss": 4.1})  # the second epoch without progress
    assert model.stop_training and stopper.stopped_early
    fresh = EarlyStopping(tmp_path / "none.csv", "val_loss", patience=2)
    fresh.set_model(model := keras.Sequential([keras.layers.Dense(1)]))
    model.stop_training = False
    fresh.on_train_begin()
    fresh.on_epoch_end(0, {"val_loss": 4.1})
    fresh.on_epoch_end(1, {"val_loss": 4.0})
    assert not model.stop_training and not fresh.stopped_early


def test_an_early_stopped_run_records_where_it_stopped_and_counts_as_finished(tmp_path, tiny_idx_dir, capsys):
    run = tmp_path / "run"
    args = [
        "train",
        "--data-dir",
        str(tiny_idx_dir),
        *FAST,
        "--epochs",
        "6",
        "--early-stopping",
        "1",
        "--learning-rate",
        "0.05",
        "--out",
        str(run),
    ]
    assert main(args) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    losses = [float(r["val_loss"]) for r in history(run)]
    assert metrics["epochs_trained"] == len(losses)
    assert metrics["stopped_early"] == (len(losses) < 6)
    if metrics["stopped_early"]:  # the last epoch did not beat the best before it
        assert losses[-1] >= min(losses[:-1])
    before = snapshot(run)
    assert main(args) == 0 and "finished run" in capsys.readouterr().out
    assert snapshot(run) == before


def test_init_from_starts_a_new_run_at_the_source_runs_weights_with_its_own_beta(finished_run, tmp_path, monkeypatch):
    """``--init-from RUN``: before its first step the new run holds the source's best weights, except the KL
    weight, which is the new run's beta (a weight of the source's, or of its annealing schedule, would be wrong)."""
    from tfvae import training
    from tfvae.runs import load_run

    source, args = finished_run
    started = {}

    def recorded(model, path, vocabulary=None):
        original(model, path, vocabulary)
        started["weights"] = [v.numpy() for v in model.portable_variables if v is not model.kl_weight]
        started["kl_weight"] = float(model.kl_weight.numpy())

    original = training.warm_start
    monkeypatch.setattr(training, "warm_start", recorded)
    run = tmp_path / "warm"
    new_args = [a if a != str(source) else str(run) for a in args]
    assert main([*new_args, "--init-from", str(source), "--learning-rate", "0.0005", "--beta", "0.5"]) == 0
    trained = load_run(source)
    expected = [v.numpy() for v in trained.portable_variables if v is not trained.kl_weight]
    assert len(started["weights"]) == len(expected) > 0
    for got, want in zip(started["weights"], expected):
        np.testing.assert_array_equal(got, want)
    assert started["kl_weight"] == 0.5 and float(trained.kl_weight.numpy()) == 1.0
    assert json.loads((run / "config.json").read_text())["train"]["init_from"] == str(source)


def test_a_warm_started_run_resumes_from_its_own_backup(finished_run, tmp_path, monkeypatch):
    """Killed after its first epoch, a warm-started run resumes from its backup: the source is not read again
    (here it is gone)."""
    from tfvae.backend import keras

    source, args = finished_run
    copy = tmp_path / "source"
    shutil.copytree(source, copy)
    run = tmp_path / "warm"
    new_args = [*[a if a != str(source) else str(run) for a in args], "--init-from", str(copy), "--epochs", "2"]
    backup_epoch_end = keras.callbacks.BackupAndRestore.on_epoch_end

    def killed_after_the_first_epoch(self, epoch, logs=None):
        backup_epoch_end(self, epoch, logs)
        raise KeyboardInterrupt

    monkeypatch.setattr(keras.callbacks.BackupAndRestore, "on_epoch_end", killed_after_the_first_epoch)
    assert main(new_args) == 130
    monkeypatch.undo()
    shutil.rmtree(copy)
    assert main(new_args) == 0
    assert [int(r["epoch"]) for r in history(run)] == [0, 1]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--init-from", "no/such/run"], "--init-from no/such/run: no such run directory or export"),
        (["--init-from", "SOURCE", "--latent-dim", "8"], "latent_dim 4 (here 8)"),
        (["--init-from", "SOURCE", "--activation", "tanh"], "activation 'relu' (here 'tanh')"),
    ],
)
def test_init_from_a_missing_or_different_model_is_one_error_line(finished_run, tmp_path, extra, message, capsys):
    source, args = finished_run
    run = tmp_path / "warm"
    new_args = [a if a != str(source) else str(run) for a in args]
    extra = [str(source) if a == "SOURCE" else a for a in extra]
    assert main([*new_args, *extra]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and message in error[0], error
    assert not (run / "config.json").exists()  # refused before anything is written


def test_evaluation_records_are_every_likelihood_evaluation_oldest_first(tmp_path):
    """What ``tfvae export`` copies into ``metrics.json["evaluations"]``: each ``eval*.json`` with an NLL."""
    import os

    from tfvae.runs import evaluation_records

    files = {
        "eval.json": {"nll": 90.0, "num_samples": 5000, "split": "test", "date": "2026-12-06", "kl_per_dim": [1.0]},
        "eval_k10.json": {"nll": 91.0, "num_samples": 10, "split": "test", "command": "tfvae evaluate r -k 10"},
        "eval_gaps.json": {"approximation_gap": 1.0},  # not a likelihood evaluation
    }
    for age, (name, content) in enumerate(files.items()):
        (tmp_path / name).write_text(json.dumps(content))
        os.utime(tmp_path / name, (1000 + age, 1000 + age))
    (tmp_path / "metrics.json").write_text("{}")
    assert evaluation_records(tmp_path) == [
        {"split": "test", "nll": 90.0, "num_samples": 5000, "date": "2026-12-06"},  # no per-dimension lists
        {"split": "test", "nll": 91.0, "num_samples": 10, "command": "tfvae evaluate r -k 10"},
    ]
