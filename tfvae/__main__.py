"""``python -m tfvae``: the same as the ``tfvae`` command."""

import sys

from tfvae.cli import main

if __name__ == "__main__":
    sys.exit(main())
