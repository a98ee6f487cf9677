"""Export a sentence VAE: SavedModel signatures that take and give strings.

``export_sentence_model(model, vocabulary, "saved_models/NAME", version=1)`` writes::

    saved_models/NAME/1/saved_model.pb, variables/   the SavedModel (TF Serving loads NAME/)
    saved_models/NAME/1/assets/vocabulary.txt         the vocabulary (also inside the graph's lookup tables)
    saved_models/NAME/1/tfvae.json                    config, vocabulary settings, signatures

Tokenization and the vocabulary lookup run inside the graph (``tfvae.text``),
so a client sends sentences as strings. Every string signature has a twin
taking token ids ``[B, T]`` (``<eos>`` included, 0-padded) for clients that
tokenize themselves.

=====================  ==========================================  ==========================================
signature              inputs                                      outputs
=====================  ==========================================  ==========================================
``encode``             ``sentences`` string ``[B]``                ``mean``, ``stddev`` ``[B, d]``
``encode_ids``         ``ids`` int32 ``[B, T]``                    the same
``reconstruct``        ``sentences``                               ``sentences``: greedy decoding at the mean
``sample``             ``num_samples``, ``seed`` int32 scalars     ``sentences``, ``ids`` (greedy, z ~ p(z);
                                                                   a language model samples words)
``decode``             ``z`` float32 ``[B, d]``                    ``sentences``, ``ids`` (greedy)
``log_likelihood``     ``sentences``, ``num_samples`` (K)          ``log_px``, ``elbo`` ``[B]`` (nats),
                                                                   ``tokens`` ``[B]`` (``<eos>`` counted)
``log_likelihood_ids`` ``ids``, ``num_samples``                    the same
``log_px_given_z``     ``ids``, ``z`` float32 ``[B, d]``           ``log_px_given_z`` ``[B]``: log p(x|z),
                                                                   teacher-forced (``<eos>`` counted,
                                                                   padding ignored); ``tokens`` ``[B]``
``sample_with``        ``num_samples``, ``seed``, ``strategy``     ``sentences``, ``ids``: z ~ p(z), decoded
                       and the settings (``DECODING_SPECS``)       with the strategy (``tfvae.decoding``)
``decode_with``        ``z``, ``seed`` and the settings            ``sentences``, ``ids``
``homotopy``           ``start``, ``end`` (string scalars),        ``sentences``, ``ids`` ``[steps]``: the
                       ``steps``, ``seed`` and the settings        decoded points between the two means
``serving_default``    = ``reconstruct``
=====================  ==========================================  ==========================================

The settings of ``sample_with``, ``decode_with`` and ``homotopy`` are scalar
inputs: ``strategy`` (string: greedy, temperature, top_k, top_p or beam),
``temperature``, ``top_k``, ``top_p``, ``beam_width``, ``no_unk`` (bool),
``no_repeat_ngram`` (0: off) and ``max_length`` (words at most). A setting
the strategy does not use is ignored; a bad one (temperature <= 0, top_k
outside [1, V], top_p outside (0, 1], beam_width < 1, max_length < 1), an
empty or all-``<unk>`` homotopy sentence, or ``steps`` < 1 raise
``InvalidArgumentError`` with a one-line message. Exports written before
tfvae 0.x (shipped versions up to 5) lack these three signatures:
``tfvae sample`` then decodes with the model rebuilt from the export, and
interpolates greedily with ``encode`` and ``decode``.

Running it needs TensorFlow only. Out-of-range ids and a ``num_samples``
outside [1, MAX_SAMPLES] raise ``tf.errors.InvalidArgumentError``; words
outside the vocabulary become ``<unk>``, as in training, and sentences longer
than the vocabulary's ``max_length`` words (``tfvae.json``) are cut to it
before they are scored. ``log_likelihood`` scores ``GROUP_SIZE`` (25)
sentences at a time, group g with the stateless seed (0, g), so its memory
does not grow with the request (a request of 25 sentences or fewer is one
group, with the seed (0, 0) of ``tfvae.json``).
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tfvae.backend import KERAS_VERSION, create_autocast_variable, tf
from tfvae.decoding import Decoding
from tfvae.evaluation import SENTENCE_SAMPLE_CHUNK
from tfvae.export import (
    COUNT_SPEC,
    LOG_LIKELIHOOD_SEED,
    SEED_SPEC,
    ServingModule,
    check_count,
    new_version,
    save,
    tfvae_json,
    version_directory,
)
from tfvae.sentence import check_known_words, check_token_values
from tfvae.text import BOS, EOS, PAD, VOCABULARY_FILE

CHUNK_SIZE = SENTENCE_SAMPLE_CHUNK  # samples decoded at once by log_likelihood: bounds its memory
# Sentences scored at once by log_likelihood: the decoder's logits take GROUP_SIZE * CHUNK_SIZE * length *
# vocabulary * 4 bytes (1 GB for PTB's 10k words at its max_length of 100), whatever the request's size.
GROUP_SIZE = 25


# The decoding settings of sample_with, decode_with and homotopy, in the order of tfvae.decoding.Decoding's fields
# and then max_length.
DECODING_SPECS = (
    tf.TensorSpec([], tf.string, name="strategy"),
    tf.TensorSpec([], tf.float32, name="temperature"),
    tf.TensorSpec([], tf.int32, name="top_k"),
    tf.TensorSpec([], tf.float32, name="top_p"),
    tf.TensorSpec([], tf.int32, name="beam_width"),
    tf.TensorSpec([], tf.bool, name="no_unk"),
    tf.TensorSpec([], tf.int32, name="no_repeat_ngram"),
    tf.TensorSpec([], tf.int32, name="max_length"),
)
DECODING_INPUTS = [spec.name for spec in DECODING_SPECS]


class _SentenceSignatures(ServingModule):
    """The sentence VAE's serving functions (the table of the module docstring)."""

    SIGNATURES = (
        "encode",
        "encode_ids",
        "reconstruct",
        "sample",
        "decode",
        "log_likelihood",
        "log_likelihood_ids",
        "log_px_given_z",
        "sample_with",
        "decode_with",
        "homotopy",
    )
    CHUNK_SIZE = CHUNK_SIZE

    def __init__(self, model, vocabulary):
        super().__init__(model, name="tfvae_text")
        # Tracked, so the lookup tables are saved with the graph.
        self.vocabulary_lookup, self.vocabulary_invert = vocabulary.lookup_layers
        self._vocabulary = vocabulary
        sentences = tf.TensorSpec([None], tf.string, name="sentences")
        ids = tf.TensorSpec([None, None], tf.int32, name="ids")
        signature, count, z = self._signature, COUNT_SPEC, self._latent_spec()
        # What several signatures compute, as functions of their own: each is traced once and the signatures call
        # it, instead of each signature tracing it again (a third of an export's time; docs/performance.md#text-export).
        self._encoded = tf.function(self._encode, input_signature=[ids])
        self._greedy = tf.function(lambda z: self._get_model().decode(z), input_signature=[z])
        self._decoded_with = tf.function(self._decoded, input_signature=[z, SEED_SPEC, *DECODING_SPECS])
        self._scored = tf.function(self._log_likelihood, input_signature=[ids, count])
        self.encode = signature(lambda sentences: self._encoded(self._ids(sentences)), sentences)
        self.encode_ids = signature(self._encode_ids, ids)
        self.reconstruct = signature(self._reconstruct, sentences)
        self.sample = signature(self._sample, count, SEED_SPEC)
        self.decode = signature(self._decode, z)
        self.log_likelihood = signature(
            lambda sentences, num_samples: self._scored(self._ids(sentences), num_samples), sentences, count
        )
        self.log_likelihood_ids = signature(self._log_likelihood_ids, ids, count)
        self.log_px_given_z = signature(self._log_px_given_z, ids, z)
        self.sample_with = signature(self._sample_with, count, SEED_SPEC, *DECODING_SPECS)
        self.decode_with = signature(self._decode_with, z, SEED_SPEC, *DECODING_SPECS)
        start, end = (tf.TensorSpec([], tf.string, name=name) for name in ("start", "end"))
        steps = tf.TensorSpec([], tf.int32, name="steps")
        self.homotopy = signature(self._homotopy, start, end, steps, SEED_SPEC, *DECODING_SPECS)

    def _ids(self, sentences):
        return self._vocabulary.ids(sentences)[0]

    def _checked(self, ids):
        return check_token_values(tf.ensure_shape(ids, [None, None]), self._get_model().vocab_size, "ids")

    def _strings(self, ids):
        return {"sentences": self._vocabulary.strings(ids), "ids": ids}

    @staticmethod
    def _nonempty(ids):
        """``ids``, checked to hold a sentence: the encoder's LSTM cannot run on an empty batch."""
        nonempty = tf.debugging.assert_positive(
            tf.shape(ids)[0], message="sentences: the request holds no sentence; send at least one"
        )
        with tf.control_dependencies([nonempty]):
            return tf.identity(ids)

    def _latent_codes(self, z):
        """``z``, checked to have this model's width and finite values."""
        width = tf.debugging.assert_equal(
            tf.shape(z)[1],
            self._get_model().latent_dim,
            message=f"z: {self._get_model().latent_dim} numbers per sentence (this model's latent_dim)",
        )
        finite = tf.debugging.assert_all_finite(z, "z: latent codes must be finite (no NaN or infinity)")
        with tf.control_dependencies([width, finite]):
            return tf.identity(z)

    def _encode(self, ids):
        model = self._get_model()
        q = model.encoder_posterior(self._nonempty(ids))
        return {"mean": q.mean(), "stddev": model.posterior.serving_stddev(q)}

    def _encode_ids(self, ids):
        return self._encoded(self._checked(ids))

    def _reconstruct(self, sentences):
        return {"sentences": self._vocabulary.strings(self._greedy(self._encoded(self._ids(sentences))["mean"]))}

    def _sample(self, num_samples, seed):
        model = self._get_model()
        with tf.control_dependencies(check_count(num_samples)):
            # A language model has one greedy sentence: it samples word by word instead.
            return self._strings(model.sample(num_samples, seed=tf.stack([seed, 0]), greedy=model.latent_dim > 0))

    def _decode(self, z):
        return self._strings(self._greedy(self._latent_codes(z)))

    def _decoded(self, z, seed, *settings):
        """``z`` decoded with the settings' strategy (``tfvae.decoding.generate`` asserts them), seed ``(seed, 0)``."""
        *fields, max_length = settings
        model = self._get_model()
        return self._strings(
            model.decode(z, seed=tf.stack([seed, 0]), max_length=max_length, decoding=Decoding(*fields))
        )

    def _sample_with(self, num_samples, seed, *settings):
        """``SentenceVAE.sample`` with the seed ``(seed, 0)`` and the settings."""
        *fields, max_length = settings
        with tf.control_dependencies(check_count(num_samples)):
            num_samples = tf.identity(num_samples)
        ids = self._get_model().sample(
            num_samples, tf.stack([seed, 0]), decoding=Decoding(*fields), max_length=max_length
        )
        return self._strings(ids)

    def _decode_with(self, z, seed, *settings):
        return self._decoded_with(self._latent_codes(z), seed, *settings)

    def _homotopy(self, start, end, steps, seed, *settings):
        model = self._get_model()
        checks = [
            tf.debugging.assert_positive(steps, message="steps must be >= 1"),
            # A raw Assert: tf.debugging's would fail the export's tracing for a language model, not the request.
            tf.raw_ops.Assert(
                condition=tf.constant(model.latent_dim > 0),
                data=["a language model (latent_dim 0) has no latent space to interpolate in"],
            ),
        ]
        ends = [
            self._encoded(check_known_words(self._ids(tf.reshape(sentence, [1])), name))["mean"]
            for sentence, name in ((start, "start"), (end, "end"))
        ]
        with tf.control_dependencies(checks):
            t = tf.linspace(0.0, 1.0, steps)[:, None]
        return self._decoded_with((1.0 - t) * ends[0] + t * ends[1], seed, *settings)

    def _log_likelihood(self, ids, num_samples):
        """The bounds of ``_bounds``, ``GROUP_SIZE`` sentences at a time: group g (0, 1, ...) with the seed
        (s, g) for ``LOG_LIKELIHOOD_SEED`` = (s, 0), so a request of up to ``GROUP_SIZE`` sentences gets exactly
        ``_bounds``'s numbers, and a longer one needs no more memory.
        Each group is cut after its last non-padding id."""
        ids = self._nonempty(ids)
        tokens = tf.reduce_sum(tf.cast(ids != PAD, tf.int32), axis=1)
        # Each row's last non-padding position (1-based): ids with padding inside a row are cut after it.
        ends = tf.reduce_max(tf.where(ids != PAD, tf.range(1, tf.shape(ids)[1] + 1), 0), axis=1)

        def score_group(g, log_px, elbo):
            rows = slice(g * GROUP_SIZE, (g + 1) * GROUP_SIZE)
            group = ids[rows, : tf.maximum(tf.reduce_max(ends[rows]), 1)]
            bounds = self._bounds(group, num_samples, seed=(LOG_LIKELIHOOD_SEED[0], g))
            return g + 1, log_px.write(g, bounds["log_px"]), elbo.write(g, bounds["elbo"])

        num_groups = (tf.shape(ids)[0] + GROUP_SIZE - 1) // GROUP_SIZE
        parts = [tf.TensorArray(tf.float32, size=num_groups, infer_shape=False) for _ in range(2)]
        # One group at a time: the default would let up to 10 independent groups run, and take their memory, at once.
        _, log_px, elbo = tf.while_loop(
            lambda g, *_: g < num_groups, score_group, (tf.constant(0), *parts), parallel_iterations=1
        )
        return {"log_px": log_px.concat(), "elbo": elbo.concat(), "tokens": tokens}

    def _log_likelihood_ids(self, ids, num_samples):
        return self._scored(self._checked(ids), num_samples)

    def _log_px_given_z(self, ids, z):
        """log p(x|z) of each sentence under its own z: with ``encode_ids``, any estimator of log p(x)."""
        ids = self._checked(ids)
        same_batch = tf.debugging.assert_equal(
            tf.shape(z)[0], tf.shape(ids)[0], message="z: one latent code per sentence of ids ([B, d] for [B, T])"
        )
        with tf.control_dependencies([same_batch]):
            log_px_given_z = self._get_model().log_px_given_z(ids, self._latent_codes(z))
        return {"log_px_given_z": log_px_given_z, "tokens": tf.reduce_sum(tf.cast(ids != PAD, tf.int32), axis=1)}


def describe(model, vocabulary):
    """The ``tfvae.json`` contents of a sentence export."""
    return tfvae_json(
        {
            "encode": {"inputs": ["sentences"], "outputs": ["mean", "stddev"]},
            "encode_ids": {"inputs": ["ids"], "outputs": ["mean", "stddev"]},
            "reconstruct": {"inputs": ["sentences"], "outputs": ["sentences"]},
            "sample": {"inputs": ["num_samples", "seed"], "outputs": ["sentences", "ids"]},
            "decode": {"inputs": ["z"], "outputs": ["sentences", "ids"]},
            "log_likelihood": {
                "inputs": ["sentences", "num_samples"],
                "outputs": ["log_px", "elbo", "tokens"],
                "seed": list(LOG_LIKELIHOOD_SEED),
                "group_size": GROUP_SIZE,  # sentences scored at once; group g with the seed (0, g)
            },
            "log_likelihood_ids": {"inputs": ["ids", "num_samples"], "outputs": ["log_px", "elbo", "tokens"]},
            "log_px_given_z": {"inputs": ["ids", "z"], "outputs": ["log_px_given_z", "tokens"]},
            "sample_with": {"inputs": ["num_samples", "seed", *DECODING_INPUTS], "outputs": ["sentences", "ids"]},
            "decode_with": {"inputs": ["z", "seed", *DECODING_INPUTS], "outputs": ["sentences", "ids"]},
            "homotopy": {
                "inputs": ["start", "end", "steps", "seed", *DECODING_INPUTS],
                "outputs": ["sentences", "ids"],
            },
        },
        **{"class": "SentenceVAE"},  # a keyword of Python's
        model=model.get_config(),
        vocabulary={"file": f"assets/{VOCABULARY_FILE}", **vocabulary.config()},
    )


WEIGHT_DTYPES = ("float32", "float16")


def float16_weights(model):
    """A copy of ``model`` whose trainable weights are stored in float16 and read as float32.

    Each weight is a float16 variable wrapped in Keras's ``AutoCastVariable``
    (the wrapper of mixed precision, used the other way round): inside a
    layer's call it reads as float32, so every computation stays float32 and
    only the stored weights lose precision (a relative error of about 5e-4).
    A SavedModel of the copy stores half the bytes. Non-trainable state
    (batch-norm statistics) stays float32.
    """

    def creator(next_creator, **kwargs):
        if not kwargs.get("trainable", True) or tf.as_dtype(kwargs.get("dtype") or tf.float32) != tf.float32:
            return next_creator(**kwargs)
        initial = kwargs["initial_value"]
        kwargs.update(
            dtype=tf.float16, initial_value=lambda: tf.cast(initial() if callable(initial) else initial, tf.float16)
        )
        return create_autocast_variable(next_creator(**kwargs))

    with tf.variable_creator_scope(creator):
        copy = type(model).from_config(model.get_config())
    if len(copy.variables) != len(model.variables):
        raise ValueError("the float16 copy has other variables than the model (is the model built?)")
    for target, source in zip(copy.variables, model.variables):
        target.assign(tf.cast(source, getattr(target, "true_dtype", target.dtype)))
    return copy


def export_sentence_model(
    model, vocabulary, base_dir: str | Path, version: int = 1, weights: str = "float32", metrics: dict | None = None
) -> Path:
    """Writes the SavedModel, its vocabulary, ``tfvae.json`` and ``metrics`` (as ``metrics.json``, if given) to
    ``base_dir/version``; returns that path.

    An existing version directory is not overwritten: pick a new ``version``.
    The directory appears only once complete (``tfvae.export.new_version``).
    ``weights="float16"`` stores the trainable weights in half precision
    (``float16_weights``): half the size, computations still in float32.
    """
    if weights not in WEIGHT_DTYPES:
        raise ValueError(f"weights must be one of {WEIGHT_DTYPES}, got {weights!r}")
    if vocabulary.size != model.vocab_size:
        raise ValueError(
            f"the vocabulary has {vocabulary.size} ids but the model reads {model.vocab_size}: "
            "export with the vocabulary it was trained with"
        )
    version_directory(base_dir, version)  # refused before the model is traced
    if weights == "float16" and KERAS_VERSION == 3:
        return _export_float16_under_tf_keras(model, vocabulary, base_dir, version, metrics)
    metadata = {**describe(model, vocabulary), "weights": weights, "dataset": "text"}
    if weights == "float16":
        model = float16_weights(model)
    with new_version(base_dir, version, metrics) as staging:
        save(_SentenceSignatures(model, vocabulary), staging, metadata, assets={VOCABULARY_FILE: vocabulary.save})
    return Path(base_dir) / str(int(version))


def _export_float16_under_tf_keras(model, vocabulary, base_dir, version, metrics) -> Path:
    """A float16 export of a Keras 3 model, written by tf_keras in a subprocess.

    Keras 3 has no variable stored in float16 and read as float32 (tf_keras's ``AutoCastVariable``, which
    ``float16_weights`` uses), and exports do not depend on the Keras that wrote them: the model's
    ``portable_variables`` (the same list under both) go to a tf_keras process, which rebuilds the model from
    its config and exports it there. tf_keras is installed beside Keras 3 (TensorFlow Probability needs it).
    """
    import numpy as np

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        np.savez(scratch / "weights.npz", *[v.numpy() for v in model.portable_variables])
        vocabulary.save(scratch / VOCABULARY_FILE)
        settings = {
            "model": model.get_config(),
            "vocabulary": vocabulary.config(),
            "base_dir": str(base_dir),
            "version": int(version),
            "metrics": metrics,
        }
        (scratch / "export.json").write_text(json.dumps(settings))
        code = f"import tfvae.sentence_export as e; e._float16_export_job({str(scratch)!r})"
        done = subprocess.run(
            [sys.executable, "-c", code], env={**os.environ, "TFVAE_KERAS": "2"}, capture_output=True, text=True
        )
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"the float16 export under tf_keras failed: {last}")
    return Path(base_dir) / str(int(version))


def _float16_export_job(scratch: str) -> None:
    """(In the subprocess, under tf_keras.) Rebuilds the model that ``scratch`` describes and exports it in
    float16."""
    import numpy as np

    from tfvae.sentence import SentenceVAE
    from tfvae.served import copy_weights
    from tfvae.text import Vocabulary

    scratch = Path(scratch)
    settings = json.loads((scratch / "export.json").read_text())
    vocabulary_settings = {k: v for k, v in settings["vocabulary"].items() if k != "size"}
    vocabulary = Vocabulary.load(scratch / VOCABULARY_FILE, **vocabulary_settings)
    model = SentenceVAE.from_config(settings["model"])
    model(tf.constant([[BOS, EOS]], tf.int32))  # builds its variables
    with np.load(scratch / "weights.npz") as arrays:
        values = [arrays[f"arr_{i}"] for i in range(len(arrays.files))]
    copy_weights(model.portable_variables, values, "the Keras 3 model", "a tfvae bug: please report it")
    export_sentence_model(
        model, vocabulary, settings["base_dir"], settings["version"], weights="float16", metrics=settings["metrics"]
    )
