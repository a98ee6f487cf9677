"""Export a trained VAE for serving: SavedModel signatures, TF Serving layout, TFLite.

``export(model, "saved_models/NAME", version=1)`` writes::

    saved_models/NAME/1/saved_model.pb, variables/   the SavedModel (TF Serving loads NAME/)
    saved_models/NAME/1/tfvae.json                    config, preprocessing, prior, signatures
    saved_models/NAME/1/vae.tflite, vae_fp16.tflite   (with tflite=True) for LiteRT

The signatures are plain TensorFlow graphs: running them needs neither tfvae
nor TFP's Python code.

======================  ===========================================  ======================================
signature               inputs                                       outputs
======================  ===========================================  ======================================
``encode``              ``x`` float32 ``[B, *data_shape]``, in [0,1]   ``mean``, ``stddev`` ``[B, d]``
                                                                     (+ ``scale_tril`` ``[B, d, d]``;
                                                                     a hierarchical model adds
                                                                     ``mean_2``, ``stddev_2``, ...)
``decode``              ``z`` float32 ``[B, d]`` (z_1)                   ``mean`` ``[B, *data_shape]`` and the
                                                                     likelihood's ``logits`` or ``loc``,
                                                                     ``scale``
``reconstruct``         ``x``                                        ``mean`` (decode of the posterior mean)
``sample``              ``num_samples``, ``seed`` int32 scalars       ``x`` image means, z ~ p(z) (all layers)
``log_likelihood``      ``x``, ``num_samples`` (K) int32 scalar       ``elbo``, ``log_px`` ``[B]`` (nats)
``posterior_sample``    ``x``, ``num_samples`` (K), ``seed`` int32    ``z_1``, ..., ``z_L`` ``[K, B, d_l]``
                                                                     from q(z|x) (every layer), and
                                                                     ``log_posterior`` log q(z|x) ``[K, B]``
``log_joint``           ``x``, ``z_1``, ..., ``z_L`` float32           ``log_joint`` log p(x, z) ``[K, B]``
                        ``[K, B, d_l]``                              = ``log_px_given_z`` log p(x|z_1)
                                                                     + ``log_pz`` log p(z_1, ..., z_L)
``serving_default``     = ``reconstruct``
======================  ===========================================  ======================================

A model trained on a CSV of features (``tfvae.own_data``) takes RAW feature
values as ``x`` (any finite values: ``preprocessing.input_range`` is null):
every signature standardises them with the training split's mean and std
(``preprocessing.features`` in ``tfvae.json``, with the column names, which
``x``'s last axis must follow), and the image means it returns (``mean``,
``x``, and ``decode``'s ``loc`` and ``scale``) are in raw units again. Its log
densities (``log_px``, ``elbo``, ``log_joint``) are those of the
standardised features: add ``preprocessing.features.log_jacobian``
(-sum log std) for a density over raw values.

A conditional model takes one more input, ``condition`` float32 ``[B, c]``
(``sample``: ``[1, c]`` or ``[num_samples, c]``), in every signature.

``posterior_sample`` and ``log_joint`` give any estimator with TensorFlow
alone: with ``w = log_joint - log_posterior`` at the same samples, ``mean_K(w)``
estimates the ELBO and ``logsumexp_K(w) - log K`` is the importance-weighted
bound. ``posterior_sample`` with seed s draws the samples that
``tfvae.evaluation.importance_weighted_log_likelihood`` draws with the
stateless seed ``(s, 0)``, so seed 0 reproduces ``log_likelihood``'s ``log_px``.
log p(z) = log p(z_L) + sum_l log p(z_l|z_{l+1}); log q(z|x) is q's joint
density over all layers, as ``model.infer`` samples them.

The signatures check what they are fed: a wrong dtype or input name is a
``TypeError``/``InvalidArgumentError`` from TensorFlow; a wrong shape, NaN or
infinity, pixels outside [0, 1], latents whose ``[K, B]`` disagree with each
other or with x's batch, or ``num_samples`` outside [1, MAX_SAMPLES] raise
``tf.errors.InvalidArgumentError`` with a message that names the problem.
Any int32 count is safe: the check runs before anything that the count sizes.

TFLite holds ``encode``, ``decode`` and ``sample``. LiteRT has no assertion
op (the converter drops the checks): its runners refuse a wrong dtype or
input name (``ValueError``) and a shape whose size differs (``RuntimeError``),
but read a batch with the right number of values in another shape as the
declared shape, and compute on NaN or out-of-range pixels without complaint.
Check data before feeding a runner:
``tfvae.validation.check_array_values(x, (0, 1))``. Its ``sample`` guards its
count in the graph, because LiteRT dies with a segmentation fault on a
negative or huge one: for ``num_samples`` outside [1, MAX_SAMPLES] it returns
an empty batch ``x`` ``[0, ...]`` and ``valid`` = False (``valid`` is True
otherwise), for any int32. It draws with ``tf.random.normal``, which converts
to the builtin ``RANDOM_STANDARD_NORMAL``: the stateless seeded sampler of the
SavedModel needs Flex ops that LiteRT's pip runtime does not run, so TFLite's
``sample`` takes no seed (and ``posterior_sample`` is not in TFLite).

The skeleton shared with the sentence export (``tfvae.sentence_export``) lives
here too: ``ServingModule`` (the model's variables, signatures traced with fixed
inputs, the count checks and the fixed-seed importance-weighted bound),
``version_directory`` (TF Serving's layout), ``new_version`` (a version
appears complete or not at all: written beside it, then renamed) and ``save``
(the SavedModel, its assets and ``tfvae.json``).
"""

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from tfvae import validation
from tfvae.backend import tf
from tfvae.evaluation import IMAGE_SAMPLE_CHUNK, importance_weighted_log_likelihood, joint_log_posterior
from tfvae.ownership import owned

MAX_SAMPLES = 100_000  # per request: larger K or sample counts are rejected
LOG_LIKELIHOOD_SEED = (0, 0)  # the same request always gets the same estimate
EXPORT_FORMAT = "tfvae-export-1"  # tfvae.json's "format"
COUNT_SPEC = tf.TensorSpec([], tf.int32, name="num_samples")  # the input of a requested count
SEED_SPEC = tf.TensorSpec([], tf.int32, name="seed")


def check_count(n):
    """The assertions a serving signature makes on a requested count ``n``: 1 <= n <= MAX_SAMPLES."""
    return [
        tf.debugging.assert_positive(n, message="num_samples must be >= 1"),
        tf.debugging.assert_less_equal(n, MAX_SAMPLES, message=f"num_samples must be <= {MAX_SAMPLES}"),
    ]


class ServingModule(tf.Module):
    """What every export holds: the model's variables and its serving functions, traced with fixed inputs.

    A subclass makes one ``tf.function`` per name in ``SIGNATURES`` (with
    ``_signature``) and a ``reconstruct``, the default signature; its
    ``log_likelihood`` can use ``_bounds``, which decodes ``CHUNK_SIZE``
    samples at a time.

    Args:
        model: the model to serve.
        name: the module's name.
    """

    SIGNATURES = ()
    CHUNK_SIZE = IMAGE_SAMPLE_CHUNK

    def __init__(self, model, name):
        super().__init__(name=name)
        # Track the variables, not the Keras model: saving a tracked Keras
        # model would also run Keras's own serialization, which is not needed.
        self.model_variables = model.portable_variables
        self._get_model = lambda: model

    def _signature(self, method, *specs):
        """``method`` as a ``tf.function`` with the inputs ``specs``, and ``condition`` last for a conditional model."""
        condition_dim = self._get_model().condition_dim
        # A conditional model takes the condition as one more input everywhere.
        extra = [tf.TensorSpec([None, condition_dim], tf.float32, name="condition")] if condition_dim else []
        return tf.function(method, input_signature=[*specs, *extra])

    def _latent_spec(self):
        """The input ``z``: float32 ``[B, latent_dim]``."""
        return tf.TensorSpec([None, self._get_model().latent_dim], tf.float32, name="z")

    def _bounds(self, x, num_samples, checks=(), condition=None, seed=LOG_LIKELIHOOD_SEED):
        """``log_px``, the importance-weighted bound with K = ``num_samples``, and ``elbo``, both with the
        stateless ``seed`` (default: the fixed ``LOG_LIKELIHOOD_SEED``); the bound waits for ``checks`` and the
        count's."""
        model = self._get_model()
        with tf.control_dependencies([*checks, *check_count(num_samples)]):
            seed = tf.cast(tf.stack(seed), tf.int32)
            log_px = importance_weighted_log_likelihood(
                model, x, num_samples, seed, chunk_size=self.CHUNK_SIZE, condition=condition
            )
        return {"log_px": log_px, "elbo": model.elbo(x, seed=seed, condition=condition)}

    def serving_signatures(self):
        """The SavedModel's signatures: each of ``SIGNATURES``, and ``serving_default`` = ``reconstruct``."""
        return {**{name: getattr(self, name) for name in self.SIGNATURES}, "serving_default": self.reconstruct}


class _Signatures(ServingModule):
    """The image VAE's serving functions (the table of the module docstring).

    ``value_range``: the values ``x`` must take, ``(0, 1)`` for images or ``None`` (any finite value);
    ``features``: a CSV model's ``{"columns", "mean", "std"}``: ``x`` is standardised inside, outputs unstandardised.
    """

    SIGNATURES = ("encode", "decode", "reconstruct", "sample", "log_likelihood", "posterior_sample", "log_joint")

    def __init__(self, model, value_range=(0.0, 1.0), features=None):
        super().__init__(model, name="tfvae")
        self.value_range = None if value_range is None else tuple(value_range)
        if features:
            self.feature_mean = tf.constant(features["mean"], tf.float32)
            self.feature_std = tf.constant(features["std"], tf.float32)
        self.standardised = bool(features)
        x_spec = tf.TensorSpec([None, *model.data_shape], tf.float32, name="x")
        signature, count, seed = self._signature, COUNT_SPEC, SEED_SPEC
        self.encode = signature(self._encode, x_spec)
        self.decode = signature(self._decode, self._latent_spec())
        self.reconstruct = signature(self._reconstruct, x_spec)
        self.sample = signature(self._sample, count, seed)
        self.log_likelihood = signature(self._log_likelihood, x_spec, count)
        self.posterior_sample = signature(self._posterior_sample, x_spec, count, seed)
        # One input per latent layer, [K, B, d_l], named as posterior_sample names its outputs.
        layer_specs = [
            tf.TensorSpec([None, None, dim], tf.float32, name=name)
            for name, dim in zip(layer_names(model), model.latent_dims)
        ]
        self.log_joint = signature(self._log_joint, x_spec, *layer_specs)
        self.sample_unseeded = signature(self._sample_unseeded, count)

    def _check_images(self, x, condition=None):
        # A signature does not check the shapes it is fed (EnsureShape does, naming both); the values
        # must be finite and in the documented input_range ([0, 1] for images), whatever the likelihood.
        model = self._get_model()
        checks = [validation.check_values(tf.ensure_shape(x, [None, *model.data_shape]), self.value_range, "x")]
        if condition is not None:
            checks.append(tf.ensure_shape(condition, [None, model.condition_dim]))
        return checks

    def _model_x(self, x):
        """``x`` as the model saw it in training: standardised (a CSV model), or as it is."""
        return (x - self.feature_mean) / self.feature_std if self.standardised else x

    def _raw(self, values, scale_only=False):
        """Model-space values (means; ``scale_only``: scales) in the units of ``x``."""
        if not self.standardised:
            return values
        return values * self.feature_std if scale_only else values * self.feature_std + self.feature_mean

    def _encode(self, x, condition=None):
        with tf.control_dependencies(self._check_images(x, condition)):
            layers = self._get_model().encode_layers(self._model_x(x), condition)
        q = layers[0]
        # Layers above z_1, along the path through the means (see VAE.encode_layers).
        upper = {
            f"{name}_{i + 2}": value
            for i, p in enumerate(layers[1:])
            for name, value in (("mean", p.mean()), ("stddev", p.stddev()))
        }
        head = self._get_model().posterior
        return {"mean": q.mean(), "stddev": head.serving_stddev(q), **head.serving_outputs(q), **upper}

    def _decode(self, z, condition=None):
        z = tf.ensure_shape(z, [None, self._get_model().latent_dim])
        p = self._get_model().decode(z, condition)
        head = self._get_model().likelihood
        outputs = {"mean": p.mean(), **(head.serving_outputs(p) if hasattr(head, "serving_outputs") else {})}
        return {
            name: self._raw(value, scale_only=name == "scale") if name in ("mean", "loc", "scale") else value
            for name, value in outputs.items()
        }

    def _reconstruct(self, x, condition=None):
        with tf.control_dependencies(self._check_images(x, condition)):
            return {"mean": self._raw(self._get_model().reconstruct(self._model_x(x), condition))}

    def _broadcast_condition(self, condition, num_samples):
        if condition is None:
            return None
        return tf.broadcast_to(condition, tf.stack([num_samples, self._get_model().condition_dim]))

    def _sample(self, num_samples, seed, condition=None):
        model = self._get_model()
        # Everything that reads the count waits for its check: a condition broadcast to 10^9 rows takes 16 GB.
        with tf.control_dependencies(check_count(num_samples)):
            z = model.sample_latents(num_samples, seed=tf.stack([seed, 0]))
            return {"x": self._raw(model.decode(z, self._broadcast_condition(condition, num_samples)).mean())}

    def _sample_unseeded(self, num_samples, condition=None):
        # Only for the standard-Normal prior: tf.random.normal is a TFLite builtin. LiteRT has no assertion
        # op and dies (a segmentation fault) on a negative or huge count, so the graph guards the count
        # itself: outside [1, MAX_SAMPLES] it draws nothing and says so in `valid`.
        model = self._get_model()
        valid = tf.logical_and(num_samples >= 1, num_samples <= MAX_SAMPLES)
        count = tf.where(valid, num_samples, 0)
        z = model.sample_latents(count, noise=tf.random.normal)
        return {"x": self._raw(model.decode(z, self._broadcast_condition(condition, count)).mean()), "valid": valid}

    def _log_likelihood(self, x, num_samples, condition=None):
        return self._bounds(self._model_x(x), num_samples, self._check_images(x, condition), condition)

    def _posterior_sample(self, x, num_samples, seed, condition=None):
        model = self._get_model()
        with tf.control_dependencies(self._check_images(x, condition) + check_count(num_samples)):
            posteriors, samples, _ = model.infer(self._model_x(x), num_samples, tf.stack([seed, 0]), condition)
        # The samples and log q that importance_weighted_log_likelihood draws with the seed (seed, 0).
        return {**dict(zip(layer_names(model), samples)), "log_posterior": joint_log_posterior(posteriors, samples)}

    def _log_joint(self, x, *inputs):
        model = self._get_model()
        samples, condition = list(inputs[: len(model.latent_dims)]), inputs[len(model.latent_dims) :]
        condition = condition[0] if condition else None
        checks = self._check_images(x, condition)
        for name, z, dim in zip(layer_names(model), samples, model.latent_dims):
            z = validation.check_values(tf.ensure_shape(z, [None, None, dim]), None, name)
            # Every layer has the same [K, B] as z_1, and B is x's batch (broadcasting would hide a mismatch).
            checks += [
                z,
                tf.debugging.assert_equal(
                    tf.shape(z)[:2],
                    tf.shape(samples[0])[:2],
                    message=(f"{name} must have the shape [K, B] of z_1 in front of its {dim} values"),
                ),
                tf.debugging.assert_equal(
                    tf.shape(z)[1],
                    tf.shape(x)[0],
                    message=(f"{name} must hold K samples of each of the B images of x: shape [K, B, {dim}]"),
                ),
            ]
        with tf.control_dependencies(checks):
            log_px_given_z = model.log_px_given_z(self._model_x(x), samples[0], condition)
            log_pz = model.log_prior(samples)
        return {"log_joint": log_px_given_z + log_pz, "log_px_given_z": log_px_given_z, "log_pz": log_pz}


def _signatures(model, preprocessing=None):
    """``_Signatures`` of ``model`` for data prepared as ``preprocessing`` (``default_preprocessing``) says."""
    preprocessing = preprocessing or default_preprocessing()
    return _Signatures(model, preprocessing.get("input_range", (0.0, 1.0)), preprocessing.get("features"))


def layer_names(model):
    """The latent layers' names in the ``posterior_sample`` and ``log_joint`` signatures: ``z_1``, ..., ``z_L``."""
    return [f"z_{i + 1}" for i in range(len(model.latent_dims))]


def describe(model, preprocessing):
    """The ``tfvae.json`` contents: what a consumer needs to feed the model."""
    condition = ["condition"] if model.condition_dim else []
    decode_outputs = list(getattr(model.likelihood, "serving_output_names", ()))  # a custom head may have none
    return tfvae_json(
        {
            "encode": {
                "inputs": ["x", *condition],
                "outputs": ["mean", "stddev"]
                + list(model.posterior.serving_output_names)
                + [f"{name}_{i}" for i in range(2, len(model.latent_dims) + 1) for name in ("mean", "stddev")],
            },
            "decode": {"inputs": ["z", *condition], "outputs": ["mean", *decode_outputs]},
            "reconstruct": {"inputs": ["x", *condition], "outputs": ["mean"]},
            "sample": {"inputs": ["num_samples", "seed", *condition], "outputs": ["x"]},
            "log_likelihood": {
                "inputs": ["x", "num_samples", *condition],
                "outputs": ["elbo", "log_px"],
                "seed": list(LOG_LIKELIHOOD_SEED),
            },
            "posterior_sample": {
                "inputs": ["x", "num_samples", "seed", *condition],
                "outputs": [*layer_names(model), "log_posterior"],
            },
            "log_joint": {
                "inputs": ["x", *layer_names(model), *condition],
                "outputs": ["log_joint", "log_px_given_z", "log_pz"],
            },
        },
        model=model.get_config(),
        preprocessing=preprocessing,
        prior=model.prior.get_config(),
    )


def tfvae_json(signatures, **fields):
    """A ``tfvae.json``: its format, ``fields`` (the model's config, ...), the ``signatures``' inputs and outputs
    with ``serving_default`` = ``reconstruct``, and ``max_num_samples``."""
    return {
        "format": EXPORT_FORMAT,
        **fields,
        "signatures": {**signatures, "serving_default": "reconstruct"},
        "max_num_samples": MAX_SAMPLES,
    }


def default_preprocessing(binarize="dynamic", data=None, features=None):
    """How training data was prepared, for ``tfvae.json``; ``data``: what finds a user's own data and its test
    split again (``tfvae.own_data``: dataset, data, image_size, seed, validation_size), kept as ``data``;
    ``features``: a CSV's columns and standardisation, which the signatures apply to raw values."""
    if features:
        log_jacobian = -float(np.sum(np.log(features["std"])))
        return {
            **({"data": data} if data else {}),
            "input_range": None,
            "scaling": "raw feature values: (x - mean) / std per column, inside the signatures",
            "features": {**features, "log_jacobian": log_jacobian},
            "binarization": "none",
            "training_binarization": "none",
        }
    return {
        **({"data": data} if data else {}),
        "input_range": [0.0, 1.0],
        "scaling": "x / 255 for 8-bit images",
        "binarization": "none" if binarize == "none" else "x ~ Bernoulli(x / 255), as in training",
        "training_binarization": binarize,
    }


def version_directory(base_dir, version):
    """``base_dir/version`` in TF Serving's layout, checked to be new.

    An existing version directory is not overwritten (TF Serving may be
    serving it): pick a new ``version``.
    """
    if int(version) < 1:
        raise ValueError(f"version must be a positive integer (TF Serving's layout), got {version}")
    if Path(base_dir).exists() and not Path(base_dir).is_dir():
        raise FileExistsError(f"{base_dir} is a file, not a model directory: export to a directory")
    path = Path(base_dir) / str(int(version))
    if path.exists():
        raise FileExistsError(f"{path} exists: export to a new version number")
    return path


STAGING_PREFIX = ".tmp-"  # a version being written: BASE/.tmp-VERSION-PID (not a number: TF Serving skips it)


def next_version(base_dir):
    """One more than the highest version in ``base_dir`` (1 in a new one)."""
    return max((int(p.name) for p in Path(base_dir).glob("*") if p.name.isdigit()), default=0) + 1


@contextlib.contextmanager
def new_version(base_dir, version, metrics=None):
    """Yields an empty directory to write version ``version`` of ``base_dir`` into; it becomes ``base_dir/version``
    only when the block ends without an error.

    TF Serving loads any numbered directory it finds, so a version is written
    into a sibling ``base_dir/.tmp-VERSION-PID`` and renamed into place once
    complete (one ``rename``, atomic within the file system); ``metrics`` (a
    dict) is written as its ``metrics.json`` first. A process killed at any
    moment leaves no numbered directory, only the staging one, which the next
    export into ``base_dir`` deletes. ``base_dir`` is owned by this process
    meanwhile (``tfvae.ownership``): a second export into it is refused.
    """
    with owned(base_dir, "export"):
        path = version_directory(base_dir, version)
        for leftover in Path(base_dir).glob(STAGING_PREFIX + "*"):
            # Another process's staging directory: it died mid-export (a live one would own base_dir).
            shutil.rmtree(leftover, ignore_errors=True)
        staging = Path(base_dir) / f"{STAGING_PREFIX}{path.name}-{os.getpid()}"
        staging.mkdir()
        try:
            yield staging
            if metrics is not None:
                (staging / "metrics.json").write_text(json.dumps(metrics, indent=2))
            if path.exists():  # written meanwhile by something that is not a tfvae export
                raise FileExistsError(f"{path} exists: export to a new version number")
            os.rename(staging, path)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def save(module, path, metadata, assets=None):
    """Writes ``module``'s SavedModel with its ``serving_signatures`` to ``path``, then its ``assets`` (file name:
    a function writing that file) under ``path/assets``, then ``metadata`` as ``tfvae.json``; returns ``path``."""
    tf.saved_model.save(module, str(path), signatures=module.serving_signatures())
    for name, write in (assets or {}).items():
        (path / "assets").mkdir(exist_ok=True)
        write(path / "assets" / name)
    (path / "tfvae.json").write_text(json.dumps(metadata, indent=2))  # last: a complete export has it
    return path


def export_saved_model(model, base_dir, version=1, preprocessing=None):
    """Writes the SavedModel and ``tfvae.json`` to ``base_dir/version``; returns that path.

    An existing version directory is not overwritten (TF Serving may be
    serving it): pick a new ``version``. The directory appears complete or
    not at all (``new_version``).
    """
    return export(model, base_dir, version, preprocessing=preprocessing)


def export_tflite(model, directory, preprocessing=None, float16=True, saved_model=None):
    """Writes ``vae.tflite`` (float32) and, with ``float16`` (the default), ``vae_fp16.tflite`` (float16
    weights, half the size) to ``directory``.

    ``saved_model``: the path of this model's SavedModel as ``save`` wrote it (``export`` passes its own).
    The files are then converted from it, and ``preprocessing`` is not read (the SavedModel's functions already
    hold it); without it, the model's serving functions are traced and saved here first, about a third of a
    TFLite export's time (``docs/performance.md``).

    Each holds the signatures ``encode``, ``decode`` and, for the
    standard-Normal prior, ``sample`` (unseeded, input ``num_samples``;
    outputs ``x`` and ``valid``, see the module docstring), with builtin ops
    only. Returns the paths written. Each file is a conversion of its own
    (seconds to tens of seconds for a hierarchy on a CPU).
    """
    names = ["encode", "decode"] + (["sample"] if model.prior_kind == "normal" else [])
    with tempfile.TemporaryDirectory() as first, tempfile.TemporaryDirectory() as staging:
        # Converting from a SavedModel keeps the signature names. The converter reads the variables of a
        # Keras 3 model's SavedModel wrongly (NaN and zero outputs under TFVAE_KERAS=3, TF 2.21; not their
        # names), but not those of the same SavedModel once loaded and saved again: so it converts that,
        # on either Keras.
        if saved_model is None:
            saved_model = first
            tf.saved_model.save(_signatures(model, preprocessing), first)  # every function, as save writes them
        loaded = tf.saved_model.load(str(saved_model))
        # TFLite's sample is the unseeded one (tf.random.normal is a builtin; the stateless draws are not).
        functions = {"encode": loaded.encode, "decode": loaded.decode, "sample": loaded.sample_unseeded}
        signatures = {name: functions[name].get_concrete_function() for name in names}
        tf.saved_model.save(loaded, staging, signatures=signatures)
        paths = []
        files = [("vae.tflite", False)] + ([("vae_fp16.tflite", True)] if float16 else [])  # (name, half)
        for name, half in files:
            converter = tf.lite.TFLiteConverter.from_saved_model(staging, signature_keys=names)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
            if half:
                converter.optimizations = [tf.lite.Optimize.DEFAULT]
                converter.target_spec.supported_types = [tf.float16]
            path = Path(directory) / name
            path.write_bytes(converter.convert())
            paths.append(path)
    return paths


def export(
    model,
    base_dir: str | Path,
    version: int = 1,
    tflite: bool = False,
    preprocessing: dict | None = None,
    metrics: dict | None = None,
    dataset: str | None = None,
    tflite_float16: bool = True,
) -> Path:
    """SavedModel (+ ``tfvae.json``), optionally TFLite files and ``metrics`` (as ``metrics.json``) in
    ``base_dir/version``, which appears only once all of them are written (``new_version``); returns that path.

    ``tflite`` adds ``vae.tflite`` and, unless ``tflite_float16=False``, ``vae_fp16.tflite`` (``export_tflite``).

    ``dataset`` (what the model was trained on, e.g. ``"mnist"``) is recorded in ``tfvae.json``, so that
    ``tfvae evaluate`` scores the export on that dataset's test split.
    """
    description = describe(model, preprocessing or default_preprocessing())
    if dataset:
        description["dataset"] = dataset
    with new_version(base_dir, version, metrics) as staging:
        save(_signatures(model, description["preprocessing"]), staging, description)
        if tflite:
            export_tflite(model, staging, float16=tflite_float16, saved_model=staging)
    return Path(base_dir) / str(int(version))
