"""A Keras 3 user's workflow with tfvae, end to end (issue 37, item 1); run by test_keras3_workflow.py.

    python keras3_workflow.py WORKDIR

Plain Keras 3 code: ``import keras``, never ``tf_keras``. Each step prints ``ok <step>`` and asserts what it
claims; the script exits non-zero at the first step that fails. Small generated data, so it takes about a
minute on a 2-core CPU.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_probability as tfp  # noqa: E402

# Two logical CPUs for MirroredStrategy, before TensorFlow starts its runtime.
_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import tfvae  # noqa: E402

work = sys.argv[1]
os.makedirs(work, exist_ok=True)
assert tfvae.backend.keras is keras, f"tfvae runs on {tfvae.backend.KERAS_PACKAGE}, not Keras 3"
# TFP's distributions import tf_keras themselves (tfp.internal.tf_keras); the user's code never does.

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
# Binary 28x28 images: a bright square at one of four places, plus noise, so that there is something to learn.
images = np.zeros([512, 28, 28, 1], np.float32)
for i, (r, c) in enumerate(rng.integers(0, 2, size=(512, 2)) * 14):
    images[i, r : r + 14, c : c + 14] = 1.0
images = np.where(rng.random(images.shape) < 0.05, 1.0 - images, images).astype(np.float32)
train = tf.data.Dataset.from_tensor_slices(images[:448]).shuffle(448, seed=0).batch(64)
valid = tf.data.Dataset.from_tensor_slices(images[448:]).batch(64)
x = images[448:]


def ok(step):
    print("ok", step, flush=True)


def mlp_networks(latent_dim):
    encoder = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(64, "relu"),
            keras.layers.Dense(2 * latent_dim),
        ]
    )
    decoder = keras.Sequential([keras.Input((latent_dim,)), keras.layers.Dense(64, "relu"), keras.layers.Dense(784)])
    return encoder, decoder


class LossRecorder(keras.callbacks.Callback):
    """The user's own callback."""

    def __init__(self):
        super().__init__()
        self.losses = []

    def on_epoch_end(self, epoch, logs=None):
        self.losses.append(logs["loss"])


# 1. A keras.Sequential encoder and decoder, a Keras 3 optimizer and Keras 3's callbacks.
encoder, decoder = mlp_networks(4)
model = tfvae.VAE(latent_dim=4, encoder=encoder, decoder=decoder, seed=1)
model.compile(optimizer=keras.optimizers.Adam(3e-3))
recorder = LossRecorder()
callbacks = [
    keras.callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True),
    keras.callbacks.ModelCheckpoint(os.path.join(work, "best.weights.h5"), save_weights_only=True, save_best_only=True),
    keras.callbacks.TensorBoard(os.path.join(work, "tensorboard")),
    keras.callbacks.BackupAndRestore(os.path.join(work, "backup")),
    recorder,
]
history = model.fit(train, validation_data=valid, epochs=4, callbacks=callbacks, verbose=0)
assert len(recorder.losses) == len(history.history["loss"]) >= 1, recorder.losses
assert recorder.losses[-1] < recorder.losses[0], f"the loss did not fall: {recorder.losses}"
assert os.path.exists(os.path.join(work, "best.weights.h5"))
assert any(name.startswith("train") for name in os.listdir(os.path.join(work, "tensorboard")))
ok("Sequential networks, Adam, EarlyStopping, ModelCheckpoint, TensorBoard, BackupAndRestore, own callback")

# 2. The heads return TFP distributions, the KL enters through add_loss, and Keras's loss is the negative ELBO.
q = model.encode(x)
assert isinstance(q, tfp.distributions.Distribution), type(q)
model(x)
assert len(model.losses) >= 1, "no add_loss term"
loss = model.evaluate(x, batch_size=64, verbose=0, return_dict=True)["loss"]
negative_elbo = -float(np.mean(model.elbo(x, seed=3, num_samples=200)))
assert abs(loss - negative_elbo) < 1.0, (loss, negative_elbo)
ok(f"encode is a {type(q).__name__}; evaluate's loss {loss:.2f} = -ELBO {negative_elbo:.2f} (200 samples)")

# 3. Keras 3 saving: .keras and .weights.h5 give identical outputs.
mean = model.encode(x).mean().numpy()
model.save(os.path.join(work, "m.keras"))
loaded = keras.saving.load_model(os.path.join(work, "m.keras"))
np.testing.assert_array_equal(loaded.encode(x).mean().numpy(), mean)
np.testing.assert_array_equal(loaded.decode(mean).mean().numpy(), model.decode(mean).mean().numpy())
assert isinstance(loaded.optimizer, keras.optimizers.Adam), "the loaded model is not compiled"
loaded.fit(train, epochs=1, verbose=0)  # goes on training with the saved optimizer state
model.save_weights(os.path.join(work, "w.weights.h5"))
twin = tfvae.VAE.from_config(model.get_config())
twin(x[:1])
twin.load_weights(os.path.join(work, "w.weights.h5"))
np.testing.assert_array_equal(twin.encode(x).mean().numpy(), mean)
ok("model.save('m.keras') / keras.saving.load_model and save_weights / load_weights: identical outputs")

# 4. A conv stack of one's own.
conv_encoder = keras.Sequential(
    [
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu"),
        keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(2 * 4),
    ]
)
conv_decoder = keras.Sequential(
    [
        keras.Input((4,)),
        keras.layers.Dense(7 * 7 * 16, activation="relu"),
        keras.layers.Reshape((7, 7, 16)),
        keras.layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu"),
        keras.layers.Conv2DTranspose(1, 3, strides=2, padding="same"),
        keras.layers.Flatten(),  # the likelihood head takes its parameters flat
    ]
)
conv = tfvae.VAE(latent_dim=4, encoder=conv_encoder, decoder=conv_decoder, seed=2)
conv.compile(optimizer=keras.optimizers.RMSprop(1e-3))
conv_loss = conv.fit(train, epochs=1, verbose=0).history["loss"][-1]
assert np.isfinite(conv_loss), conv_loss
ok(f"a Keras 3 conv stack as encoder and decoder: loss {conv_loss:.1f}")

# 5. The hierarchical VAE.
hierarchical = tfvae.VAE(latent_dims=(8, 4), hidden_units=(64,), latent_hidden_units=(32,), inference="ladder", seed=3)
hierarchical.compile(optimizer=keras.optimizers.Adam(1e-3))
logs = hierarchical.fit(train, epochs=1, verbose=0).history
assert np.isfinite(logs["loss"][-1]) and "kl_2" in logs, logs
assert len(hierarchical.encode_layers(x[:2])) == 2
ok(f"the hierarchical VAE: loss {logs['loss'][-1]:.1f}, KL per layer logged")

# 6. The tfvae model as a part of a bigger Keras 3 model: a classifier on the posterior mean, trained end to end.
labels = (images.reshape(512, -1)[:, :392].mean(axis=1) > images.reshape(512, -1)[:, 392:].mean(axis=1)).astype("int32")


class Classifier(keras.Model):
    def __init__(self, vae):
        super().__init__()
        self.vae = vae
        self.head = keras.layers.Dense(2)

    def call(self, inputs):
        return self.head(self.vae.encode(inputs).mean())


classifier = Classifier(model)
classifier.compile(
    optimizer=keras.optimizers.Adam(1e-2), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
)
before = [w.numpy().copy() for w in encoder.weights]
classifier.fit(images, labels, batch_size=64, epochs=1, verbose=0)
assert any(not np.array_equal(b, w.numpy()) for b, w in zip(before, encoder.weights)), "the encoder was not trained"
ok("a tfvae model inside a Keras 3 keras.Model, trained through its encoder")

# 7. keras.mixed_precision: float16 and bfloat16.
for policy in ("mixed_float16", "mixed_bfloat16"):
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        mixed = tfvae.VAE(latent_dim=4, hidden_units=(64,), seed=4)
        mixed.compile(optimizer=keras.optimizers.Adam(1e-3))
        mixed_loss = mixed.fit(train, epochs=1, verbose=0).history["loss"][-1]
        compute = {layer.compute_dtype for layer in mixed.encoder.layers if layer.weights}
        q = mixed.encode(x[:4])
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert compute == {policy.removeprefix("mixed_")}, compute
    assert np.isfinite(mixed_loss) and q.dtype == tf.float32, (mixed_loss, q.dtype)
    ok(f"{policy}: the encoder computes in {compute.pop()}, loss {mixed_loss:.1f}, q(z|x) in {q.dtype.name}")

# 8. tf.distribute: MirroredStrategy over two logical CPUs.
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    mirrored = tfvae.VAE(latent_dim=4, hidden_units=(64,), seed=5)
    mirrored.compile(optimizer=keras.optimizers.Adam(1e-3))
mirrored_loss = mirrored.fit(train, epochs=1, verbose=0).history["loss"][-1]
assert strategy.num_replicas_in_sync == 2 and np.isfinite(mirrored_loss), mirrored_loss
ok(f"MirroredStrategy with 2 replicas: loss {mirrored_loss:.1f}")

# 9. The sentence VAE.
vocab_size = 30
tokens = rng.integers(4, vocab_size, size=(256, 12)).astype("int32")
tokens[:, 0] = tfvae.text.BOS
tokens[:, -4] = tfvae.text.EOS
tokens[:, -3:] = tfvae.text.PAD
sentences = tfvae.SentenceVAE(vocab_size, latent_dim=4, embedding_dim=16, units=16, word_dropout=0.25, seed=6)
sentences.compile(optimizer=keras.optimizers.Adam(3e-3))
sentence_logs = sentences.fit(tokens, batch_size=64, epochs=2, verbose=0, callbacks=[LossRecorder()]).history
assert np.isfinite(sentence_logs["loss"][-1]), sentence_logs
assert isinstance(sentences.encode(tokens[:4]), tfp.distributions.Distribution)
sentences.save(os.path.join(work, "s.keras"))
reloaded = keras.saving.load_model(os.path.join(work, "s.keras"))
np.testing.assert_array_equal(reloaded.encode(tokens[:8]).mean().numpy(), sentences.encode(tokens[:8]).mean().numpy())
ok(f"the sentence VAE: loss {sentence_logs['loss'][-1]:.1f}, .keras round trip identical")
print("all steps passed")
