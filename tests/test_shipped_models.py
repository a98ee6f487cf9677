"""The models committed in saved_models/: they load with TensorFlow alone and score MNIST as recorded."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, mnist_dir

VERSIONS = sorted(p for p in (REPO / "saved_models").glob("*/*") if p.name.isdigit())

SCORE = r"""
import sys, numpy as np, tensorflow as tf
path, images = sys.argv[1], np.load(sys.argv[2])
s = tf.saved_model.load(path).signatures
x = s["sample"](num_samples=tf.constant(8), seed=tf.constant(0))["x"].numpy()
assert x.shape == (8, 28, 28, 1) and 0 <= x.min() and x.max() <= 1
r = s["log_likelihood"](x=tf.constant(images), num_samples=tf.constant(200))
assert "tfvae" not in sys.modules
print(float(-r["log_px"].numpy().mean()), float(-r["elbo"].numpy().mean()))
"""


@pytest.mark.parametrize("version", VERSIONS, ids=[f"{p.parent.name}/{p.name}" for p in VERSIONS])
def test_shipped_model_scores_mnist_as_recorded(version, tmp_path):
    from tfvae.data import binarize_fixed, load_idx_dataset

    recorded = json.loads((version / "metrics.json").read_text())
    images = binarize_fixed(load_idx_dataset(mnist_dir()).test_images, seed=0)[:500]
    np.save(tmp_path / "x.npy", images)
    result = subprocess.run([sys.executable, "-c", SCORE, str(version), str(tmp_path / "x.npy")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    nll_200, negative_elbo = map(float, result.stdout.split())
    # 500 test images and K=200 here vs 10,000 images and K=5000 recorded: a few nats apart at most.
    assert abs(nll_200 - recorded["eval"]["nll"]) < 4.0, (nll_200, recorded["eval"]["nll"])
    assert abs(negative_elbo + recorded["eval"]["elbo"]) < 5.0
    assert nll_200 < negative_elbo


@pytest.mark.parametrize("version", VERSIONS, ids=[f"{p.parent.name}/{p.name}" for p in VERSIONS])
def test_shipped_tflite_runs_with_litert(version):
    from ai_edge_litert.interpreter import Interpreter

    for name in ("vae.tflite", "vae_fp16.tflite"):
        runner = Interpreter(model_path=str(version / name)).get_signature_runner("sample")
        images = runner(num_samples=np.array(4, np.int32))["x"]
        assert images.shape == (4, 28, 28, 1) and np.all((images >= 0) & (images <= 1))


def test_at_least_one_model_is_shipped():
    assert any(Path(p / "saved_model.pb").exists() for p in VERSIONS)
