"""``tfvae evaluate|sample|export`` for a text run (a ``SentenceVAE``) or its export.

``tfvae.cli`` opens the command's run directory or export once
(``tfvae.artifacts.open_artifact``, as ``args.artifact``) and hands text
models here.
"""

import json
from pathlib import Path

from tfvae import text


def _sentences(args, limit, without_data_dir):
    """The first ``limit`` (None: all) sentences of ``--split``: a run's as the run read them (``--data-dir``
    overrides its directory), an export's from ``--data-dir``, without which ``without_data_dir`` is the error."""
    from tfvae.runs import load_run_settings
    from tfvae.text import load_text

    if args.artifact.is_export:
        if not args.data_dir:
            raise ValueError(f"{without_data_dir} --data-dir (a directory of sentences)")
        data = text.load_text_dir(args.data_dir)
    else:
        settings = load_run_settings(args.run_dir)
        if args.data_dir:
            settings.data_dir = args.data_dir
        data = load_text(settings)
    sentences = {"test": data.test, "train": data.train, "validation": data.valid}[args.split]
    return sentences[:limit] if limit else sentences


def evaluate(args):
    """Importance-weighted NLL per sentence, perplexity, KL, mutual information; written as JSON."""
    from tfvae.evaluation import evaluate_sentences, format_text_table, write_results

    if args.artifact.is_export:
        return _evaluate_export(args)
    model, vocabulary = args.artifact.model(), args.artifact.vocabulary()
    sentences = _sentences(args, args.limit, "evaluating an exported text model needs")
    cut = vocabulary.count_cut(sentences)
    if cut:
        print(
            f"tfvae: {cut} sentences are longer than the run's max_length={vocabulary.max_length} words and "
            "are scored cut to it"
        )
    ids = text.encode_sentences(vocabulary, sentences)
    # A language model's ELBO is log p(x): one sample gives it exactly.
    num_samples = 1 if model.latent_dim == 0 else args.num_samples
    results = evaluate_sentences(
        model,
        ids,
        num_samples=num_samples,
        batch_size=args.batch_size,
        chunk_size=min(args.chunk_size, num_samples),
        seed=args.seed,
    )
    results.update(split=args.split)
    out = Path(args.out or Path(args.run_dir) / "eval.json")
    write_results(results, out, args.command_line)
    print(format_text_table(results))
    print(f"wrote {out}")


DEFAULT_SAMPLES = 10  # sentences printed by tfvae sample

# Sentences for --gaps by default, and the samples of its ELBOs: the sentence decoder's logits of one
# sample of a batch of 25 are ~40 MB, and the ELBO of a batch is computed in one go.
GAPS_SENTENCES = 200
GAPS_ELBO_SAMPLES = 10


def gaps(args):
    """``tfvae evaluate --gaps`` on a text run or export: approximation and amortization gaps per sentence.

    Per-example stochastic VI (``tfvae.inference.inference_gaps``) on the
    first ``--limit`` (default 200) sentences of the split, with one
    reparameterized sample per Adam step (a sentence decoder costs ~100x an
    image decoder per sample). Returns the results; ``tfvae.cli.write_gaps`` writes them.
    """
    from tfvae.inference import inference_gaps

    sentences = _sentences(args, None, "the gaps of an exported text model need")
    model, vocabulary = args.artifact.model(), args.artifact.vocabulary()
    if model.latent_dim == 0:
        raise ValueError("a language model has no latent variable, so no inference gaps (its ELBO is log p(x))")
    limit = args.limit or GAPS_SENTENCES
    if not args.limit:
        print(f"inference gaps on the first {limit} {args.split} sentences (--limit to change)")
    ids = text.encode_sentences(vocabulary, sentences[:limit])
    results = inference_gaps(
        model,
        ids,
        steps=args.svi_steps,
        learning_rate=args.svi_learning_rate,
        num_samples=args.num_samples,
        elbo_samples=GAPS_ELBO_SAMPLES,
        train_samples=1,
        batch_size=args.batch_size,
        seed=args.seed,
        chunk_size=args.chunk_size,
    )
    return results


GENERATION_SENTENCES = 1000  # test sentences reconstructed and scored by --generation unless --limit
GENERATION_SAMPLES = 500  # sentences drawn from the prior by --generation unless --n


def generation(args):
    """``tfvae evaluate --generation``: the measures of ``tfvae.generation`` for the decoding flags' strategy.

    They are added to the eval JSON (RUN_DIR/eval.json, or eval.json beside an
    export) under ``generation``, one entry per strategy, keeping what it held.
    """
    from tfvae.generation import format_generation_table, generation_quality, require_sacrebleu
    from tfvae.options import decoding_of

    try:
        require_sacrebleu()  # before any model loads
    except ImportError as error:
        raise ValueError(str(error)) from None
    artifact = args.artifact
    if not artifact.is_text:
        raise ValueError("--generation is for text models (a sentence VAE or a language model); this is an image model")
    sentences = _sentences(args, args.limit or GENERATION_SENTENCES, "--generation on an exported text model needs")
    language_model, lm_vocabulary = _language_model(args.language_model)
    decoding = decoding_of(args)
    print(f"generation measures: {decoding.describe()}; {len(sentences)} {args.split} sentences (--limit to change)")
    results = generation_quality(
        artifact.model(),
        artifact.vocabulary(),
        sentences,
        decoding,
        num_samples=args.n or GENERATION_SAMPLES,
        seed=args.seed,
        language_model=language_model,
        lm_vocabulary=lm_vocabulary,
        max_length=args.max_length,
    )
    results.update(split=args.split, language_model=args.language_model, command=args.command_line)
    out = Path(args.out or ("eval.json" if artifact.is_export else Path(args.run_dir) / "eval.json"))
    held = json.loads(out.read_text()) if out.is_file() else {}
    if not isinstance(held, dict):
        raise ValueError(f"--out {out} holds no JSON object to add the measures to: name another file")
    held.setdefault("generation", {})[decoding.describe()] = results
    out.write_text(json.dumps(held, indent=2))
    print(format_generation_table(results))
    if language_model is None:
        print("(forward perplexity: give --language-model PATH, a language model's run or export)")
    print(f"wrote {out}")
    return results


def _language_model(path):
    """The model and vocabulary of ``--language-model``: a text run or export with latent dim 0; None if no path."""
    from tfvae.artifacts import open_artifact

    if path is None:
        return None, None
    artifact = open_artifact(path)
    if not artifact.is_text or artifact.model_config["latent_dim"] != 0:
        raise ValueError(f"--language-model {path}: not a language model (a text model trained with --latent-dim 0)")
    return artifact.model(), artifact.vocabulary()


def _evaluate_export(args):
    """NLL and perplexity of an exported sentence VAE through its ``log_likelihood`` signature."""
    from tfvae.evaluation import evaluate_saved_model, write_results

    sentences = _sentences(args, args.limit, "evaluating an exported text model needs")
    if args.artifact.model_config["latent_dim"] == 0:
        args.num_samples = 1  # a language model's bound is exact
    results = evaluate_saved_model(
        args.run_dir, sentences, num_samples=args.num_samples, batch_size=args.batch_size, verbose=0
    )
    results["split"] = args.split
    out = Path(args.out or "eval.json")  # never into a served version directory
    write_results(results, out, args.command_line)
    print(
        f"NLL (IWAE, K={args.num_samples})  {results['nll']:.2f} ± {results['nll_stderr']:.2f} nats/sentence\n"
        f"perplexity            {results['ppl']:.2f} ({results['tokens']} tokens, <eos> counted)\n"
        f"negative ELBO         {-results['elbo']:.2f} nats\nwrote {out}"
    )


def sample(args):
    """Prints sentences from the prior, and optionally a homotopy, decoded with the ``--strategy`` flags.

    An export with the decoding signatures (``sample_with``, ``homotopy``)
    runs them, TensorFlow alone; an older one (the shipped versions up to 5)
    lacks them, and is decoded by the model rebuilt from its weights
    (``tfvae.served.rebuild``), as a note says.
    """
    from tfvae import decoding as decoding_lib
    from tfvae.backend import tf
    from tfvae.options import decoding_of

    if args.label is not None:
        raise ValueError("--label is for conditional image models")
    args.n = args.n or DEFAULT_SAMPLES
    decoding = decoding_of(args)
    artifact = args.artifact
    config, vocabulary = artifact.model_config, artifact.vocabulary()
    decoding_lib.check(decoding, config["vocab_size"], args.max_length)
    if args.homotopy and config["latent_dim"] == 0:
        raise ValueError("--homotopy needs a latent space: this is a language model (latent_dim 0)")
    ends = _homotopy_ids(vocabulary, args.homotopy) if args.homotopy else None
    title = f"sentences from the prior ({decoding.describe()}; seed {args.seed})"
    if artifact.is_export:
        signatures = tf.saved_model.load(str(args.run_dir)).signatures
        if "sample_with" in signatures:
            return _sample_with_signatures(signatures, args, decoding, title)
        print(
            f"tfvae: note: {args.run_dir} was exported without the decoding signatures (sample_with, decode_with, "
            "homotopy); decoding with the model rebuilt from its weights (export the run again to add them)"
        )
    model = artifact.model()
    max_length = args.max_length or model.max_length
    # One traced loop per request: eagerly, each word of each step is a Python iteration.
    sampled = tf.function(lambda: model.sample(args.n, args.seed, decoding=decoding, max_length=max_length))
    _print(title, vocabulary.strings(sampled()))
    if ends is not None:
        seed = tf.constant([args.seed, 0])
        points = tf.function(lambda: model.homotopy(ends[0], ends[1], args.steps, decoding=decoding, seed=seed))
        _print(_homotopy_title(args), vocabulary.strings(points()))


def _homotopy_ids(vocabulary, sentences):
    """The ids ``[1, T]`` of each ``--homotopy`` sentence, refused if it has no word or only unknown ones."""
    from tfvae.sentence import check_known_words

    return [
        check_known_words(vocabulary.ids([sentence])[0], f"--homotopy {name} {sentence!r}")
        for sentence, name in zip(sentences, ("FROM", "TO"))
    ]


def _homotopy_title(args):
    return f"homotopy from {args.homotopy[0]!r} to {args.homotopy[1]!r}"


def _sample_with_signatures(signatures, args, decoding, title):
    """``tfvae sample`` on an export with ``sample_with`` and ``homotopy``: TensorFlow alone."""
    from tfvae.backend import tf

    settings = {
        **{field: tf.constant(value) for field, value in decoding._asdict().items()},
        "temperature": tf.constant(decoding.temperature, tf.float32),
        "top_p": tf.constant(decoding.top_p, tf.float32),
        "max_length": tf.constant(args.max_length or 0, tf.int32),
        "seed": tf.constant(args.seed, tf.int32),
    }
    if not args.max_length:  # the model's own
        settings["max_length"] = tf.constant(args.artifact.model_config["max_length"], tf.int32)
    out = signatures["sample_with"](num_samples=tf.constant(args.n, tf.int32), **settings)
    _print(title, out["sentences"])
    if args.homotopy:
        start, end = (tf.constant(sentence) for sentence in args.homotopy)
        out = signatures["homotopy"](start=start, end=end, steps=tf.constant(args.steps, tf.int32), **settings)
        _print(_homotopy_title(args), out["sentences"])


def _print(title, sentences):
    sentences = sentences.numpy() if hasattr(sentences, "numpy") else sentences
    print(f"{title}:")
    for sentence in sentences:
        print("  " + (sentence.decode("utf-8") if isinstance(sentence, bytes) else str(sentence)))
    print()


def export(args, version, metrics=None):
    """Writes the run's SavedModel with string signatures (``tfvae.sentence_export``) and ``metrics``."""
    from tfvae.sentence_export import export_sentence_model

    if args.tflite:
        raise ValueError("--tflite is for image models; a sentence VAE exports a SavedModel only")
    artifact = args.artifact
    return export_sentence_model(
        artifact.model(), artifact.vocabulary(), args.out, version, weights=args.weights, metrics=metrics
    )
