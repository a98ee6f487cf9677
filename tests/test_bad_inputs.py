"""Bad inputs, table-driven: each case is a clear error or a documented behaviour.

Every row names what is fed, where (the Python API, the data readers, the
exported SavedModel signatures, the TFLite runners, the command line), the
exception type or exit status expected, and a pattern the message must
contain: the message has to name the problem, not just fail.
"""

import errno
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, blob_images, tfvae_in_process
from tfvae import VAE
from tfvae.backend import keras, tf
from tfvae.data import (
    DataError,
    load_dataset,
    load_idx_dataset,
    make_pipeline,
    read_idx,
    to_unit_interval,
    write_idx,
)

RNG = np.random.default_rng(0)
BINARY = (RNG.random((64, 28, 28, 1)) < 0.3).astype(np.float32)  # valid data
RAW = RNG.integers(0, 256, (64, 28, 28)).astype(np.uint8)  # raw MNIST as keras.datasets gives it


def _with(value, index=(3, 4, 5, 0)):
    """BINARY with one pixel set to ``value``."""
    x = BINARY.copy()
    x[index] = value
    return x


class Models:
    """Small models, built on first use and shared by the cases."""

    def __init__(self):
        self._cache = {}

    def get(self, name):
        if name not in self._cache:
            kwargs = {
                "plain": {},
                "xla": {},
                "unchecked": {"validate_inputs": False},
                "normal": {"likelihood": "normal"},
                "cb": {"likelihood": "continuous_bernoulli"},
                "dl": {"likelihood": "discretized_logistic"},
                "conditional": {"condition_dim": 4},
            }[name]
            model = VAE(latent_dim=2, hidden_units=(16,), seed=0, **kwargs)
            model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=name == "xla")
            self._cache[name] = model
        return self._cache[name]

    def __getattr__(self, name):
        return self.get(name)


@pytest.fixture(scope="module")
def models():
    return Models()


def _dataset(x, batch=32):
    return tf.data.Dataset.from_tensor_slices(x).batch(batch)


def _fit(model, x, **kwargs):
    return model.fit(x, epochs=1, batch_size=32, verbose=0, **kwargs)


ONE_HOT = np.eye(4, dtype=np.float32)[np.arange(64) % 4]
INVALID = tf.errors.InvalidArgumentError

# (id, call(models), exception type(s), regex the message must match)
API_CASES = [
    # The cases.
    (
        "fit raw uint8 MNIST",
        lambda m: _fit(m.plain, RAW),
        ValueError,
        r"dtype uint8 and shape \[64, 28, 28\].*binarize_fixed.*add the channel axis",
    ),
    ("fit uint8 with channel axis", lambda m: _fit(m.plain, RAW[..., None]), ValueError, r"dtype uint8.*x / 255"),
    (
        "fit floats 0..255",
        lambda m: _fit(m.plain, RAW[..., None].astype(np.float32)),
        ValueError,
        r"must lie in \[0, 1\] for the bernoulli likelihood, found values in \[0, 255\].*8-bit",
    ),
    ("fit one NaN pixel", lambda m: _fit(m.plain, _with(np.nan)), ValueError, r"NaN or infinite values \(1 of"),
    ("fit one NaN pixel under XLA", lambda m: _fit(m.xla, _with(np.nan)), ValueError, "NaN"),
    ("fit a NaN pipeline", lambda m: _fit(m.plain, _dataset(_with(np.nan))), INVALID, "NaN or infinite"),
    ("fit a NaN pipeline under XLA", lambda m: _fit(m.xla, _dataset(_with(np.nan))), INVALID, "NaN or infinite"),
    ("fit a 0..255 pipeline under XLA", lambda m: _fit(m.xla, _dataset(RAW[..., None] / 1.0)), INVALID, r"\[0, 1\]"),
    (
        "fit (N, 28, 28) for (28, 28, 1)",
        lambda m: _fit(m.plain, BINARY[..., 0]),
        ValueError,
        r"shape \[batch, 28, 28, 1\].*got shape \[64, 28, 28\].*channel axis: x\[..., None\]",
    ),
    (
        "fit a pipeline of wrong shape",
        lambda m: _fit(m.plain, _dataset(BINARY[..., 0])),
        ValueError,
        r"got shape \[\?, 28, 28\]",
    ),
    (
        "fit bad validation_data",
        lambda m: _fit(m.plain, BINARY, validation_data=(_with(np.inf),)),
        ValueError,
        "infinite",
    ),
    (
        "elbo with pixels at 2.0",
        lambda m: m.plain.elbo(np.full((2, 28, 28, 1), 2.0, np.float32)),
        ValueError,
        r"\[0, 1\].*found values in \[2, 2\]",
    ),
    # Beyond the issue.
    (
        "elbo at 2.0 in a tf.function",
        lambda m: tf.function(m.plain.elbo)(tf.fill([2, 28, 28, 1], 2.0)),
        INVALID,
        r"x must lie in \[0, 1\]",
    ),
    ("evaluate floats 0..255", lambda m: m.plain.evaluate(RAW[..., None] * 1.0, verbose=0), ValueError, r"\[0, 1\]"),
    ("predict +inf", lambda m: m.plain.predict(_with(np.inf), verbose=0), ValueError, "infinite"),
    ("train_on_batch NaN", lambda m: m.plain.train_on_batch(_with(np.nan)), ValueError, "NaN"),
    ("test_on_batch uint8", lambda m: m.plain.test_on_batch(RAW[..., None]), ValueError, "dtype uint8"),
    ("call with int64", lambda m: m.plain(np.zeros((2, 28, 28, 1), np.int64)), ValueError, "dtype int64"),
    (
        "encode flat vectors",
        lambda m: m.plain.encode(np.zeros((2, 784), np.float32)),
        ValueError,
        r"x.reshape\(-1, 28, 28, 1\)",
    ),
    ("encode one example", lambda m: m.plain.encode(np.zeros((28, 28, 1), np.float32)), ValueError, "batch axis"),
    (
        "encode channels first",
        lambda m: m.plain.encode(np.zeros((2, 1, 28, 28), np.float32)),
        ValueError,
        "channels go last",
    ),
    (
        "encode other image size",
        lambda m: m.plain.encode(np.zeros((2, 32, 32, 3), np.float32)),
        ValueError,
        r"data_shape=\(32, 32, 3\)",
    ),
    ("reconstruct -inf", lambda m: m.plain.reconstruct(_with(-np.inf)), ValueError, "infinite"),
    (
        "decode latents of the wrong size",
        lambda m: m.plain.decode(np.zeros((2, 3), np.float32)),
        ValueError,
        r"\[\.\.\., 2\] \(latent_dim=2\)",
    ),
    ("sample 0 images", lambda m: m.plain.sample(0), ValueError, "num_samples must be >= 1"),
    (
        "continuous Bernoulli below 0",
        lambda m: m.cb.elbo(_with(-0.1)),
        ValueError,
        r"\[0, 1\] for the continuous_bernoulli",
    ),
    (
        "discretised logistic above 1",
        lambda m: m.dl.elbo(_with(1.5)),
        ValueError,
        r"\[0, 1\] for the discretized_logistic",
    ),
    ("Normal likelihood with NaN", lambda m: m.normal.elbo(_with(np.nan)), ValueError, "NaN"),
    (
        "conditional model fed x alone",
        lambda m: _fit(m.conditional, BINARY),
        ValueError,
        r"condition_dim=4: feed \(x, condition\)",
    ),
    (
        "conditional pipeline of (x, c) pairs",
        lambda m: _fit(m.conditional, _dataset((BINARY, ONE_HOT))),
        ValueError,
        "one more tuple level",
    ),
    (
        "condition as integer labels",
        lambda m: m.conditional.elbo(BINARY, condition=np.arange(64) % 4),
        ValueError,
        r"one_hot\(labels, 4\)",
    ),
    (
        "condition of the wrong size",
        lambda m: m.conditional.encode(BINARY, np.zeros((64, 3), np.float32)),
        ValueError,
        r"expected shape \[64, 4\]",
    ),
    (
        "condition for too few images",
        lambda m: m.conditional.encode(BINARY, ONE_HOT[:10]),
        ValueError,
        r"\[64, 4\].*got \[10, 4\]",
    ),
    ("unconditional model fed (x, c)", lambda m: _fit(m.plain, (BINARY, ONE_HOT)), ValueError, "unconditional"),
    ("validate_inputs=False still checks dtype", lambda m: m.unchecked.elbo(RAW[..., None]), ValueError, "dtype uint8"),
]


@pytest.mark.parametrize("case", API_CASES, ids=[c[0] for c in API_CASES])
def test_python_api(models, case):
    _, call, error, pattern = case
    with pytest.raises(error, match=pattern):
        call(models)


def test_failed_fit_leaves_the_weights_alone(models):
    """A bad batch stops fit before it reaches the weights (under XLA too, where checks run in the pipeline).

    The learned weights (``portable_variables``): Keras 3's random-stream state may advance, as after any step."""
    for model in (models.plain, models.xla):
        before = [v.numpy().copy() for v in model.portable_variables]
        for bad in (_with(np.nan), _dataset(_with(np.nan))):
            with pytest.raises((ValueError, INVALID)):
                _fit(model, bad)
        assert all(np.array_equal(a, v.numpy()) for a, v in zip(before, model.portable_variables))


def test_documented_behaviours_of_the_python_api(models):
    # The Normal likelihood has no range: any finite value is data.
    assert np.isfinite(models.normal.elbo(_with(5.0)).numpy()).all()
    # validate_inputs=False skips the value checks (for data validated upstream), and is kept in the config.
    assert np.isfinite(models.unchecked.elbo(_with(2.0)).numpy()).all()
    assert VAE.from_config(models.unchecked.get_config()).validate_inputs is False
    # float64 and bool-free float16 inputs are accepted (cast to float32).
    assert models.plain.elbo(BINARY.astype(np.float64)).shape == (64,)
    # XLA still compiles with the checks in the graph, and trains on good data.
    history = _fit(models.xla, BINARY)
    assert np.isfinite(history.history["loss"]).all()


def test_evaluation_refuses_raw_pixels_and_empty_splits(models):
    from tfvae.evaluation import evaluate

    with pytest.raises(ValueError, match="dtype uint8"):
        evaluate(models.plain, RAW[..., None], num_samples=2, verbose=0)
    with pytest.raises(ValueError, match="no images to evaluate"):
        evaluate(models.plain, BINARY[:0], num_samples=2, verbose=0)


# --- the data readers and pipelines -------------------------------------------


def _idx_dir(tmp_path, train_labels=None):
    images, labels = blob_images(20, seed=1)
    for stem, array in (
        ("train-images-idx3-ubyte", images[..., 0]),
        ("t10k-images-idx3-ubyte", images[..., 0]),
        ("train-labels-idx1-ubyte", labels if train_labels is None else train_labels),
        ("t10k-labels-idx1-ubyte", labels),
    ):
        write_idx(tmp_path / f"{stem}.gz", np.asarray(array, np.uint8))
    return tmp_path


def _write(path, data):
    path.write_bytes(data)
    return path


DATA_CASES = [
    (
        "pipeline of int64 pixels",
        lambda t: make_pipeline(RAW.astype(np.int64)),
        DataError,
        r"dtype int64.*astype\(np.uint8\)",
    ),
    ("pipeline of floats 0..255", lambda t: make_pipeline(RAW / 1.0), DataError, r"\[0, 1\].*divide by 255"),
    ("pipeline with a NaN", lambda t: make_pipeline(_with(np.nan)), DataError, r"NaN or infinite values \(1"),
    (
        "pipeline with too few labels",
        lambda t: make_pipeline(RAW, labels=np.zeros(10)),
        DataError,
        "10 labels for 64 images",
    ),
    (
        "pipeline of one image without batch axis",
        lambda t: make_pipeline(np.zeros(5, np.uint8)),
        DataError,
        r"\[N, \.\.\.\]",
    ),
    ("pipeline of no images", lambda t: make_pipeline(np.zeros((0, 28, 28, 1), np.uint8)), DataError, "no images"),
    ("pipeline with batch size 0", lambda t: make_pipeline(RAW, batch_size=0), ValueError, "batch_size"),
    ("pipeline with unknown binarisation", lambda t: make_pipeline(RAW, binarize="otsu"), ValueError, "binarize"),
    ("to_unit_interval of strings", lambda t: to_unit_interval(np.array(["a"])), DataError, "dtype <U1"),
    (
        "IDX file with a bad magic number",
        lambda t: read_idx(_write(t / "bad", b"\x01\x02\x08\x01\x00")),
        DataError,
        "bad magic",
    ),
    (
        "IDX file with an unknown type code",
        lambda t: read_idx(_write(t / "code", b"\x00\x00\x07\x01\x00\x00\x00\x01")),
        DataError,
        "unknown IDX type code 0x07",
    ),
    (
        "IDX file shorter than its header says",
        lambda t: read_idx(_write(t / "short", bytes([0, 0, 8, 1]) + (9).to_bytes(4, "big") + b"\x00" * 5)),
        DataError,
        r"promises \(9,\)",
    ),
    (
        "broken gzip",
        lambda t: read_idx(_write(t / "broken.gz", gzip.compress(b"\x00" * 100)[:20])),
        DataError,
        "cannot read",
    ),
    ("missing data directory", lambda t: load_idx_dataset(t / "nowhere"), DataError, "does not exist"),
    ("data directory without the files", lambda t: load_idx_dataset(t), DataError, "missing"),
    (
        "labels that do not match the images",
        lambda t: load_idx_dataset(_idx_dir(t, np.zeros(7, np.uint8))),
        DataError,
        "expected 20 labels",
    ),
    ("a TFDS-only dataset from a directory", lambda t: load_dataset("cifar10", data_dir=t), DataError, "not supported"),
]


@pytest.mark.parametrize("case", DATA_CASES, ids=[c[0] for c in DATA_CASES])
def test_data_readers(tmp_path, case):
    _, call, error, pattern = case
    with pytest.raises(error, match=pattern):
        call(tmp_path)


# --- exported SavedModel signatures and TFLite runners -----------------------


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from tfvae.export import export

    model = VAE(latent_dim=2, hidden_units=(16,), seed=0)
    path = export(model, tmp_path_factory.mktemp("bad_inputs_export") / "vae", version=1, tflite=True)
    return path


@pytest.fixture(scope="module")
def signatures(exported):
    return tf.saved_model.load(str(exported)).signatures


X = np.zeros((2, 28, 28, 1), np.float32)
SERVING_CASES = [
    (
        "signature: missing channel axis",
        lambda s, lite: s["encode"](x=tf.zeros([2, 28, 28])),
        INVALID,
        r"Shape of tensor x \[2,28,28\] is not compatible with expected shape \[\?,28,28,1\]",
    ),
    (
        "signature: float64",
        lambda s, lite: s["encode"](x=tf.zeros([2, 28, 28, 1], tf.float64)),
        INVALID,
        "expected to be a float tensor but is a double tensor",
    ),
    (
        "signature: unscaled pixels",
        lambda s, lite: s["reconstruct"](x=tf.fill([1, 28, 28, 1], 255.0)),
        INVALID,
        r"x must lie in \[0, 1\]",
    ),
    (
        "signature: NaN",
        lambda s, lite: s["log_likelihood"](x=tf.fill([1, 28, 28, 1], np.nan), num_samples=tf.constant(3)),
        INVALID,
        "NaN",
    ),
    (
        "signature: latents of the wrong size",
        lambda s, lite: s["decode"](z=tf.zeros([2, 3])),
        INVALID,
        r"Shape of tensor z \[2,3\] is not compatible with expected shape \[\?,2\]",
    ),
    (
        "signature: num_samples 0",
        lambda s, lite: s["sample"](num_samples=tf.constant(0), seed=tf.constant(0)),
        INVALID,
        "num_samples must be >= 1",
    ),
    (
        "signature: num_samples too large",
        lambda s, lite: s["log_likelihood"](x=tf.constant(X), num_samples=tf.constant(10**6)),
        INVALID,
        "num_samples must be <=",
    ),
    (
        "signature: wrong input name",
        lambda s, lite: s["encode"](images=tf.constant(X)),
        TypeError,
        "missing a required argument: 'x'",
    ),
    (
        "TFLite: float64",
        lambda s, lite: lite.get_signature_runner("encode")(x=X.astype(np.float64)),
        ValueError,
        "Got value of type FLOAT64 but expected type FLOAT32",
    ),
    (
        "TFLite: raw uint8",
        lambda s, lite: lite.get_signature_runner("encode")(x=X.astype(np.uint8)),
        ValueError,
        "Got value of type UINT8",
    ),
    (
        "TFLite: wrong input name",
        lambda s, lite: lite.get_signature_runner("encode")(images=X),
        ValueError,
        r"Invalid Input name \(images\)",
    ),
    (
        "TFLite: image of another size",
        lambda s, lite: lite.get_signature_runner("encode")(x=X[:, :, :27]),
        RuntimeError,
        "failed to (prepare|invoke)",  # tf_keras's Flatten fails the shape check, Keras 3's reshape the run
    ),
    (
        "TFLite: signature it does not hold",
        lambda s, lite: lite.get_signature_runner("reconstruct"),
        ValueError,
        "Invalid signature_key",
    ),
]


@pytest.mark.parametrize("case", SERVING_CASES, ids=[c[0] for c in SERVING_CASES])
def test_serving(exported, signatures, case):
    from ai_edge_litert.interpreter import Interpreter

    _, call, error, pattern = case
    with pytest.raises(error, match=pattern):
        call(signatures, Interpreter(model_path=str(exported / "vae.tflite")))


def test_tflite_runs_no_value_checks(exported):
    """Documented (export.py, README): LiteRT has no assertion op, so bad values are computed on, not refused."""
    from ai_edge_litert.interpreter import Interpreter

    from tfvae.validation import check_array_values

    interpreter = Interpreter(model_path=str(exported / "vae.tflite"))
    encode = interpreter.get_signature_runner("encode")
    assert np.isnan(encode(x=np.full_like(X, np.nan))["mean"]).all()
    assert encode(x=np.full_like(X, 255.0))["mean"].shape == (2, 2)
    np.testing.assert_array_equal(encode(x=X[..., 0])["mean"], encode(x=X)["mean"])  # same values, read as [2,28,28,1]
    empty = interpreter.get_signature_runner("sample")(num_samples=np.array(0, np.int32))
    assert empty["x"].size == 0 and not empty["valid"]  # the count is guarded in the graph (export.py)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):  # what to call first
        check_array_values(np.full_like(X, 255.0), (0.0, 1.0))


@pytest.fixture(scope="module")
def count_exports(exported, tmp_path_factory):
    """An export of each family that takes counts: the plain image model, a conditional two-layer ladder
    (both with TFLite files), a sentence VAE."""
    from tfvae.export import export
    from tfvae.sentence import SentenceVAE
    from tfvae.sentence_export import export_sentence_model
    from tfvae.text import Vocabulary

    base = tmp_path_factory.mktemp("count_exports")
    conditional = VAE(
        latent_dims=(2, 2), inference="ladder", condition_dim=4, hidden_units=(16,), latent_hidden_units=(8,), seed=0
    )
    vocabulary = Vocabulary.build(["the cat sat", "a dog ran", "the dog sat"])
    sentence = SentenceVAE(vocabulary.size, latent_dim=2, embedding_dim=8, units=8, seed=0)
    return {
        "image": exported,
        "conditional_ladder": export(conditional, base / "conditional", tflite=True),
        "sentence": export_sentence_model(sentence, vocabulary, base / "sentence"),
    }


@pytest.mark.parametrize("family", ["image", "conditional_ladder", "sentence"])
@pytest.mark.long
def test_no_count_crashes_an_export(count_exports, family):
    """Every signature that takes a count, SavedModel and TFLite, fed every kind of int32 count in a subprocess."""
    from test_shipped_models import run_counts

    result, results = run_counts(count_exports[family])
    assert result.returncode == 0, (result.returncode, result.stderr[-3000:])  # a signal is a crash
    assert results.pop("peak_memory_mb") < 4000  # a conditional sample broadcast to 10^9 rows once took 15 GB
    signatures = {key.rsplit(" ", 1)[0] for key in results}
    expected = (
        {"sample", "sample_with", "log_likelihood", "log_likelihood_ids"}
        if family == "sentence"
        else {"sample", "log_likelihood", "posterior_sample", "vae.tflite sample", "vae_fp16.tflite sample"}
    )
    assert signatures == expected
    for key, outcome in results.items():
        if key.startswith("vae"):
            assert outcome[1] == key.endswith(" 3") and outcome[0][0] == (3 if key.endswith(" 3") else 0), key
        else:
            assert outcome == "refused: num_samples", key


# --- the Python constructors refuse what the command line refuses -------------

# (id, the class and its arguments, the same setting as train flags, what the ValueError must say)
SENTENCE = {"vocab_size": 10, "embedding_dim": 4, "units": 4}
CONSTRUCTOR_CASES = [
    ("num_samples 0", "VAE", {"num_samples": 0}, ["--num-samples", "0"], r"num_samples must be >= 1, got 0"),
    (
        "num_samples 0 (text)",
        "SentenceVAE",
        {**SENTENCE, "num_samples": 0},
        ["--dataset", "text", "--num-samples", "0"],
        r"num_samples must be >= 1",
    ),
    ("beta NaN", "VAE", {"beta": float("nan")}, ["--beta", "nan"], r"beta must be a finite number >= 0, got nan"),
    ("beta infinite", "VAE", {"beta": float("inf")}, ["--beta", "inf"], r"beta must be a finite number >= 0"),
    (
        "negative free bits",
        "VAE",
        {"objective": "free_bits", "free_bits": -0.5},
        ["--objective", "free_bits", "--free-bits", "-0.5"],
        r"free_bits must be a finite number >= 0",
    ),
    (
        "prior components 0",
        "VAE",
        {"prior": "mixture", "prior_components": 0},
        ["--prior", "mixture", "--prior-components", "0"],
        r"prior_components must be >= 1, got 0",
    ),
    (
        "infinite likelihood scale",
        "VAE",
        {"likelihood": "normal", "likelihood_scale": float("inf")},
        ["--likelihood", "normal", "--likelihood-scale", "inf"],
        r"likelihood_scale must be a finite number > 0",
    ),
    (
        "hidden layer of width 0",
        "VAE",
        {"hidden_units": (16, 0)},
        ["--hidden-units", "16", "0"],
        r"hidden_units must all be >= 1, got \[16, 0\]",
    ),
    (
        "latent MLP of width 0",
        "VAE",
        {"latent_dims": (2, 2), "latent_hidden_units": (0,)},
        ["--latent-dims", "2", "2", "--latent-hidden-units", "0"],
        r"latent_hidden_units must all be >= 1",
    ),
    (
        "prior components for the Normal prior",
        "VAE",
        {"prior_components": 5},
        ["--prior-components", "5"],
        r"prior_components is for prior='mixture' or 'vamp', not prior='normal'",
    ),
    (
        "likelihood scale for Bernoulli",
        "VAE",
        {"likelihood_scale": 0.5},
        ["--likelihood-scale", "0.5"],
        r"likelihood_scale is for likelihood='normal', not likelihood='bernoulli'",
    ),
    (
        "free bits for the ELBO",
        "VAE",
        {"free_bits": 2.0},
        ["--free-bits", "2"],
        r"free_bits is for objective='free_bits', not objective='elbo'",
    ),
    (
        "embedding of size 0",
        "SentenceVAE",
        {**SENTENCE, "embedding_dim": 0},
        ["--dataset", "text", "--embedding-dim", "0"],
        r"embedding_dim must be >= 1, got 0",
    ),
    (
        "word dropout of 1",
        "SentenceVAE",
        {**SENTENCE, "word_dropout": 1.0},
        ["--dataset", "text", "--word-dropout", "1"],
        r"word_dropout must be in \[0, 1\), got 1.0",
    ),
    (
        "negative BN-VAE gamma",
        "SentenceVAE",
        {**SENTENCE, "batch_norm_gamma": -1.0},
        ["--dataset", "text", "--bn-gamma", "-1"],
        r"batch_norm_gamma must be a finite number >= 0",
    ),
    (
        "IWAE for the language model",
        "SentenceVAE",
        {**SENTENCE, "latent_dim": 0, "objective": "iwae"},
        ["--dataset", "text", "--latent-dim", "0", "--objective", "iwae"],
        r"latent_dim=0 is the language model: objective='iwae' has no latent to act on",
    ),
]


@pytest.mark.parametrize("case", CONSTRUCTOR_CASES, ids=[c[0] for c in CONSTRUCTOR_CASES])
def test_constructors_refuse_what_the_cli_refuses(case, tmp_path):
    from tfvae.sentence import SentenceVAE

    _, name, arguments, flags, pattern = case
    with pytest.raises(ValueError, match=pattern):
        {"VAE": VAE, "SentenceVAE": SentenceVAE}[name](
            **{"latent_dim": 2, "hidden_units": (16,), **arguments} if name == "VAE" else arguments
        )
    result = run_cli("train", *flags, "--out", tmp_path / "run")
    assert result.returncode == 2 and len(_errors(result)) == 1, result.stderr  # refused before TensorFlow loads


# --- the command line --------------------------------------------------------


def run_cli(*args, env=None, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "tfvae.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def _errors(result):
    return [line for line in result.stderr.splitlines() if "error:" in line]


T = ["train", "--out", "OUT"]
# (id, arguments, exit status, regex of the one error line). All fail before TensorFlow loads.
FLAG_CASES = [
    ("negative beta", [*T, "--beta", "-1"], r"--beta must be >= 0, got -1"),
    ("SVI steps without --gaps", ["evaluate", "runs/x", "--svi-steps", "10"], r"--svi-steps .* are for --gaps"),
    (
        "SVI learning rate 0",
        ["evaluate", "runs/x", "--gaps", "--svi-learning-rate", "0"],
        r"--svi-learning-rate must be > 0",
    ),
    ("latent layer of size 0", [*T, "--latent-dims", "8", "0"], r"(--latent-dims|positive)"),
    ("latent sizes that disagree", [*T, "--latent-dim", "8", "--latent-dims", "16", "8"], r"disagree"),
    ("ladder with one layer", [*T, "--inference", "ladder"], r"--inference ladder needs two or more --latent-dims"),
    (
        "full posterior in a hierarchy",
        [*T, "--latent-dims", "8", "4", "--posterior", "full"],
        r"needs --posterior diagonal",
    ),
    ("learning rate 0", [*T, "--learning-rate", "0"], r"--learning-rate must be > 0"),
    ("learning rate NaN", [*T, "--learning-rate", "nan"], r"--learning-rate must be > 0, got nan"),
    ("negative seed", [*T, "--seed", "-1"], r"--seed must be in \[0, 2147483647\]"),
    ("seed beyond int32", [*T, "--seed", str(2**31)], r"--seed must be in"),
    (
        "infinite likelihood scale",
        [*T, "--likelihood", "normal", "--likelihood-scale", "inf"],
        r"--likelihood-scale must be > 0, got inf",
    ),
    ("negative validation size", [*T, "--validation-size", "-1"], r"--validation-size must be >= 0"),
    ("negative free bits", [*T, "--objective", "free_bits", "--free-bits", "-0.5"], r"--free-bits must be >= 0"),
    ("negative KL warm-up", [*T, "--kl-warmup-steps", "-5"], r"--kl-warmup-steps must be >= 0"),
    ("Adam beta1 of 1", [*T, "--adam-beta1", "1"], r"--adam-beta1 must be in \[0, 1\)"),
    ("lr decay rate 0", [*T, "--lr-decay-rate", "0"], r"--lr-decay-rate must be in \(0, 1\]"),
    ("zero epochs", [*T, "--epochs", "0"], r"--epochs"),
    ("unknown likelihood", [*T, "--likelihood", "poisson"], r"--likelihood"),
    (
        "KL warm-up and cycles together",
        [*T, "--kl-warmup-steps", "5", "--kl-cycle-steps", "10"],
        r"--kl-warmup-steps and --kl-cycle-steps cannot be combined",
    ),
    (
        "free bits with a full posterior",
        [*T, "--objective", "free_bits", "--posterior", "full"],
        r"--objective free_bits needs --posterior diagonal and --prior normal",
    ),
    (
        "VampPrior and --conditional",
        [*T, "--prior", "vamp", "--conditional"],
        r"--prior vamp cannot be combined with --conditional",
    ),
    (
        "prior components for the Normal prior",
        [*T, "--prior-components", "5"],
        r"--prior-components is for --prior mixture or vamp",
    ),
    (
        "likelihood scale for Bernoulli",
        [*T, "--likelihood-scale", "0.5"],
        r"--likelihood-scale is for --likelihood normal, not --likelihood bernoulli",
    ),
    ("free bits for the ELBO", [*T, "--free-bits", "2"], r"--free-bits is for --objective free_bits"),
    (
        "plateau and a schedule",
        [*T, "--reduce-lr-on-plateau", "3", "--lr-schedule", "cosine"],
        r"--reduce-lr-on-plateau .* --lr-schedule constant",
    ),
    ("sample too many images", ["sample", "OUT", "--n", "100000"], r"--n must be in \[1, 10000\]"),
    ("sample negative label", ["sample", "OUT", "--label", "-1"], r"--label must be >= 0"),
    ("evaluate K = 0", ["evaluate", "OUT", "-k", "0"], r"--num-samples"),
    ("evaluate negative seed", ["evaluate", "OUT", "--seed", "-3"], r"--seed must be in"),
    ("export version 0", ["export", "OUT", "--out", "x", "--version", "0"], r"--version"),
    ("sample into a directory", ["sample", "OUT", "--out", "TMP"], r"--out .* is a directory"),
    ("sample to a name without extension", ["sample", "OUT", "--out", "grid"], r"--out grid has no file extension"),
    ("evaluate into a directory", ["evaluate", "OUT", "--out", "TMP"], r"--out .* is a directory"),
    # tfvae sample's text decoding (tfvae.decoding): refused before the model is read
    ("sampling temperature 0", ["sample", "OUT", "--temperature", "0"], r"--temperature must be > 0, got 0"),
    ("top-k of 0", ["sample", "OUT", "--strategy", "top_k", "--top-k", "0"], r"--top-k must be >= 1, got 0"),
    ("top-p above 1", ["sample", "OUT", "--top-p", "1.5"], r"--top-p must be in \(0, 1\], got 1.5"),
    ("top-p of 0", ["sample", "OUT", "--top-p", "0"], r"--top-p must be in \(0, 1\], got 0"),
    ("beam width 0", ["sample", "OUT", "--strategy", "beam", "--beam-width", "0"], r"--beam-width must be >= 1"),
    ("length limit 0", ["sample", "OUT", "--max-length", "0"], r"--max-length must be >= 1, got 0"),
    ("negative no-repeat n-gram", ["sample", "OUT", "--no-repeat-ngram", "-1"], r"--no-repeat-ngram must be >= 0"),
    ("unknown strategy", ["sample", "OUT", "--strategy", "typical"], r"--strategy: invalid choice"),
]

# Decoding settings that only the model can refuse, on the shipped sentence export (before its graph loads).
SHIPPED_TEXT = "saved_models/ptb_sentence_vae/5"
TEXT_SAMPLE_CASES = [
    ("top-k above the vocabulary", ["--strategy", "top_k", "--top-k", "10003"], r"top_k must be in \[1, 10002\]"),
    ("empty homotopy sentence", ["--homotopy", "", "the market fell"], r"--homotopy FROM '': the sentence is empty"),
    (
        "all-unknown homotopy sentence",
        ["--homotopy", "the market fell", "qwzx vbnm"],
        r"--homotopy TO 'qwzx vbnm': every word .* outside the vocabulary",
    ),
]


@pytest.mark.parametrize("case", TEXT_SAMPLE_CASES, ids=[c[0] for c in TEXT_SAMPLE_CASES])
def test_cli_text_sampling_settings(case):
    _, args, pattern = case
    result = tfvae_in_process("sample", SHIPPED_TEXT, "--n", "2", *args)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("tfvae: error:")]
    assert len(errors) == 1, result.stderr
    assert re.search(pattern, errors[0]), errors[0]


@pytest.mark.parametrize("case", FLAG_CASES, ids=[c[0] for c in FLAG_CASES])
def test_cli_flags(tmp_path, case):
    _, args, pattern = case
    result = run_cli(*[{"OUT": tmp_path / "run", "TMP": tmp_path}.get(a, a) for a in args])
    assert result.returncode == 2, result.stderr
    errors = _errors(result)
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert re.search(pattern, errors[0]), errors[0]


def test_every_numeric_flag_has_a_range():
    from tfvae import cli

    parser = cli.build_parser()
    commands = parser._subparsers._group_actions[0].choices
    numeric = {int, float, cli._positive_int, cli._likelihood_scale}
    unchecked = [
        f"{name} {action.option_strings}"
        for name, command in commands.items()
        for action in command._actions
        if action.type in numeric and action.choices is None and action.dest not in cli.FLAG_RANGES
    ]
    assert not unchecked


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_idx_dir):
    """A finished 1-epoch run on the tiny blob data: (directory, the command that made it)."""
    out = tmp_path_factory.mktemp("cli_bad_inputs") / "run"
    command = [
        "train",
        "--data-dir",
        tiny_idx_dir,
        "--epochs",
        "1",
        "--batch-size",
        "64",
        "--validation-size",
        "64",
        "--latent-dim",
        "2",
        "--hidden-units",
        "16",
        "--out",
        out,
        "--verbose",
        "0",
    ]
    result = tfvae_in_process(*command)
    assert result.returncode == 0, result.stderr
    return out, command


def _snapshot(directory):
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(Path(directory).rglob("*"))
    }


def test_a_finished_run_is_left_alone_and_other_settings_are_refused(tiny_run, tmp_path):
    out, command = tiny_run
    before = _snapshot(out)
    result = tfvae_in_process(*command)  # the same command again: nothing to do
    assert result.returncode == 0, result.stderr
    assert "finished" in result.stdout
    assert _snapshot(out) == before  # byte-identical

    result = tfvae_in_process(
        *[("3" if a == "2" and command[i - 1] == "--latent-dim" else a) for i, a in enumerate(command)]
    )
    assert result.returncode == 2 and "latent_dim" in _errors(result)[0], result.stderr
    assert _snapshot(out) == before

    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    result = tfvae_in_process(*[copy if a == out else a for a in command], "--latent-dim", "3", "--overwrite")
    assert result.returncode == 0, result.stderr
    assert json.loads((copy / "config.json").read_text())["model"]["latent_dim"] == 3


def test_cli_runtime_errors_on_a_run(tiny_run, tmp_path):
    out, _ = tiny_run
    file = tmp_path / "a_file"
    file.write_text("not a directory")
    cases = [
        (["export", out, "--out", file], 2, "is a file"),  # --out is an existing file
        (["sample", out, "--label", "3", "--out", tmp_path / "s.png"], 2, "--label is for conditional models"),
        (["export", out, "--out", tmp_path / "e", "--weights", "float16"], 2, "--weights float16 is for text"),
        (["sample", out, "--n", "4", "--out", tmp_path / "a" / "s.png"], 2, "No such file or directory"),
        (["train", "--data-dir", tmp_path, "--out", file], 2, "is a file"),  # before any data is read
    ]
    for args, status, pattern in cases:
        result = tfvae_in_process(*args)
        errors = _errors(result)
        assert result.returncode == status and len(errors) == 1 and pattern in errors[0], (args, result.stderr)


def test_a_run_that_diverges_from_its_first_step_keeps_no_weights(tmp_path, tiny_idx_dir):
    out = tmp_path / "diverged"
    # sigma = 1e-30: the reconstruction term overflows to inf at the first step.
    result = tfvae_in_process(
        "train",
        "--data-dir",
        tiny_idx_dir,
        "--epochs",
        "2",
        "--batch-size",
        "64",
        "--validation-size",
        "64",
        "--latent-dim",
        "2",
        "--hidden-units",
        "16",
        "--likelihood",
        "normal",
        "--likelihood-scale",
        "1e-30",
        "--binarize",
        "none",
        "--out",
        out,
        "--verbose",
        "0",
    )
    assert result.returncode == 1, result.stderr
    errors = _errors(result)
    assert len(errors) == 1 and "no epoch finished with a finite loss" in errors[0], result.stderr
    assert "last good weights" not in result.stderr
    assert not (out / "checkpoints").exists() and not (out / "backup").exists()
    assert not (out / "metrics.json").exists()
    result = tfvae_in_process("sample", out, "--n", "4", "--out", tmp_path / "s.png")  # nothing to sample from
    assert result.returncode == 2 and "holds no trained weights" in _errors(result)[0], result.stderr


def _unwritable(tmp_path):
    """A path whose directory cannot be created: under a read-only directory, or (as root) under /sys."""
    if os.geteuid() == 0:
        return Path("/sys/tfvae-bad-inputs/run")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    return locked / "run"


def test_an_unwritable_out_directory(tmp_path, tiny_idx_dir):
    out = _unwritable(tmp_path)
    result = tfvae_in_process(
        "train",
        "--data-dir",
        tiny_idx_dir,
        "--epochs",
        "1",
        "--validation-size",
        "64",
        "--latent-dim",
        "2",
        "--hidden-units",
        "16",
        "--out",
        out,
        "--verbose",
        "0",
    )
    errors = _errors(result)
    assert result.returncode == 2 and len(errors) == 1, result.stderr
    assert ("Permission denied" in errors[0] or "not permitted" in errors[0]) and str(out.parent) in errors[0]


@pytest.fixture
def full_directory(tmp_path):
    """A 64 KiB tmpfs: full after config.json. Needs root (mount); skipped elsewhere."""
    mount = tmp_path / "full"
    mount.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True
        ).returncode
    ):
        pytest.skip("needs root to mount a small tmpfs")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_full_out_directory(full_directory, tiny_idx_dir):
    result = tfvae_in_process(
        "train",
        "--data-dir",
        tiny_idx_dir,
        "--epochs",
        "1",
        "--batch-size",
        "64",
        "--validation-size",
        "64",
        "--latent-dim",
        "2",
        "--hidden-units",
        "16",
        "--out",
        full_directory / "run",
        "--verbose",
        "0",
    )
    errors = _errors(result)
    assert result.returncode == 1 and len(errors) == 1, result.stderr
    assert os.strerror(errno.ENOSPC) in errors[0] and "Traceback" not in result.stderr


# --- a quiet command line ----------------------------------------------------


def test_no_tensorflow_start_up_lines_by_default(tmp_path):
    result = run_cli("evaluate", tmp_path / "missing")  # loads TensorFlow, then fails
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"tfvae: error: {tmp_path / 'missing'}: not a tfvae run directory or export (no such directory); give a "
        "directory written by 'tfvae train' or a version directory written by 'tfvae export' (saved_models/NAME/N)"
    ], result.stderr
    help_result = run_cli("train", "--help")
    assert help_result.returncode == 0 and help_result.stderr == ""

    shown = run_cli("evaluate", tmp_path / "missing", env={"TFVAE_TF_LOGS": "1", "TF_CPP_MIN_LOG_LEVEL": "0"})
    assert shown.returncode == 2 and "not a tfvae run directory" in shown.stderr.splitlines()[-1]
    if len(shown.stderr.splitlines()) == 1:
        pytest.skip("TensorFlow printed no start-up lines on this machine")


def test_the_noise_filter_keeps_real_messages():
    from tfvae.quiet import NOISE

    noise = [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1795426592.367647    3256 cudart_stub.cc:31] Could not find cuda drivers on your machine",
        "E0000 00:00:1795426593.424363    3256 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error",
    ]
    kept = [
        "E0000 00:00:1795426593.424363    3256 some_kernel.cc:52] Out of memory while allocating 4 GiB",
        "F0000 00:00:1795426593.424363    3256 check.cc:1] Check failed",
        "UserWarning: something the user should read",
    ]
    assert all(NOISE.search(line) for line in noise)
    assert not any(NOISE.search(line) for line in kept)
