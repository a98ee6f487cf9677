"""A user's own data through the command line (issue 39, part 1): real MNIST digits written as PNG files and as a
``.npy`` array train, evaluate, plot and export through ``tfvae.cli.main``; bad data is one ``tfvae: error:`` line,
exit status 2, and nothing written."""

import json

import numpy as np
import pytest

from conftest import mnist_dir, run_cli

TRAIN, TEST = 300, 100
FAST = ["--epochs", "1", "--batch-size", "50", "--hidden-units", "32", "--latent-dim", "2", "--verbose", "0"]


@pytest.fixture(scope="module")
def digits():
    """The first 300 MNIST training and 100 test digits, uint8 [N, 28, 28], with their labels."""
    from tfvae.data import load_idx_dataset

    data = load_idx_dataset(mnist_dir())
    return (data.train_images[:TRAIN, ..., 0], data.train_labels[:TRAIN]), (
        data.test_images[:TEST, ..., 0],
        data.test_labels[:TEST],
    )


def _write_pngs(folder, images, labels=None, mode="L"):
    from PIL import Image

    for i, image in enumerate(images):
        target = folder / str(labels[i]) if labels is not None else folder
        target.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).convert(mode).save(target / f"{i:04d}.png")


@pytest.fixture(scope="module")
def split_folder(digits, tmp_path_factory):
    """train/ and test/ subfolders, each with class subfolders 0..9 of PNG digits."""
    root = tmp_path_factory.mktemp("digits_split")
    (train_x, train_y), (test_x, test_y) = digits
    _write_pngs(root / "train", train_x, train_y)
    _write_pngs(root / "test", test_x, test_y)
    return root


def test_a_folder_of_pngs_trains_evaluates_plots_and_exports(split_folder, digits, tmp_path):
    run = tmp_path / "run"
    status, out, err = run_cli(["train", "--data", split_folder, "--out", run, *FAST])
    assert status == 0, err
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["dataset"] == "images" and config["train"]["data"] == str(split_folder)
    assert config["model"]["data_shape"] == [28, 28, 1]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["dataset"] == split_folder.name and 50 < metrics["test"]["loss"] < 800

    status, out, err = run_cli(["evaluate", run, "-k", "5", "--limit", "20"])
    assert status == 0, err
    results = json.loads((run / "eval.json").read_text())
    assert results["num_examples"] == 20 and results["dataset"] == split_folder.name  # as metrics.json names it

    # The test split found again is the test/ folder (class by class): the same digits and labels.
    from tfvae.own_data import load_images
    from tfvae.runs import load_run_settings

    found = load_images(load_run_settings(run))
    test_x, test_y = digits[1]
    assert found.test_images.shape == (TEST, 28, 28, 1) and found.valid_images.shape == (30, 28, 28, 1)
    assert np.array_equal(found.test_images[0, ..., 0], test_x[test_y == 0][0])
    assert np.array_equal(np.bincount(found.test_labels), np.bincount(test_y))

    status, _, err = run_cli(["plot", run, "--kind", "reconstructions", "--out", tmp_path / "r.png"])
    assert status == 0 and (tmp_path / "r.png").stat().st_size > 0, err

    status, _, err = run_cli(["export", run, "--out", tmp_path / "export"])
    assert status == 0, err
    description = json.loads((tmp_path / "export" / "1" / "tfvae.json").read_text())
    assert description["preprocessing"]["data"]["dataset"] == "images"
    status, _, err = run_cli(
        ["evaluate", tmp_path / "export" / "1", "-k", "5", "--limit", "10", "--out", tmp_path / "e.json"]
    )
    assert status == 0, err
    assert json.loads((tmp_path / "e.json").read_text())["num_examples"] == 10


def test_a_flat_colour_folder_is_split_with_the_seed_and_resized(digits, tmp_path):
    """Flat RGB PNGs of two sizes: --image-size makes them one; the test split is a stated 10% by the seed."""
    from PIL import Image

    from tfvae.own_data import load_own_data

    folder = tmp_path / "flat"
    (train_x, _), _ = digits
    _write_pngs(folder, train_x[:100], mode="RGB")
    Image.fromarray(np.zeros((32, 32), np.uint8)).convert("RGB").save(folder / "9999.png")  # another size
    Image.fromarray(train_x[100]).convert("RGB").save(folder / "9998.jpg")  # a JPEG among the PNGs
    data = load_own_data(folder, "images", image_size=[16], seed=3)
    assert data.data_shape == (16, 16, 3) and data.train_images.dtype == np.uint8
    assert (len(data.train_images), len(data.valid_images), len(data.test_images)) == (83, 9, 10)
    again = load_own_data(folder, "images", image_size=[16], seed=3)
    assert np.array_equal(again.test_images, data.test_images)
    assert not np.array_equal(load_own_data(folder, "images", image_size=[16], seed=4).test_images, data.test_images)

    run = tmp_path / "run"
    argv = ["train", "--data", folder, "--image-size", "16", "--out", run, *FAST]
    status, _, err = run_cli([*argv, "--likelihood", "discretized_logistic", "--binarize", "none"])
    assert status == 0, err
    assert json.loads((run / "config.json").read_text())["model"]["data_shape"] == [16, 16, 3]
    status, _, err = run_cli(["sample", run, "--n", "4", "--out", tmp_path / "s.png"])
    assert status == 0, err


def test_an_npy_array_trains_and_evaluates(digits, tmp_path):
    (train_x, _), _ = digits
    array = tmp_path / "digits.npy"
    np.save(array, train_x)  # uint8 [N, 28, 28]: grey images
    run = tmp_path / "run"
    status, _, err = run_cli(["train", "--data", array, "--out", run, *FAST, "--arch", "conv", "--filters", "4", "8"])
    assert status == 0, err
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["dataset"] == "array" and config["model"]["data_shape"] == [28, 28, 1]
    status, _, err = run_cli(["evaluate", run, "-k", "3", "--limit", "10"])
    assert status == 0, err
    assert json.loads((run / "eval.json").read_text())["num_examples"] == 10


def test_an_npz_of_vectors_with_named_splits_trains_an_mlp(tmp_path):
    from tfvae.own_data import load_own_data

    rng = np.random.default_rng(0)
    path = tmp_path / "vectors.npz"
    np.savez(path, train=rng.random((100, 6)).astype(np.float32), test=rng.random((7, 6)).astype(np.float32))
    data = load_own_data(path, validation_size=2)
    assert data.data_shape == (6,) and len(data.test_images) == 7 and len(data.valid_images) == 2

    run = tmp_path / "run"
    normal = ["--likelihood", "normal", "--likelihood-scale", "global", "--binarize", "none"]
    status, _, err = run_cli(["train", "--data", path, "--out", run, *FAST, *normal])
    assert status == 0, err
    assert json.loads((run / "config.json").read_text())["model"]["data_shape"] == [6]
    status, _, err = run_cli(["evaluate", run, "-k", "3"])
    assert status == 0 and json.loads((run / "eval.json").read_text())["num_examples"] == 7, err
    status, _, err = run_cli(["sample", run, "--out", tmp_path / "s.png"])
    assert status == 2 and "vectors of 6 values" in err and not (tmp_path / "s.png").exists()


def _bad_cases(tmp_path, digits):
    """``(name, argv of train, words the error must hold)`` of bad data, written into ``tmp_path``."""
    from PIL import Image

    (train_x, _), _ = digits
    cases = {}
    (tmp_path / "empty").mkdir()
    cases["empty folder"] = (tmp_path / "empty", [], ["empty", "no PNG/JPEG images"])
    truncated = tmp_path / "truncated"
    _write_pngs(truncated, train_x[:5])
    raw = (truncated / "0002.png").read_bytes()
    (truncated / "0002.png").write_bytes(raw[: len(raw) // 2])
    cases["truncated image"] = (truncated, [], ["0002.png", "cannot read the image"])
    text = tmp_path / "text"
    _write_pngs(text, train_x[:3])
    (text / "notes.txt").write_text("not an image")
    cases["not an image"] = (text, [], ["notes.txt", "not a PNG/JPEG"])
    fake = tmp_path / "fake"
    _write_pngs(fake, train_x[:3])
    (fake / "0001.png").write_text("not a png at all")
    cases["fake png"] = (fake, [], ["0001.png", "cannot read the image"])
    mixed = tmp_path / "mixed"
    _write_pngs(mixed, train_x[:3])
    Image.fromarray(train_x[3]).convert("RGB").save(mixed / "colour.png")
    cases["mixed channels"] = (mixed, [], ["colour.png", "3 channels", "--image-size"])
    sizes = tmp_path / "sizes"
    _write_pngs(sizes, train_x[:3])
    Image.fromarray(train_x[3][:20, :20]).save(sizes / "small.png")
    cases["mixed sizes"] = (sizes, [], ["small.png", "20x20", "--image-size"])
    np.save(tmp_path / "rank1.npy", np.zeros(10, np.uint8))
    cases["rank 1"] = (tmp_path / "rank1.npy", [], ["rank1.npy", "shape (10,)", "[N, D]"])
    np.save(tmp_path / "int64.npy", np.zeros((10, 4), np.int64))
    cases["int64"] = (tmp_path / "int64.npy", [], ["int64.npy", "int64", "uint8"])
    np.save(tmp_path / "big.npy", np.full((10, 4), 7.0, np.float32))
    cases["floats above 1"] = (tmp_path / "big.npy", [], ["big.npy", "[0, 1]"])
    np.save(tmp_path / "one.npy", np.zeros((1, 4), np.uint8))
    cases["one example"] = (tmp_path / "one.npy", [], ["one.npy", "1 example", "at least 2"])
    (tmp_path / "data.txt").write_text("a,b\n1,2\n")
    cases["unknown file"] = (tmp_path / "data.txt", [], ["data.txt", ".npy/.npz"])
    cases["missing"] = (tmp_path / "nothing_here", [], ["nothing_here", "no such file or folder"])
    cases["size for an array"] = (tmp_path / "one.npy", ["--image-size", "8"], ["--image-size", "--dataset array"])
    return cases


BAD = [
    "empty folder",
    "truncated image",
    "not an image",
    "fake png",
    "mixed channels",
    "mixed sizes",
    "rank 1",
    "int64",
    "floats above 1",
    "one example",
    "unknown file",
    "missing",
    "size for an array",
]


@pytest.mark.parametrize("case", BAD)
def test_bad_data_is_one_line_and_writes_nothing(case, digits, tmp_path):
    path, extra, words = _bad_cases(tmp_path, digits)[case]
    run = tmp_path / "run"
    status, _, err = run_cli(["train", "--data", path, "--out", run, *extra, *FAST])
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and lines[0].startswith("tfvae: error: "), err
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert not run.exists()


def test_a_folder_of_images_given_as_data_dir_points_to_data(split_folder, tmp_path):
    run = tmp_path / "run"
    status, _, err = run_cli(["train", "--data-dir", split_folder, "--out", run, *FAST])
    assert status == 2 and err.count("\n") == 1 and f"use --data {split_folder}" in err, err
    assert not run.exists() or not any(run.iterdir())
