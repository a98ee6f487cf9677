"""Trains the same small VAE under a tf.distribute strategy; used by test_training.py in subprocesses.

    python distributed_run.py MODE OUT_NPZ [WORKER_INDEX]

MODE is ``single``, ``mirrored`` (2 logical CPUs) or ``multiworker`` (reads TF_CONFIG).
Writes the evaluation metrics before and after 2 epochs and the final weights.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

mode, out = sys.argv[1], sys.argv[2]
if mode == "mirrored":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from conftest import blob_images  # noqa: E402
from tfvae.backend import keras  # noqa: E402
from tfvae.data import make_pipeline  # noqa: E402
from tfvae.model import VAE  # noqa: E402
from tfvae.training import get_strategy  # noqa: E402

strategy = get_strategy({"single": "default", "mirrored": "mirrored", "multiworker": "multiworker"}[mode])
keras.utils.set_random_seed(0)
images, _ = blob_images(512, seed=3)
x = (np.random.default_rng(1).random(images.shape) < images / 255.0).astype(np.float32)
with strategy.scope():
    model = VAE(latent_dim=2, hidden_units=(32,), seed=4)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
weights = np.load(os.path.join(os.path.dirname(out), "initial_weights.npz"))
for i, variable in enumerate(model.portable_variables):  # written by the test process, perhaps under the other Keras
    variable.assign(weights[f"w{i}"])
assert len(weights.files) == len(model.portable_variables)
# The global batch is 64 whatever the number of replicas.
evaluation = make_pipeline(x, batch_size=64, binarize="none", shuffle=False)
before = model.evaluate(evaluation, verbose=0, return_dict=True)
model.fit(make_pipeline(x, batch_size=64, binarize="none", shuffle=True, seed=0), epochs=2, verbose=0)
after = model.evaluate(evaluation, verbose=0, return_dict=True)
np.savez(
    out,
    replicas=strategy.num_replicas_in_sync,
    **{f"before_{k}": v for k, v in before.items()},
    **{f"after_{k}": v for k, v in after.items()},
    **{f"weight{i}": v.numpy() for i, v in enumerate(model.portable_variables)},
)
