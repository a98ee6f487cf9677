"""``tfvae.artifacts.open_artifact``: what a path holds, found once for every command."""

import json
import shutil

import pytest

from conftest import REPO, mnist_dir
from tfvae.artifacts import open_artifact
from tfvae.cli import main

SHIPPED_IMAGE = REPO / "saved_models" / "mnist_mlp_vamp" / "1"  # exported before datasets were recorded
SHIPPED_TEXT = REPO / "saved_models" / "ptb_sentence_vae" / "5"


@pytest.fixture(scope="module")
def run_and_export(tmp_path_factory, tiny_idx_dir):
    """A one-epoch image run on the tiny data and its export: (run directory, export directory)."""
    base = tmp_path_factory.mktemp("artifacts")
    run = base / "run"
    train = ["train", "--data-dir", str(tiny_idx_dir), "--epochs", "1", "--batch-size", "64"]
    train += ["--validation-size", "64", "--latent-dim", "2", "--hidden-units", "16", "--out", str(run)]
    assert main([*train, "--verbose", "0"]) == 0
    assert main(["export", str(run), "--out", str(base / "served")]) == 0
    return run, base / "served" / "1"


def test_a_run_and_its_export_are_told_apart(run_and_export):
    run, export = run_and_export
    opened_run, opened_export = open_artifact(run), open_artifact(export)
    assert (opened_run.kind, opened_run.family, opened_run.dataset) == ("run", "image", "mnist")
    assert (opened_export.kind, opened_export.family, opened_export.dataset) == ("export", "image", "mnist")
    assert opened_export.dataset_recorded  # tfvae export writes the dataset into tfvae.json now
    assert json.loads((export / "tfvae.json").read_text())["dataset"] == "mnist"
    assert opened_run.model_config == opened_export.model_config
    assert opened_run.binarization() == opened_export.binarization() == "dynamic"
    assert opened_run.vocabulary() is None and opened_export.vocabulary() is None
    assert opened_run.model().get_config() == opened_export.model().get_config()
    with pytest.raises(ValueError, match="is an export: it keeps no training settings"):
        opened_export.settings()


def test_shipped_exports_open_and_an_old_one_says_it_records_no_dataset():
    image, sentences = open_artifact(SHIPPED_IMAGE), open_artifact(SHIPPED_TEXT)
    assert (image.family, image.dataset, image.dataset_recorded) == ("image", "mnist", False)
    assert (sentences.family, sentences.dataset, sentences.is_text) == ("text", "text", True)
    assert sentences.vocabulary().size == sentences.model_config["vocab_size"]


def test_evaluate_on_an_export_without_a_dataset_says_it_scores_mnist(run_and_export, tmp_path, capsys):
    _, export = run_and_export
    old = tmp_path / "old" / "1"
    shutil.copytree(export, old)
    description = json.loads((old / "tfvae.json").read_text())
    del description["dataset"]  # as tfvae 0.2 wrote it
    (old / "tfvae.json").write_text(json.dumps(description))
    out = tmp_path / "eval.json"
    assert (
        main(["evaluate", str(old), "-k", "2", "--limit", "20", "--data-dir", str(mnist_dir()), "--out", str(out)]) == 0
    )
    assert "records no dataset (exported by tfvae < 0.3): scoring MNIST" in capsys.readouterr().out
    assert json.loads(out.read_text())["num_examples"] == 20


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p / "missing", r"not a tfvae run directory or export \(no such directory\)"),
        (lambda p: p, r"not a tfvae run directory or export \(neither config.json nor saved_model.pb in it\)"),
        (lambda p: (p / "saved_model.pb").touch() or p, r"SavedModel without tfvae.json"),
    ],
    ids=["missing", "empty directory", "foreign SavedModel"],
)
def test_what_is_not_a_run_or_an_export_is_one_clear_error(tmp_path, make, message, capsys):
    with pytest.raises(FileNotFoundError, match=message):
        open_artifact(make(tmp_path))
    assert main(["sample", str(make(tmp_path))]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("tfvae: error: "), error
