"""Data: IDX parsing and its errors, the real MNIST files, and the tf.data pipelines."""

import gzip

import numpy as np
import pytest

from conftest import blob_images, mnist_dir
from tfvae.data import (
    DataError,
    binarize_fixed,
    load_dataset,
    load_idx_dataset,
    make_pipeline,
    read_idx,
    to_unit_interval,
    write_idx,
    write_idx_subset,
)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["a.gz", "a"])
def test_read_idx_round_trip(tmp_path, dtype, name):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    back = read_idx(write_idx(tmp_path / name, array))
    assert back.dtype.kind == array.dtype.kind and back.dtype.itemsize == array.dtype.itemsize
    np.testing.assert_array_equal(back, array)
    raw = (tmp_path / name).read_bytes()
    raw = gzip.decompress(raw) if name.endswith(".gz") else raw
    assert raw[3] == 3 and int.from_bytes(raw[4:8], "big") == 2  # the header by hand: 3 dims, the first is 2
    with pytest.raises(ValueError, match="not int64"):
        write_idx(tmp_path / "b", array.astype(np.int64))


def test_idx_subset_is_the_first_examples_of_the_real_files(tmp_path):
    if not (mnist_dir() / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("the real MNIST files are missing")
    subset = load_idx_dataset(write_idx_subset(mnist_dir(), tmp_path / "subset", train=300, test=50))
    assert subset.train_images.shape == (300, 28, 28, 1) and subset.test_labels.shape == (50,)
    full = {
        stem: read_idx(mnist_dir() / f"{stem}.gz") for stem in ("train-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    }
    np.testing.assert_array_equal(subset.train_images[..., 0], full["train-images-idx3-ubyte"][:300])
    np.testing.assert_array_equal(subset.test_labels, full["t10k-labels-idx1-ubyte"][:50])
    with pytest.raises(ValueError, match="asked for 70000 examples"):
        write_idx_subset(mnist_dir(), tmp_path / "too_many", train=70000, test=50)
    assert not (tmp_path / "too_many").exists()  # checked before anything was written
    with pytest.raises(DataError, match="does not exist"):
        write_idx_subset(tmp_path / "nowhere", tmp_path / "x", train=1, test=1)


def test_truncated_file_names_the_file(tmp_path):
    array = np.zeros((5, 4, 4), np.uint8)
    header = bytes([0, 0, 8, 3]) + (5).to_bytes(4, "big") + (4).to_bytes(4, "big") * 2
    path = tmp_path / "short-idx3-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes()[:-7])
    with pytest.raises(DataError, match="short-idx3-ubyte.gz.*promises"):
        read_idx(path)


def test_bad_magic_and_broken_gzip_are_clear_errors(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x01\x05")
    with pytest.raises(DataError, match="bad magic"):
        read_idx(tmp_path / "bad")
    (tmp_path / "broken.gz").write_bytes(gzip.compress(b"\x00" * 100)[:20])
    with pytest.raises(DataError, match="broken.gz"):
        read_idx(tmp_path / "broken.gz")


def test_missing_and_mismatched_files(tmp_path, tiny_idx_dir):
    with pytest.raises(DataError, match="missing"):
        load_idx_dataset(tmp_path)
    for name in ["train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]:
        (tmp_path / name).write_bytes((tiny_idx_dir / name).read_bytes())
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(7, np.uint8))
    with pytest.raises(DataError, match="train-labels.*512 labels"):
        load_idx_dataset(tmp_path)


def test_real_mnist_files():
    data = load_idx_dataset(mnist_dir())
    assert data.train_images.shape == (60000, 28, 28, 1) and data.train_images.dtype == np.uint8
    assert data.test_images.shape == (10000, 28, 28, 1)
    assert sorted(np.unique(data.train_labels)) == list(range(10))
    assert np.bincount(data.test_labels).min() > 800


def test_data_dir_resolution_order(monkeypatch, tiny_idx_dir, tmp_path):
    monkeypatch.setenv("TFVAE_DATA_DIR", str(tiny_idx_dir))
    assert len(load_dataset("mnist").train_images) == 512
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("mnist", data_dir=str(tmp_path / "nowhere"))  # explicit beats the env var
    with pytest.raises(DataError, match="not supported"):
        load_dataset("cifar10")


def test_dynamic_binarization_is_fresh_each_epoch_and_reproducible():
    images, _ = blob_images(64)
    dataset = make_pipeline(images, batch_size=64, shuffle=False, seed=5)
    epoch1, epoch2 = [next(iter(dataset)).numpy() for _ in range(2)]
    assert set(np.unique(epoch1)) <= {0.0, 1.0}
    assert np.mean(epoch1 != epoch2) > 0.005  # a new draw each epoch
    # Pixel frequencies follow the intensities.
    draws = np.stack([b.numpy() for _, b in zip(range(200), dataset.repeat())])
    error = np.abs(draws.mean(0) - images / 255.0)
    assert error.mean() < 0.02 and error.max() < 0.25  # binomial SE <= 0.035 with 200 draws
    again = make_pipeline(images, batch_size=64, shuffle=False, seed=5)
    np.testing.assert_array_equal(next(iter(again)).numpy(), epoch1)


def test_fixed_binarization_and_scaling():
    images, labels = blob_images(10)
    fixed = make_pipeline(images, batch_size=4, binarize="fixed", shuffle=False, seed=1)
    first = np.concatenate([b.numpy() for b in fixed])
    np.testing.assert_array_equal(first, np.concatenate([b.numpy() for b in fixed]))
    np.testing.assert_array_equal(first, binarize_fixed(images, 1))
    scaled = make_pipeline(images, batch_size=4, binarize="none", shuffle=False, labels=labels)
    x, y = next(iter(scaled))
    np.testing.assert_allclose(x.numpy(), images[:4] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y.numpy(), labels[:4])


def test_bad_inputs():
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        to_unit_interval(np.array([0.5, 2.0]))
    with pytest.raises(ValueError, match="binarize"):
        make_pipeline(np.zeros((2, 2), np.uint8), binarize="sometimes")
    with pytest.raises(DataError, match="no images"):
        make_pipeline(np.zeros((0, 2), np.uint8))
