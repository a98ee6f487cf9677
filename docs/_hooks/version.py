"""MkDocs hook: the site shows tfvae's version.

The version is read from ``tfvae/__init__.py`` (where it is written once) with a regular expression, so building
the site imports neither tfvae nor TensorFlow. It goes into the site's name (the header of every page), the
footer, ``config.extra.tfvae_version``, and every ``{{ tfvae_version }}`` in a page's Markdown.
"""

import re
from pathlib import Path

PLACEHOLDER = "{{ tfvae_version }}"


def read_version(root):
    source = (Path(root) / "tfvae" / "__init__.py").read_text()
    match = re.search(r"""^__version__ = ["']([^"']+)["']""", source, re.MULTILINE)
    if not match:
        raise ValueError(f"no __version__ = '...' line in {root}/tfvae/__init__.py")
    return match.group(1)


def on_config(config):
    version = read_version(Path(config.config_file_path).parent)
    config.extra["tfvae_version"] = version
    config.site_name = f"{config.site_name} {version}"
    config.copyright = f"tfvae {version} · {config.copyright}" if config.copyright else f"tfvae {version}"
    return config


def on_page_markdown(markdown, page, config, files):
    return markdown.replace(PLACEHOLDER, config.extra["tfvae_version"])
