"""Export: signatures in a process without tfvae, TFLite parity, the TF Serving contract, bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import blob_images
from tfvae import VAE
from tfvae.backend import keras, tf
from tfvae.evaluation import evaluate_saved_model, importance_weighted_log_likelihood
from tfvae.export import LOG_LIKELIHOOD_SEED, MAX_SAMPLES, export

SIGNATURES = (
    "encode",
    "decode",
    "reconstruct",
    "sample",
    "log_likelihood",
    "posterior_sample",
    "log_joint",
    "serving_default",
)

# Runs in a fresh interpreter: TensorFlow only, no tfvae, no TFP. Each (export, inputs, outputs) triple of the
# arguments is run in turn, one TensorFlow start for all of them (about 10 s each on the 2-core AMD host); then
# TensorFlow's own `saved_model_cli show --all` lists the first export, as a user runs it, into the last argument.
FRESH_PROCESS = r"""
import contextlib, io, runpy, sys, numpy as np, tensorflow as tf
*triples, listing = sys.argv[1:]
for path, inputs_file, outputs_file in zip(triples[0::3], triples[1::3], triples[2::3]):
    inputs = np.load(inputs_file)
    loaded = tf.saved_model.load(path)
    s = loaded.signatures
    out = {}
    for k, v in s["encode"](x=tf.constant(inputs["x"])).items(): out["encode/" + k] = v.numpy()
    for k, v in s["decode"](z=tf.constant(inputs["z"])).items(): out["decode/" + k] = v.numpy()
    out["reconstruct/mean"] = s["reconstruct"](x=tf.constant(inputs["x"]))["mean"].numpy()
    out["serving_default/mean"] = s["serving_default"](x=tf.constant(inputs["x"]))["mean"].numpy()
    for i in (1, 2):
        out[f"sample/x{i}"] = s["sample"](num_samples=tf.constant(5), seed=tf.constant(11))["x"].numpy()
    for k, v in s["log_likelihood"](x=tf.constant(inputs["x"]), num_samples=tf.constant(64)).items():
        out["log_likelihood/" + k] = v.numpy()
    # A user's own estimators: samples of q and their log q, then log p(x, z) at them.
    drawn = s["posterior_sample"](x=tf.constant(inputs["x"]), num_samples=tf.constant(64), seed=tf.constant(0))
    log_w = s["log_joint"](x=tf.constant(inputs["x"]), z_1=drawn["z_1"])["log_joint"] - drawn["log_posterior"]
    out["estimator/iwae"] = (tf.reduce_logsumexp(log_w, axis=0) - tf.math.log(64.0)).numpy()
    out["estimator/elbo"] = tf.reduce_mean(log_w, axis=0).numpy()
    assert "tfvae" not in sys.modules and "tensorflow_probability" not in sys.modules, "needs only TensorFlow"
    np.savez(outputs_file, **out)
sys.argv = ["saved_model_cli", "show", "--all", "--dir", triples[0]]
printed = io.StringIO()
with contextlib.redirect_stdout(printed):
    try:
        runpy.run_module("tensorflow.python.tools.saved_model_cli", run_name="__main__")
    except SystemExit as exit:
        assert not exit.code, exit.code
with open(listing, "w") as file:
    file.write(printed.getvalue())
"""


def _trained(tmp_path_factory, **kwargs):
    images, _ = blob_images(256, seed=8)
    x = (np.random.default_rng(0).random(images.shape) < images / 255.0).astype(np.float32)
    model = VAE(latent_dim=3, hidden_units=(32, 16), seed=5, **kwargs)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(x, batch_size=64, epochs=2, verbose=0)
    path = export(model, tmp_path_factory.mktemp("export") / "vae", version=1, tflite=True)
    return model, path, x[:16]


@pytest.fixture(scope="module")
def bernoulli_export(tmp_path_factory):
    return _trained(tmp_path_factory)


@pytest.fixture(scope="module")
def normal_full_export(tmp_path_factory):
    return _trained(tmp_path_factory, posterior="full", likelihood="normal", likelihood_scale="pixel")


FRESH_Z = np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32)  # the latents FRESH_PROCESS decodes


@pytest.fixture(scope="module")
def fresh_process(bernoulli_export, normal_full_export, tmp_path_factory):
    """FRESH_PROCESS run once on both exports: ``({fixture name: its outputs}, saved_model_cli's listing)``."""
    work = tmp_path_factory.mktemp("fresh_process")
    exports = {"bernoulli_export": bernoulli_export, "normal_full_export": normal_full_export}
    arguments = []
    for name, (_, path, x) in exports.items():
        np.savez(work / f"{name}_in.npz", x=x, z=FRESH_Z)
        arguments += [str(path), str(work / f"{name}_in.npz"), str(work / f"{name}_out.npz")]
    result = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, *arguments, str(work / "listing.txt")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outputs = {name: np.load(work / f"{name}_out.npz") for name in exports}
    return outputs, (work / "listing.txt").read_text()


@pytest.mark.parametrize("which", ["bernoulli_export", "normal_full_export"])
def test_signatures_in_a_fresh_process_match_keras(which, request, fresh_process):
    model, path, x = request.getfixturevalue(which)
    z = FRESH_Z
    out = fresh_process[0][which]

    q, p = model.encode(x), model.decode(z)
    close = dict(rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["encode/mean"], q.mean().numpy(), **close)
    np.testing.assert_allclose(out["encode/stddev"], q.stddev().numpy(), **close)
    np.testing.assert_allclose(out["decode/mean"], p.mean().numpy(), **close)
    if model.likelihood_kind == "bernoulli":
        np.testing.assert_allclose(out["decode/logits"], p.distribution.logits.numpy(), **close)
    else:
        np.testing.assert_allclose(out["encode/scale_tril"], q.scale.to_dense().numpy(), **close)
        np.testing.assert_allclose(out["decode/scale"], p.stddev().numpy(), **close)
    np.testing.assert_allclose(out["reconstruct/mean"], model.reconstruct(x).numpy(), **close)
    np.testing.assert_array_equal(out["serving_default/mean"], out["reconstruct/mean"])
    np.testing.assert_array_equal(out["sample/x1"], out["sample/x2"])  # same seed, same images
    np.testing.assert_allclose(out["sample/x1"], model.sample(5, seed=11).numpy(), **close)
    np.testing.assert_allclose(
        out["log_likelihood/elbo"], model.elbo(x, seed=LOG_LIKELIHOOD_SEED).numpy(), rtol=1e-5, atol=1e-3
    )
    expected = importance_weighted_log_likelihood(model, x, 64, LOG_LIKELIHOOD_SEED, chunk_size=500).numpy()
    np.testing.assert_allclose(out["log_likelihood/log_px"], expected, rtol=1e-5, atol=1e-3)
    # The IW bound from posterior_sample + log_joint (seed 0) is what `tfvae evaluate` reports on the export.
    by_evaluate = evaluate_saved_model(path, x, num_samples=64, batch_size=len(x), verbose=0)
    np.testing.assert_allclose(-out["estimator/iwae"].mean(), by_evaluate["nll"], rtol=1e-6)
    np.testing.assert_allclose(out["estimator/iwae"], out["log_likelihood/log_px"], rtol=1e-6, atol=1e-4)
    assert out["estimator/iwae"].mean() > out["estimator/elbo"].mean()  # the bound tightens with K
    description = json.loads((path / "tfvae.json").read_text())
    assert description["model"] == json.loads(json.dumps(model.get_config()))
    assert description["preprocessing"]["input_range"] == [0.0, 1.0]


def test_log_likelihood_signature_bound(bernoulli_export):
    model, path, x = bernoulli_export
    signature = tf.saved_model.load(str(path)).signatures["log_likelihood"]
    runs = {k: signature(x=tf.constant(x), num_samples=tf.constant(k)) for k in (1, 10, 100)}
    log_px = {k: r["log_px"].numpy() for k, r in runs.items()}
    elbo = runs[1]["elbo"].numpy()
    assert log_px[100].mean() >= elbo.mean()
    assert log_px[1].mean() < log_px[10].mean() < log_px[100].mean()
    standard_error = np.std(log_px[1] - elbo) / np.sqrt(len(x))
    assert abs(log_px[1].mean() - elbo.mean()) < 3 * standard_error + 1e-3


def test_export_tflite_on_its_own_writes_what_export_writes(bernoulli_export, tmp_path):
    """``export_tflite`` without a SavedModel (it traces and saves the model itself) gives the same TFLite outputs
    as ``export``'s file, which is converted from the export's own SavedModel."""
    from ai_edge_litert.interpreter import Interpreter

    from tfvae.export import export_tflite

    model, path, x = bernoulli_export
    assert export_tflite(model, tmp_path, float16=False) == [tmp_path / "vae.tflite"]
    z = np.random.default_rng(3).normal(size=(4, 3)).astype(np.float32)
    alone, exported = (Interpreter(model_path=str(p / "vae.tflite")) for p in (tmp_path, path))
    assert set(alone.get_signature_list()) == set(exported.get_signature_list()) == {"encode", "decode", "sample"}
    for name, inputs in (("encode", {"x": x}), ("decode", {"z": z})):
        got, expected = alone.get_signature_runner(name)(**inputs), exported.get_signature_runner(name)(**inputs)
        assert set(got) == set(expected)
        for key in expected:
            np.testing.assert_allclose(got[key], expected[key], rtol=1e-6, atol=1e-6, err_msg=f"{name}/{key}")


@pytest.mark.parametrize("which", ["bernoulli_export", "normal_full_export"])
def test_tflite_matches_saved_model(which, request):
    from ai_edge_litert.interpreter import Interpreter

    model, path, x = request.getfixturevalue(which)
    saved = tf.saved_model.load(str(path)).signatures
    z = np.random.default_rng(2).normal(size=(6, 3)).astype(np.float32)
    reference = {"encode": saved["encode"](x=tf.constant(x)), "decode": saved["decode"](z=tf.constant(z))}
    for file, tolerance in (("vae.tflite", 1e-5), ("vae_fp16.tflite", 2e-2)):
        interpreter = Interpreter(model_path=str(path / file))
        assert set(interpreter.get_signature_list()) == {"encode", "decode", "sample"}
        outputs = {
            "encode": interpreter.get_signature_runner("encode")(x=x),
            "decode": interpreter.get_signature_runner("decode")(z=z),
        }
        for signature, expected in reference.items():
            assert set(outputs[signature]) == set(expected)
            for name, value in expected.items():
                np.testing.assert_allclose(
                    outputs[signature][name],
                    value.numpy(),
                    atol=tolerance,
                    rtol=tolerance,
                    err_msg=f"{file} {signature}/{name}",
                )
    # TFLite's sampler has no seed: compare the distributions of 2000 images.
    runner = Interpreter(model_path=str(path / "vae.tflite")).get_signature_runner("sample")
    lite = runner(num_samples=np.array(2000, np.int32))["x"]
    full = saved["sample"](num_samples=tf.constant(2000), seed=tf.constant(3))["x"].numpy()
    assert lite.shape == full.shape == (2000, 28, 28, 1)
    # Per-image statistics (4 fixed random projections), compared as two samples of 2000. Pixels move together
    # through z, so a per-pixel average of differences is one heavy-tailed draw: it failed about 1 run in 20.
    projections = np.random.default_rng(5).normal(size=(28 * 28, 4))
    a, b = lite.reshape(2000, -1) @ projections, full.reshape(2000, -1) @ projections
    z_scores = np.abs(a.mean(0) - b.mean(0)) / np.sqrt(a.var(0) / 2000 + b.var(0) / 2000)
    assert np.all(z_scores < 4.5), z_scores  # a false alarm about once in 10^5 runs
    np.testing.assert_allclose(a.std(0), b.std(0), rtol=0.15)  # the spread too (5 standard errors)


def test_serving_contract_with_predict_requests(bernoulli_export):
    """Builds TF Serving PredictRequests from the signature defs and runs them on the SavedModel."""
    from tensorflow.python.tools import saved_model_utils
    from tensorflow_serving.apis import predict_pb2

    model, path, x = bernoulli_export
    signature_defs = saved_model_utils.get_meta_graph_def(str(path), "serve").signature_def
    assert set(SIGNATURES) <= set(signature_defs)
    feeds = {
        "x": x[:2],
        "z": np.zeros((2, 3), np.float32),
        "num_samples": np.int32(3),
        "seed": np.int32(1),
        "z_1": np.zeros((4, 2, 3), np.float32),
    }
    loaded = tf.saved_model.load(str(path))
    for name in SIGNATURES:
        signature_def = signature_defs[name]
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "vae"
        request.model_spec.signature_name = name
        for key, info in signature_def.inputs.items():
            request.inputs[key].CopyFrom(tf.make_tensor_proto(feeds[key], dtype=tf.dtypes.as_dtype(info.dtype)))
        # What the server does: decode the protos, run the signature, encode the response.
        request = predict_pb2.PredictRequest.FromString(request.SerializeToString())
        arguments = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
        response = predict_pb2.PredictResponse()
        for key, value in loaded.signatures[request.model_spec.signature_name](**arguments).items():
            response.outputs[key].CopyFrom(tf.make_tensor_proto(value.numpy()))
        assert set(response.outputs) == set(signature_def.outputs), name
        for key, info in signature_def.outputs.items():
            tensor = response.outputs[key]
            assert tensor.dtype == info.dtype, (name, key)
            declared = [d.size for d in info.tensor_shape.dim]
            actual = [d.size for d in tensor.tensor_shape.dim]
            assert len(declared) == len(actual) and all(a == b or a == -1 for a, b in zip(declared, actual)), (
                name,
                key,
                declared,
                actual,
            )
    assert [d.size for d in signature_defs["encode"].outputs["mean"].tensor_shape.dim] == [-1, 3]
    assert [d.size for d in signature_defs["decode"].outputs["mean"].tensor_shape.dim] == [-1, 28, 28, 1]


def test_saved_model_cli_lists_signatures(fresh_process):
    """TensorFlow's saved_model_cli (run in the fresh process, on the Bernoulli export) shows every signature."""
    for name in SIGNATURES:
        assert f"signature_def['{name}']" in fresh_process[1]


def test_bad_requests_are_clear_errors(bernoulli_export):
    _, path, x = bernoulli_export
    s = tf.saved_model.load(str(path)).signatures
    with pytest.raises((TypeError, ValueError, tf.errors.InvalidArgumentError)):
        s["encode"](x=tf.zeros([2, 28, 28]))  # wrong rank
    with pytest.raises((TypeError, ValueError, tf.errors.InvalidArgumentError)):
        s["encode"](x=tf.zeros([2, 28, 28, 1], tf.float64))  # wrong dtype
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[0, 1\]"):
        s["encode"](x=tf.fill([1, 28, 28, 1], 255.0))  # unscaled pixels
    for bad in (0, -3, MAX_SAMPLES + 1):
        with pytest.raises(tf.errors.InvalidArgumentError, match="num_samples"):
            s["sample"](num_samples=tf.constant(bad), seed=tf.constant(0))
        with pytest.raises(tf.errors.InvalidArgumentError, match="num_samples"):
            s["log_likelihood"](x=tf.constant(x[:1]), num_samples=tf.constant(bad))
        with pytest.raises(tf.errors.InvalidArgumentError, match="num_samples"):
            s["posterior_sample"](x=tf.constant(x[:1]), num_samples=tf.constant(bad), seed=tf.constant(0))
    z = s["posterior_sample"](x=tf.constant(x[:2]), num_samples=tf.constant(4), seed=tf.constant(0))["z_1"]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"z_1 must hold K samples of each of the B images"):
        s["log_joint"](x=tf.constant(x[:3]), z_1=z)  # the samples of 2 images for 3
    with pytest.raises(tf.errors.InvalidArgumentError, match="z_1.*NaN"):
        s["log_joint"](x=tf.constant(x[:2]), z_1=tf.fill([4, 2, 3], np.nan))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"z_1 \[2,3\] is not compatible with .* \[\?,\?,3\]"):
        s["log_joint"](x=tf.constant(x[:2]), z_1=z[0])  # [B, d]: K is required, even K = 1


def test_version_layout(bernoulli_export):
    model, path, _ = bernoulli_export
    assert path.name == "1" and (path / "saved_model.pb").exists()
    with pytest.raises(FileExistsError, match="new version"):
        export(model, path.parent, version=1)
    with pytest.raises(ValueError, match="positive integer"):
        export(model, path.parent, version=0)
