"""Training that scales and survives: tf.distribute, resume after SIGKILL, NaN, determinism, mixed precision."""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, blob_images
from tfvae import VAE
from tfvae.backend import keras, tf
from tfvae.data import ImageDataset
from tfvae.runs import TrainSettings, load_run
from tfvae.training import JIT_MIN_STEPS, train, use_jit

HELPER = Path(__file__).parent / "helpers" / "distributed_run.py"


def _initial_weights(directory):
    model = VAE(latent_dim=2, hidden_units=(32,), seed=4)
    # The learned variables, in one order under either Keras (the helper may run under the other one).
    weights = {f"w{i}": v.numpy() for i, v in enumerate(model.portable_variables)}
    np.savez(directory / "initial_weights.npz", **weights)


def _helper(mode, out, env=None):
    return subprocess.Popen(
        [sys.executable, str(HELPER), mode, str(out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.long
def test_mirrored_over_two_cpus_matches_one_device(tmp_path):
    _initial_weights(tmp_path)
    results = {}
    for mode in ("single", "mirrored"):
        process = _helper(mode, tmp_path / f"{mode}.npz")
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr[-3000:]
        results[mode] = np.load(tmp_path / f"{mode}.npz")
    single, mirrored = results["single"], results["mirrored"]
    assert int(single["replicas"]) == 1 and int(mirrored["replicas"]) == 2
    # Same weights: the noise-free KL agrees exactly, the sampled loss within Monte Carlo noise.
    np.testing.assert_allclose(mirrored["before_kl"], single["before_kl"], rtol=1e-5)
    np.testing.assert_allclose(mirrored["before_loss"], single["before_loss"], rtol=0.01)
    # Two epochs of training on each (different noise per replica) end at the same loss within tolerance.
    np.testing.assert_allclose(mirrored["after_loss"], single["after_loss"], rtol=0.03)
    assert mirrored["after_loss"] < mirrored["before_loss"] - 10


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_multiworker_under_keras3_is_one_error_naming_the_fix():
    from tfvae.backend import KERAS_VERSION
    from tfvae.training import get_strategy

    if KERAS_VERSION == 2:
        pytest.skip("tf_keras runs multi-worker training")
    with pytest.raises(ValueError, match=r"needs tfvae on tf_keras: set TFVAE_KERAS=2 on every worker"):
        get_strategy("multiworker")


@pytest.mark.long
def test_multiworker_two_local_workers_agree(tmp_path):
    _initial_weights(tmp_path)
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes = []
    for index in range(2):
        env = {
            **os.environ,
            "TFVAE_KERAS": "2",  # Keras 3's fit fails under MultiWorkerMirroredStrategy (get_strategy refuses it)
            "TF_CONFIG": json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}),
        }
        processes.append(_helper("multiworker", tmp_path / f"worker{index}.npz", env))
    for process in processes:
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr[-3000:]
    first, second = (np.load(tmp_path / f"worker{i}.npz") for i in range(2))
    assert int(first["replicas"]) == 2
    weights = [k for k in first.files if k.startswith("weight")]
    for key in weights:
        np.testing.assert_array_equal(first[key], second[key])
    assert first["after_loss"] < first["before_loss"] - 10


def _tiny_dataset(n=2048):
    x, y = blob_images(n, seed=11)
    tx, ty = blob_images(256, seed=12)
    return ImageDataset("blobs", x, y, tx, ty)


def _cli_train(out, data_dir, epochs, extra=()):
    return [
        sys.executable,
        "-m",
        "tfvae.cli",
        "train",
        "--data-dir",
        str(data_dir),
        "--epochs",
        str(epochs),
        "--batch-size",
        "16",
        "--validation-size",
        "64",
        "--latent-dim",
        "2",
        "--hidden-units",
        "64",
        "--out",
        str(out),
        "--verbose",
        "0",
        "--seed",
        "3",
        *extra,
    ]


def _epochs_in(history):
    if not history.exists():
        return []
    with open(history) as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


@pytest.mark.long
def test_sigkill_mid_epoch_resumes_from_the_last_epoch(tmp_path, tiny_idx_dir):
    epochs = 6
    interrupted = tmp_path / "interrupted"
    process = subprocess.Popen(
        _cli_train(interrupted, tiny_idx_dir, epochs), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 300
    while len(_epochs_in(interrupted / "history.csv")) < 2 and time.time() < deadline:
        assert process.poll() is None, "training ended before it could be interrupted"
        time.sleep(0.05)
    time.sleep(0.3)  # into the next epoch
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = _epochs_in(interrupted / "history.csv")
    assert 2 <= len(done) < epochs, done

    result = subprocess.run(
        _cli_train(interrupted, tiny_idx_dir, epochs), cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    resumed = _epochs_in(interrupted / "history.csv")
    assert resumed == list(range(epochs)), resumed  # continued from the last saved epoch, not from 0

    straight = tmp_path / "straight"
    result = subprocess.run(
        _cli_train(straight, tiny_idx_dir, epochs), cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    losses = [json.loads((d / "metrics.json").read_text())["test"]["loss"] for d in (interrupted, straight)]
    assert abs(losses[0] - losses[1]) < 0.03 * losses[1], losses


class _PoisonWeights(keras.callbacks.Callback):
    """Turns a weight into NaN at the start of epoch ``epoch``."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            kernel = self.model.decoder.layers[-1].kernel
            kernel.assign(tf.fill(kernel.shape, float("nan")))


def test_terminate_on_nan_keeps_the_last_good_checkpoint(tmp_path):
    settings = TrainSettings(epochs=5, batch_size=64, validation_size=128, image_every=0)
    with pytest.raises(FloatingPointError, match="not finite.*checkpoints"):
        train(
            tmp_path / "run",
            {"latent_dim": 2, "hidden_units": [32]},
            settings,
            dataset=_tiny_dataset(),
            verbose=0,
            extra_callbacks=[_PoisonWeights(2)],
        )
    with open(tmp_path / "run" / "history.csv") as f:
        assert len(list(csv.DictReader(f))) == 3  # stopped during the poisoned epoch
    model = load_run(tmp_path / "run")  # the best checkpoint is from before the NaN
    assert np.all(np.isfinite(model.elbo(_tiny_dataset().test_images[:8] / 255.0, seed=0).numpy()))


@pytest.mark.long
def test_same_seed_gives_bit_identical_weights(tmp_path, tiny_idx_dir):
    for name in ("a", "b"):
        result = subprocess.run(
            _cli_train(tmp_path / name, tiny_idx_dir, 1, ["--deterministic", "--no-backup"]),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr[-3000:]
    first, second = (load_run(tmp_path / name).get_weights() for name in ("a", "b"))
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("setting, compute_dtype", [("mixed_precision", "float16"), ("mixed_bfloat16", "bfloat16")])
def test_mixed_precision_policy_is_applied_and_loss_stays_float32(tmp_path, setting, compute_dtype):
    settings = TrainSettings(
        epochs=1, batch_size=64, validation_size=128, image_every=0, backup=False, **{setting: True}
    )
    model, metrics = train(
        tmp_path / "mp", {"latent_dim": 2, "hidden_units": [32]}, settings, dataset=_tiny_dataset(512), verbose=0
    )
    assert model.encoder.layers[-1].compute_dtype == compute_dtype
    assert model.encoder.layers[-1].kernel.dtype == tf.float32  # variables stay float32
    # float16 needs loss scaling (its range is small); bfloat16 has float32's range and does not.
    scaled = isinstance(model.optimizer, keras.mixed_precision.LossScaleOptimizer)
    assert scaled == (compute_dtype == "float16")
    assert model.encode(np.zeros((1, 28, 28, 1), np.float32)).dtype == tf.float32
    assert np.isfinite(metrics["test"]["loss"])
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after training


def test_the_two_mixed_precision_settings_cannot_be_combined(tmp_path):
    settings = TrainSettings(epochs=1, mixed_precision=True, mixed_bfloat16=True)
    with pytest.raises(ValueError, match="mixed_precision and mixed_bfloat16"):
        train(tmp_path / "both", {"latent_dim": 2}, settings, dataset=_tiny_dataset(64), verbose=0)
    assert not (tmp_path / "both").exists()  # refused before anything is written


def test_xla_is_the_default_only_for_mlp_runs_long_enough_to_repay_its_compile():
    default = TrainSettings()
    assert use_jit(default, "mlp", steps=JIT_MIN_STEPS) and not use_jit(default, "mlp", steps=JIT_MIN_STEPS - 1)
    assert use_jit(default, "mlp")  # a run of unknown length counts as long
    assert not use_jit(default, "conv", steps=100 * JIT_MIN_STEPS)
    assert use_jit(TrainSettings(jit_compile=True), "conv", steps=1)
    assert not use_jit(TrainSettings(jit_compile=False), "mlp", steps=100 * JIT_MIN_STEPS)


class _Batches(keras.callbacks.Callback):
    """Every training batch's size, per epoch."""

    def on_train_begin(self, logs=None):
        self.sizes = []

    def on_epoch_begin(self, epoch, logs=None):
        self.sizes.append(0)

    def on_train_batch_end(self, batch, logs=None):
        self.sizes[-1] += 1


def test_an_epoch_is_every_full_batch_of_one_pass_and_small_sets_still_train(tmp_path):
    # 448 training images in batches of 128: 3 full batches an epoch (the 64 left over differ each epoch);
    # the pipeline repeats, so no epoch waits for a new iterator.
    settings = TrainSettings(
        epochs=3, batch_size=128, validation_size=64, image_every=0, backup=False, steps_per_execution=1
    )
    counter = _Batches()
    model, metrics = train(
        tmp_path / "run",
        {"latent_dim": 2, "hidden_units": [32]},
        settings,
        dataset=_tiny_dataset(512),
        verbose=0,
        extra_callbacks=[counter],
    )
    assert counter.sizes == [3, 3, 3] and int(model.optimizer.iterations) == 9
    assert metrics["train_examples"] == 448 and np.isfinite(metrics["train"]["negative_elbo"])
    # Fewer images than a batch: one (partial) batch an epoch.
    settings = TrainSettings(epochs=2, batch_size=128, validation_size=16, image_every=0, backup=False)
    model, _ = train(
        tmp_path / "small", {"latent_dim": 2, "hidden_units": [32]}, settings, dataset=_tiny_dataset(64), verbose=0
    )
    assert int(model.optimizer.iterations) == 2
