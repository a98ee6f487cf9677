"""Every plot writes a non-empty PNG of the expected size; the latent scatter has one colour per label."""

import matplotlib.image
import numpy as np
import pytest

from conftest import blob_images
from tfvae import VAE, plots


@pytest.fixture(scope="module")
def model_and_data():
    images, labels = blob_images(40, seed=5)
    return VAE(latent_dim=2, hidden_units=(16,), seed=0), images / 255.0, labels


def _check_png(path, figure):
    pixels = matplotlib.image.imread(path)
    width, height = (figure.get_size_inches() * figure.dpi).round().astype(int)
    assert pixels.shape[:2] == (height, width)
    assert pixels[..., :3].std() > 0.01  # not blank


def test_grids(tmp_path, model_and_data):
    model, images, labels = model_and_data
    cases = {
        "samples": lambda p: plots.plot_samples(model, p, n=16),
        "reconstructions": lambda p: plots.plot_reconstructions(model, images, p, n=8),
        "manifold": lambda p: plots.plot_manifold(model, p, n=5),
        "traversal": lambda p: plots.plot_traversal(model, p, image=images[0], steps=5),
        "interpolation": lambda p: plots.plot_interpolation(model, images[0], images[1], p, steps=6),
    }
    for name, draw in cases.items():
        path = tmp_path / f"{name}.png"
        _check_png(path, draw(path))


def test_latent_scatter_one_colour_per_label(tmp_path, model_and_data):
    model, images, labels = model_and_data
    figure = plots.plot_latent_space(model, images, labels, tmp_path / "latent.png")
    _check_png(tmp_path / "latent.png", figure)
    colours = figure.axes[0].collections[0].get_facecolors()
    assert len(np.unique(colours.round(4), axis=0)) == len(np.unique(labels))
    # Points of one label share one colour.
    for label in np.unique(labels):
        assert len(np.unique(colours[labels == label].round(4), axis=0)) == 1


def test_latent_scatter_uses_pca_above_two_dimensions(tmp_path, model_and_data):
    _, images, labels = model_and_data
    figure = plots.plot_latent_space(VAE(latent_dim=5, hidden_units=(16,)), images, labels, tmp_path / "l.png")
    assert figure.axes[0].get_xlabel() == "PC 1"


def test_curves_from_history_csv(tmp_path):
    csv = tmp_path / "history.csv"
    csv.write_text(
        "epoch,kl,loss,reconstruction,val_kl,val_loss,val_reconstruction\n0,5,100,95,5,101,96\n1,6,90,84,6,92,86\n"
    )
    figure = plots.plot_curves(plots.read_history(csv), tmp_path / "curves.png")
    _check_png(tmp_path / "curves.png", figure)
    assert len(figure.axes) == 3 and len(figure.axes[0].lines) == 2


def test_manifold_needs_two_dimensions(tmp_path):
    with pytest.raises(ValueError, match="2-D"):
        plots.plot_manifold(VAE(latent_dim=3, hidden_units=(8,)), tmp_path / "m.png")


def test_conditional_model_plots(tmp_path, model_and_data):
    _, images, labels = model_and_data
    model = VAE(latent_dim=2, hidden_units=(16,), condition_dim=4, seed=0)
    conditions = np.eye(4, dtype=np.float32)[labels]
    _check_png(tmp_path / "s.png", plots.plot_samples(model, tmp_path / "s.png", n=9, condition=conditions[0]))
    _check_png(
        tmp_path / "r.png", plots.plot_reconstructions(model, images, tmp_path / "r.png", n=6, conditions=conditions)
    )
    _check_png(
        tmp_path / "l.png", plots.plot_latent_space(model, images, labels, tmp_path / "l.png", conditions=conditions)
    )


def test_collapse_plot_draws_each_recipe_where_it_has_the_column(tmp_path):
    vae = {"val_kl": [0.5, 0.01], "mi": [0.2, 0.0], "val_negative_elbo": [110.0, 105.0]}
    lm = {"val_kl": [0.0, 0.0], "val_negative_elbo": [109.0, 104.0]}
    tuned = {"val_kl": [0.4], "mi": [0.3], "val_negative_elbo": [104.5], "first_epoch": 2}  # warm-started from VAE
    figure = plots.plot_collapse({"VAE": vae, "language model": lm, "tuned": tuned}, tmp_path / "collapse.png")
    assert (tmp_path / "collapse.png").stat().st_size > 0
    kl, mi, elbo = figure.axes
    # The language model has no posterior: it appears in the -ELBO panel only.
    assert [len(ax.lines) for ax in (kl, mi, elbo)] == [2, 2, 3]
    assert list(elbo.lines[1].get_ydata()) == [109.0, 104.0]
    assert list(elbo.lines[0].get_xdata()) == [1, 2] and list(elbo.lines[2].get_xdata()) == [3]  # after its source
    assert kl.lines[0].get_color() == mi.lines[0].get_color() == elbo.lines[0].get_color()  # one colour a recipe
