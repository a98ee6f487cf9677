"""Issue-37 study: in-fit examples/s of tfvae.VAE (README MLP 784-512-256-16, batch 128) under the backend
TFVAE_KERAS selects. One process = 1 warm-up epoch + 3 timed epochs of 12,800 random binary 28x28 images;
prints the median epoch rate. Usage: TFVAE_KERAS=3 python k3_speed.py [plain|tuned]"""

import statistics
import sys
import time

import numpy as np

from tfvae import VAE
from tfvae.backend import KERAS_VERSION, keras


class Timer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


mode = sys.argv[1] if len(sys.argv) > 1 else "plain"
x = (np.random.default_rng(0).random((12800, 28, 28, 1)) < 0.3).astype("float32")
keras.utils.set_random_seed(0)
model = VAE(latent_dim=16, hidden_units=(512, 256), seed=0)
options = {"jit_compile": True, "steps_per_execution": 20} if mode == "tuned" else {"jit_compile": False}
model.compile(optimizer=keras.optimizers.Adam(1e-3), **options)
timer = Timer()
h = model.fit(x, batch_size=128, epochs=4, shuffle=False, verbose=0, callbacks=[timer])
rate = len(x) / statistics.median(timer.seconds[1:])
print(
    f"RESULT keras{KERAS_VERSION} {mode} {rate:.0f} ex/s  epochs_s={[round(s, 2) for s in timer.seconds]} "
    f"loss={h.history['loss'][-1]:.1f}"
)
