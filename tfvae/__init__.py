"""tfvae: variational auto-encoders on TensorFlow Probability distribution layers.

    >>> import tfvae
    >>> model = tfvae.VAE(latent_dim=16)

Submodules are imported on first use, so ``tfvae --help`` starts without
loading TensorFlow.
"""

import importlib

__version__ = "0.1.0"
__all__ = ["VAE", "__version__"]


def __getattr__(name):
    if name == "VAE":
        return importlib.import_module("tfvae.model").VAE
    raise AttributeError(f"module 'tfvae' has no attribute {name!r}")
