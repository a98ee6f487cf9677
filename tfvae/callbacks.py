"""Keras callbacks for VAEs."""

from tfvae.backend import keras, tf
from tfvae.plots import image_grid


class ImageLogger(keras.callbacks.Callback):
    """Logs a grid of prior samples and of reconstructions to TensorBoard.

    Every ``every`` epochs (and after the last), beside Keras's scalars, under
    ``log_dir/images``: ``samples`` (the same prior draws each time, so the
    grids show the decoder learning) and ``reconstructions`` (inputs above,
    reconstructions below).

    Args:
        log_dir: the TensorBoard directory (e.g. the ``TensorBoard`` callback's).
        images: a few float images ``[n, H, W, C]`` to reconstruct.
        num_samples: images in the samples grid.
        every: epochs between logs.
        seed: seed of the prior draws.
    """

    def __init__(self, log_dir, images, num_samples=64, every=1, seed=0):
        super().__init__()
        self.images = tf.convert_to_tensor(images, tf.float32)
        self.num_samples = num_samples
        self.every = max(1, int(every))
        self.seed = seed
        self.writer = tf.summary.create_file_writer(str(log_dir) + "/images")

    def on_epoch_end(self, epoch, logs=None):
        """Writes both grids on epochs ``every - 1``, ``2 * every - 1``, ..."""
        if (epoch + 1) % self.every:
            return
        samples = self.model.sample(self.num_samples, seed=self.seed).numpy()
        recon = self.model.reconstruct(self.images).numpy()
        columns = int(self.num_samples**0.5)
        pairs = image_grid(tf.concat([self.images, recon], 0).numpy(), len(self.images))
        with self.writer.as_default(step=epoch + 1):
            tf.summary.image("samples", _as_batch(image_grid(samples, columns)))
            tf.summary.image("reconstructions", _as_batch(pairs))
        self.writer.flush()


def _as_batch(grid):
    """``[H, W]`` or ``[H, W, C]`` -> ``[1, H, W, C]`` for ``tf.summary.image``."""
    grid = tf.convert_to_tensor(grid, tf.float32)
    return grid[None, ..., None] if grid.shape.rank == 2 else grid[None]
