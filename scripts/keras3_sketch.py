"""Issue-37 sketch: a Keras 3 VAE whose encoder returns a TFP distribution; KL via add_loss. No tfvae or tf_keras."""

import sys
import tempfile

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions
if len(sys.argv) > 1:
    keras.mixed_precision.set_global_policy(sys.argv[1])  # e.g. mixed_bfloat16


@keras.saving.register_keras_serializable("sketch")
class Posterior(keras.layers.Layer):  # a Keras 3 layer that returns a distribution
    def __init__(self, latent, **kw):
        super().__init__(**kw)
        self.latent = latent
        self.dense = keras.layers.Dense(2 * latent)

    def call(self, h):
        loc, raw = tf.split(tf.cast(self.dense(h), tf.float32), 2, -1)  # distributions in float32
        return tfd.MultivariateNormalDiag(loc, tf.nn.softplus(raw) + 1e-4)

    def get_config(self):
        return {**super().get_config(), "latent": self.latent}


@keras.saving.register_keras_serializable("sketch")
class VAE(keras.Model):
    def __init__(self, latent=16, **kw):
        super().__init__(**kw)
        self.latent = latent
        self.enc = keras.Sequential(
            [keras.layers.Flatten(), keras.layers.Dense(512, "relu"), keras.layers.Dense(256, "relu")]
        )
        self.post = Posterior(latent)
        self.dec = keras.Sequential(
            [keras.layers.Dense(256, "relu"), keras.layers.Dense(512, "relu"), keras.layers.Dense(784)]
        )

    def call(self, x):
        q = self.post(self.enc(x))
        z = q.sample()
        kl = q.kl_divergence(tfd.MultivariateNormalDiag(tf.zeros(self.latent), tf.ones(self.latent)))
        px = tfd.Independent(tfd.Bernoulli(logits=tf.cast(self.dec(z), tf.float32)), 1)
        self.add_loss(tf.reduce_mean(kl - px.log_prob(tf.reshape(tf.cast(x, tf.float32), [-1, 784]))))  # -ELBO
        return q.mean()  # a tensor, so predict/save work

    def get_config(self):
        return {**super().get_config(), "latent": self.latent}


if __name__ == "__main__":
    x = (np.random.default_rng(0).random((2048, 28, 28, 1)) < 0.3).astype("float32")
    m = VAE()
    m.compile(optimizer=keras.optimizers.Adam(1e-3))
    h = m.fit(
        x,
        batch_size=128,
        epochs=3,
        validation_split=0.1,
        verbose=0,
        callbacks=[keras.callbacks.EarlyStopping("val_loss", patience=1)],
    )
    print("policy", keras.mixed_precision.global_policy().name, "loss", [round(v, 2) for v in h.history["loss"]])
    d = tempfile.mkdtemp()
    m.save(d + "/m.keras")
    r = keras.saving.load_model(d + "/m.keras")
    print(".keras reload identical:", np.array_equal(r.predict(x[:64], verbose=0), m.predict(x[:64], verbose=0)))
    try:
        tf.saved_model.save(m, d + "/sm")
        print("tf.saved_model.save: ok")
    except Exception as e:
        print("tf.saved_model.save:", type(e).__name__, str(e)[:200])
    try:
        m.export(d + "/exp", verbose=False)
        print("model.export:", tf.saved_model.load(d + "/exp").serve(x[:2]).shape)
    except Exception as e:
        print("model.export:", type(e).__name__, str(e)[:200])
