"""How good a text model's sentences are: reconstruction BLEU, forward and reverse perplexity, distinct-n, self-BLEU.

Likelihood says how well a model scores real sentences; these measures judge the sentences it *writes*, decoded
with a ``tfvae.decoding.Decoding`` strategy (the measures text-VAE papers report beside the NLL):

==================  ==================================================================================================
measure             what it is
==================  ==================================================================================================
reconstruction      corpus BLEU-4 of the sentences decoded at each test sentence's posterior mean E_q[z|x], against
BLEU                the sentence itself (a language model has no z: not measured)
forward PPL         exp(-sum_i log p_LM(s_i) / sum_i |s_i|) of prior samples s_i under a fixed language model (|s|:
                    words plus ``<eos>``): low when the samples read like the LM's data (fluency; Zhao et al. 2018)
reverse PPL         the same perplexity of the *test* split under a small LM trained on the samples: low when the
                    samples cover the data (diversity and fluency together; Zhao et al. 2018)
distinct-n          distinct n-grams / all n-grams over all samples, n = 1, 2 (Li et al. 2016): low when repetitive
self-BLEU           mean sentence BLEU-4 of a sample against all the other samples (Zhu et al. 2018): high when
                    the samples resemble each other
==================  ==================================================================================================

BLEU is sacreBLEU's (Post 2018), the maintained reference implementation whose scores are comparable across
papers; it is an optional dependency (``pip install "tfvae[generation]"``). Sentences are compared as written
(``tokenize="none"``): tfvae's words are whitespace-separated tokens already. Corpus BLEU for reconstruction;
sentence BLEU (sacreBLEU's defaults: exponential smoothing, effective order) for self-BLEU. Scores are in
[0, 100].
"""

import dataclasses
import time

import numpy as np

from tfvae.backend import keras, tf
from tfvae.text import make_text_pipeline

EXTRA = 'pip install "tfvae[generation]"'
SELF_BLEU_HYPOTHESES = 100  # samples scored against all the others: each costs one pass over N references
DECODE_BATCH = 500  # sentences decoded per call (memory: [batch * beam, vocabulary] logits per word)
SCORE_BATCH = 100  # sentences scored per language-model call
SEED = tf.TensorSpec([2], tf.int32)  # a stateless seed: the traced decoders take any batch's without retracing


def require_sacrebleu():
    """sacreBLEU's ``BLEU`` class, or a one-line ``ImportError`` naming the extra that installs it."""
    try:
        from sacrebleu.metrics import BLEU
    except ImportError:
        raise ImportError(f"BLEU needs sacrebleu: {EXTRA}") from None
    return BLEU


def corpus_bleu(hypotheses, references):
    """Corpus BLEU-4 (sacreBLEU, ``tokenize="none"``) of ``hypotheses[i]`` against ``references[i]``, in [0, 100].

    BLEU = BP * exp(mean_n log p_n), with p_n the clipped n-gram precisions (n = 1..4) summed over the corpus
    and BP = min(1, exp(1 - r / c)) the brevity penalty (r, c: reference and hypothesis words).
    """
    if len(hypotheses) != len(references) or not hypotheses:
        raise ValueError(f"need as many hypotheses as references (> 0), got {len(hypotheses)} and {len(references)}")
    return float(require_sacrebleu()(tokenize="none").corpus_score(list(hypotheses), [list(references)]).score)


def self_bleu(sentences, hypotheses=SELF_BLEU_HYPOTHESES):
    """Self-BLEU (Zhu et al. 2018): the mean sentence BLEU-4 of each of the first ``hypotheses`` sentences against
    all the other sentences as references, in [0, 100] (sacreBLEU's sentence BLEU, ``tokenize="none"``).

    The cost is ``hypotheses * len(sentences)``: sacreBLEU reads every reference again per hypothesis.
    """
    if len(sentences) < 2:
        raise ValueError(f"self-BLEU needs at least 2 sentences, got {len(sentences)}")
    bleu = require_sacrebleu()(tokenize="none", effective_order=True)
    sentences = list(sentences)
    count = min(hypotheses or len(sentences), len(sentences))
    scores = [bleu.sentence_score(sentences[i], sentences[:i] + sentences[i + 1 :]).score for i in range(count)]
    return float(np.mean(scores))


def distinct_n(sentences, n):
    """Distinct-n (Li et al. 2016): |distinct n-grams| / |n-grams| over the whitespace words of all ``sentences``
    (n-grams do not cross sentences; 0 when there are none)."""
    grams = [tuple(words[i : i + n]) for words in (s.split() for s in sentences) for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def _strings(vocabulary, ids):
    return [s.decode("utf-8") for s in vocabulary.strings(ids).numpy()]


def sample_sentences(model, vocabulary, num_samples, decoding, seed=0, max_length=None):
    """``num_samples`` sentences (strings) from the prior of ``model`` decoded with ``decoding``; batch b of
    ``DECODE_BATCH`` draws with the seed ``(seed, b)``."""
    sample = tf.function(
        lambda n, seed: model.sample(n, seed=seed, decoding=decoding, max_length=max_length),
        input_signature=[tf.TensorSpec([], tf.int32), SEED],
    )
    out = []
    for b, start in enumerate(range(0, num_samples, DECODE_BATCH)):
        count = min(DECODE_BATCH, num_samples - start)
        out += _strings(vocabulary, sample(tf.constant(count), tf.constant([seed, b], tf.int32)))
    return out


def reconstruct_sentences(model, vocabulary, sentences, decoding, seed=0, max_length=None):
    """Each sentence encoded to its posterior mean E_q[z|x] and decoded with ``decoding`` (strings)."""
    if model.latent_dim == 0:
        raise ValueError("a language model (latent_dim 0) has no posterior to reconstruct from")

    def decode(ids, seed):
        return model.decode(model.encode(ids).mean(), seed=seed, max_length=max_length, decoding=decoding)

    decode = tf.function(decode, input_signature=[tf.TensorSpec([None, None], tf.int32), SEED])
    out = []
    for b, start in enumerate(range(0, len(sentences), DECODE_BATCH)):
        ids, _ = vocabulary.ids(list(sentences[start : start + DECODE_BATCH]))
        out += _strings(vocabulary, decode(ids, tf.constant([seed, b], tf.int32)))
    return out


def as_read(vocabulary, sentences):
    """``sentences`` as the model reads them: cut to ``max_length`` words, unknown words as ``<unk>``."""
    out = []
    for start in range(0, len(sentences), DECODE_BATCH):
        out += _strings(vocabulary, vocabulary.ids(list(sentences[start : start + DECODE_BATCH]))[0])
    return out


def perplexity(language_model, vocabulary, sentences):
    """exp(-sum_i log p(s_i) / sum_i |s_i|) of ``sentences`` (strings) under a language model (``latent_dim`` 0,
    so log p(s) = log p(s|z) is exact), with |s| the words plus ``<eos>``; and the token count.

    Words outside the model's ``vocabulary`` are read as ``<unk>``. Returns ``(perplexity, tokens)``.
    """
    if language_model.latent_dim != 0:
        raise ValueError("perplexity needs a language model (latent_dim 0); a VAE's log p(x) is only bounded")
    if not sentences:
        raise ValueError("no sentences to score")
    score = tf.function(
        lambda ids: language_model.log_px_given_z(ids, tf.zeros([tf.shape(ids)[0], 0])),
        input_signature=[tf.TensorSpec([None, None], tf.int32)],  # one trace for every batch's length
    )
    total, tokens = 0.0, 0
    for start in range(0, len(sentences), SCORE_BATCH):
        ids, lengths = vocabulary.ids(list(sentences[start : start + SCORE_BATCH]))
        total += float(tf.reduce_sum(score(ids)))
        tokens += int(tf.reduce_sum(lengths))
    return float(np.exp(-total / tokens)), tokens


@dataclasses.dataclass(frozen=True)
class ReverseLM:
    """The small LSTM language model of reverse perplexity, trained from scratch on the samples.

    Fixed settings, the same for every model and strategy, so that reverse perplexities compare; trained on
    ~1,000 sentences it is far from converged, so compare it with the reference of as many real sentences.
    """

    embedding_dim: int = 64
    units: int = 128
    epochs: int = 5
    batch_size: int = 32
    learning_rate: float = 3e-3
    seed: int = 0

    def parameters(self, vocab_size):
        """Weights: the embedding, the LSTM (4 gates) and the output layer."""
        lstm = 4 * self.units * (self.embedding_dim + self.units + 1)
        return vocab_size * self.embedding_dim + lstm + self.units * vocab_size + vocab_size

    def train(self, vocabulary, sentences):
        """A ``SentenceVAE`` with ``latent_dim=0`` fitted to ``sentences`` (strings) over ``vocabulary``."""
        from tfvae.sentence import SentenceVAE
        from tfvae.text import encode_sentences

        keras.utils.set_random_seed(self.seed)
        model = SentenceVAE(
            vocabulary.size, latent_dim=0, embedding_dim=self.embedding_dim, units=self.units, seed=self.seed
        )
        model.compile(optimizer=keras.optimizers.Adam(self.learning_rate))
        batches = make_text_pipeline(encode_sentences(vocabulary, list(sentences)), self.batch_size, seed=self.seed)
        steps = int(batches.reduce(0, lambda count, _: count + 1))  # bucketed: the count is known only by counting
        model.fit(batches.repeat(), steps_per_epoch=steps, epochs=self.epochs, verbose=0)
        return model


def reverse_perplexity(vocabulary, samples, test_sentences, reverse_lm=ReverseLM()):
    """The perplexity of ``test_sentences`` under ``reverse_lm`` trained on ``samples`` (Zhao et al. 2018)."""
    return perplexity(reverse_lm.train(vocabulary, samples), vocabulary, test_sentences)[0]


def generation_quality(
    model,
    vocabulary,
    test_sentences,
    decoding,
    num_samples=500,
    seed=0,
    language_model=None,
    lm_vocabulary=None,
    reverse_lm=ReverseLM(),
    self_bleu_hypotheses=SELF_BLEU_HYPOTHESES,
    max_length=None,
):
    """Every measure of the module docstring for ``model`` decoded with ``decoding``: a dict.

    Args:
        model: a ``SentenceVAE`` (a language model when ``latent_dim`` is 0: no reconstruction BLEU).
        vocabulary: its ``tfvae.text.Vocabulary``.
        test_sentences: the held-out sentences (strings): reconstructed, and scored by the reverse LM.
        decoding: a ``tfvae.decoding.Decoding``.
        num_samples: sentences drawn from the prior (seed ``seed``).
        language_model: the fixed LM of forward perplexity, with ``lm_vocabulary``; None: not measured.
        reverse_lm: the ``ReverseLM`` settings; None: reverse perplexity not measured.
        self_bleu_hypotheses: samples scored by self-BLEU (each against all the others).
        max_length: words generated at most (None: the model's ``max_length``).
    """
    from tfvae.decoding import check

    max_length = max_length or model.max_length
    check(decoding, vocabulary.size, max_length)
    if num_samples < 2:
        raise ValueError(f"the measures need at least 2 samples, got {num_samples}")
    references = as_read(vocabulary, test_sentences)
    seconds = {}
    start = time.perf_counter()
    samples = sample_sentences(model, vocabulary, num_samples, decoding, seed, max_length)
    seconds["sample"] = time.perf_counter() - start
    words = [len(s.split()) for s in samples]
    results = {
        "decoding": decoding._asdict(),
        "num_samples": num_samples,
        "seed": seed,
        "test_sentences": len(references),
        "mean_words": float(np.mean(words)),
        "at_limit": float(np.mean([n >= max_length for n in words])),
        "distinct_1": distinct_n(samples, 1),
        "distinct_2": distinct_n(samples, 2),
    }
    start = time.perf_counter()
    results["self_bleu"] = self_bleu(samples, self_bleu_hypotheses)
    results["self_bleu_hypotheses"] = min(self_bleu_hypotheses or num_samples, num_samples)
    seconds["self_bleu"] = time.perf_counter() - start
    results["reconstruction_bleu"] = None
    if model.latent_dim > 0:
        start = time.perf_counter()
        decoded = reconstruct_sentences(model, vocabulary, references, decoding, seed, max_length)
        results["reconstruction_bleu"] = corpus_bleu(decoded, references)
        results["reconstruction_examples"] = [{"sentence": s, "decoded": d} for s, d in zip(references, decoded)][:3]
        seconds["reconstruction"] = time.perf_counter() - start
    results["forward_ppl"] = None
    if language_model is not None:
        start = time.perf_counter()
        results["forward_ppl"] = perplexity(language_model, lm_vocabulary or vocabulary, samples)[0]
        seconds["forward_ppl"] = time.perf_counter() - start
    results["reverse_ppl"] = None
    if reverse_lm is not None:
        start = time.perf_counter()
        results["reverse_ppl"] = reverse_perplexity(vocabulary, samples, references, reverse_lm)
        results["reverse_lm"] = {**dataclasses.asdict(reverse_lm), "parameters": reverse_lm.parameters(vocabulary.size)}
        seconds["reverse_ppl"] = time.perf_counter() - start
    results["seconds"] = {name: round(value, 1) for name, value in seconds.items()}
    results["examples"] = samples[:3]
    return results


def _cell(value, digits):
    return "-" if value is None else f"{value:.{digits}f}"


def format_generation_table(results):
    """The measures of ``generation_quality`` as a short text table."""
    rows = [
        ("reconstruction BLEU", _cell(results["reconstruction_bleu"], 2), f"{results['test_sentences']} sentences"),
        ("forward perplexity", _cell(results["forward_ppl"], 1), "of the samples under the language model"),
        ("reverse perplexity", _cell(results["reverse_ppl"], 1), "of the test split under an LM fit to the samples"),
        ("distinct-1", _cell(results["distinct_1"], 3), ""),
        ("distinct-2", _cell(results["distinct_2"], 3), ""),
        ("self-BLEU", _cell(results["self_bleu"], 2), f"{results['self_bleu_hypotheses']} samples vs the rest"),
        ("words per sample", _cell(results["mean_words"], 1), f"{results['num_samples']} samples"),
    ]
    return "\n".join(f"{name:<20}{value:>9}  {note}".rstrip() for name, value, note in rows)


__all__ = [
    "ReverseLM",
    "as_read",
    "corpus_bleu",
    "distinct_n",
    "format_generation_table",
    "generation_quality",
    "perplexity",
    "reconstruct_sentences",
    "require_sacrebleu",
    "reverse_perplexity",
    "sample_sentences",
    "self_bleu",
]
