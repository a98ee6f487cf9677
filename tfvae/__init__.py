"""tfvae: variational auto-encoders on TensorFlow Probability distribution layers.

    >>> import tfvae
    >>> model = tfvae.VAE(latent_dim=16)

``tfvae.VAE`` and the submodules (``tfvae.data``, ``tfvae.training``, ``tfvae.runs``,
``tfvae.evaluation``, ``tfvae.plots``, ``tfvae.callbacks``, ``tfvae.export``,
...) are imported on first use, so ``import tfvae`` and ``tfvae --help``
start without loading TensorFlow. ``tfvae.export`` is the module; its
function is ``tfvae.export.export``.
"""

import importlib

__version__ = "0.3.0"  # the one place the version is written (pyproject.toml reads it)

# The public submodules, each imported on first use as ``tfvae.NAME``.
_SUBMODULES = (
    "artifacts",
    "backend",
    "callbacks",
    "cli",
    "core",
    "data",
    "decoding",
    "distributions",
    "evaluation",
    "generation",
    "inference",
    "latents",
    "export",
    "model",
    "networks",
    "objectives",
    "optimization",
    "options",
    "own_data",
    "ownership",
    "plots",
    "priors",
    "runs",
    "run_weights",
    "scoring",
    "sentence",
    "sentence_export",
    "served",
    "text",
    "image_commands",
    "text_commands",
    "training",
    "validation",
    "warm_start",
    "weights_conversion",
)
_INTERNAL = ("__main__", "quiet", "keras_choice")  # submodules that are not public API (still importable by name)
_ATTRIBUTES = {"VAE": "model", "SentenceVAE": "sentence"}  # name -> submodule that defines it

__all__ = ["VAE", "SentenceVAE", "__version__", *_SUBMODULES]


def __getattr__(name):
    if name in _SUBMODULES or name in _INTERNAL:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _ATTRIBUTES:
        return getattr(importlib.import_module(f"{__name__}.{_ATTRIBUTES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
