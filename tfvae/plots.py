"""Pictures of a trained VAE, drawn with matplotlib's headless Agg backend.

Each function takes a model (and data), writes a PNG to ``path`` and returns
the (closed) matplotlib ``Figure``, which tests and notebooks can inspect.
"""

import csv
import re
from statistics import NormalDist

import matplotlib

matplotlib.use("Agg")  # headless: no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tfvae.backend import tf  # noqa: E402

DPI = 100


def image_grid(images, columns):
    """Tiles ``[N, H, W, C]`` images into one ``[rows*H, columns*W]`` (or RGB) array."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    rows = -(-n // columns)
    grid = np.ones((rows * h, columns * w, c), images.dtype)
    for i, image in enumerate(images):
        r, col = divmod(i, columns)
        grid[r * h : (r + 1) * h, col * w : (col + 1) * w] = image
    return grid[..., 0] if c == 1 else grid


def _save(fig, path):
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return fig


def _save_grid(grid, path, title, inches):
    fig, ax = plt.subplots(figsize=inches, dpi=DPI)
    ax.imshow(np.clip(grid, 0, 1), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title)
    return _save(fig, path)


def plot_samples(model, path, n=64, seed=0, condition=None):
    """A grid of ``n`` image means drawn from the prior (given ``condition`` for a conditional model)."""
    images = model.sample(n, seed=seed, condition=condition).numpy()
    columns = int(np.ceil(np.sqrt(n)))
    return _save_grid(image_grid(images, columns), path, f"{n} samples from the prior", (6, 6))


def plot_reconstructions(model, images, path, n=16, conditions=None):
    """Inputs (top row) above their reconstructions E[x | z = posterior mean] (bottom row)."""
    x = np.asarray(images[:n], np.float32)
    recon = model.reconstruct(x, None if conditions is None else conditions[:n]).numpy()
    grid = image_grid(np.concatenate([x, recon]), len(x))
    return _save_grid(grid, path, "inputs (top) and reconstructions (bottom)", (max(4, len(x) * 0.6), 2.2))


def plot_latent_space(model, images, labels, path, conditions=None):
    """Posterior means coloured by label: the 2-D latent directly, else its first two principal components."""
    means = model.encode(np.asarray(images, np.float32), conditions).mean().numpy()
    if means.shape[1] > 2:
        centred = means - means.mean(0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        points, axes = centred @ vt[:2].T, ("PC 1", "PC 2")
    else:
        points = means if means.shape[1] == 2 else np.c_[means, np.zeros(len(means))]
        axes = ("z1", "z2")
    labels = np.asarray(labels)
    fig, ax = plt.subplots(figsize=(6, 5), dpi=DPI)
    scatter = ax.scatter(
        points[:, 0], points[:, 1], c=labels, cmap="tab10", s=4, vmin=labels.min(), vmax=labels.min() + 9
    )
    ax.legend(*scatter.legend_elements(), title="label", loc="best", fontsize="small")
    ax.set_xlabel(axes[0])
    ax.set_ylabel(axes[1])
    ax.set_title("posterior means")
    return _save(fig, path)


def plot_manifold(model, path, n=15):
    """For a 2-D latent: decoded images on an ``n x n`` grid of prior quantiles."""
    if model.latent_dim != 2:
        raise ValueError(f"the manifold plot needs a 2-D latent space, the model has {model.latent_dim}")
    quantiles = np.array([NormalDist().inv_cdf(p) for p in np.linspace(0.05, 0.95, n)])
    z = np.array([[a, b] for b in quantiles[::-1] for a in quantiles], np.float32)
    images = model.decode(z).mean().numpy()
    return _save_grid(image_grid(images, n), path, "decoded prior quantiles", (7, 7))


def plot_traversal(model, path, image=None, steps=9, limit=3.0):
    """One row per latent dimension: that dimension swept over [-limit, limit], the others fixed.

    The fixed point is the posterior mean of ``image``, or 0 without one.
    """
    d = model.latent_dim
    base = np.zeros(d, np.float32) if image is None else model.encode(np.asarray(image, np.float32)[None]).mean()[0]
    values = np.linspace(-limit, limit, steps, dtype=np.float32)
    z = np.repeat(np.asarray(base)[None, None], d, 0).repeat(steps, 1)  # [d, steps, d]
    for j in range(d):
        z[j, :, j] = values
    images = model.decode(z.reshape(-1, d)).mean().numpy()
    return _save_grid(
        image_grid(images, steps),
        path,
        f"latent traversals, z_j in [-{limit}, {limit}]",
        (steps * 0.6, max(2, d * 0.6)),
    )


def plot_interpolation(model, image_a, image_b, path, steps=10):
    """Decoded images along the straight line between two posterior means."""
    means = model.encode(np.stack([image_a, image_b]).astype(np.float32)).mean()
    t = tf.linspace(0.0, 1.0, steps)[:, None]
    images = model.decode((1 - t) * means[0] + t * means[1]).mean().numpy()
    return _save_grid(image_grid(images, steps), path, "interpolation between two inputs", (steps * 0.7, 1.8))


def read_history(path):
    """Reads a Keras ``CSVLogger`` file into ``{column: [floats]}``; NaN where a row has no value (a column that
    a resumed run's newer tfvae added, e.g. ``epoch_seconds``)."""
    with open(path) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{path}: no epochs recorded")
    return {key: [float(row[key] or "nan") for row in rows] for key in rows[0]}


def plot_curves(history, path):
    """Training curves: loss, reconstruction and KL per epoch, train and validation.

    ``history`` is a ``{name: [values]}`` dict (``History.history`` or
    ``read_history``). A hierarchical run adds a panel of each layer's
    validation KL (``val_kl_1`` ...) and one of each layer's active units
    (``active_units_1`` ...), where a collapsing layer shows.
    """
    names = [n for n in ("loss", "reconstruction", "kl") if n in history]
    layers = sorted((n for n in history if re.fullmatch(r"kl_\d+", n)), key=lambda n: int(n[3:]))
    panels = names + (["kl per layer"] if layers else []) + (["active units"] if "active_units" in history else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.5), dpi=DPI)
    for ax, name in zip(np.atleast_1d(axes), panels):
        if name == "kl per layer":
            split = "validation" if f"val_{layers[0]}" in history else "training"
            for layer in layers:
                values = history.get(f"val_{layer}", history[layer])
                ax.plot(np.arange(1, len(values) + 1), values, label=f"layer {layer[3:]}")
            ax.set_yscale("symlog", linthresh=0.1)
            ax.set_title(f"KL per layer (nats, {split})")
        elif name == "active units":
            units = sorted((n for n in history if re.fullmatch(r"active_units_\d+", n)), key=lambda n: int(n[13:]))
            for unit in units or ["active_units"]:
                values = history[unit]
                ax.plot(
                    np.arange(1, len(values) + 1),
                    values,
                    label=f"layer {unit[13:]}" if unit != "active_units" else "all",
                )
            ax.set_title("active units")
        else:
            epochs = np.arange(1, len(history[name]) + 1)
            ax.plot(epochs, history[name], label="train")
            if f"val_{name}" in history:
                ax.plot(epochs, history[f"val_{name}"], label="validation")
            ax.set_title(name + " (nats)")
        ax.set_xlabel("epoch")
        ax.legend()
    fig.tight_layout()
    return _save(fig, path)


def plot_collapse(histories, path):
    """Posterior collapse, recipe by recipe: validation KL, I(x; z) and -ELBO per epoch.

    ``histories`` maps a recipe's name to its ``read_history`` dict (a
    sentence VAE's ``history.csv``: ``val_kl``, ``mi`` from
    ``SentenceDiagnostics``, ``val_negative_elbo``). A collapsed posterior
    shows as KL and MI near 0; a run without ``mi`` (a language model) is
    drawn in the -ELBO panel only. A history's optional ``first_epoch``
    (a run warm-started from another's weights: the epochs before it)
    shifts its curve to the right.
    """
    panels = [
        ("val_kl", "KL(q(z|x) || p(z)), validation (nats)"),
        ("mi", "I(x; z) under q, validation (nats)"),
        ("val_negative_elbo", "-ELBO, validation (nats per sentence)"),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.8), dpi=DPI)
    colors = {name: f"C{i}" for i, name in enumerate(histories)}  # one colour per recipe in every panel
    for ax, (key, title) in zip(axes, panels):
        for name, history in histories.items():
            if key in history and (key != "val_kl" or any(history[key])):
                start = history.get("first_epoch", 0)
                ax.plot(
                    np.arange(start + 1, start + len(history[key]) + 1),
                    history[key],
                    marker="o",
                    markersize=3,
                    color=colors[name],
                    label=name,
                )
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
    # Below the panels, from the -ELBO panel, which has every recipe: inside one it hid the curves.
    handles, labels = axes[-1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06 * ((len(labels) + 1) // 2), 1, 1))
    return _save(fig, path)


def plot_refinement(results, path):
    """The mean ELBO at every step of per-example refinement, between the encoder's ELBO and log p(x).

    ``results`` is ``tfvae.inference.inference_gaps`` output: the gap from
    the curve's end to log p(x) is the approximation gap, from the encoder's
    line to the curve's end the amortization gap.
    """
    fig, ax = plt.subplots(figsize=(6, 4), dpi=DPI)
    ax.plot(np.arange(1, len(results["curve"]) + 1), results["curve"], label="ELBO of q_psi (training estimate)")
    ax.axhline(results["elbo_amortized"], color="gray", linestyle="--", label="ELBO of the encoder's q")
    ax.axhline(results["elbo_optimized"], color="tab:blue", linestyle=":", label="ELBO of q* (final estimate)")
    ax.axhline(results["log_px"], color="black", label="log p(x) (importance weighted)")
    low = min(results["elbo_amortized"], results["curve"][-1] if results["curve"] else results["elbo_optimized"])
    span = results["log_px"] - low
    ax.set_ylim(low - 0.5 * span, results["log_px"] + 0.3 * span)
    ax.set_xlabel("refinement step")
    ax.set_ylabel("nats per example")
    ax.set_title(f"inference gaps, {results['num_examples']} examples")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)
