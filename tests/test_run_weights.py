"""``tfvae.run_weights``: a run trained under one Keras is refused in one line under the other, and
``tfvae convert-weights`` makes it open there with the same outputs."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO
from tfvae.backend import KERAS_VERSION
from tfvae.cli import main
from tfvae.run_weights import best_weights_path, weights_versions
from tfvae.runs import load_run

OTHER = 3 if KERAS_VERSION == 2 else 2

# Trains a one-epoch run under the other Keras and writes its encoder's means of fixed inputs.
TRAIN_UNDER_OTHER = """
import sys, numpy as np
from tfvae.cli import main
from tfvae.runs import load_run
data, run, means = sys.argv[1:]
argv = ["train", "--data-dir", data, "--epochs", "1", "--batch-size", "64", "--validation-size", "64",
        "--latent-dim", "2", "--hidden-units", "16", "--verbose", "0", "--out", run]
assert main(argv) == 0
x = np.random.default_rng(0).uniform(size=(5, 28, 28, 1)).astype(np.float32)
np.save(means, load_run(run).encode(x).mean().numpy())
"""


@pytest.fixture(scope="module")
def other_keras_run(tmp_path_factory, tiny_idx_dir):
    """(run directory trained under the other Keras, its encoder means of the fixed inputs)."""
    base = tmp_path_factory.mktemp("other_keras")
    run, means = base / "run", base / "means.npy"
    env = {**os.environ, "TFVAE_KERAS": str(OTHER), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", TRAIN_UNDER_OTHER, str(tiny_idx_dir), str(run), str(means)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return run, np.load(means)


def test_a_run_of_the_other_keras_is_one_error_line_then_converts_to_the_same_outputs(other_keras_run, capsys):
    run, means = other_keras_run
    assert weights_versions(run) == [OTHER]
    assert main(["evaluate", str(run), "-k", "2", "--limit", "10"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and f"tfvae convert-weights {run}" in error, error

    assert main(["convert-weights", str(run)]) == 0
    assert f"wrote {best_weights_path(run)}" in capsys.readouterr().out
    assert weights_versions(run) == [2, 3]  # the old file is kept
    x = np.random.default_rng(0).uniform(size=(5, 28, 28, 1)).astype(np.float32)
    np.testing.assert_allclose(load_run(run).encode(x).mean().numpy(), means, rtol=1e-6, atol=1e-6)
    assert json.loads((run / "config.json").read_text())["class"] == "VAE"

    assert main(["convert-weights", str(run)]) == 2  # a second time: nothing to do, said in one line
    assert "already holds" in capsys.readouterr().err


def test_converting_a_run_without_weights_or_an_export_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"class": "VAE", "model": {}, "train": {"dataset": "mnist"}}))
    assert main(["convert-weights", str(run)]) == 2
    assert "holds no trained weights" in capsys.readouterr().err
    export = REPO / "saved_models" / "mnist_mlp_vamp" / "1"
    assert main(["convert-weights", str(export)]) == 2
    assert "exports do not depend on the Keras version" in capsys.readouterr().err


@pytest.mark.skipif(KERAS_VERSION != 3, reason="tf_keras's TF checkpoint writes its index last and fails cleanly")
def test_best_weights_are_written_whole_or_not_at_all(tmp_path, monkeypatch):
    """Keras 3 writes the best weights to a partial file that replaces the best one only once complete, and a
    disk without room for them is one ENOSPC error before h5py starts (its full-disk failure crashes the process
    at exit); the previous best is kept either way."""
    import errno
    import shutil

    from tfvae import run_weights
    from tfvae.model import VAE

    model = VAE(latent_dim=2, hidden_units=(8,), seed=0)
    x = np.random.default_rng(0).uniform(size=(4, 28, 28, 1)).astype(np.float32)
    model(x)
    checkpoint = run_weights.BestWeightsCheckpoint(tmp_path, "val_loss")
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(0, {"val_loss": 5.0})
    best = best_weights_path(tmp_path)
    assert best.exists() and not (best.parent / run_weights.PARTIAL).exists()
    written = best.read_bytes()

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(run_weights.shutil, "disk_usage", lambda path: usage._replace(free=4096))
    with pytest.raises(OSError) as raised:
        checkpoint.on_epoch_end(1, {"val_loss": 4.0})  # an improvement, so it would write
    assert raised.value.errno == errno.ENOSPC and "4096 bytes free" in str(raised.value)
    assert best.read_bytes() == written and not (best.parent / run_weights.PARTIAL).exists()

    checkpoint.on_epoch_end(2, {"val_loss": float("nan")})  # never a best: Keras 3 compares with inf, not None
    assert best.read_bytes() == written


@pytest.mark.skipif(KERAS_VERSION != 3, reason="tf_keras's TF checkpoint writes its index last")
def test_a_backup_killed_mid_write_leaves_the_last_one_readable(tmp_path, monkeypatch):
    """Keras 3's ``BackupAndRestore`` wrote ``latest.weights.h5`` in place: a kill mid-write left a file the next
    ``tfvae train`` could not open. ``RunBackup`` writes partial files and renames them: a write that dies half
    way (here h5py's writer raising after the partial file exists) leaves the previous epoch's backup, which a
    new callback restores with its epoch."""
    from tfvae import run_weights
    from tfvae.backend import keras
    from tfvae.model import VAE

    x = np.random.default_rng(0).uniform(size=(4, 28, 28, 1)).astype(np.float32)
    model = VAE(latent_dim=2, hidden_units=(8,), seed=0)
    model.compile(optimizer="adam")
    model(x)
    backup = run_weights.RunBackup(tmp_path)
    backup.set_model(model)
    backup.on_epoch_end(0)
    saved = [v.numpy() for v in model.portable_variables]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.weights.h5", "training_metadata.json"]

    for v in model.trainable_variables:
        v.assign(v + 1.0)
    save_weights = keras.Model.save_weights

    def dies_half_way(self, filepath, **kwargs):
        open(filepath, "wb").write(b"\x89HDF\r\n")  # what a killed h5py leaves: a header, no objects
        raise KeyboardInterrupt

    monkeypatch.setattr(keras.Model, "save_weights", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        backup.on_epoch_end(1)
    monkeypatch.setattr(keras.Model, "save_weights", save_weights)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.weights.h5", "training_metadata.json"]

    restored = VAE(latent_dim=2, hidden_units=(8,), seed=1)
    restored.compile(optimizer="adam")
    restored(x)
    again = run_weights.RunBackup(tmp_path)
    again.set_model(restored)
    again.on_train_begin()
    assert restored._initial_epoch == 1  # epoch 0 done: the run resumes at epoch 1
    for a, b in zip(saved, (v.numpy() for v in restored.portable_variables)):
        np.testing.assert_array_equal(a, b)
