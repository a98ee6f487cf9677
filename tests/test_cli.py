"""The command line: clear errors with exit status 2, and a full train run on small data."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, mnist_dir, tfvae_in_process


def run_cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "tfvae.cli", *args], capture_output=True, text=True, cwd=REPO, env=env, timeout=600
    )


def test_help_documents_every_flag():
    result = run_cli("train", "--help")
    assert result.returncode == 0
    for flag in ("--dataset", "--data-dir", "--epochs", "--latent-dim", "--likelihood", "--arch", "--out"):
        assert flag in result.stdout


@pytest.mark.parametrize(
    "args,message",
    [
        (["train", "--out", "x", "--epochs", "0"], "--epochs"),
        (["train", "--out", "x", "--likelihood", "poisson"], "--likelihood"),
        (["train", "--out", "x", "--data-dir", "/no/such/dir"], "does not exist"),
    ],
)
def test_bad_input_is_one_error_line_and_status_2(tmp_path, args, message):
    args = [a if a != "x" else str(tmp_path / "run") for a in args]
    result = run_cli(*args)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0]
    assert "Traceback" not in result.stderr


@pytest.mark.long
def test_train_writes_a_complete_run_directory(tmp_path, tiny_idx_dir):
    from tfvae.runs import load_run

    out = tmp_path / "run"
    result = tfvae_in_process(
        "train",
        "--data-dir",
        str(tiny_idx_dir),
        "--epochs",
        "2",
        "--batch-size",
        "64",
        "--validation-size",
        "64",
        "--latent-dim",
        "2",
        "--hidden-units",
        "32",
        "--out",
        str(out),
        "--verbose",
        "0",
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 2
    assert 0 < metrics["test"]["loss"] < 784 * 0.7  # better than a coin per pixel
    assert abs(metrics["test"]["loss"] + metrics["test"]["elbo"]) < 1e-3
    assert (out / "history.csv").read_text().count("\n") == 3
    assert list((out / "logs").glob("train/events.out.tfevents.*"))
    model = load_run(out)
    assert model.latent_dim == 2 and model.hidden_units == (32,)
    assert list((out / "logs" / "images").glob("events.out.tfevents.*"))  # image grids for TensorBoard

    result = tfvae_in_process("evaluate", str(out), "-k", "20", "--limit", "40", "--batch-size", "16")
    assert result.returncode == 0, result.stderr
    evaluation = json.loads((out / "eval.json").read_text())
    assert evaluation["num_samples"] == 20 and evaluation["num_examples"] == 40
    assert "NLL (IWAE, K=20)" in result.stdout
    assert evaluation["nll"] <= -evaluation["elbo"] + 3 * evaluation["nll_stderr"]
    assert evaluation["command"] == f"tfvae evaluate {out} -k 20 --limit 40 --batch-size 16"
    assert evaluation["date"].startswith(("20", "21"))  # ISO 8601, UTC

    for args in (
        ["sample", str(out), "--n", "9", "--out", str(tmp_path / "s.png")],
        ["plot", str(out), "--kind", "curves", "--out", str(tmp_path / "c.png")],
        ["plot", str(out), "--kind", "manifold", "--out", str(tmp_path / "m.png")],
        ["plot", str(out), "--kind", "latent", "--num-points", "50", "--out", str(tmp_path / "l.png")],
    ):
        result = tfvae_in_process(*args)
        assert result.returncode == 0, result.stderr
        assert (tmp_path / Path(args[-1]).name).stat().st_size > 1000

    for expected_version in (1, 2):  # the next free version number each time
        result = tfvae_in_process("export", str(out), "--out", str(tmp_path / "served"))
        assert result.returncode == 0, result.stderr
        exported = tmp_path / "served" / str(expected_version)
        assert (exported / "saved_model.pb").exists()
        shipped = json.loads((exported / "metrics.json").read_text())
        assert shipped["eval"]["num_samples"] == 20
        assert shipped["evaluations"] == [{k: evaluation[k] for k in shipped["evaluations"][0]}]  # with its command
        assert {"nll", "num_samples", "num_examples", "split", "date", "command"} <= set(shipped["evaluations"][0])
    result = tfvae_in_process("export", str(out), "--out", str(tmp_path / "served"), "--version", "1")
    assert result.returncode == 2 and "new version" in result.stderr

    # The exported model evaluates like the run (same data; the signature's own seed).
    result = tfvae_in_process(
        "evaluate",
        str(tmp_path / "served" / "1"),
        "--data-dir",
        str(tiny_idx_dir),
        "-k",
        "20",
        "--limit",
        "40",
        "--out",
        str(tmp_path / "served_eval.json"),
    )
    assert result.returncode == 0, result.stderr
    served = json.loads((tmp_path / "served_eval.json").read_text())
    assert served["num_examples"] == 40 and abs(served["nll"] - evaluation["nll"]) < 4 * evaluation["nll_stderr"]


def test_evaluate_a_missing_run_is_a_clear_error(tmp_path):
    result = run_cli("evaluate", str(tmp_path))
    assert result.returncode == 2 and "not a tfvae run directory" in result.stderr


@pytest.mark.long
def test_mnist_two_epochs_below_145_nats(tmp_path):
    """End to end on real MNIST: the MLP VAE (latent 16), 2 epochs, dynamic binarisation."""
    out = tmp_path / "mnist"
    result = run_cli(
        "train",
        "--data-dir",
        str(mnist_dir()),
        "--epochs",
        "2",
        "--latent-dim",
        "16",
        "--likelihood",
        "bernoulli",
        "--arch",
        "mlp",
        "--out",
        str(out),
        "--verbose",
        "2",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    print("MNIST 2-epoch test negative ELBO:", metrics["test"]["loss"])
    assert metrics["test"]["loss"] < 145.0


def test_a_tfvae_keras_that_names_no_keras_is_one_line_before_tensorflow_loads(tmp_path):
    """``TFVAE_KERAS`` is read in one place (``tfvae.keras_choice``): a value that names no Keras is one error line,
    exit 2, from the command line as from ``import tfvae.backend``."""
    env = {**os.environ, "TFVAE_KERAS": "4"}
    command = [sys.executable, "-m", "tfvae", "evaluate", str(tmp_path)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    expected = "TFVAE_KERAS='4': tfvae runs on Keras 3 (TFVAE_KERAS=3, the default) or tf_keras (2)"
    assert result.stderr.strip() == f"tfvae: error: {expected}"
    script = "import tfvae.backend"
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and result.stderr.strip().endswith(f"ImportError: {expected}")
