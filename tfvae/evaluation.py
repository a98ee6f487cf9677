"""Honest evaluation: the importance-weighted estimate of log p(x) and diagnostics.

With K samples z_k ~ q(z|x) and weights w_k = p(x, z_k) / q(z_k|x),

    log p(x) >= L_K = E[log (1/K) sum_k w_k] >= L_1 = ELBO,

and L_K rises to log p(x) as K grows (Burda et al. 2015). Papers report L_K
with K = 5000 as "the" test log-likelihood; tfvae reports it as ``nll``
(its negative) in nats per example.

Memory: the K latents of a batch are drawn at once (``[K, B, d]``, small);
the decoder then runs over chunks of ``chunk_size`` of them and a running
log-sum-exp combines the chunks, so the decoder's memory does not grow with
K and the result does not depend on the chunking. (A hierarchical model's
small networks between latent layers do run over all K at once: about
K * B * width * 4 bytes, 0.5 GB for K = 5000, B = 100, width 256.)
"""

import datetime
import json
import math
import time
from pathlib import Path

import numpy as np

from tfvae import latents
from tfvae.backend import keras, tf, tfp

ACTIVE_UNIT_THRESHOLD = 0.01  # Burda et al. 2015: a unit is active when Var_x(E_q[z_u | x]) > 0.01
# Importance samples per pass: bounds memory (an image pass holds [chunk, batch, 784] means; a
# sentence pass [chunk * batch, length, vocabulary] logits, 10 x 25 x 40 x 10,000 floats = 400 MB).
IMAGE_SAMPLE_CHUNK = 500
SENTENCE_SAMPLE_CHUNK = 10
MUTUAL_INFORMATION_CHUNK = 1000  # posteriors per pass of the aggregate-posterior density


def active_units(posterior_means, threshold=ACTIVE_UNIT_THRESHOLD):
    """How many units of ``posterior_means`` ``[N, d]`` (E_q[z|x] of N examples) vary over the data:
    ``sum_u [Var_x(E_q[z_u|x]) > threshold]`` (Burda et al. 2015's active units)."""
    return int(np.sum(np.var(np.asarray(posterior_means), axis=0) > threshold))


def log_joint(model, x, samples, condition=None):
    """log p(x, z_1, ..., z_L) = log p(x|z_1) + log p(z_1, ..., z_L), shape ``[K, B]``.

    ``samples`` are every layer's samples ``[K, B, d_l]``, lowest first.
    """
    return model.log_px_given_z(x, samples[0], condition) + model.log_prior(samples)


def joint_log_posterior(posteriors, samples):
    """log q(z_1, ..., z_L|x) ``[K, B]``: each layer's q (from ``model.infer``) at its samples, summed."""
    return tf.add_n([q.log_prob(z) for q, z in zip(posteriors, samples)])


def log_importance_weights(model, x, samples, log_posterior, condition=None):
    """log w = log p(x|z_1) + log p(z_1, ..., z_L) - log q(z_1, ..., z_L|x), shape ``[K, B]``.

    ``samples`` are every layer's samples (lowest first) and ``log_posterior``
    their log q, both from ``model.infer``.
    """
    return log_joint(model, x, samples, condition) - log_posterior


def importance_weighted_log_likelihood(model, x, num_samples, seed, chunk_size=None, condition=None):
    """The K-sample importance-weighted estimate of log p(x) for each example.

    Args:
        model: a tfvae model (``tfvae.VAE`` or ``tfvae.SentenceVAE``).
        x: a batch ``[B, ...]``.
        num_samples: K (a Python int or a scalar tensor).
        seed: a stateless seed (pair of ints) for the K samples.
        chunk_size: samples decoded at a time (default: all K at once).
        condition: ``[B, condition_dim]`` for a conditional model.

    Returns:
        ``[B]`` estimates of log p(x), in nats.
    """
    x, condition = model.checked_inputs(x, condition)
    # All K samples of every layer at once (small: [K, B, d_l]), and their log q over all layers jointly.
    posteriors, samples, _ = model.infer(x, num_samples, seed, condition)
    return log_mean_weight(model, x, samples, joint_log_posterior(posteriors, samples), chunk_size, condition)


def log_mean_weight(model, x, samples, log_posterior, chunk_size=None, condition=None):
    """log (1/K) sum_k w_k for samples ``[K, B, d_l]`` of every layer and their log q ``[K, B]``.

    The decoder runs over ``chunk_size`` samples at a time (default: all)
    and a running log-sum-exp combines the chunks. Any proposal works: the
    encoder's q (``importance_weighted_log_likelihood``) or per-example
    posteriors (``tfvae.inference``).
    """
    num_samples = tf.shape(log_posterior)[0]
    chunk = num_samples if chunk_size is None else tf.minimum(tf.constant(chunk_size, tf.int32), num_samples)
    num_chunks = (num_samples + chunk - 1) // chunk

    def body(i, total):
        rows = slice(i * chunk, (i + 1) * chunk)
        log_w = log_importance_weights(model, x, [z[rows] for z in samples], log_posterior[rows], condition)
        return i + 1, tfp.math.log_add_exp(total, tf.reduce_logsumexp(log_w, axis=0))

    start = tf.fill(tf.shape(x)[:1], tf.constant(-np.inf, tf.float32))
    # The batch size may be known (1) at entry and unknown after a step: any batch size is invariant.
    _, total = tf.while_loop(
        lambda i, _: i < num_chunks,
        body,
        (tf.constant(0), start),
        shape_invariants=(tf.TensorShape([]), tf.TensorShape([None])),
        parallel_iterations=1,  # one chunk's decoder at a time, as chunk_size promises (the default runs up to 10)
    )
    return total - tf.math.log(tf.cast(num_samples, tf.float32))


def example_statistics(model, x, condition, num_samples, seed, chunk_size=None):
    """Per-example numbers of one batch ``x``, as ``[B, ...]`` tensors: what ``evaluate`` averages and
    ``tfvae score`` (``tfvae.scoring``) writes one row per example.

    ``log_px`` is the K-sample importance-weighted estimate of log p(x); ``elbo`` and ``reconstruction``
    (-E_q log p(x|z), a loss) and ``kl`` come from one sample of q; all samples are drawn with the stateless
    ``seed`` (a pair of ints). Then the per-layer and per-dimension KL, and the posterior means.
    With ``seed`` (0, 0) and ``chunk_size`` 500 these are the numbers of an export's ``log_likelihood``
    signature (``tfvae.export``).
    """
    terms = model.elbo_terms(x, seed=seed, num_samples=1, condition=condition)
    statistics = {
        "log_px": importance_weighted_log_likelihood(model, x, num_samples, seed, chunk_size, condition),
        "elbo": terms["elbo"],
        "reconstruction": terms["reconstruction"],
        "kl": terms["kl"],
        "kl_layers": tf.stack(terms["kl_layers"], axis=-1),
        # Per dimension, for diagnostics: marginals of q against marginals of p (see latents.kl_per_dimension).
        "kl_per_dim": latents.kl_per_dimension(
            terms["posteriors"],
            terms["samples"],
            terms["conditionals"],
            model.prior(),
            model.inference,
            model.kl_estimate,
        ),
    }
    if model.latent_layers:  # each layer's mean along the path through the means
        statistics["posterior_mean"] = tf.concat([q.mean() for q in model.encode_layers(x, condition)], axis=-1)
    else:
        statistics["posterior_mean"] = terms["posterior"].mean()
    return statistics


def _per_layer(latent_dims, stats):
    """For a hierarchical model: the KL and active units of each layer, lowest first."""
    if len(latent_dims) == 1:
        return {}
    ends = np.cumsum(latent_dims)[:-1]
    means = np.split(stats["posterior_mean"], ends, axis=-1)
    return {
        "kl_layers": [float(kl) for kl in stats["kl_layers"].mean(0)],
        "active_units_layers": [active_units(m) for m in means],
        "latent_dims": [int(d) for d in latent_dims],
    }


def _nll(log_px):
    """NLL (nats per example) and its standard error over examples, from per-example log p(x) estimates."""
    log_px = np.asarray(log_px, np.float64)
    return {
        "nll": float(-log_px.mean()),
        "nll_stderr": float(log_px.std(ddof=1) / math.sqrt(len(log_px))) if len(log_px) > 1 else 0.0,
    }


def _likelihood_summary(log_px, data_shape):
    """NLL, its standard error over examples, and bits/dim from per-example log p(x) estimates."""
    nll = _nll(log_px)
    return {**nll, "bits_per_dim": nll["nll"] / (int(np.prod(data_shape)) * math.log(2.0))}


def example_batches(examples, batch_size, conditions=None):
    """``(rows, x, condition)`` batches of ``examples``, ``rows`` their indices in ``examples``.

    Slices of an array of images; or, for a ``tf.RaggedTensor`` of token ids,
    sentences of similar length together (0-padded), so that little of the
    work is padding. ``condition`` is ``conditions[rows]`` (float32), or None.
    """
    conditions = None if conditions is None else np.asarray(conditions, np.float32)
    ragged = isinstance(examples, tf.RaggedTensor)
    order = np.argsort(examples.row_lengths().numpy(), kind="stable") if ragged else np.arange(len(examples))
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        x = tf.gather(examples, rows).to_tensor(0) if ragged else tf.constant(examples[rows])
        yield rows, x, None if conditions is None else tf.constant(conditions[rows])


def _evaluation_loop(model, batches, num_batches, num_samples, chunk_size, seed, verbose, extra=None):
    """The importance-weighted evaluation of ``model`` over ``batches``, ``(x, condition)`` pairs.

    Batch i draws its samples with the stateless seed ``(seed, i)``; ``extra``
    (a function of x giving a dict of per-example tensors) adds to each batch's
    statistics. Returns the per-example arrays (``log_px``, ``elbo``,
    ``posterior_mean``, ..., in batch order) and the numbers every evaluation
    reports: the ELBO and its terms, KL per dimension (and per layer), active
    units, and the settings.
    """
    # No XLA here: measured 10x slower than plain graph mode for this loop on CPU.
    step = tf.function(
        lambda x, c, s: {
            **example_statistics(model, x, c, num_samples, s, chunk_size),
            **(extra(x) if extra else {}),
        },
        reduce_retracing=True,
    )
    progress = keras.utils.Progbar(num_batches, verbose=verbose, unit_name="batch")
    parts = []
    start = time.perf_counter()
    for i, (x, condition) in enumerate(batches):
        parts.append({k: v.numpy() for k, v in step(x, condition, tf.constant([seed, i], tf.int32)).items()})
        progress.update(i + 1)
    seconds = time.perf_counter() - start
    stats = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return stats, {
        "elbo": float(stats["elbo"].mean()),
        "reconstruction": float(stats["reconstruction"].mean()),
        "kl": float(stats["kl"].mean()),
        "kl_per_dim": [float(v) for v in stats["kl_per_dim"].mean(0)],
        "active_units": active_units(stats["posterior_mean"]),
        **_per_layer(model.latent_dims, stats),
        "num_samples": int(num_samples),
        "num_examples": int(len(stats["log_px"])),
        "seed": int(seed),
        "seconds": seconds,
    }


def _check_counts(**counts):
    """Refuses a count below 1 (``num_samples``, ``batch_size``, ``chunk_size``), as the CLI does."""
    for name, value in counts.items():
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")


def evaluate(
    model,
    images: np.ndarray,
    num_samples: int = 5000,
    batch_size: int = 100,
    chunk_size: int = IMAGE_SAMPLE_CHUNK,
    seed: int = 0,
    verbose: int = 1,
    conditions: np.ndarray | None = None,
) -> dict:
    """Importance-weighted log-likelihood, ELBO and diagnostics on ``images``.

    Args:
        model: a tfvae model (``tfvae.VAE`` or ``tfvae.SentenceVAE``).
        images: float32 ``[N, ...]`` in the form the model was trained on
            (e.g. binarised once for a Bernoulli model).
        num_samples: K of the importance-weighted bound.
        batch_size: examples per ``tf.function`` call.
        chunk_size: samples decoded at once (memory ~ batch_size * chunk_size
            * pixels * 4 bytes for the decoder output).
        seed: seed of all samples; batch i uses the stateless seed (seed, i).
        verbose: 1 shows a progress bar with an ETA.
        conditions: ``[N, condition_dim]`` for a conditional model.

    Returns:
        A dict: ``nll`` (-mean log p(x) estimate) and its standard error over
        examples, ``elbo``, ``reconstruction``, ``kl``, ``kl_per_dim``,
        ``active_units`` (posterior means whose variance over the data exceeds
        0.01), ``bits_per_dim``, and the settings.
    """
    if len(images) == 0:
        raise ValueError(
            "no images to evaluate (an empty split? a run trained with validation_size 0 has no validation examples)"
        )
    # Checked before the cast, which would turn raw uint8 pixels into floats 0..255.
    model.check_inputs(np.asarray(images), None if conditions is None else np.asarray(conditions))
    images = np.asarray(images, np.float32)
    _check_counts(num_samples=num_samples, batch_size=batch_size, chunk_size=chunk_size)
    batches = ((x, c) for _, x, c in example_batches(images, batch_size, conditions))
    stats, numbers = _evaluation_loop(
        model, batches, math.ceil(len(images) / batch_size), num_samples, chunk_size, seed, verbose
    )
    return {**_likelihood_summary(stats["log_px"], images.shape[1:]), **numbers}


def mutual_information(loc, scale, seed=0, chunk_size=MUTUAL_INFORMATION_CHUNK):
    """I(x; z) under q, from each example's diagonal Gaussian q(z|x_i) = N(loc_i, diag(scale_i^2)).

        I = E_x E_q(z|x)[log q(z|x)] - E_q(z)[log q(z)],   q(z) = (1/N) sum_j q(z|x_j)

    the estimator of Hoffman & Johnson (2016) as He et al. (2019) use it, but
    with q(z) the mixture over all N examples (not one batch): one z_i ~ q(z|x_i)
    per example, log q(z_i) as a log-mean-exp over the N posteriors, and the
    first term in closed form (minus the entropies). At most log N nats in
    expectation. Computed in float64 with matrix products (memory
    ``chunk_size * N``).

    Args:
        loc, scale: ``[N, d]`` arrays.
        seed: seed of the z_i.
        chunk_size: rows of the ``[N, N]`` density matrix computed at once.

    Returns:
        The estimate in nats (0 for ``d = 0``).
    """
    loc, scale = np.asarray(loc, np.float64), np.asarray(scale, np.float64)
    n, d = loc.shape
    if d == 0:
        return 0.0
    z = loc + scale * np.random.default_rng(seed).standard_normal(loc.shape)
    precision = 1.0 / scale**2
    # log q(z_i|x_j) = -0.5 sum_d (z_id - mu_jd)^2 / s_jd^2 - sum_d log s_jd - d/2 log 2 pi, the square expanded.
    constant = -0.5 * np.sum(loc**2 * precision, 1) - np.sum(np.log(scale), 1) - 0.5 * d * math.log(2 * math.pi)
    log_q = []
    for start in range(0, n, chunk_size):
        rows = z[start : start + chunk_size]
        density = -0.5 * (rows**2) @ precision.T + rows @ (loc * precision).T + constant  # [chunk, N]
        log_q.append(np.logaddexp.reduce(density, axis=1) - math.log(n))
    negative_entropy = -np.mean(0.5 * d * (1 + math.log(2 * math.pi)) + np.sum(np.log(scale), 1))
    return float(negative_entropy - np.mean(np.concatenate(log_q)))


def evaluate_sentences(
    model,
    ids,
    num_samples: int = 500,
    batch_size: int = 25,
    chunk_size: int = SENTENCE_SAMPLE_CHUNK,
    seed: int = 0,
    verbose: int = 1,
) -> dict:
    """Importance-weighted NLL per sentence, perplexity, KL, mutual information and active units.

    Args:
        model: a ``tfvae.sentence.SentenceVAE``.
        ids: a ``tf.RaggedTensor`` of token ids ``[N, (tokens)]``, ``<eos>``
            included (``tfvae.text.encode_sentences``).
        num_samples: K of the importance-weighted bound (a language model,
            ``latent_dim=0``, is exact with any K).
        batch_size: sentences per step (sorted by length, to pad little).
        chunk_size: samples decoded at once: memory ~ batch_size * chunk_size
            * length * vocabulary * 4 bytes.
        seed: seed of all samples.

    Returns:
        A dict: ``nll`` (nats per sentence) and its standard error,
        ``ppl`` = exp(total NLL / tokens) with ``<eos>`` counted, ``tokens``,
        ``elbo``, ``reconstruction``, ``kl``, ``ppl_elbo`` (the ELBO's
        perplexity bound), ``mi``, ``active_units``, ``kl_per_dim``.
    """
    lengths = ids.row_lengths().numpy()
    if len(lengths) == 0:
        raise ValueError("no sentences to evaluate")
    _check_counts(num_samples=num_samples, batch_size=batch_size, chunk_size=chunk_size)
    # In batch order (by length), not the input order: the numbers are means over sentences, and the
    # mutual information draws its samples in this order.
    batches = ((x, None) for _, x, _ in example_batches(ids, batch_size))
    stats, numbers = _evaluation_loop(
        model,
        batches,
        math.ceil(len(lengths) / batch_size),
        num_samples,
        chunk_size,
        seed,
        verbose,
        extra=lambda x: {"posterior_stddev": model.encode(x).stddev()},
    )
    tokens = int(lengths.sum())
    return {
        **_nll(stats["log_px"]),
        "ppl": math.exp(-stats["log_px"].astype(np.float64).sum() / tokens),
        "tokens": tokens,
        "ppl_elbo": math.exp(-stats["elbo"].astype(np.float64).sum() / tokens),
        "mi": mutual_information(stats["posterior_mean"], stats["posterior_stddev"], seed),
        **numbers,
    }


def format_text_table(results: dict) -> str:
    """The main numbers of ``evaluate_sentences`` as a plain-text table."""
    rows = [
        (
            f"NLL (IWAE, K={results['num_samples']})",
            f"{results['nll']:.2f} ± {results['nll_stderr']:.2f} nats/sentence",
        ),
        ("perplexity", f"{results['ppl']:.2f} ({results['tokens']} tokens, <eos> counted)"),
        ("negative ELBO", f"{-results['elbo']:.2f} nats (perplexity bound {results['ppl_elbo']:.2f})"),
        ("  reconstruction", f"{results['reconstruction']:.2f} nats"),
        ("  KL", f"{results['kl']:.2f} nats"),
        ("mutual information", f"{results['mi']:.2f} nats"),
        ("active units", f"{results['active_units']} of {len(results['kl_per_dim'])}"),
        ("sentences", str(results["num_examples"])),
        ("seconds", f"{results['seconds']:.1f}"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def evaluate_saved_model(path, examples, num_samples: int = 5000, batch_size: int = 100, verbose: int = 1) -> dict:
    """Importance-weighted NLL and ELBO of an exported model, through its ``log_likelihood`` signature.

    ``examples``: float images in [0, 1] (an image export), or a list of sentences (a sentence export, which
    adds the perplexity over its ``tokens``, ``<eos>`` counted). Needs only TensorFlow; the signature's seed is
    fixed (see ``export``). Returns the subset of ``evaluate``'s (or ``evaluate_sentences``') numbers that the
    signature gives.
    """
    _check_counts(num_samples=num_samples, batch_size=batch_size)
    signature = tf.saved_model.load(str(path)).signatures["log_likelihood"]
    sentences = "sentences" in signature.structured_input_signature[1]
    if len(examples) == 0:
        raise ValueError(f"no {'sentences' if sentences else 'images'} to evaluate")
    name = "sentences" if sentences else "x"
    if not sentences:
        examples = np.asarray(examples)
        if not np.issubdtype(examples.dtype, np.floating):  # the signature checks shape and values itself
            raise ValueError(
                f"images of dtype {examples.dtype}: the exported model takes float images in [0, 1]; "
                "scale and binarise them as its tfvae.json says (tfvae.data.binarize_fixed)"
            )
        examples = examples.astype(np.float32)
    num_batches = math.ceil(len(examples) / batch_size)
    progress = keras.utils.Progbar(num_batches, verbose=verbose, unit_name="batch")
    outputs = {"log_px": [], "elbo": [], "tokens": []}
    start = time.perf_counter()
    for i in range(num_batches):
        batch = tf.constant(examples[i * batch_size : (i + 1) * batch_size])  # images, or a list of strings
        out = signature(**{name: batch}, num_samples=tf.constant(num_samples, tf.int32))
        for key, values in outputs.items():
            if key in out:
                values.append(out[key].numpy())
        progress.update(i + 1)
    log_px = np.concatenate(outputs["log_px"])
    if sentences:
        tokens = int(np.concatenate(outputs["tokens"]).sum())
        summary = {**_nll(log_px), "ppl": math.exp(-log_px.sum() / tokens), "tokens": tokens}
    else:
        summary = _likelihood_summary(log_px, examples.shape[1:])
    return {
        **summary,
        "elbo": float(np.concatenate(outputs["elbo"]).mean()),
        "num_samples": int(num_samples),
        "num_examples": int(len(examples)),
        "seconds": time.perf_counter() - start,
    }


def layer_diagnostics(model, images: np.ndarray, batch_size: int = 500, seed: int = 0) -> dict:
    """Each latent layer's KL (one sample of q per image; closed form where one holds) and active units.

    The per-layer part of ``evaluate``'s numbers, for a model rebuilt from an
    export (``tfvae.served.rebuild``), whose serving signatures give totals only.
    Returns ``kl_layers`` (nats, mean over ``images``), ``active_units_layers``,
    ``active_units`` and ``latent_dims``.
    """
    _check_counts(batch_size=batch_size)
    kls, means = [], []
    for start in range(0, len(images), batch_size):
        x = tf.constant(np.asarray(images[start : start + batch_size], np.float32))
        terms = model.elbo_terms(x, seed=seed, num_samples=1)
        kls.append(tf.stack(terms["kl_layers"], axis=-1).numpy())
        means.append([q.mean().numpy() for q in model.encode_layers(x)])
    layers = [np.concatenate(layer) for layer in zip(*means)]
    counts = [active_units(m) for m in layers]
    return {
        "kl_layers": [float(kl) for kl in np.concatenate(kls).mean(0)],
        "active_units_layers": counts,
        "active_units": int(sum(counts)),
        "latent_dims": [int(d) for d in model.latent_dims],
    }


def format_table(results: dict) -> str:
    """A short plain-text table of the main numbers (those present in ``results``)."""
    rows = [
        (f"NLL (IWAE, K={results['num_samples']})", f"{results['nll']:.2f} ± {results['nll_stderr']:.2f} nats"),
        ("negative ELBO", f"{-results['elbo']:.2f} nats"),
    ]
    if "kl" in results:
        rows += [("  reconstruction", f"{results['reconstruction']:.2f} nats"), ("  KL", f"{results['kl']:.2f} nats")]
    rows.append(("bits/dim", f"{results['bits_per_dim']:.4f}"))
    if "kl_layers" in results:
        rows += [(f"  KL of layer {i + 1}", f"{kl:.2f} nats") for i, kl in enumerate(results["kl_layers"])]
    if "active_units" in results:
        units = len(results["kl_per_dim"]) if "kl_per_dim" in results else sum(results["latent_dims"])
        rows.append(("active units", f"{results['active_units']} of {units}"))
    if "active_units_layers" in results:
        rows += [
            (f"  of layer {i + 1}", f"{n} of {d}")
            for i, (n, d) in enumerate(zip(results["active_units_layers"], results["latent_dims"]))
        ]
    rows += [("examples", str(results["num_examples"])), ("seconds", f"{results['seconds']:.1f}")]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def write_results(results, path, command=None):
    """Writes ``results`` as JSON to ``path``, with the date (UTC) and, if given, the ``command`` that made them."""
    results["date"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    if command:
        results["command"] = command
    Path(path).write_text(json.dumps(results, indent=2))
