"""Writes MNIST digits as a user's own data would come: a folder of PNG files and a NumPy array file.

    python scripts/mnist_as_files.py --data-dir ../shared/data/mnist --out my_data --train 1000 --test 200

Writes ``OUT/digits/train/<label>/<i>.png`` and ``OUT/digits/test/<label>/<i>.png`` (the first ``--train``
training and ``--test`` test digits, grey 28x28 PNGs in class subfolders) and ``OUT/digits.npy`` (the same training
digits, ``uint8 [N, 28, 28]``): the inputs of README's "Your own data" (``tfvae train --data PATH``), and of
anyone who wants to see that path work before pointing it at their own files.
"""

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from tfvae.data import load_idx_dataset


def write_pngs(folder, images, labels):
    """Each image as ``folder/<label>/<index>.png``."""
    for i, (image, label) in enumerate(zip(images, labels)):
        target = Path(folder) / str(label)
        target.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[..., 0]).save(target / f"{i:05d}.png")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="MNIST IDX files")
    parser.add_argument("--out", required=True, help="folder to write digits/ and digits.npy into")
    parser.add_argument("--train", type=int, default=1000, help="training digits")
    parser.add_argument("--test", type=int, default=200, help="test digits")
    args = parser.parse_args(argv)
    data = load_idx_dataset(args.data_dir)
    out = Path(args.out)
    write_pngs(out / "digits" / "train", data.train_images[: args.train], data.train_labels[: args.train])
    write_pngs(out / "digits" / "test", data.test_images[: args.test], data.test_labels[: args.test])
    np.save(out / "digits.npy", data.train_images[: args.train, ..., 0])
    print(f"wrote {out / 'digits'} ({args.train} train, {args.test} test PNGs) and {out / 'digits.npy'}")


if __name__ == "__main__":
    main()
