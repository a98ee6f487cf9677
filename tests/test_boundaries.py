"""The edges of the command line and of evaluation: one image, any batch size, and no TensorFlow C++ log lines.

Every command here runs in a subprocess, as a user runs it, with ``TF_CPP_MIN_LOG_LEVEL=2`` inherited from
conftest (the level at which oneDNN's ``E0000 ... util.cc`` lines used to get through).
"""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, blob_images
from tfvae import VAE
from tfvae.backend import tf
from tfvae.evaluation import evaluate, evaluate_saved_model, evaluate_sentences

PTB = REPO.parent / "shared" / "data" / "ptb"
# What TensorFlow's C++ logging writes: absl's "E0000 00:00:..." lines and the notice before its set-up.
CPP_LOG_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d|absl::InitializeLog|oneDNN|cuInit|cuda")


def tfvae(*args, **kwargs):
    """``python -m tfvae ARGS`` in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "tfvae", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
        **kwargs,
    )


def assert_clean(result):
    """The command worked and printed no TensorFlow C++ log line."""
    assert result.returncode == 0, result.stderr[-3000:]
    leaked = [line for line in (result.stdout + result.stderr).splitlines() if CPP_LOG_LINE.search(line)]
    assert not leaked, leaked


# --- Python: any number of examples, any batch size ---------------------------


@pytest.fixture(scope="module")
def images():
    pixels, _ = blob_images(5, seed=2)
    return (np.random.default_rng(0).random(pixels.shape) < pixels / 255.0).astype(np.float32)


@pytest.mark.parametrize("latent_dims", [(2,), (3, 2)], ids=["one_layer", "two_layers"])
def test_evaluation_takes_one_image_and_any_batch_size(images, latent_dims):
    model = VAE(latent_dims=latent_dims, hidden_units=(16,), latent_hidden_units=(8,), seed=0)
    single = evaluate(model, images[:1], num_samples=4, batch_size=1, verbose=0)
    # One image is one batch whatever the batch size, drawn with the same seed: the same numbers.
    assert evaluate(model, images[:1], num_samples=4, batch_size=100, verbose=0)["nll"] == single["nll"]
    assert single["num_examples"] == 1 and single["nll_stderr"] == 0.0 and np.isfinite(single["nll"])
    for batch_size in (2, 6):  # a last batch of one; one batch larger than all the images
        results = evaluate(model, images, num_samples=4, batch_size=batch_size, chunk_size=3, verbose=0)
        assert results["num_examples"] == 5 and np.isfinite(results["nll"]) and results["nll"] > 0
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        evaluate(model, images, num_samples=4, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="chunk_size must be >= 1, got 0"):
        evaluate(model, images, num_samples=4, chunk_size=0, verbose=0)


def test_evaluation_of_one_sentence_and_of_an_export_of_one_image(images, tmp_path):
    from tfvae.export import export
    from tfvae.sentence import SentenceVAE
    from tfvae.text import Vocabulary, encode_sentences

    vocabulary = Vocabulary.build(["the cat sat", "a dog ran", "the dog sat"])
    model = SentenceVAE(vocabulary.size, latent_dim=2, embedding_dim=8, units=8, seed=0)
    for sentences, batch_size in ((["the cat sat"], 1), (["the cat sat", "a dog", "the dog ran far"], 2)):
        results = evaluate_sentences(
            model,
            encode_sentences(vocabulary, sentences),
            num_samples=3,
            batch_size=batch_size,
            chunk_size=2,
            verbose=0,
        )
        assert results["num_examples"] == len(sentences) and np.isfinite(results["nll"])
    path = export(VAE(latent_dim=2, hidden_units=(16,), seed=0), tmp_path / "served")
    for count, batch_size in ((1, 1), (1, 100), (3, 2)):
        results = evaluate_saved_model(path, images[:count], num_samples=4, batch_size=batch_size, verbose=0)
        assert results["num_examples"] == count and np.isfinite(results["nll"])
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        evaluate_saved_model(path, images, num_samples=4, batch_size=0, verbose=0)


def test_importance_weighting_traced_for_a_batch_of_one(images):
    """The failure behind `tfvae evaluate --limit 1`: a while loop whose batch is 1 at entry and unknown after."""
    from tfvae.evaluation import importance_weighted_log_likelihood

    model = VAE(latent_dim=2, hidden_units=(16,), seed=0)
    estimate = tf.function(lambda x: importance_weighted_log_likelihood(model, x, 6, (1, 2), chunk_size=4))
    assert estimate(tf.constant(images[:1])).shape == (1,)


# --- the command line: --limit 1, and quiet, on runs and exports, images and text -------------------------


@pytest.fixture(scope="module")
def image_run(tmp_path_factory, tiny_idx_dir):
    """A 1-epoch image run and its export (with TFLite files), both made by the command line."""
    base = tmp_path_factory.mktemp("boundaries_image")
    trained = tfvae(
        "train",
        "--data-dir",
        tiny_idx_dir,
        "--epochs",
        "1",
        "--batch-size",
        "64",
        "--validation-size",
        "64",
        "--latent-dims",
        "3",
        "2",
        "--latent-hidden-units",
        "8",
        "--hidden-units",
        "16",
        "--out",
        base / "run",
        "--verbose",
        "0",
    )
    assert_clean(trained)
    assert_clean(tfvae("export", base / "run", "--out", base / "served", "--tflite"))
    return base / "run", base / "served" / "1"


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    """A 1-epoch sentence VAE on 100 PTB sentences and its export, both made by the command line."""
    if not PTB.is_dir():
        pytest.skip(f"{PTB} is missing")
    base = tmp_path_factory.mktemp("boundaries_text")
    data = base / "ptb"
    data.mkdir()
    for split, count in (("train", 100), ("valid", 10), ("test", 10)):
        (data / f"ptb.{split}.txt").write_text("\n".join((PTB / f"ptb.{split}.txt").read_text().splitlines()[:count]))
    trained = tfvae(
        "train",
        "--dataset",
        "text",
        "--data-dir",
        data,
        "--epochs",
        "1",
        "--latent-dim",
        "4",
        "--embedding-dim",
        "16",
        "--rnn-units",
        "16",
        "--batch-size",
        "32",
        "--out",
        base / "run",
        "--verbose",
        "0",
    )
    assert_clean(trained)
    assert_clean(tfvae("export", base / "run", "--out", base / "served"))
    return base / "run", base / "served" / "1", data


@pytest.mark.long
def test_image_commands_on_a_run_and_an_export(image_run, tiny_idx_dir, tmp_path):
    run, served = image_run
    for target in (run, served):
        result = tfvae(
            "evaluate", target, "--limit", "1", "-k", "3", "--data-dir", tiny_idx_dir, "--out", tmp_path / "eval.json"
        )
        assert_clean(result)
        assert json.loads((tmp_path / "eval.json").read_text())["num_examples"] == 1
        assert_clean(tfvae("sample", target, "--n", "4", "--out", tmp_path / "samples.png"))
    assert_clean(
        tfvae("evaluate", run, "--gaps", "--limit", "1", "--svi-steps", "2", "-k", "3", "--out", tmp_path / "gaps.json")
    )
    assert_clean(
        tfvae("plot", served, "--kind", "reconstructions", "--data-dir", tiny_idx_dir, "--out", tmp_path / "r.png")
    )


def test_a_shipped_vamp_export_samples_quietly(tmp_path):
    """The issue's case: oneDNN's `E0000 ... DT_INT32` line on the VampPrior's sample signature."""
    shipped = REPO / "saved_models" / "mnist_mlp_vamp" / "1"
    if not shipped.is_dir():
        pytest.skip(f"{shipped} is missing")
    assert_clean(tfvae("sample", shipped, "--n", "4", "--out", tmp_path / "x.png"))


@pytest.mark.long
def test_text_commands_on_a_run_and_an_export(text_run, tmp_path):
    run, served, data = text_run
    for target in (run, served):
        result = tfvae("evaluate", target, "--limit", "1", "-k", "2", "--data-dir", data, "--out", tmp_path / "e.json")
        assert_clean(result)
        assert json.loads((tmp_path / "e.json").read_text())["num_examples"] == 1
        assert_clean(tfvae("sample", target, "--n", "2"))


def test_logs_are_shown_when_asked(tmp_path):
    """TFVAE_TF_LOGS=1 lets TensorFlow's own lines through: the test above can see them when they come."""
    shown = {**os.environ, "TFVAE_TF_LOGS": "1", "TF_CPP_MIN_LOG_LEVEL": "0"}
    result = tfvae("evaluate", tmp_path / "missing", env=shown)
    assert result.returncode == 2
    if not any(CPP_LOG_LINE.search(line) for line in result.stderr.splitlines()):
        pytest.skip("TensorFlow printed no C++ lines on this machine")
