"""Shared fixtures: small generated data for fast tests, the real MNIST files for end-to-end ones, and the
sentences, vocabulary and small sentence VAE that tests/test_text.py and tests/test_harness.py both use."""

import functools
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Under pytest-xdist each worker (and every tfvae process it starts) gets its share of the cores for TensorFlow's
# thread pools, instead of every worker sizing its pools to the whole machine: two subsets of the tests ran 6-14 %
# faster with one thread each (2026-12-07, AMD EPYC host), though the whole fast tier in a fresh clone did not
# (docs/development.md#continuous-integration). Set either variable to override.
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    _threads = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", _threads)
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", _threads)

import gc

import numpy as np
import pytest

from tfvae.keras_choice import keras_choice

# Tracing TensorFlow functions allocates millions of short-lived Python objects, and with CPython's default
# threshold of 700 allocations the collector ran about 3,300 times in three test modules (9 of their 195 s). One
# young-generation collection per 50,000 allocations: 175 s, with the same peak memory (4.06 GB against 4.05;
# 2026-12-07, AMD EPYC host, `tests/test_model.py tests/test_hierarchical.py tests/test_text.py` with -n 0). The
# older generations keep their default ratios, so cyclic garbage is still freed.
gc.set_threshold(50_000, 10, 10)

REPO = Path(__file__).resolve().parents[1]

# tfvae runs on Keras 3 unless TFVAE_KERAS=2 (tfvae.backend): Keras 3 saves weights only as ``.weights.h5``
# (tf_keras: a TF checkpoint), and a few tests check Keras 2-only behaviour.
KERAS3 = keras_choice() == 3
WEIGHTS = "checkpoint.weights.h5" if KERAS3 else "checkpoint"
keras2_only = pytest.mark.skipif(KERAS3, reason="Keras 2 behaviour that Keras 3 drops by design")


def mnist_dir():
    """The real MNIST IDX files: $TFVAE_DATA_DIR, else ../shared/data/mnist beside the repository."""
    return Path(os.environ.get("TFVAE_DATA_DIR", REPO.parent / "shared" / "data" / "mnist"))


def blob_images(n, seed=0, size=28):
    """``n`` uint8 images of blobs in one of 4 corners (label = corner): structured, learnable data."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    yy, xx = np.mgrid[0:size, 0:size]
    centres = np.array([[7, 7], [7, 20], [20, 7], [20, 20]])
    images = np.zeros((n, size, size, 1), np.uint8)
    for i, label in enumerate(labels):
        cy, cx = centres[label] + rng.integers(-2, 3, 2)
        images[i, ..., 0] = (255 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 18.0)).astype(np.uint8)
    return images, labels


@pytest.fixture(scope="session")
def binary_batch():
    """64 dynamically-binarised blob images, float32 [64, 28, 28, 1]."""
    images, _ = blob_images(64, seed=1)
    rng = np.random.default_rng(2)
    return (rng.random(images.shape) < images / 255.0).astype(np.float32)


@pytest.fixture(scope="session")
def tiny_idx_dir(tmp_path_factory):
    """A directory of MNIST-format IDX files with 512 train and 128 test blob images."""
    from tfvae.data import write_idx

    directory = tmp_path_factory.mktemp("tiny_mnist")
    train_x, train_y = blob_images(512, seed=3)
    test_x, test_y = blob_images(128, seed=4)
    write_idx(directory / "train-images-idx3-ubyte.gz", train_x[..., 0])
    write_idx(directory / "train-labels-idx1-ubyte.gz", train_y.astype(np.uint8))
    write_idx(directory / "t10k-images-idx3-ubyte.gz", test_x[..., 0])
    write_idx(directory / "t10k-labels-idx1-ubyte.gz", test_y.astype(np.uint8))
    return directory


# Six short sentences, repeated so that a pipeline has batches to make.
SENTENCES = [
    "the cat sat on the mat",
    "a dog ran far away",
    "the dog sat",
    "a cat ran to the dog",
    "the mat is red",
    "a red cat sat on a dog",
] * 20


@functools.cache
def sentence_vocabulary():
    """The ``tfvae.text.Vocabulary`` of ``SENTENCES`` (built once: it holds no state that tests change)."""
    from tfvae import text

    return text.Vocabulary.build(SENTENCES)


def small(vocabulary, **kwargs):
    """A small sentence VAE on the test vocabulary."""
    from tfvae.sentence import SentenceVAE

    return SentenceVAE(vocabulary.size, **{"latent_dim": 4, "embedding_dim": 8, "units": 8, "seed": 0, **kwargs})


@pytest.fixture(scope="session")
def vocabulary():
    return sentence_vocabulary()


@pytest.fixture(scope="session")
def ids(vocabulary):
    """The first six sentences as token ids ``[6, length]``."""
    return vocabulary.ids(SENTENCES[:6])[0]


@pytest.fixture(autouse=True)
def fixed_seeds():
    """Every test starts from the same Python, NumPy and TensorFlow seeds, so its random draws repeat."""
    from tfvae.backend import keras

    keras.utils.set_random_seed(1234)


def pytest_collection_modifyitems(items):
    """The README's and the site's blocks run first (a stable sort keeps the rest in order).

    They are the suite's longest tests (2,000 of its 4,600 test-seconds); with ``-n 2``, one that starts last keeps
    one worker busy while the other idles (the PTB page's block ran alone for its last 6 minutes of a 44-minute run).
    """
    items.sort(key=lambda item: 0 if "test_readme_block[" in item.nodeid else 1)


# Modules whose tests share a module fixture that trains or exports (tens of seconds here): under pytest-xdist each
# module's tests go to one worker together, so the fixture is built once instead of once per worker (in one fast-tier
# run under xdist's "load" distribution, these fixtures were built twice: about 130 test-seconds; AMD EPYC host).
# pytest-xdist's own `--dist loadgroup` does nothing under pytest 9.2 (it renames `item._nodeid`, which pytest no
# longer reads: pytest-dev/pytest-xdist#1386, open), hence this scheduler of our own.
ONE_WORKER_MODULES = (
    "tests/test_artifacts.py",  # run_and_export
    "tests/test_bad_inputs.py",  # exported, count_exports, tiny_run
    "tests/test_export.py",  # bernoulli_export, normal_full_export, fresh_process
    "tests/test_generation.py",  # text_runs
    "tests/test_ownership.py",  # exported
    "tests/test_scoring.py",  # trained
    "tests/test_table.py",  # table_run
)


def scheduling_unit(nodeid):
    """What the scheduler hands a worker at once: the module of ``nodeid`` if it is one of ``ONE_WORKER_MODULES``,
    else the test itself."""
    module = nodeid.split("::", 1)[0]
    return module if module in ONE_WORKER_MODULES else nodeid


def pytest_xdist_make_scheduler(config, log):
    """xdist's load-scope scheduling with ``scheduling_unit`` as the scope, in the collection order (so the README's
    blocks still start first): every other test is shared out one at a time, as under ``--dist load``."""
    from xdist.scheduler import LoadScopeScheduling

    class ByUnit(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return scheduling_unit(nodeid)

    config.option.loadscopereorder = False
    return ByUnit(config, log)


def run_cli(argv):
    """``tfvae ARGV`` in this process: (exit status, stdout, stderr), by ``tfvae_in_process``."""
    result = tfvae_in_process(*argv)
    return result.returncode, result.stdout, result.stderr


def tfvae_in_process(*args):
    """``tfvae ARGS`` run in this process, as a ``subprocess.CompletedProcess`` (exit status, stdout, stderr).

    TensorFlow loads once per test worker instead of once per command (5-7 s each on a 2-core CPU). A test keeps a
    subprocess for what only a process of its own shows: TensorFlow's start-up and C++ log lines, an exit before
    TensorFlow loads, signals; ``.ci/run``'s wheel job runs every command as a user does.
    """
    import contextlib
    import io
    import subprocess

    from tfvae import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = cli.main([str(a) for a in args])
        except SystemExit as exit:  # argparse's own errors (an unknown flag or choice)
            status = exit.code
    return subprocess.CompletedProcess(["tfvae", *map(str, args)], status, out.getvalue(), err.getvalue())


def read_csv_rows(path):
    """The rows of a CSV file with a header, as dicts."""
    import csv

    with open(path, newline="") as file:
        return list(csv.DictReader(file))
