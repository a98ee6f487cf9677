"""Data: MNIST IDX files, TFDS datasets, NumPy arrays, and ``tf.data`` pipelines.

Where a named dataset comes from, in order: an explicit ``data_dir``, the
environment variable ``TFVAE_DATA_DIR``, then TFDS (which downloads once and
needs a network).

Images are kept as ``uint8`` in memory and scaled to [0, 1] batch by batch.
Training data is *dynamically binarised* (a fresh Bernoulli draw per epoch,
as in Burda et al. 2015); test data is binarised once with a fixed seed, so
every evaluation sees the same binary images.
"""

import dataclasses
import gzip
import os
import struct
from pathlib import Path

import numpy as np

from tfvae.backend import tf
from tfvae.options import BINARIZATIONS  # defined once, with the options

DATA_DIR_ENV = "TFVAE_DATA_DIR"
TEST_BINARIZATION_SEED = 0  # the one fixed draw of binary test images

# IDX type codes (http://yann.lecun.com/exdb/mnist/): only ubyte is used by MNIST.
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

# File names shared by MNIST and Fashion-MNIST.
_IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
IDX_DATASETS = ("mnist", "fashion_mnist")


class DataError(ValueError):
    """A data file or array is missing, truncated or of the wrong shape."""


@dataclasses.dataclass
class ImageDataset:
    """Train and test images (``uint8`` ``[N, H, W, C]`` or float in [0, 1]) and labels."""

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    # A validation split of its own (a user's data, tfvae.own_data); None: held out of the training split.
    valid_images: np.ndarray | None = None
    valid_labels: np.ndarray | None = None
    # The values the examples take once scaled (``as_inputs``): [0, 1], or None (any finite value: standardised
    # features of a CSV, whose ``features`` record the columns and their training mean and std).
    value_range: tuple | None = (0.0, 1.0)
    features: dict | None = None

    @property
    def data_shape(self):
        """Shape of one example, e.g. ``(28, 28, 1)``."""
        return tuple(self.train_images.shape[1:])


def read_idx(path: str | Path) -> np.ndarray:
    """Reads one IDX file (optionally gzipped) into a NumPy array.

    Checks the magic number, the type code and that the payload holds exactly
    the product of the header's dimensions.

    Raises:
        DataError: naming ``path``, if the file is not a valid IDX file.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as error:  # gzip raises EOFError on truncation
        raise DataError(f"{path}: cannot read ({error})") from error
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    type_code, ndim = raw[2], raw[3]
    if type_code not in _IDX_DTYPES:
        raise DataError(f"{path}: unknown IDX type code 0x{type_code:02x}")
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise DataError(f"{path}: truncated header")
    shape = struct.unpack(f">{ndim}I", raw[4:header_size])
    dtype = np.dtype(_IDX_DTYPES[type_code])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header_size != expected:
        raise DataError(f"{path}: header promises {shape} ({expected} bytes) but holds {len(raw) - header_size} bytes")
    return np.frombuffer(raw, dtype=dtype, offset=header_size).reshape(shape)


def _find_idx(data_dir, stem):
    """``data_dir/stem.gz`` or ``data_dir/stem``, whichever exists."""
    candidates = [data_dir / (stem + ".gz"), data_dir / stem]
    found = next((p for p in candidates if p.exists()), None)
    if found is None:
        own = any(p.suffix.lower() in (".png", ".jpg", ".jpeg") or p.is_dir() for p in data_dir.iterdir())
        hint = f"; for a folder of your own images use --data {data_dir}" if own else ""
        raise DataError(f"{candidates[0]}: missing (looked for {stem}[.gz] in {data_dir}){hint}")
    return found


def write_idx(path: str | Path, array) -> Path:
    """Writes ``array`` as an IDX file, gzipped if ``path`` ends in ``.gz``: the inverse of ``read_idx``.

    The type code follows the array's dtype: uint8, int8, int16, int32,
    float32 or float64 (stored big-endian). Returns ``path``.
    """
    array = np.asarray(array)
    codes = {np.dtype(dtype).newbyteorder(">"): code for code, dtype in _IDX_DTYPES.items()}
    dtype = array.dtype.newbyteorder(">")  # IDX is big-endian; a no-op for one-byte types
    if dtype not in codes:
        raise ValueError(
            f"IDX files hold uint8, int8, int16, int32, float32 or float64, not {array.dtype} "
            "(convert first, e.g. labels.astype(np.uint8))"
        )
    header = bytes([0, 0, codes[dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + array.astype(dtype).tobytes())
    return path


def write_idx_subset(source_dir: str | Path, target_dir: str | Path, train: int, test: int) -> Path:
    """Copies the first ``train`` training and ``test`` test examples of the MNIST-format IDX files in
    ``source_dir`` into ``target_dir`` (created), as gzipped files with the standard names: a small real dataset
    for trials and tests that ``load_idx_dataset`` reads like the whole. Returns ``target_dir``.

    Raises:
        DataError: if a file is missing or invalid (``read_idx``).
        ValueError: if a count is not positive or exceeds the examples the source holds.
    """
    source_dir, target_dir = Path(source_dir), Path(target_dir)
    if not source_dir.is_dir():
        raise DataError(f"{source_dir}: data directory does not exist")
    arrays = {stem: read_idx(_find_idx(source_dir, stem)) for stem in _IDX_FILES.values()}
    counts = {stem: train if key.startswith("train") else test for key, stem in _IDX_FILES.items()}
    for stem, n in counts.items():  # all checked before anything is written
        if not 0 < n <= len(arrays[stem]):
            raise ValueError(f"{stem}: asked for {n} examples; {source_dir} holds {len(arrays[stem])}")
    target_dir.mkdir(parents=True, exist_ok=True)
    for stem, n in counts.items():
        write_idx(target_dir / f"{stem}.gz", arrays[stem][:n])
    return target_dir


def load_idx_dataset(data_dir: str | Path, name: str = "mnist") -> ImageDataset:
    """Loads MNIST-format IDX files (``*-idx?-ubyte`` or ``.gz``) from ``data_dir``.

    Returns:
        An ``ImageDataset`` with ``uint8`` images of shape ``[N, 28, 28, 1]``.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"{data_dir}: data directory does not exist")
    arrays, paths = {}, {}
    for key, stem in _IDX_FILES.items():
        paths[key] = _find_idx(data_dir, stem)
        arrays[key] = read_idx(paths[key])
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or images.dtype != np.uint8:
            raise DataError(
                f"{paths[split + '_images']}: expected uint8 images [N, H, W], found {images.dtype} {images.shape}"
            )
        if labels.ndim != 1 or len(labels) != len(images):
            raise DataError(
                f"{paths[split + '_labels']}: expected {len(images)} labels to match the images, "
                f"found shape {labels.shape}"
            )
    return ImageDataset(
        name=name,
        train_images=arrays["train_images"][..., None],
        train_labels=arrays["train_labels"].astype(np.int64),
        test_images=arrays["test_images"][..., None],
        test_labels=arrays["test_labels"].astype(np.int64),
    )


def load_tfds_dataset(name):
    """Loads a TFDS image dataset (``train`` and ``test`` splits) into memory.

    Needs ``tensorflow-datasets`` and, the first time, a network.
    """
    import tensorflow_datasets as tfds

    splits = tfds.as_numpy(tfds.load(name, split=["train", "test"], batch_size=-1, as_supervised=True))
    (train_images, train_labels), (test_images, test_labels) = splits
    return ImageDataset(name, train_images, train_labels.astype(np.int64), test_images, test_labels.astype(np.int64))


def load_dataset(name: str = "mnist", data_dir: str | Path | None = None) -> ImageDataset:
    """Loads dataset ``name`` from ``data_dir``, ``$TFVAE_DATA_DIR``, or TFDS, in that order."""
    data_dir = data_dir or os.environ.get(DATA_DIR_ENV)
    if data_dir:
        if name not in IDX_DATASETS:
            raise DataError(
                f"reading {name!r} from a directory is not supported (only {IDX_DATASETS}); "
                f"unset --data-dir/{DATA_DIR_ENV} to load it with TFDS"
            )
        return load_idx_dataset(data_dir, name)
    return load_tfds_dataset(name)


def to_unit_interval(images):
    """Scales ``uint8`` images to float32 in [0, 1]; ``bool`` images become 0/1; float images must already be there.

    Raises:
        DataError: for other dtypes (e.g. ``int64``: no known scale), NaN or
            infinite values, or float values outside [0, 1].
    """
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255.0
    if images.dtype == np.bool_:
        return images.astype(np.float32)
    if not np.issubdtype(images.dtype, np.floating):
        # Only uint8 has a known scale; an int64 0..255 array would otherwise pass as floats 0..255.
        raise DataError(
            f"images of dtype {images.dtype}: expected uint8 (0..255), bool, or float in [0, 1]; "
            "convert 8-bit values with images.astype(np.uint8)"
        )
    images = images.astype(np.float32)
    if not np.all(np.isfinite(images)):
        raise DataError(
            f"images contain NaN or infinite values ({int(np.size(images) - np.isfinite(images).sum())} "
            "of them); remove or replace them"
        )
    if images.size and (images.min() < 0.0 or images.max() > 1.0):
        hint = "; 8-bit values stored as floats? divide by 255, or cast with astype(np.uint8)"
        hint = hint if images.max() <= 255 else ""
        raise DataError(f"float images must lie in [0, 1], found [{images.min():g}, {images.max():g}]{hint}")
    return images


UNIT_RANGE = (0.0, 1.0)  # pixels, scaled


def as_inputs(examples, value_range=UNIT_RANGE):
    """Examples as float32 model inputs: ``to_unit_interval`` for ``value_range`` [0, 1] (images); for ``None``
    (real-valued features), float values kept as they are, checked to be finite.

    Raises:
        DataError: what ``to_unit_interval`` refuses; for ``None``, a dtype that is not float, NaN or infinity.
    """
    if value_range is not None:
        return to_unit_interval(examples)
    examples = np.asarray(examples)
    if not np.issubdtype(examples.dtype, np.floating):
        raise DataError(f"examples of dtype {examples.dtype}: expected float features")
    examples = examples.astype(np.float32)
    if not np.all(np.isfinite(examples)):
        raise DataError(
            f"examples contain NaN or infinite values ({int(np.size(examples) - np.isfinite(examples).sum())} "
            "of them); remove or replace them"
        )
    return examples


def binarize_fixed(images, seed=0):
    """Binarises once: ``x ~ Bernoulli(pixel intensity)`` with NumPy seed ``seed``."""
    probs = to_unit_interval(images)
    return (np.random.default_rng(seed).random(probs.shape, dtype=np.float32) < probs).astype(np.float32)


def one_hot(labels, num_classes):
    """Integer labels -> float32 one-hot vectors ``[..., num_classes]`` (conditions of a CVAE)."""
    return np.eye(num_classes, dtype=np.float32)[np.asarray(labels)]


def _scale_batch(images):
    if images.dtype == tf.uint8:
        return tf.cast(images, tf.float32) / 255.0
    return tf.cast(images, tf.float32)


def _binarize_batch(images, seed):
    probs = _scale_batch(images)
    uniform = tf.random.stateless_uniform(tf.shape(probs), seed=tf.cast(seed, tf.int32))
    return tf.cast(uniform < probs, tf.float32)


def make_pipeline(
    images,
    batch_size=128,
    binarize="dynamic",
    shuffle=True,
    seed=0,
    labels=None,
    drop_remainder=False,
    value_range=UNIT_RANGE,
):
    """A ``tf.data`` pipeline of float32 images in [0, 1] (or of real-valued features, for ``value_range`` None).

    Args:
        images: ``uint8`` (0..255) or float ([0, 1]) array ``[N, ...]``.
        batch_size: examples per batch.
        binarize: ``"dynamic"`` (new Bernoulli draw every epoch), ``"fixed"``
            (one draw with ``seed``, the same every epoch) or ``"none"``.
        shuffle: reshuffle every epoch.
        seed: seed of shuffling and binarisation; the same seed gives the same
            sequence of batches.
        labels: optional ``[N]`` or ``[N, k]`` array; batches are then ``(x, labels)``.
        drop_remainder: drop the last partial batch.
        value_range: the values of the scaled examples (``as_inputs``): [0, 1], or ``None``: any finite float
            (``binarize`` must then be ``"none"``).

    Returns:
        A ``tf.data.Dataset`` yielding ``x`` or ``(x, labels)`` batches,
        prefetched.

    Raises:
        DataError: (a ``ValueError``) for images that are not ``[N, ...]``,
            empty, of an unknown dtype, not finite or outside [0, 1], or
            labels whose count differs from the images'.
        ValueError: for a bad ``binarize`` or ``batch_size``.
    """
    if binarize not in BINARIZATIONS:
        raise ValueError(f"binarize must be one of {BINARIZATIONS}, got {binarize!r}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    images = np.asarray(images)
    if images.ndim < 2:
        raise DataError(f"images must be an array [N, ...] of N examples, got shape {images.shape}")
    if len(images) == 0:
        raise DataError("no images to build a pipeline from")
    if labels is not None and len(labels) != len(images):
        raise DataError(f"labels must have one entry per image: {len(labels)} labels for {len(images)} images")
    if value_range is None and binarize != "none":
        raise ValueError(f"binarize={binarize!r} binarises values in [0, 1]; real-valued features take 'none'")
    if images.dtype != np.uint8:
        images = as_inputs(images, value_range)
    if binarize == "fixed":
        images = binarize_fixed(images, seed)
    elements = images if labels is None else (images, np.asarray(labels))
    dataset = tf.data.Dataset.from_tensor_slices(elements)
    if shuffle:
        dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    if binarize == "dynamic":
        # One stateless seed per batch, new every epoch: parallel and reproducible.
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2, drop_remainder=True)
        dataset = tf.data.Dataset.zip((dataset, seeds))
        if labels is None:
            dataset = dataset.map(_binarize_batch, num_parallel_calls=tf.data.AUTOTUNE)
        else:
            dataset = dataset.map(lambda xy, s: (_binarize_batch(xy[0], s), xy[1]), num_parallel_calls=tf.data.AUTOTUNE)
    elif labels is None:
        dataset = dataset.map(_scale_batch, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        dataset = dataset.map(lambda x, y: (_scale_batch(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


# --- a run's splits ---------------------------------------------------------------------------------


def split_validation(images, labels, validation_size):
    """Holds out the last ``validation_size`` training examples."""
    if not 0 <= validation_size < len(images):
        raise ValueError(f"validation_size must be in [0, {len(images)}), got {validation_size}")
    cut = len(images) - validation_size
    return (images[:cut], labels[:cut]), (images[cut:], labels[cut:])


def train_and_validation(data, validation_size):
    """``((train_x, train_y), (valid_x, valid_y))``: the data's own validation split, or the last
    ``validation_size`` training examples (``split_validation``)."""
    if data.valid_images is not None:
        return (data.train_images, data.train_labels), (data.valid_images, data.valid_labels)
    return split_validation(data.train_images, data.train_labels, validation_size)


def evaluation_images(images, binarize, value_range=UNIT_RANGE):
    """Test-time images: binarised once with a fixed seed, or just scaled (``as_inputs``: real-valued features,
    for ``value_range`` None, are kept)."""
    if binarize == "none":
        return as_inputs(images, value_range)
    return binarize_fixed(images, TEST_BINARIZATION_SEED)
