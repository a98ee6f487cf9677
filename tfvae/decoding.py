"""How a text model picks its words: greedy, temperature, top-k, nucleus (top-p) and beam search.

``Decoding`` holds the settings; ``generate`` runs them on any autoregressive
step function (the sentence decoder's ``step``), in TensorFlow ops only, so
the same code runs eagerly, inside a ``tf.function`` and in a SavedModel
signature whose inputs are the settings themselves (``tfvae.sentence_export``:
``sample_with``, ``decode_with``).

=============  ===================================================================================
strategy       the next word
=============  ===================================================================================
greedy         the most probable word
temperature    a draw from softmax(logits / temperature)
top_k          a draw, at ``temperature``, among the ``top_k`` most probable words
top_p          a draw, at ``temperature``, among the fewest most probable words whose probability
               reaches ``top_p`` (nucleus sampling, Holtzman et al. 2020); the first always counts
beam           the sentence of highest log-probability among ``beam_width`` hypotheses kept per
               step (raw log-probability, no length normalization: it favours short sentences)
=============  ===================================================================================

Two guards apply to every strategy: ``no_unk`` never generates ``<unk>``, and
``no_repeat_ngram = N`` (> 0) never generates a word that would repeat an
N-gram the sentence already holds (the "no-repeat n-gram" rule of Paulus et
al. 2018; N = 1 forbids repeating any word, N = 0 turns it off). ``<pad>`` and
``<bos>`` are never generated. Draws are stateless: step t of a sentence uses
the seed ``fold_in(seed, t)``, so the same seed gives the same sentences, in
Python and in an export alike.

Why not ``keras_hub.samplers``: they are Keras 3 code whose randomness is a
``SeedGenerator`` variable and whose settings are Python attributes. Saved in
a SavedModel, the generator's state is a variable that every call advances
(the same seed input twice gave two different outputs), and a sampler built
inside the trace, to take ``top_k`` as an input, fails ("tf.function only
supports singleton tf.Variables created on the first call"). They also bring
Keras 3 and tensorflow-text into a tf_keras library and have no n-gram or
``<unk>`` guard (see docs/sentences.md).
"""

from tfvae.backend import tf

# The settings are defined with the options (no TensorFlow there, so the command line's help needs none); these
# are their public names: tfvae.decoding.Decoding, DEFAULT, GREEDY, SAMPLED, STRATEGIES, check.
from tfvae.options import DECODING_STRATEGIES as STRATEGIES
from tfvae.options import DEFAULT_DECODING as DEFAULT  # noqa: F401
from tfvae.options import GREEDY, SAMPLED, Decoding  # noqa: F401
from tfvae.options import check_decoding as check  # noqa: F401
from tfvae.text import BOS, EOS, PAD, UNK

NEVER = -1e9  # the logit of a word that must not be generated


def strategy_index(strategy):
    """The position of ``strategy`` in ``STRATEGIES``: a Python int, or for a string tensor an asserted int32."""
    if isinstance(strategy, str):
        return STRATEGIES.index(strategy)
    matches = tf.equal(tf.constant(STRATEGIES), strategy)
    known = tf.debugging.assert_equal(
        tf.reduce_any(matches), True, message=f"strategy must be one of {', '.join(STRATEGIES)}"
    )
    with tf.control_dependencies([known]):
        return tf.cast(tf.argmax(tf.cast(matches, tf.int32)), tf.int32)


def assert_valid(decoding, vocab_size, max_length):
    """``check`` in a graph: ``tf.debugging`` assertions for tensor settings (a signature's inputs).

    Each fails with ``InvalidArgumentError`` and a one-line message naming the
    setting; settings the strategy does not use are not checked.
    """
    index = strategy_index(decoding.strategy)
    uses = {name: tf.equal(index, STRATEGIES.index(name)) for name in STRATEGIES}
    tempered = uses["temperature"] | uses["top_k"] | uses["top_p"]
    temperature = tf.cast(decoding.temperature, tf.float32)
    top_k, top_p = tf.cast(decoding.top_k, tf.int32), tf.cast(decoding.top_p, tf.float32)
    rules = [
        (~tempered | (temperature > 0), "temperature must be > 0"),
        (~uses["top_k"] | ((top_k >= 1) & (top_k <= vocab_size)), f"top_k must be in [1, {vocab_size}]"),
        (~uses["top_p"] | ((top_p > 0) & (top_p <= 1)), "top_p must be in (0, 1]"),
        (~uses["beam"] | (tf.cast(decoding.beam_width, tf.int32) >= 1), "beam_width must be >= 1"),
        (tf.cast(decoding.no_repeat_ngram, tf.int32) >= 0, "no_repeat_ngram must be >= 0 (0: off)"),
        (tf.cast(max_length, tf.int32) >= 1, "max_length must be >= 1"),
    ]
    return [tf.debugging.assert_equal(holds, True, message=message) for holds, message in rules]


def _shifted(history, offset):
    """``history[:, j + offset]`` at column j (``-1`` past the end)."""
    rows = tf.shape(history)[0]
    return tf.concat([history[:, offset:], tf.fill([rows, offset], -1)], axis=1)


def repeated_ngram_words(history, t, n, vocab_size):
    """A ``[rows, V]`` mask: the words that, written at position ``t``, would repeat an n-gram of ``history``.

    ``history`` ``[rows, L]`` holds each sentence's words at positions
    ``< t`` (-1 elsewhere); ``n`` is a scalar (0: nothing is banned). Only the
    n-grams that occur are scattered, so the cost is ``O(rows * L * n)``.
    """
    rows, length = tf.shape(history)[0], tf.shape(history)[1]

    def banned():
        # An earlier n-gram starting at j ends at j + n - 1 <= t - 1; its first n - 1 words must equal the last n - 1.
        match = tf.broadcast_to(tf.range(length)[None, :] <= t - n, [rows, length])

        def compare(i, match):
            current = tf.gather(history, t - n + 1 + i, axis=1)
            return i + 1, match & tf.equal(_shifted(history, i), current[:, None])

        _, match = tf.while_loop(lambda i, _: i < n - 1, compare, (tf.constant(0), match))
        where = tf.where(match)  # [K, 2]: (row, start)
        words = tf.gather_nd(_shifted(history, n - 1), where)
        indices = tf.stack([where[:, 0], tf.cast(words, tf.int64)], axis=1)
        # float32: the op has no bool kernel on CPU or GPU.
        hits = tf.tensor_scatter_nd_max(tf.zeros([rows, vocab_size]), indices, tf.ones_like(words, tf.float32))
        return hits > 0

    return tf.cond((n > 0) & (t >= n), banned, lambda: tf.zeros([rows, vocab_size], tf.bool))


def _masked(logits, history, t, no_unk, no_repeat_ngram):
    """``logits`` ``[rows, V]`` with ``<pad>``, ``<bos>``, (``no_unk``) ``<unk>`` and repeated n-grams at ``NEVER``."""
    vocab_size = tf.shape(logits)[-1]
    banned = tf.reduce_any(tf.one_hot([PAD, BOS], vocab_size, on_value=True, off_value=False, dtype=tf.bool), axis=0)
    banned = banned | (tf.one_hot(UNK, vocab_size, on_value=True, off_value=False, dtype=tf.bool) & no_unk)
    banned = banned[None, :] | repeated_ngram_words(history, t, no_repeat_ngram, vocab_size)
    return tf.where(banned, tf.constant(NEVER, logits.dtype), logits)


def _filtered(logits, temperature, top_k, top_p):
    """Logits ``[rows, V]`` at ``temperature``, with the words outside the top k (k > 0) and the nucleus (p < 1)
    at ``NEVER``; ties at the boundary are kept."""
    logits = logits / temperature
    vocab_size = tf.shape(logits)[-1]

    def keep_top_k():
        kth = tf.math.top_k(logits, tf.minimum(top_k, vocab_size)).values[:, -1:]
        return tf.where(logits < kth, tf.constant(NEVER, logits.dtype), logits)

    logits = tf.cond(top_k > 0, keep_top_k, lambda: logits)

    def keep_nucleus():
        ordered = tf.sort(logits, direction="DESCENDING")
        # A word is in the nucleus while the probability before it is below p (so the first always is).
        before = tf.math.cumsum(tf.nn.softmax(ordered), axis=-1, exclusive=True)
        smallest = tf.reduce_min(tf.where(before < top_p, ordered, ordered[:, :1]), axis=-1, keepdims=True)
        return tf.where(logits < smallest, tf.constant(NEVER, logits.dtype), logits)

    return tf.cond(top_p < 1.0, keep_nucleus, lambda: logits)


def _write(history, t, words):
    return tf.where(tf.range(tf.shape(history)[1])[None, :] == t, words[:, None], history)


def _finish(history):
    """Generated ids: ``-1`` (never written) becomes ``<pad>``."""
    return tf.where(history < 0, PAD, history)


def _sample_loop(step, z, state, vocab_size, max_length, settings, seed):
    greedy, temperature, top_k, top_p, no_unk, no_repeat_ngram = settings
    batch = tf.shape(z)[0]

    def body(t, token, state, done, history):
        logits, state = step(z, token, state)
        logits = _masked(logits, history, t, no_unk, no_repeat_ngram)

        def drawn():
            filtered = _filtered(logits, temperature, top_k, top_p)
            step_seed = tf.random.experimental.stateless_fold_in(seed, t)
            return tf.random.stateless_categorical(filtered, 1, step_seed, dtype=tf.int32)[:, 0]

        word = tf.cond(greedy, lambda: tf.argmax(logits, axis=-1, output_type=tf.int32), drawn)
        word = tf.where(done, PAD, word)
        return t + 1, word[:, None], state, done | (word == EOS), _write(history, t, word)

    start = (
        tf.constant(0),
        tf.fill([batch, 1], BOS),
        state,
        tf.zeros([batch], tf.bool),
        tf.fill([batch, max_length], -1),
    )
    *_, history = tf.while_loop(lambda t, _, __, done, ___: (t < max_length) & ~tf.reduce_all(done), body, start)
    return _finish(history)


def _beam_loop(step, z, state, vocab_size, max_length, width, no_unk, no_repeat_ngram):
    """Beam search: ``width`` hypotheses per sentence, scored by their summed log-probabilities; the best is returned.

    A finished hypothesis continues with ``<pad>`` at no cost, so it competes with the longer ones unchanged.
    """
    batch = tf.shape(z)[0]
    rows = batch * width
    z = tf.repeat(z, width, axis=0)
    state = [tf.repeat(s, width, axis=0) for s in state]
    # Only the first hypothesis of each sentence is live at the start (the others are copies of it).
    scores = tf.tile(tf.concat([[0.0], tf.fill([width - 1], NEVER)], 0)[None, :], [batch, 1])
    pad_only = tf.where(tf.range(vocab_size) == PAD, 0.0, NEVER)[None, :]

    def body(t, token, state, done, history, scores):
        logits, state = step(z, token, state)
        log_probs = tf.nn.log_softmax(_masked(logits, history, t, no_unk, no_repeat_ngram))
        log_probs = tf.where(done[:, None], pad_only, log_probs)
        total = tf.reshape(scores[:, :, None] + tf.reshape(log_probs, [batch, width, vocab_size]), [batch, -1])
        scores, chosen = tf.math.top_k(total, width)
        parents = tf.reshape(chosen // vocab_size + tf.range(batch)[:, None] * width, [-1])
        words = tf.reshape(chosen % vocab_size, [-1])
        state = [tf.gather(s, parents) for s in state]
        done, history = tf.gather(done, parents), tf.gather(history, parents)
        return t + 1, words[:, None], state, done | (words == EOS) | (words == PAD), _write(history, t, words), scores

    start = (
        tf.constant(0),
        tf.fill([rows, 1], BOS),
        state,
        tf.zeros([rows], tf.bool),
        tf.fill([rows, max_length], -1),
        scores,
    )
    # The hypotheses' count is known only as a tensor after the reshapes: every shape but the last may vary.
    loose = lambda x: tf.TensorShape([None] * (x.shape.rank - 1) + [x.shape[-1]])  # noqa: E731
    _, _, _, _, history, _ = tf.while_loop(
        lambda t, _, __, done, ___, ____: (t < max_length) & ~tf.reduce_all(done),
        body,
        start,
        shape_invariants=(
            tf.TensorShape([]),
            tf.TensorShape([None, 1]),
            [loose(s) for s in state],
            tf.TensorShape([None]),
            tf.TensorShape([None, None]),
            tf.TensorShape([None, None]),
        ),
    )
    return _finish(tf.reshape(history, [batch, width, max_length])[:, 0])  # top_k sorts: hypothesis 0 is the best


def generate(step, z, state, vocab_size, max_length, decoding=GREEDY, seed=None):
    """Sentences ``[B, max_length]`` (ids, ``<pad>`` after ``<eos>``) decoded with ``decoding``.

    Args:
        step: ``step(z, tokens [rows, 1], state) -> (logits [rows, V] float32, state)``, one word at a time.
        z: the per-sentence input that every step reads, ``[B, d]`` (repeated per hypothesis by beam search).
        state: the step's initial state, a list of ``[B, ...]`` tensors.
        vocab_size: V, a Python int.
        max_length: words generated at most (a scalar; a tensor in a signature).
        decoding: a ``Decoding`` of Python values (checked, and only its strategy's loop is built) or of
            scalar tensors (a signature's: asserted with ``assert_valid``, both loops built under ``tf.cond``).
        seed: a stateless seed pair (default ``(0, 0)``).
    """
    seed = tf.constant([0, 0], tf.int32) if seed is None else tf.cast(seed, tf.int32)
    static = isinstance(decoding.strategy, str)
    if static:
        check(decoding, vocab_size, max_length if isinstance(max_length, int) else None)
    index = strategy_index(decoding.strategy)
    if static:
        checks = []
    else:
        checks = assert_valid(decoding, vocab_size, max_length)
    with tf.control_dependencies(checks):
        max_length = tf.identity(tf.cast(max_length, tf.int32))
    uses = lambda name: tf.equal(index, STRATEGIES.index(name))  # noqa: E731
    no_unk = tf.cast(decoding.no_unk, tf.bool)
    no_repeat_ngram = tf.cast(decoding.no_repeat_ngram, tf.int32)
    tempered = uses("temperature") | uses("top_k") | uses("top_p")
    settings = (
        uses("greedy"),
        tf.where(tempered, tf.cast(decoding.temperature, tf.float32), 1.0),
        tf.where(uses("top_k"), tf.cast(decoding.top_k, tf.int32), 0),
        tf.where(uses("top_p"), tf.cast(decoding.top_p, tf.float32), 1.0),
        no_unk,
        no_repeat_ngram,
    )

    def sampled():
        return _sample_loop(step, z, state, vocab_size, max_length, settings, seed)

    def beam():
        width = tf.maximum(tf.cast(decoding.beam_width, tf.int32), 1)
        return _beam_loop(step, z, state, vocab_size, max_length, width, no_unk, no_repeat_ngram)

    if static:
        return beam() if decoding.strategy == "beam" else sampled()
    return tf.cond(uses("beam"), beam, sampled)
