"""An exported model used like a trained one: ``tfvae sample``/``plot`` on ``saved_models/NAME/N``.

``ExportedModel`` runs the signatures of a SavedModel written by
``tfvae.export`` (TensorFlow alone: neither the VAE class nor TFP's Python
code is needed) and offers the methods the plots call on a ``VAE``:
``encode(x).mean()``, ``decode(z).mean()``, ``reconstruct(x)`` and
``sample(n, seed)``. ``load_model(path)`` takes a run directory or an export.
"""

import json
from pathlib import Path

from tfvae.backend import tf


def read_description(path: str | Path) -> dict:
    """An export's ``tfvae.json``: its class, model config, preprocessing or vocabulary, and signatures.

    Raises:
        FileNotFoundError: ``path`` holds no ``tfvae.json`` (not a tfvae export).
    """
    description_path = Path(path) / "tfvae.json"
    if not description_path.exists():
        raise FileNotFoundError(f"{description_path}: not a tfvae export (no tfvae.json)")
    return json.loads(description_path.read_text())


class _Moments:
    """The part of a distribution the plots use: ``mean()`` and ``stddev()``."""

    def __init__(self, outputs):
        self._outputs = outputs

    def mean(self):
        """The distribution's mean, as the signature returned it."""
        return self._outputs["mean"]

    def stddev(self):
        """The posterior's standard deviations (``encode`` only)."""
        return self._outputs["stddev"]


class ExportedModel:
    """A ``tfvae.export`` SavedModel with the VAE methods that plots and sampling use.

    Args:
        path: the version directory, e.g. ``saved_models/mnist_mlp_bernoulli/2``.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.description = read_description(self.path)
        config = self.description["model"]
        self.data_shape = tuple(config["data_shape"])
        self.latent_dim = int(config["latent_dim"])
        self.condition_dim = int(config.get("condition_dim", 0))
        self._signatures = tf.saved_model.load(str(self.path)).signatures

    def _call(self, name, condition=None, **inputs):
        if self.condition_dim:
            if condition is None:
                raise ValueError(f"this model is conditional: pass a condition of size {self.condition_dim}")
            inputs["condition"] = tf.constant(condition, tf.float32)
        return self._signatures[name](**inputs)

    def encode(self, x, condition=None):
        """q(z|x)'s mean and standard deviation for images ``x`` in [0, 1]."""
        return _Moments(self._call("encode", condition, x=tf.constant(x, tf.float32)))

    def decode(self, z, condition=None):
        """p(x|z)'s mean for latents ``z`` ``[B, latent_dim]``."""
        return _Moments(self._call("decode", condition, z=tf.constant(z, tf.float32)))

    def reconstruct(self, x, condition=None):
        """The decoded posterior mean of each image."""
        return self._call("reconstruct", condition, x=tf.constant(x, tf.float32))["mean"]

    def sample(self, num_samples, seed=0, condition=None):
        """``num_samples`` image means from the prior; the same seed gives the same images."""
        if self.condition_dim and condition is not None:
            condition = tf.broadcast_to(tf.constant(condition, tf.float32), [num_samples, self.condition_dim])
        return self._call(
            "sample",
            condition,
            num_samples=tf.constant(num_samples, tf.int32),
            seed=tf.constant(0 if seed is None else seed, tf.int32),
        )["x"]


def copy_weights(targets, sources, where: str, fix: str) -> None:
    """Assigns the variables ``sources`` to ``targets``, in order, each cast to its target's dtype.

    Checks everything before assigning anything, so a refused copy leaves the
    targets as they were.

    Args:
        targets, sources: lists of variables.
        where: the source, for the messages.
        fix: what the user should do, ending each message.

    Raises:
        ValueError: the lists differ in length or a shape differs (the message
            names the first such variable).
    """
    if len(sources) != len(targets):
        raise ValueError(f"{where} has {len(sources)} variables, the model {len(targets)}: {fix}")
    for i, (variable, value) in enumerate(zip(targets, sources)):
        if tuple(variable.shape) != tuple(value.shape):
            name = getattr(value, "name", f"variable {i}")  # an array (tfvae.run_weights) has no name
            raise ValueError(
                f"{where}: {name} has shape {value.shape}, the model's {variable.name} {variable.shape}: {fix}"
            )
    for variable, value in zip(targets, sources):
        variable.assign(tf.cast(value, variable.dtype))  # a float16 export's weights (sentence_export.float16_weights)


def rebuild(path: str | Path):
    """The ``tfvae.VAE`` (or ``SentenceVAE``) of an export, with its trained weights: for what needs the Python model.

    Builds the model from ``tfvae.json``'s config and copies the SavedModel's
    variables into it (the export keeps them in the model's own order;
    shapes are checked). Needs tfvae and TFP, unlike ``ExportedModel``.
    """
    from tfvae.model import VAE
    from tfvae.sentence import SentenceVAE

    path = Path(path)
    if not is_export(path):
        raise FileNotFoundError(f"{path}: not an exported SavedModel version directory (no saved_model.pb)")
    description = read_description(path)
    model_class = SentenceVAE if description.get("class") == "SentenceVAE" else VAE
    model = model_class.from_config(description["model"])
    saved = tf.saved_model.load(str(path)).model_variables
    copy_weights(
        model.portable_variables,
        saved,
        str(path),
        "the SavedModel does not fit its tfvae.json's config (export it again)",
    )
    return model


def load_vocabulary(path: str | Path):
    """The ``tfvae.text.Vocabulary`` of an exported sentence VAE, or ``None`` for an image export.

    Its words are the export's assets file; its tokenizer and ``max_length``
    are those ``tfvae.json`` records, so sentences are split and cut as in
    training.
    """
    from tfvae import text

    settings = read_description(path).get("vocabulary")
    if not settings:
        return None
    options = {key: settings[key] for key in ("tokenizer", "max_length") if key in settings}
    return text.Vocabulary.load(Path(path) / settings["file"], **options)


def is_export(path: str | Path) -> bool:
    """Whether ``path`` is an exported SavedModel version directory (not a run directory)."""
    return (Path(path) / "saved_model.pb").exists()


def load_model(path: str | Path):
    """The model at ``path``: a ``VAE`` from a run directory, or an ``ExportedModel``."""
    if is_export(path):
        return ExportedModel(path)
    from tfvae.runs import load_run

    return load_run(path)
