"""A user's own data (``tfvae train --data PATH``): a folder of images, a NumPy array or a CSV, as an ``ImageDataset``.

A folder of PNG/JPEG images (``--dataset images``) is read with Pillow. Its
layout is one of:

- ``train/``, ``test/`` and optionally ``valid/`` (or ``validation/``)
  subfolders: those are the splits;
- image files directly in the folder;
- class subfolders (``cat/``, ``dog/``, ...), whose sorted names are the labels
  0, 1, ... (also inside ``train/``, ``valid/`` and ``test/``).

Grey images keep one channel, colour images three (an alpha channel is
dropped). Every image must have one size and one channel count, unless
``image_size`` (``--image-size``: ``S``, ``H W`` or ``H W C``) resizes them all
and, with ``C``, converts them to grey (1) or RGB (3). Pixels are kept as
``uint8``: the pipelines scale them to [0, 1].

An array file (``--dataset array``) is a ``.npy`` array ``[N, ...]`` of
``uint8`` (0..255), ``bool`` or float values in [0, 1], or a ``.npz`` holding
one such array, or arrays named ``train``, ``test`` and optionally ``valid``.
``[N, D]`` examples are vectors (an MLP), ``[N, H, W]`` grey images,
``[N, H, W, C]`` images.

A CSV file (``--dataset table``) has a header row of column names and one row
of numbers per example: ``[N, D]`` real-valued features. Each column is
standardised with the mean and standard deviation of the training split
(``ImageDataset.features`` records the columns, means and stds; a run's
``config.json`` and an export's ``tfvae.json`` keep them), so the model sees
values around 0 of any sign: ``ImageDataset.value_range`` is ``None``.

Splits that the data does not give are made here, with the run's seed: the
examples are shuffled, the last ``TEST_FRACTION`` (at least one) are the test
split, and of the rest the last ``VALID_FRACTION``, at most ``validation_size``,
validate. The same seed finds the same test split again (``tfvae evaluate``).

Bad data raises ``tfvae.data.DataError``: one line naming the file and the fix,
before anything is written.

``open_examples`` reads the same files a batch at a time, to score them
(``tfvae score``, ``tfvae.scoring``): every example of the file or folder, in
order, with its id (a file name, or a row number), in the memory of one batch.
"""

import csv
import dataclasses
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from tfvae.data import DataError, ImageDataset, load_dataset, to_unit_interval
from tfvae.options import ARRAY_SUFFIXES, OWN_DATASETS, TABLE, data_kind

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SPLIT_FOLDERS = {"train": ("train",), "valid": ("valid", "validation"), "test": ("test",)}
TEST_FRACTION = 0.1
VALID_FRACTION = 0.1
_CHANNELS = {"1": 1, "L": 1, "LA": 1, "P": 3, "RGB": 3, "RGBA": 3}  # Pillow modes read, and their channels


def load_own_data(path, kind=None, image_size=None, seed=0, validation_size=5000, features=None) -> ImageDataset:
    """The ``ImageDataset`` of own data at ``path``, with its three splits (``valid_images`` set, maybe empty).

    Args:
        path: a folder of images or a ``.npy``/``.npz`` file.
        kind: ``"images"`` or ``"array"`` (``None``: by ``path``); must agree with ``path``.
        image_size: ``None``, or ``[S]``, ``[H, W]`` or ``[H, W, C]``: every image resized (and converted).
        seed: the seed of the splits the data does not give.
        validation_size: at most this many training examples validate (when no ``valid`` split is given).
        features: a CSV's recorded ``{"columns", "mean", "std"}`` (a run's): applied instead of fitted again, and
            the file's columns checked against them.

    Raises:
        DataError: one line naming the file, row or folder and the fix.
    """
    try:
        found = data_kind(str(path))
    except ValueError as error:
        raise DataError(str(error)) from None
    if kind is not None and kind != found:
        raise DataError(f"--data {path} is {OWN_DATASETS[found]}, not {OWN_DATASETS.get(kind, kind)}")
    if found == TABLE:
        columns, rows = read_csv_file(path)
        dataset = _with_splits(
            Path(path).name, {"train": (rows, np.zeros(len(rows), np.int64))}, seed, validation_size, path
        )
        return standardised(dataset, columns, features, path)
    if found == "images":
        splits = read_image_folder(path, image_size)
    else:
        splits = read_array_file(path)
    return _with_splits(Path(path).name, splits, seed, validation_size, path)


def load_images(settings, data=None, data_dir=None, features=None) -> ImageDataset:
    """The run's images: its own data (``settings.data``, or ``data`` instead: the same data moved), or the named
    dataset from ``data_dir``, ``settings.data_dir``, ``$TFVAE_DATA_DIR`` or TFDS. ``features``: a CSV's
    recorded columns and standardisation (``ImageDataset.features``), applied instead of fitting them again."""
    if settings.dataset in OWN_DATASETS:
        return load_own_data(
            data or settings.data,
            settings.dataset,
            settings.image_size,
            settings.seed,
            settings.validation_size,
            features=features,
        )
    return load_dataset(settings.dataset, data_dir or settings.data_dir)


def _with_splits(name, splits, seed, validation_size, path):
    """Makes the splits ``splits`` (``{split: (examples, labels)}``) lacks, as the module docstring says."""
    if "test" not in splits:
        images, labels = splits.pop("train")
        if len(images) < 2:
            raise DataError(f"{path}: holds {len(images)} example; training and testing need at least 2")
        order = np.random.default_rng(seed).permutation(len(images))
        images, labels = images[order], labels[order]
        cut = len(images) - max(1, int(round(TEST_FRACTION * len(images))))
        splits["train"], splits["test"] = (images[:cut], labels[:cut]), (images[cut:], labels[cut:])
    if "valid" not in splits:
        images, labels = splits["train"]
        cut = len(images) - min(int(validation_size), int(VALID_FRACTION * len(images)))
        splits["train"], splits["valid"] = (images[:cut], labels[:cut]), (images[cut:], labels[cut:])
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = (splits[s] for s in ("train", "valid", "test"))
    return ImageDataset(name, train_x, train_y, test_x, test_y, valid_images=valid_x, valid_labels=valid_y)


# --- arrays --------------------------------------------------------------------------------------------


def read_array_file(path) -> dict:
    """``{split: (examples, zero labels)}`` of a ``.npy``/``.npz`` file: ``train`` alone, or the splits it names."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as loaded:
                arrays = {key: np.asarray(loaded[key]) for key in loaded.files}
        else:
            arrays = {"train": np.load(path, allow_pickle=False)}
    except (OSError, ValueError, EOFError) as error:
        raise DataError(f"{path}: not a readable {'/'.join(ARRAY_SUFFIXES)} file ({error})") from None
    named = {split: arrays[key] for split, keys in SPLIT_FOLDERS.items() for key in keys if key in arrays}
    if named:
        if "train" not in named or set(arrays) - {k for keys in SPLIT_FOLDERS.values() for k in keys}:
            raise DataError(
                f"{path}: holds arrays {sorted(arrays)}; expected one array, or 'train', 'test' and optionally 'valid'"
            )
    elif len(arrays) != 1:
        raise DataError(f"{path}: holds {len(arrays)} arrays {sorted(arrays)}; expected one, or train/valid/test")
    else:
        named = {"train": next(iter(arrays.values()))}
    shapes = set()
    for split, examples in named.items():
        where = f"{path}" + (f" [{split}]" if path.suffix == ".npz" else "")
        if examples.ndim not in (2, 3, 4):
            raise DataError(
                f"{where}: an array of shape {examples.shape}; expected [N, D] vectors, [N, H, W] or [N, H, W, C] "
                "images (one row per example)"
            )
        try:
            to_unit_interval(examples)  # checks the dtype and the values, naming them
        except DataError as error:
            raise DataError(f"{where}: {error}") from None
        examples = examples[..., None] if examples.ndim == 3 else examples
        shapes.add(examples.shape[1:])
        named[split] = (examples, np.zeros(len(examples), np.int64))
    if len(shapes) > 1:
        raise DataError(f"{path}: the splits' examples differ in shape {sorted(shapes)}; give them one shape")
    return named


# --- CSV files of numeric features -------------------------------------------------------------------


def read_csv_file(path) -> tuple[list[str], np.ndarray]:
    """``(column names, float64 values [N, D])`` of a CSV file: a header row, then one row of numbers per example.

    Raises:
        DataError: naming the line and column: a missing header, a row of another length than the header, an
            empty field, a value that is not a finite number.
    """
    columns, rows = read_csv_header(path), []
    for _, values in csv_rows(path, columns):
        rows.append(values)
    if not rows:
        raise DataError(f"{path}: a header and no rows of numbers; give one row per example")
    return columns, np.array(rows, np.float64)


def read_csv_header(path) -> list[str]:
    """The column names of a CSV file's header row, checked: present, unique, not numbers."""
    try:
        with open(path, newline="") as file:
            header = next(csv.reader(file), None)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"{path}: not a readable CSV file ({error})") from None
    if not header or not any(name.strip() for name in header):
        raise DataError(f"{path}: no header row; the first line must name the columns (a,b,c)")
    names = [name.strip() for name in header]
    if all(_is_number(name) for name in names):
        raise DataError(f"{path}: the first line holds numbers ({header[0]}, ...); add a header row naming the columns")
    repeated = sorted({name for name in names if names.count(name) > 1 or not name})
    if repeated:
        raise DataError(f"{path}: columns named {repeated} more than once or empty; give each column one name")
    return names


def csv_rows(path, columns) -> Iterator[tuple[int, list[float]]]:
    """``(line number, values)`` of each data row of a CSV file (after its header ``columns``); blank lines are
    skipped. Raises ``DataError`` naming the line and the column of a bad value."""
    try:
        with open(path, newline="") as file:
            reader = csv.reader(file)
            next(reader, None)
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                line = reader.line_num
                if len(row) != len(columns):
                    raise DataError(
                        f"{path} line {line}: {len(row)} values, but the header names {len(columns)} columns; "
                        "give every row one value per column"
                    )
                yield line, [_number(path, line, column, field) for column, field in zip(columns, row)]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"{path}: not a readable CSV file ({error})") from None


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _number(path, line, column, field):
    """``field`` as a finite float, or a ``DataError`` naming the line and the column."""
    if not field.strip():
        raise DataError(f"{path} line {line}, column {column!r}: a missing value; fill it in or drop the row")
    try:
        value = float(field)
    except ValueError:
        raise DataError(
            f"{path} line {line}, column {column!r}: {field!r} is not a number; tfvae reads numeric columns "
            "only (drop the column, or encode it as numbers)"
        ) from None
    if not math.isfinite(value):
        raise DataError(f"{path} line {line}, column {column!r}: {field} is not a finite number; replace it")
    return value


def standardised(dataset, columns, features=None, path="data") -> ImageDataset:
    """``dataset`` (float64 features) with every column standardised, float32: by the training split's mean and
    std, or by recorded ``features`` (whose columns must be ``columns``); ``features`` records them."""
    if features is None:
        mean, std = dataset.train_images.mean(0), dataset.train_images.std(0)
        std = np.where(std > 0, std, 1.0)  # a constant column: centred, not divided by 0
        features = {"columns": list(columns), "mean": mean.tolist(), "std": std.tolist()}
    elif list(features["columns"]) != list(columns):
        raise DataError(
            f"{path}: columns {list(columns)}, but the model was trained on {list(features['columns'])}; "
            "give the same columns in the same order"
        )
    mean, std = np.array(features["mean"]), np.array(features["std"])

    def scaled(values):
        return None if values is None else ((values - mean) / std).astype(np.float32)

    return dataclasses.replace(
        dataset,
        train_images=scaled(dataset.train_images),
        valid_images=scaled(dataset.valid_images),
        test_images=scaled(dataset.test_images),
        value_range=None,
        features=features,
    )


# --- image folders -------------------------------------------------------------------------------------


def read_image_folder(path, image_size=None) -> dict:
    """``{split: (uint8 images [N, H, W, C], labels)}`` of a folder of images, laid out as the module docstring says."""
    path = Path(path)
    folders = _split_folders(path)
    files = {split: _labelled_files(folder) for split, folder in folders.items()}
    classes = sorted({label for listed in files.values() for _, label in listed} - {None})
    splits, shapes = {}, {}
    for split, listed in files.items():
        if not listed:
            raise DataError(f"{folders[split]}: holds no PNG/JPEG images")
        images = [_read_image(file, image_size) for file, _ in listed]
        for file, image in zip((f for f, _ in listed), images):
            shapes.setdefault(image.shape, file)
        if len(shapes) > 1:
            (shape_a, file_a), (shape_b, file_b) = list(shapes.items())[:2]
            raise DataError(
                f"{file_b}: {_describe(shape_b)}, but {file_a} is {_describe(shape_a)}; "
                f"pass --image-size H W (and C: 1 grey, 3 RGB) to make them one size"
            )
        labels = np.array([classes.index(label) if label is not None else 0 for _, label in listed], np.int64)
        splits[split] = (np.stack(images), labels)
    return splits


def _describe(shape):
    return f"{shape[0]}x{shape[1]} with {shape[2]} channel{'s' if shape[2] > 1 else ''}"


def _split_folders(path):
    """``{split: folder}``: the ``train``/``valid``/``test`` subfolders, or ``{"train": path}``."""
    found = {}
    for split, names in SPLIT_FOLDERS.items():
        for name in names:
            if (path / name).is_dir():
                found[split] = path / name
    if found and "train" not in found:
        raise DataError(f"{path}: has {', '.join(f.name for f in found.values())}/ but no train/ subfolder")
    return found or {"train": path}


def _labelled_files(folder):
    """``[(file, class name or None)]`` of ``folder``: its image files, or those of its class subfolders."""
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    subfolders = [p for p in entries if p.is_dir() and p.name not in sum(SPLIT_FOLDERS.values(), ())]
    plain = [p for p in entries if not p.is_dir()]
    if subfolders and plain:
        raise DataError(
            f"{folder}: holds both files ({plain[0].name}, ...) and class subfolders ({subfolders[0].name}/, ...); "
            "put every image in a class subfolder, or none"
        )
    if not subfolders:
        return [(_image_file(p), None) for p in plain]
    listed = []
    for subfolder in subfolders:
        inner = sorted(p for p in subfolder.iterdir() if not p.name.startswith("."))
        deeper = [p for p in inner if p.is_dir()]
        if deeper:
            raise DataError(f"{deeper[0]}: a folder inside class folder {subfolder}; keep images one level down")
        listed += [(_image_file(p), subfolder.name) for p in inner]
    return listed


def _image_file(path):
    """``path``, checked to have an image suffix."""
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise DataError(f"{path}: not a PNG/JPEG image (by its name); move it out of the data folder")
    return path


def _read_image(path, image_size):
    """One image as ``uint8`` ``[H, W, C]``: grey 1 channel, colour 3; resized and converted by ``image_size``."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()  # a truncated file fails here, not later
            mode = image.mode
            if mode not in _CHANNELS:
                raise DataError(f"{path}: Pillow mode {mode} (e.g. 16-bit) is not read; save it as 8-bit grey or RGB")
            channels = _CHANNELS[mode] if not image_size or len(image_size) < 3 else image_size[2]
            image = image.convert("L" if channels == 1 else "RGB")
            if image_size:
                height, width = (image_size[0], image_size[0]) if len(image_size) == 1 else image_size[:2]
                if image.size != (width, height):
                    image = image.resize((width, height), Image.Resampling.BILINEAR)
            array = np.asarray(image, np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise DataError(f"{path}: cannot read the image ({error}); replace it or move it out") from None
    return array[..., None] if array.ndim == 2 else array


# --- a batch at a time, to score -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Examples:
    """Examples read a batch at a time (``open_examples``).

    Attributes:
        source: where they are, for messages.
        count: how many.
        shape: one example's shape, e.g. ``(28, 28, 1)`` or ``(D,)``.
        batches: ``batches(batch_size)`` yields ``(ids, raw examples [b, *shape])``, in order; an id is a file
            name (relative to the folder) or a row number (from 0). Raw: ``uint8``, ``bool`` or floats, as stored
            (a CSV's unstandardised values).
        columns: a CSV's column names (``None`` for images and arrays).
    """

    source: str
    count: int
    shape: tuple
    batches: Callable[[int], Iterator[tuple[list, np.ndarray]]]
    columns: list | None = None


def open_examples(path, image_size=None) -> Examples:
    """Every example of a folder of images, a ``.npy``/``.npz`` file or a CSV file, read a batch at a time.

    A folder's images are those ``read_image_folder`` reads (all of its splits), ``image_size`` as there; their
    ids are their paths relative to ``path``. A ``.npy`` is memory-mapped; a ``.npz`` holds one array, or named
    splits, of which the ``test`` array is read. A CSV is read row by row (its values as they are: the scorer
    standardises them). The ids of an array's or a CSV's examples are their row numbers, from 0.

    Raises:
        DataError: one line naming the file, and the fix.
    """
    try:
        kind = data_kind(str(path))
    except ValueError as error:
        raise DataError(str(error).replace("--data ", "")) from None
    if kind == TABLE:
        return _table_examples(Path(path))
    return _image_examples(Path(path), image_size) if kind == "images" else _array_examples(Path(path))


def _table_examples(path):
    columns = read_csv_header(path)
    count = sum(1 for _ in csv_rows(path, columns))  # a first pass: the count, and every value checked

    def batches(batch_size):
        rows, ids = [], []
        for number, (_, values) in enumerate(csv_rows(path, columns)):
            rows.append(values)
            ids.append(number)
            if len(rows) == batch_size:
                yield ids, np.array(rows, np.float64)
                rows, ids = [], []
        if rows:
            yield ids, np.array(rows, np.float64)

    if not count:
        raise DataError(f"{path}: a header and no rows of numbers; give one row per example")
    return Examples(str(path), count, (len(columns),), batches, columns)


def in_memory_examples(source, examples) -> Examples:
    """``Examples`` of an array already read (e.g. a run's test split); ids are row numbers."""
    examples = examples[..., None] if examples.ndim == 3 else examples

    def batches(batch_size):
        for start in range(0, len(examples), batch_size):
            yield list(range(start, min(start + batch_size, len(examples)))), examples[start : start + batch_size]

    return Examples(source, len(examples), tuple(examples.shape[1:]), batches)


def _array_examples(path):
    try:
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as loaded:
                names = loaded.files
                name = "test" if "test" in names and len(names) > 1 else names[0] if len(names) == 1 else None
                if name is None:
                    raise DataError(f"{path}: holds arrays {sorted(names)}; expected one array, or a 'test' array")
                examples = np.asarray(loaded[name])
        else:
            examples = np.load(path, mmap_mode="r", allow_pickle=False)  # rows are read as they are scored
    except (OSError, ValueError, EOFError) as error:
        raise DataError(f"{path}: not a readable {'/'.join(ARRAY_SUFFIXES)} file ({error})") from None
    if examples.ndim not in (2, 3, 4):
        raise DataError(
            f"{path}: an array of shape {examples.shape}; expected [N, D] vectors, [N, H, W] or [N, H, W, C] "
            "images (one row per example)"
        )
    return in_memory_examples(str(path), examples)


def _image_examples(path, image_size):
    files = [
        file for folder in _split_folders(path).values() for file, _ in _labelled_files(folder)
    ]  # every split: all of the folder is scored
    if not files:
        raise DataError(f"{path}: holds no PNG/JPEG images")
    first = _read_image(files[0], image_size)

    def batches(batch_size):
        for start in range(0, len(files), batch_size):
            chunk = files[start : start + batch_size]
            images = [_read_image(file, image_size) for file in chunk]
            for file, image in zip(chunk, images):
                if image.shape != first.shape:
                    raise DataError(
                        f"{file}: {_describe(image.shape)}, but {files[0]} is {_describe(first.shape)}; "
                        "resize them to one size (the model's)"
                    )
            yield [file.relative_to(path).as_posix() for file in chunk], np.stack(images)

    return Examples(str(path), len(files), first.shape, batches)
