"""Per-example (stochastic) variational inference beside the encoder, and the inference gaps.

A VAE's ELBO falls short of log p(x) for two reasons (Cremer, Li & Duvenaud
2018, "Inference Suboptimality in Variational Autoencoders"):

    log p(x) - ELBO[q_phi]  =  (log p(x) - ELBO[q*])  +  (ELBO[q*] - ELBO[q_phi])
                               approximation gap         amortization gap

q_phi(z|x) is the encoder's posterior (amortized inference); q* is the best
member of the same Gaussian family for this one x, found here by stochastic
variational inference: each example gets its own parameters psi_n (means and
scales, diagonal or full covariance), optimized with Adam on its ELBO while
the decoder and prior stay fixed,

    ELBO[q_psi] = E_{q_psi}[log p(x, z)] + H(q_psi),

reparameterized, with the entropy in closed form. All examples of a batch are
optimized at once in one compiled loop (the loss is the sum of their ELBOs, so
each example's Adam steps are its own). Starting from the encoder's q is the
semi-amortized refinement of Kim et al. (2018); starting from N(0, I) is plain
stochastic VI. For a hierarchical VAE, q_psi is a Gaussian per layer,
independent across layers (mean-field), started from ``encode_layers``: a
different family from the model's own conditional q, so there the
"amortization gap" also holds the difference between the two families
(``inference_gaps`` says so in its ``family`` entry).

log p(x) is estimated by importance sampling with the defensive mixture
(q_phi + q*) / 2 as proposal: still a stochastic lower bound, and good where
either proposal is (a poor encoder alone makes a loose estimate).
"""

import math
import time

import numpy as np

from tfvae import latents
from tfvae.backend import keras, tf, tfb, tfd, tfp
from tfvae.distributions import POSTERIOR_MIN_SCALE, FullCovarianceNormalPosterior
from tfvae.evaluation import IMAGE_SAMPLE_CHUNK, example_batches, log_mean_weight

STARTS = ("encoder", "prior")
COVARIANCES = ("diagonal", "full")
MIN_SCALE = POSTERIOR_MIN_SCALE  # the heads' floor, so q_psi's scales stay positive


class PerExamplePosteriors(tf.Module):
    """One Gaussian q_psi(z_l) per example and latent layer, with trainable parameters.

    Args:
        initial: for each layer, lowest first, a Gaussian with batch shape
            ``[B]`` to start from (the encoder's q, or N(0, I)).
        covariance: ``"diagonal"`` or ``"full"``.
    """

    def __init__(self, initial, covariance="diagonal"):
        super().__init__(name="per_example_posteriors")
        if covariance not in COVARIANCES:
            raise ValueError(f"covariance must be one of {COVARIANCES}, got {covariance!r}")
        self.covariance = covariance
        softplus = tfb.Softplus(low=MIN_SCALE)
        self.locs, self.raw_scales = [], []
        for q in initial:
            self.locs.append(tf.Variable(q.mean(), name="loc"))
            # The ladder's precision weighting can go below the floor, whose inverse would be NaN.
            stddev = tf.maximum(latents.marginals(q).stddev(), MIN_SCALE * 1.001)
            if covariance == "diagonal":
                self.raw_scales.append(tf.Variable(softplus.inverse(stddev), name="raw_scale"))
            else:
                is_full = isinstance(q, tfd.MultivariateNormalTriL)
                tril = q.scale.to_dense() if is_full else tf.linalg.diag(stddev)
                # The raw entries whose FillTriangular + floored softplus diagonal give ``tril``.
                eye = tf.eye(tril.shape[-1])
                raw = tril * (1.0 - eye) + tf.linalg.diag(softplus.inverse(tf.linalg.diag_part(tril)))
                self.raw_scales.append(tf.Variable(tfb.FillTriangular().inverse(raw), name="raw_tril"))

    def distributions(self):
        """The current q_psi of every layer, lowest first (batch shape ``[B]``)."""
        if self.covariance == "diagonal":
            return [
                tfd.MultivariateNormalDiag(loc, tfb.Softplus(low=MIN_SCALE).forward(raw))
                for loc, raw in zip(self.locs, self.raw_scales)
            ]
        return [
            tfd.MultivariateNormalTriL(loc, FullCovarianceNormalPosterior.scale_tril(raw, MIN_SCALE))
            for loc, raw in zip(self.locs, self.raw_scales)
        ]


def elbo_under(model, x, posteriors, num_samples, seed, condition=None):
    """ELBO[q] = E_q[log p(x|z_1) + log p(z_1, ..., z_L)] + H(q) per example ``[B]``.

    ``posteriors`` are independent Gaussians per layer (batch ``[B]``), e.g.
    ``PerExamplePosteriors.distributions()``; ``num_samples`` reparameterized
    samples estimate the expectation, the entropy is exact.
    """
    samples = _draw(posteriors, num_samples, seed)
    log_joint = model.likelihood_of(x, samples[0], condition).log_prob(x) + model.log_prior(samples)
    return tf.reduce_mean(log_joint, axis=0) + tf.add_n([q.entropy() for q in posteriors])


def _draw(posteriors, num_samples, seed):
    """``num_samples`` samples of each (independent) layer's q, one stateless seed per layer."""
    seeds = tfp.random.split_seed(tf.cast(seed, tf.int32), n=len(posteriors))
    return [q.sample(num_samples, seed=s) for q, s in zip(posteriors, seeds)]


def log_likelihood_with_mixture(model, x, posteriors, num_samples, seed, chunk_size=IMAGE_SAMPLE_CHUNK, condition=None):
    """log p(x) by importance sampling from the mixture (q_phi + q*) / 2: ``[B]``.

    Half the ``num_samples`` come from the model's own q_phi (``model.infer``),
    half from ``posteriors`` (q*, independent per layer); every sample is
    weighted by p(x, z) / ((q_phi(z) + q*(z)) / 2), an unbiased estimate of
    p(x) whose log is a stochastic lower bound on log p(x).
    """
    encoder_seed, optimized_seed = tfp.random.split_seed(tf.cast(seed, tf.int32), n=2)
    half = max(int(num_samples) // 2, 1)
    _, from_encoder, _ = model.infer(x, half, encoder_seed, condition)
    from_optimized = _draw(posteriors, half, optimized_seed)
    samples = [tf.concat(pair, axis=0) for pair in zip(from_encoder, from_optimized)]
    log_q_phi = latents.log_posterior_at(
        model.encoder_posterior(x, condition), model.latent_layers, model.inference, samples
    )
    log_q_star = tf.add_n([q.log_prob(z) for q, z in zip(posteriors, samples)])
    log_proposal = tf.reduce_logsumexp(tf.stack([log_q_phi, log_q_star]), axis=0) - tf.math.log(2.0)
    return log_mean_weight(model, x, samples, log_proposal, chunk_size, condition)


def fit_posteriors(
    model, x, steps=500, start="encoder", covariance=None, learning_rate=1e-2, num_samples=10, seed=0, condition=None
):
    """Per-example stochastic VI: the best Gaussian q_psi for each example of ``x``.

    Args:
        model: a trained tfvae model, ``tfvae.VAE`` or ``tfvae.SentenceVAE`` (left unchanged).
        x: a batch ``[B, ...]``, float in the likelihood's range.
        steps: Adam steps.
        start: ``"encoder"`` (semi-amortized refinement of the encoder's q)
            or ``"prior"`` (plain stochastic VI from N(0, I)).
        covariance: ``"diagonal"`` or ``"full"`` (one layer only); ``None``:
            the model's own posterior family.
        learning_rate: Adam's first step size; it decays to 1 % of it along a
            cosine over the ``steps``.
        num_samples: reparameterized samples per example per step.
        seed: an int or a stateless seed pair; step ``i`` folds ``i`` into it.
        condition: ``[B, condition_dim]`` for a conditional model.

    Returns:
        ``(posteriors, curve)``: the ``PerExamplePosteriors`` after the last
        step and the batch-mean ELBO at every step (NumPy ``[steps]``).
    """
    if start not in STARTS:
        raise ValueError(f"start must be one of {STARTS}, got {start!r}")
    if covariance is None:
        covariance = model.posterior_kind
    if covariance == "full" and model.latent_layers:
        raise ValueError("covariance='full' is for one-layer models; a hierarchy gets diagonal Gaussians per layer")
    if int(steps) < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    x, condition = model.checked_inputs(x, condition)
    if start == "encoder":
        initial = model.encode_layers(x, condition)
    else:
        batch = tf.shape(x)[0]
        initial = [tfd.MultivariateNormalDiag(tf.zeros([batch, d]), tf.ones([batch, d])) for d in model.latent_dims]
    posteriors = PerExamplePosteriors(initial, covariance)
    variables = posteriors.locs + posteriors.raw_scales
    # Cosine decay to 1 %: large steps first, then small ones that let the Monte Carlo noise average out.
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, max(int(steps), 1), alpha=0.01)
    optimizer = keras.optimizers.Adam(schedule)
    optimizer.build(variables)

    base_seed = tf.constant([seed, 0] if isinstance(seed, int) else seed, tf.int32)

    # A new function per call (it closes over this batch's variables): one trace per batch.
    @tf.function
    def run(steps):
        curve = tf.TensorArray(tf.float32, size=steps)
        for step in tf.range(steps):
            with tf.GradientTape() as tape:
                step_seed = tf.random.experimental.stateless_fold_in(base_seed, step)
                elbo = elbo_under(model, x, posteriors.distributions(), num_samples, step_seed, condition)
                loss = -tf.reduce_sum(elbo)  # a sum: every example's steps are its own
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
            curve = curve.write(step, tf.reduce_mean(elbo))
        return curve.stack()

    curve = run(tf.constant(int(steps))).numpy() if steps else np.zeros([0], np.float32)
    return posteriors, curve


def inference_gaps(
    model,
    images,
    conditions=None,
    steps: int = 500,
    learning_rate: float = 1e-2,
    num_samples: int = 5000,
    elbo_samples: int = 1000,
    train_samples: int = 10,
    batch_size: int = 100,
    seed: int = 0,
    verbose: int = 1,
    chunk_size: int = IMAGE_SAMPLE_CHUNK,
) -> dict:
    """The approximation and amortization gaps of ``model`` on ``images``, in nats per example.

    Per example: log p(x) by importance weighting (``num_samples`` from the
    mixture of the encoder's q and q*, see ``log_likelihood_with_mixture``),
    the ELBO under the
    model's own q (``elbo_samples`` samples), and the ELBO under q* from
    ``fit_posteriors`` started at the encoder (``steps`` Adam steps).

    ``images`` is an array ``[N, ...]`` for an image VAE, or a
    ``tf.RaggedTensor`` of token ids ``[N, (tokens)]`` for a sentence VAE
    (batched by length; the per-example arrays keep the input order).
    ``chunk_size`` samples are decoded at once in the log p(x) estimate
    (memory: a sentence decoder holds ``chunk * batch * length * vocabulary``
    logits).

    Returns:
        A dict with the means and standard errors over examples of
        ``log_px``, ``elbo_amortized``, ``elbo_optimized``,
        ``approximation_gap`` (log p(x) - ELBO[q*]) and
        ``amortization_gap`` (ELBO[q*] - ELBO[q]); ``curve``, the mean ELBO
        at every refinement step; per-example arrays under ``per_example``;
        and the settings.
    """
    ragged = isinstance(images, tf.RaggedTensor)
    count = int(images.nrows()) if ragged else len(images)
    if count == 0:
        raise ValueError("no examples to evaluate")
    if not ragged:
        model.check_inputs(np.asarray(images), None if conditions is None else np.asarray(conditions))
        images = np.asarray(images, np.float32)
    parts = {"log_px": [], "elbo_amortized": [], "elbo_optimized": []}
    order, curves = [], []
    num_batches = math.ceil(count / batch_size)
    progress = keras.utils.Progbar(num_batches, verbose=verbose, unit_name="batch")
    start = time.perf_counter()
    for i, (rows, x, condition) in enumerate(example_batches(images, batch_size, conditions)):
        batch, curve = _batch_gaps(
            model, x, condition, (seed, i), steps, learning_rate, num_samples, elbo_samples, train_samples, chunk_size
        )
        for key, value in batch.items():
            parts[key].append(value)
        order.append(rows)
        curves.append(curve * len(rows))
        progress.update(i + 1)
    seconds = time.perf_counter() - start
    inverse = np.argsort(np.concatenate(order))  # back to the input order
    values = {k: np.concatenate(v).astype(np.float64)[inverse] for k, v in parts.items()}
    values["approximation_gap"] = values["log_px"] - values["elbo_optimized"]
    values["amortization_gap"] = values["elbo_optimized"] - values["elbo_amortized"]
    results = {}
    for key, value in values.items():
        results[key] = float(value.mean())
        results[key + "_stderr"] = float(value.std(ddof=1) / math.sqrt(len(value))) if len(value) > 1 else 0.0
    results.update(
        {
            "curve": (np.sum(curves, axis=0) / count).tolist() if steps else [],
            "per_example": {k: v.tolist() for k, v in values.items()},
            "steps": int(steps),
            "learning_rate": float(learning_rate),
            "num_samples": int(num_samples),
            "elbo_samples": int(elbo_samples),
            "train_samples": int(train_samples),
            "num_examples": count,
            "seed": int(seed),
            "seconds": seconds,
            "family": (
                f"{model.posterior_kind} Gaussian"
                if not model.latent_layers
                else "diagonal Gaussian per layer, independent across layers (mean-field): the model's own q "
                "conditions layers on each other, so the amortization gap also holds the family difference"
            ),
        }
    )
    return results


def _batch_gaps(model, x, condition, seed, steps, learning_rate, num_samples, elbo_samples, train_samples, chunk_size):
    """One batch of ``inference_gaps``: per-example ``elbo_amortized``, ``elbo_optimized`` and ``log_px``, and
    the refinement curve of q*. ``seed`` is the pair ``(seed, batch index)``."""
    # Independent streams for the four random parts of this batch.
    fit_seed, amortized_seed, optimized_seed, likelihood_seed = (
        s.numpy() for s in tfp.random.split_seed(tf.constant(seed, tf.int32), n=4)
    )
    amortized = model.elbo(x, seed=amortized_seed, num_samples=elbo_samples, condition=condition).numpy()
    posteriors, curve = fit_posteriors(
        model, x, steps, "encoder", None, learning_rate, train_samples, fit_seed, condition
    )
    q_star = posteriors.distributions()
    optimized = elbo_under(model, x, q_star, elbo_samples, optimized_seed, condition).numpy()
    log_px = log_likelihood_with_mixture(
        model, x, q_star, num_samples, likelihood_seed, chunk_size=chunk_size, condition=condition
    ).numpy()
    return {"log_px": log_px, "elbo_amortized": amortized, "elbo_optimized": optimized}, curve


def format_gaps(results: dict) -> str:
    """A short table of ``inference_gaps`` results."""
    rows = [
        (f"log p(x) (IWAE, K={results['num_samples']})", "log_px"),
        ("ELBO, encoder's q", "elbo_amortized"),
        (f"ELBO, optimized q* ({results['steps']} steps)", "elbo_optimized"),
        ("approximation gap  log p(x) - ELBO[q*]", "approximation_gap"),
        ("amortization gap   ELBO[q*] - ELBO[q]", "amortization_gap"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {results[key]:8.2f} ± {results[key + '_stderr']:.2f} nats" for name, key in rows]
    lines += [f"{'examples':<{width}}  {results['num_examples']}", f"{'q* family':<{width}}  {results['family']}"]
    if "seconds" in results:
        lines.append(f"{'seconds':<{width}}  {results['seconds']:.0f}")
    return "\n".join(lines)
