"""``tfvae score`` (issue 39, part 2): one CSV row per example; its numbers are ``tfvae.evaluation``'s for a run and
the export's ``log_likelihood`` signature's for its export; bad input is one ``tfvae: error:`` line and no CSV."""

import numpy as np
import pytest

from conftest import REPO, mnist_dir, read_csv_rows, run_cli
from tfvae import cli

N = 100
K = 20
BATCH = 40  # three batches, the last one short
FAST = ["--epochs", "1", "--batch-size", "50", "--hidden-units", "32", "--latent-dim", "2", "--verbose", "0"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny run on 300 MNIST digits (a .npy), its export, and 100 test digits as a .npy and as PNG files."""
    from PIL import Image

    from tfvae.data import load_idx_dataset

    root = tmp_path_factory.mktemp("score")
    data = load_idx_dataset(mnist_dir())
    np.save(root / "train.npy", data.train_images[:300, ..., 0])
    np.save(root / "test.npy", data.test_images[:N, ..., 0])
    (root / "pngs" / "a").mkdir(parents=True)
    for i, image in enumerate(data.test_images[:5, ..., 0]):
        Image.fromarray(image).save(root / "pngs" / "a" / f"{i}.png")
    status = cli.main(["train", "--data", str(root / "train.npy"), "--arch", "mlp", "--out", str(root / "run"), *FAST])
    assert status == 0
    assert cli.main(["export", str(root / "run"), "--out", str(root / "exported")]) == 0
    return root


def test_a_run_scores_what_evaluation_computes_per_example(trained, tmp_path):
    from tfvae import scoring
    from tfvae.artifacts import open_artifact
    from tfvae.backend import tf
    from tfvae.evaluation import evaluate, example_statistics

    out = tmp_path / "scores.csv"
    args = ["score", trained / "run", trained / "test.npy", "--out", out, "-k", K, "--batch-size", BATCH]
    status, printed, err = run_cli(args)
    assert status == 0, err
    assert f"scored {N} examples (K={K}" in printed
    rows = read_csv_rows(out)
    assert list(rows[0]) == ["id", "log_px", "elbo", "reconstruction", "bits_per_dim", "num_samples"]
    assert [r["id"] for r in rows] == [str(i) for i in range(N)] and {r["num_samples"] for r in rows} == {str(K)}
    log_px, elbo, recon, bits = (np.array([float(r[c]) for r in rows]) for c in list(rows[0])[1:5])
    least = [rows[i]["id"] for i in np.argsort(log_px)[:5]]
    assert "least likely: " + ", ".join(f"{i} ({log_px[int(i)]:.2f})" for i in least) in printed
    assert np.all(log_px < 0) and np.all(elbo <= recon) and np.allclose(bits, -log_px / (784 * np.log(2)))

    # The same numbers from tfvae.evaluation, batch by batch with the seed (0, 0).
    model = open_artifact(trained / "run").model()
    raw = np.load(trained / "test.npy")[..., None]
    x = scoring.prepare(raw, 0, "dynamic")
    assert set(np.unique(x)) == {0.0, 1.0}  # binarised as the model was trained
    for start in range(0, N, BATCH):
        numbers = example_statistics(model, tf.constant(x[start : start + BATCH]), None, K, tf.constant([0, 0]), 500)
        rows_here = slice(start, start + BATCH)
        np.testing.assert_allclose(log_px[rows_here], numbers["log_px"].numpy(), rtol=1e-5)
        np.testing.assert_allclose(elbo[rows_here], numbers["elbo"].numpy(), rtol=1e-5)
        np.testing.assert_allclose(recon[rows_here], -numbers["reconstruction"].numpy(), rtol=1e-5)
    # evaluate's first batch draws with (seed, 0) too: its NLL is the mean of those rows.
    first = evaluate(model, x[:BATCH], num_samples=K, batch_size=BATCH, seed=0, verbose=0)
    assert first["nll"] == pytest.approx(-log_px[:BATCH].mean(), rel=1e-5)
    # Binarisation is per example: another batch size draws the same inputs.
    assert np.array_equal(scoring.prepare(raw[7:9], 7, "dynamic"), x[7:9])


def test_an_export_scores_through_its_signature_as_its_run_does(trained, tmp_path):
    from tfvae import scoring
    from tfvae.backend import tf

    export = trained / "exported" / "1"
    run_out, export_out = tmp_path / "run.csv", tmp_path / "export.csv"
    for model, out in ((trained / "run", run_out), (export, export_out)):
        args = ["score", model, trained / "test.npy", "--out", out, "-k", K, "--batch-size", BATCH]
        status, _, err = run_cli(args)
        assert status == 0, err
    run_rows, export_rows = read_csv_rows(run_out), read_csv_rows(export_out)
    for column in ("log_px", "elbo", "reconstruction"):
        np.testing.assert_allclose(
            [float(r[column]) for r in export_rows], [float(r[column]) for r in run_rows], rtol=1e-4, atol=1e-4
        )
    signature = tf.saved_model.load(str(export)).signatures["log_likelihood"]
    x = scoring.prepare(np.load(trained / "test.npy")[:BATCH, ..., None], 0, "dynamic")
    served = signature(x=tf.constant(x), num_samples=tf.constant(K))
    np.testing.assert_allclose([float(r["log_px"]) for r in export_rows[:BATCH]], served["log_px"].numpy(), rtol=1e-6)
    np.testing.assert_allclose([float(r["elbo"]) for r in export_rows[:BATCH]], served["elbo"].numpy(), rtol=1e-6)


def test_a_folder_is_scored_by_file_name_and_no_data_is_the_test_split(trained, tmp_path):
    out = tmp_path / "pngs.csv"
    status, _, err = run_cli(["score", trained / "run", trained / "pngs", "--out", out, "-k", 5])
    assert status == 0, err
    assert [r["id"] for r in read_csv_rows(out)] == [f"a/{i}.png" for i in range(5)]
    # The PNGs are the first test digits: the same inputs, so the same numbers in a batch of the same examples.
    array = tmp_path / "five.csv"
    np.save(tmp_path / "five.npy", np.load(trained / "test.npy")[:5])
    assert run_cli(["score", trained / "run", tmp_path / "five.npy", "--out", array, "-k", 5])[0] == 0
    assert [r["log_px"] for r in read_csv_rows(out)] == [r["log_px"] for r in read_csv_rows(array)]

    own = tmp_path / "own.csv"
    status, printed, err = run_cli(["score", trained / "run", "--out", own, "-k", 2])
    assert status == 0, err
    assert len(read_csv_rows(own)) == 30  # the run's own test split: 10% of its 300 digits


BAD = {
    "vectors for an image model": ("vectors.npy", "examples of shape [784], but the model takes [28, 28, 1]"),
    "a missing file": ("missing.npy", "missing.npy: no such file or folder"),
    "NaN in the third batch": ("nan.npy", "(examples 80..99): images contain NaN"),
    "a text model": ("text", "is a text model: tfvae score reads images and arrays"),
    "a seed for an export": ("seed", "the fixed seed 0: leave --seed out"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_and_leaves_no_csv(case, trained, tmp_path):
    name, message = BAD[case]
    digits = np.load(trained / "test.npy").astype(np.float32) / 255
    model, extra = trained / "run", []
    if name == "vectors.npy":
        np.save(tmp_path / name, digits.reshape(N, 784))
    elif name == "nan.npy":
        digits[90, 3, 3] = np.nan
        np.save(tmp_path / name, digits)
    elif name == "text":
        model = REPO / "saved_models" / "ptb_sentence_vae" / "1"
    elif name == "seed":
        model, extra = trained / "exported" / "1", ["--seed", "3"]
    data = trained / "test.npy" if name in ("text", "seed") else tmp_path / name
    out = tmp_path / "scores.csv"
    status, _, err = run_cli(["score", model, data, "--out", out, "-k", 2, "--batch-size", BATCH, *extra])
    assert status == 2 and message in err and err.count("\n") == 1, err
    assert not any(p.suffix == ".csv" or ".tmp-" in p.name for p in tmp_path.iterdir())
