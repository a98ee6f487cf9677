"""The sentence VAE (Bowman et al. 2016): the VAE with an RNN encoder and an autoregressive decoder.

    x = w_1 .. w_n <eos>                     token ids (``tfvae.text``), 0-padded
    q(z|x):  embedding -> (bi)LSTM/GRU -> final state -> the posterior head
    p(x|z) = prod_t Cat(x_t | softmax(W h_t)),   h_t = RNN(h_{t-1}, [emb(x_{t-1}), z]),  x_0 = <bos>

z enters the decoder as its initial state (h_0 = tanh(A z), and c_0 = A z for
an LSTM), as an extra input at every step, or both (``latent_injection``).
The likelihood is a TFP ``Categorical`` per position, masked by the
sentence's length, so log p(x|z) = sum_t log p(x_t | x_<t, z) with ``<eos>``
included and padding contributing nothing.

``SentenceVAE`` is a face of the core that the image ``tfvae.VAE`` shares
(``core.BaseVAE``): the objective, priors, KL, IWAE bound, free bits and KL
annealing are the core's, and ``tfvae.evaluation`` and ``tfvae.inference``
score and fit both models alike. It has its own parts (networks, likelihood,
input checks) and ``likelihood_of``, which feeds x's own prefix to the decoder
(teacher forcing); ``log_px_given_z``, what scoring calls, takes the same
logits without the fused cross-entropy's gradient work. Against posterior
collapse it adds word dropout on the decoder's inputs (Bowman et al.) and
batch-normalized posterior means (BN-VAE, Zhu et al. 2020). With
``latent_dim=0`` it is the plain RNN language model: no encoder, KL = 0, and
the ELBO is log p(x) exactly.
"""

from tfvae import decoding as decoding_lib
from tfvae import validation
from tfvae.backend import keras, tf, tfd
from tfvae.core import BaseVAE
from tfvae.options import LATENT_INJECTIONS, RNNS  # defined once, with the options
from tfvae.text import BOS, EOS, PAD, UNK

# BN-VAE's batch norm must not be able to shrink the means' variance: with Keras's epsilon of 1e-3 an
# encoder whose means vary by less than that (all of them at the start) gets a normalized variance far
# below 1, and the posterior collapses as if there were no batch norm (a PTB run did: KL 0.003).
BN_VAE_EPSILON = 1e-8


def _rnn_layer(kind, units, **kwargs):
    if kind not in RNNS:
        raise ValueError(f"rnn must be one of {RNNS}, got {kind!r}")
    return (keras.layers.LSTM if kind == "lstm" else keras.layers.GRU)(units, **kwargs)


@keras.saving.register_keras_serializable(package="tfvae")
class WordDropout(keras.layers.Layer):
    """In training, replaces each word of the decoder's input by ``<unk>`` with probability ``rate``.

    The begin marker and padding are never replaced; outside training the
    input passes unchanged. (Bowman et al. 2016: the decoder must then lean
    on z for the words it cannot see.)
    """

    def __init__(self, rate=0.0, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"word dropout rate must be in [0, 1), got {rate}")
        self.rate = float(rate)

    def call(self, tokens, training=None):
        """``tokens`` int ``[B, T]`` with words replaced in training."""
        if training is None or self.rate == 0.0:
            return tokens

        def dropped():
            drop = tf.random.uniform(tf.shape(tokens)) < self.rate
            drop &= (tokens != BOS) & (tokens != PAD)
            return tf.where(drop, tf.constant(UNK, tokens.dtype), tokens)

        # smart_cond: ``training`` may be a tensor (AutoGraph does not rewrite tfvae's code; see backend.py).
        return tf.__internal__.smart_cond.smart_cond(training, dropped, lambda: tokens)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}


@keras.saving.register_keras_serializable(package="tfvae")
class SentenceEncoder(keras.layers.Layer):
    """Token ids ``[B, T]`` -> the posterior head's parameters ``[B, output_size]``.

    Embedding (``<pad>`` masked) -> LSTM/GRU (``bidirectional``: both
    directions' final states) -> a linear layer. With ``batch_norm_gamma``
    > 0 the first ``latent_dim`` outputs (the posterior means) are batch
    normalized and scaled by that fixed gamma (BN-VAE): over a batch, the
    means then have variance gamma^2 per dimension, which keeps the expected
    KL above d * gamma^2 / 2 and the posterior from collapsing.
    """

    def __init__(
        self,
        vocab_size,
        output_size,
        latent_dim,
        embedding_dim=256,
        units=256,
        rnn="lstm",
        bidirectional=False,
        batch_norm_gamma=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocab_size, self.output_size, self.latent_dim = int(vocab_size), int(output_size), int(latent_dim)
        self.embedding_dim, self.units, self.rnn_kind = int(embedding_dim), int(units), rnn
        self.bidirectional, self.batch_norm_gamma = bool(bidirectional), float(batch_norm_gamma)
        # The language model (output_size 0) infers nothing: no layers, none left unbuilt (Keras 3 warns of
        # those and refuses Dense(0)).
        self.embedding = self.rnn = self.params = None
        if self.output_size:
            self.embedding = keras.layers.Embedding(self.vocab_size, self.embedding_dim, mask_zero=True)
            rnn_layer = _rnn_layer(rnn, self.units)
            self.rnn = keras.layers.Bidirectional(rnn_layer) if self.bidirectional else rnn_layer
            self.params = keras.layers.Dense(self.output_size, name="params")
        self.mean_norm = (
            keras.layers.BatchNormalization(scale=False, epsilon=BN_VAE_EPSILON, name="mean_norm")
            if self.batch_norm_gamma > 0
            else None
        )

    def call(self, tokens):
        """Parameters ``[B, output_size]`` for int tokens ``[B, T]``."""
        if self.output_size == 0:  # the language model: nothing to infer
            return tf.zeros([tf.shape(tokens)[0], 0])
        params = self.params(self.rnn(self.embedding(tokens)))
        if self.mean_norm is None:
            return params
        mean, rest = params[:, : self.latent_dim], params[:, self.latent_dim :]
        return tf.concat([self.batch_norm_gamma * self.mean_norm(mean), rest], axis=-1)

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "output_size": self.output_size,
            "latent_dim": self.latent_dim,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "rnn": self.rnn_kind,
            "bidirectional": self.bidirectional,
            "batch_norm_gamma": self.batch_norm_gamma,
        }


@keras.saving.register_keras_serializable(package="tfvae")
class SentenceDecoder(keras.layers.Layer):
    """The autoregressive decoder: ``(z, x)`` -> next-token logits ``[B, T, vocab_size]``.

    Position t reads ``x_{t-1}`` (``<bos>`` at t = 1; word dropout in
    training) and predicts ``x_t``. z (``[B, latent_dim]``) sets the initial
    state and/or joins every input (``latent_injection``); with
    ``latent_dim=0`` this is an RNN language model. ``dropout`` drops units of
    the word embeddings and of the RNN's outputs in training (Zaremba et al.
    2014; Texar's VAE-LSTM uses 0.5 on both).

    ``tie_embeddings`` makes the output layer reuse the input embedding
    ``E [V, embedding_dim]`` (Press & Wolf 2017): ``logits_t = h_t E^T + b``,
    with only the bias ``b [V]`` of its own. It needs ``units ==
    embedding_dim`` and removes ``units * V`` weights (2.6 M of the 8.8 M
    of the README's PTB model).
    """

    def __init__(
        self,
        vocab_size,
        latent_dim,
        embedding_dim=256,
        units=256,
        rnn="lstm",
        latent_injection="both",
        word_dropout=0.0,
        dropout=0.0,
        tie_embeddings=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if latent_injection not in LATENT_INJECTIONS:
            raise ValueError(f"latent_injection must be one of {LATENT_INJECTIONS}, got {latent_injection!r}")
        self.vocab_size, self.latent_dim = int(vocab_size), int(latent_dim)
        self.embedding_dim, self.units, self.rnn_kind = int(embedding_dim), int(units), rnn
        self.latent_injection, self.word_dropout_rate = latent_injection, float(word_dropout)
        self.embedding = keras.layers.Embedding(self.vocab_size, self.embedding_dim)
        self.word_dropout = WordDropout(word_dropout)
        self.dropout_rate = float(dropout)
        # Outside the RNN (Keras's own LSTM dropout would leave its fused implementation for a slower one).
        self.embedding_dropout = keras.layers.Dropout(self.dropout_rate)
        self.output_dropout = keras.layers.Dropout(self.dropout_rate)
        self.rnn = _rnn_layer(rnn, self.units, return_sequences=True, return_state=True)
        self.to_state = (
            keras.layers.Dense(self.units, name="latent_to_state")
            if self.latent_dim and latent_injection != "inputs"
            else None
        )
        self.tie_embeddings = bool(tie_embeddings)
        if self.tie_embeddings and self.units != self.embedding_dim:
            raise ValueError(f"tie_embeddings needs units == embedding_dim, got {self.units} and {self.embedding_dim}")
        if not self.tie_embeddings:
            self.logits = keras.layers.Dense(self.vocab_size, name="logits")

    def build(self, input_shape):
        """Creates the tied output layer's bias (here, so that its name is under the decoder's)."""
        if self.tie_embeddings:
            self.logits_bias = self.add_weight(name="logits_bias", shape=[self.vocab_size], initializer="zeros")
        super().build(input_shape)

    def output_logits(self, outputs):
        """Next-token logits ``[..., V]`` for RNN outputs ``h [..., units]``: a dense layer, or ``h E^T + b``."""
        if not self.tie_embeddings:
            return self.logits(outputs)
        # The variables are float32; under mixed precision the outputs are not.
        kernel = tf.cast(self.embedding.embeddings, outputs.dtype)
        # One [N, units] x [units, V] matmul: einsum's gradient over "..." builds a [V, units, B, T] tensor.
        flat = tf.matmul(tf.reshape(outputs, [-1, self.units]), kernel, transpose_b=True)
        logits = tf.reshape(flat, tf.concat([tf.shape(outputs)[:-1], [self.vocab_size]], 0))
        return logits + tf.cast(self.logits_bias, outputs.dtype)

    def initial_state(self, z):
        """The RNN's state before ``<bos>``: from z, or zeros."""
        batch = tf.shape(z)[0]
        if self.to_state is None:
            zeros = tf.zeros([batch, self.units], self.compute_dtype)
            return [zeros, zeros] if self.rnn_kind == "lstm" else [zeros]
        cell = self.to_state(z)
        return [tf.tanh(cell), cell] if self.rnn_kind == "lstm" else [tf.tanh(cell)]

    def step(self, z, inputs, state):
        """Logits ``[B, T, V]`` and the new state for input tokens ``[B, T]`` after ``state``."""
        embedded = self.embedding_dropout(self.embedding(inputs))
        if self.latent_dim and self.latent_injection != "initial_state":
            steps = tf.shape(inputs)[1]
            # Cast: under mixed precision the embeddings are float16, and generate passes z as float32.
            z = tf.cast(z, embedded.dtype)
            embedded = tf.concat([embedded, tf.tile(z[:, None, :], [1, steps, 1])], axis=-1)
        outputs = self.rnn(embedded, initial_state=state)
        return self.output_logits(self.output_dropout(outputs[0])), list(outputs[1:])

    def call(self, inputs):
        """Teacher forcing: logits ``[B, T, V]`` for ``inputs = (z [B, d], x [B, T])``."""
        z, x = inputs
        shifted = tf.concat([tf.fill([tf.shape(x)[0], 1], tf.constant(BOS, x.dtype)), x[:, :-1]], axis=1)
        logits, _ = self.step(z, self.word_dropout(shifted), self.initial_state(z))
        return logits

    def generate(self, z, max_length, greedy=True, seed=None, decoding=None):
        """Sentences ``[B, max_length]`` from z ``[B, d]``, decoded word by word until ``<eos>``.

        ``decoding`` (a ``tfvae.decoding.Decoding``) picks the strategy:
        greedy, temperature, top-k, top-p or beam search, with the ``<unk>``
        and repeated n-gram guards. Without it, ``greedy`` picks greedy
        (argmax) or sampled words (temperature 1). Positions after ``<eos>``
        are ``<pad>``; ``<pad>`` and ``<bos>`` are never generated as words.
        ``seed`` (a stateless pair) makes sampled decoding reproducible.
        """
        if decoding is None:
            decoding = decoding_lib.GREEDY if greedy else decoding_lib.SAMPLED

        def step(z, tokens, state):
            logits, state = self.step(z, tokens, state)
            return tf.cast(logits[:, 0], tf.float32), state

        return decoding_lib.generate(step, z, self.initial_state(z), self.vocab_size, max_length, decoding, seed)

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "latent_dim": self.latent_dim,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "rnn": self.rnn_kind,
            "latent_injection": self.latent_injection,
            "word_dropout": self.word_dropout_rate,
            "dropout": self.dropout_rate,
            "tie_embeddings": self.tie_embeddings,
        }


def _padding_tokens(categorical):
    """``<pad>`` everywhere: what ``tfd.Masked`` puts at masked positions.

    Masked's default draws a sample of the whole ``[B, T, V]`` categorical at
    every ``log_prob``, 8 % of a PTB training step; any id is safe there.
    """
    return tf.fill(categorical.batch_shape_tensor(), tf.constant(PAD, categorical.dtype))


class CategoricalSequenceLikelihood(keras.layers.Layer):
    """p(x|z) = prod_{t: x_t != <pad>} Categorical(x_t; softmax(logits_t)): a TFP head for token sequences.

    ``new(logits, mask)`` is ``Independent(Masked(Categorical(logits), mask), 1)``:
    ``log_prob(x)`` sums the per-position log-probabilities where ``mask``
    holds and adds 0 elsewhere.
    """

    def call(self, inputs):
        """``new(logits, mask)`` for ``inputs = (logits, mask)``, through Keras's layer call."""
        return self.new(*inputs)

    @staticmethod
    def params_size(vocab_size):
        """One logit per word of the vocabulary, per position."""
        return int(vocab_size)

    @staticmethod
    def new(logits, mask):
        """The masked categorical sequence for ``logits [..., T, V]`` and a boolean ``mask [..., T]``."""
        masked = tfd.Masked(tfd.Categorical(logits=logits), validity_mask=mask, safe_sample_fn=_padding_tokens)
        return tfd.Independent(masked, reinterpreted_batch_ndims=1)

    def distribution(self, logits, mask):
        """``new(logits, mask)`` (as the image heads' ``distribution``)."""
        return self.new(logits, mask)

    @staticmethod
    def log_prob_of(logits, x, mask):
        """``new(logits, mask).log_prob(x)`` forward only: sum_t mask_t (logits_t[x_t] - logsumexp(logits_t)).

        ``tfd.Categorical.log_prob`` calls TF's fused sparse cross-entropy,
        which also writes the gradient, a second ``[..., T, V]`` tensor that
        scoring never uses: this path takes 0.77 of float32's scoring time
        on PTB (``scripts/ptb_scoring_cost.py``), with the same numbers to
        float32 rounding. Training keeps the fused op, whose backward pass
        reuses that gradient. Any rank: logits ``[..., T, V]``, x and mask
        ``[..., T]``.
        """
        flat_logits = tf.reshape(logits, [-1, tf.shape(logits)[-1]])
        # Flattened, so that gather's batch_dims is static even when the rank of z (and so of x) is not.
        log_probs = tf.gather(flat_logits, tf.reshape(x, [-1]), batch_dims=1) - tf.reduce_logsumexp(flat_logits, -1)
        log_probs = tf.reshape(log_probs, tf.shape(x))
        return tf.reduce_sum(tf.where(mask, log_probs, tf.zeros_like(log_probs)), axis=-1)


def check_tokens_spec(dtype, shape, name="x"):
    """Static check of token ids: an integer dtype and shape ``[batch, length]``.

    Raises:
        ValueError: naming the problem and how to get ids from sentences.
    """
    hint = "turn sentences into ids with tfvae.text.Vocabulary.ids(sentences) (its first output)"
    dtype, shape = tf.as_dtype(dtype), tf.TensorShape(shape)
    if not dtype.is_integer:
        raise ValueError(f"{name}: expected integer token ids of shape [batch, length], got dtype {dtype.name}; {hint}")
    if shape.rank is not None and shape.rank != 2:
        raise ValueError(
            f"{name}: expected token ids of shape [batch, length], got "
            f"{validation.format_shape(shape, batch='?')}; {hint}"
        )


def check_token_values(x, vocab_size, name="x"):
    """Token ids in ``[0, vocab_size)``: eagerly a ``ValueError``, in a graph an ``Assert``; returns ``x``."""
    message = f"{name}: token ids must lie in [0, {vocab_size}) (this model's vocabulary)"
    if tf.executing_eagerly():
        x = tf.convert_to_tensor(x)
        if tf.size(x) and (int(tf.reduce_min(x)) < 0 or int(tf.reduce_max(x)) >= vocab_size):
            raise ValueError(
                f"{message}, found ids in [{int(tf.reduce_min(x))}, {int(tf.reduce_max(x))}]; "
                "use the vocabulary the model was trained with"
            )
        return x
    inside = (tf.reduce_min(x) >= 0) & (tf.reduce_max(x) < vocab_size)
    with tf.control_dependencies(
        [
            tf.raw_ops.Assert(
                condition=inside | (tf.size(x) == 0),
                data=[message + "; found [min, max] =", tf.reduce_min(x), tf.reduce_max(x)],
            )
        ]
    ):
        return tf.identity(x)


def known_word_problems(ids):
    """Per row of ids ``[B, T]``: ``(empty, all_unknown)`` booleans ``[B]`` (``<eos>`` and ``<pad>`` are no words)."""
    ids = tf.convert_to_tensor(ids)
    words = (ids != PAD) & (ids != EOS)
    known = words & (ids != UNK)
    return ~tf.reduce_any(words, axis=1), tf.reduce_any(words, axis=1) & ~tf.reduce_any(known, axis=1)


EMPTY_SENTENCE = "the sentence is empty: give at least one word"
UNKNOWN_SENTENCE = "every word of the sentence is outside the vocabulary (<unk>): its code would say nothing of it"


def check_known_words(ids, name="sentence"):
    """Eagerly: ``ValueError`` if a sentence of ids has no word, or only ``<unk>``; in a graph, assertions
    (``InvalidArgumentError``) with the same messages. Returns ``ids``."""
    empty, unknown = known_word_problems(ids)
    if tf.executing_eagerly():
        if bool(tf.reduce_any(empty)):
            raise ValueError(f"{name}: {EMPTY_SENTENCE}")
        if bool(tf.reduce_any(unknown)):
            raise ValueError(f"{name}: {UNKNOWN_SENTENCE}")
        return ids
    checks = [
        tf.debugging.assert_equal(tf.reduce_any(empty), False, message=f"{name}: {EMPTY_SENTENCE}"),
        tf.debugging.assert_equal(tf.reduce_any(unknown), False, message=f"{name}: {UNKNOWN_SENTENCE}"),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(ids)


class TokenChecker(validation.InputChecker):
    """The checks of a sentence VAE's inputs: int ids ``[batch, length]`` in ``[0, vocab_size)``."""

    def __init__(self, vocab_size, check_values=True):
        super().__init__((None,), 0, "categorical", check_values)
        self.vocab_size = int(vocab_size)

    def check_tensors(self, x, condition=None):
        """``x`` as int32, checked; a sentence VAE takes no condition."""
        if condition is not None:
            raise ValueError("a sentence VAE is unconditional: pass the token ids alone")
        x = x if tf.is_tensor(x) else tf.convert_to_tensor(x)
        check_tokens_spec(x.dtype, x.shape)
        x = tf.cast(x, tf.int32)
        return (check_token_values(x, self.vocab_size) if self.values else x), None

    def check_arrays(self, inputs, specs_only=False):
        """Checks token ids (arrays, eager tensors or, ``specs_only``, a pipeline's spec)."""
        if isinstance(inputs, (tuple, list)):
            raise ValueError("a sentence VAE takes a batch of token ids [batch, length], not a tuple")
        check_tokens_spec(inputs.dtype, inputs.shape)
        if self.values and not specs_only:
            check_token_values(inputs, self.vocab_size)

    def _pipeline_check(self, is_tuple):
        def check(*element):
            inputs = check_token_values(element[0], self.vocab_size)
            return (inputs, *element[1:]) if is_tuple else inputs

        return check


@keras.saving.register_keras_serializable(package="tfvae")
class SentenceVAE(BaseVAE):
    """A VAE over sentences: the core's posterior, prior and objective with an RNN encoder and decoder.

    Args:
        vocab_size: ids the model reads and writes (``tfvae.text.Vocabulary.size``).
        latent_dim: latent dimensions; 0 gives the RNN language model.
        embedding_dim: word-embedding size (encoder and decoder each have one).
        units: RNN state size.
        rnn: ``"lstm"`` or ``"gru"``.
        bidirectional: a bidirectional encoder.
        latent_injection: ``"initial_state"``, ``"inputs"`` or ``"both"``.
        word_dropout: the rate at which training replaces decoder inputs by ``<unk>``.
        batch_norm_gamma: BN-VAE's fixed gamma on the posterior means (0: off).
        max_length: words generated at most by ``sample``/``reconstruct``.
        decoder_dropout: dropout on the decoder's word embeddings and RNN outputs in training.
        tie_embeddings: the decoder's output layer reuses its input embedding
            (Press & Wolf 2017; needs ``units == embedding_dim``).
        **core: the core's arguments that a sentence VAE takes
            (``tfvae.core.BaseVAE``): ``objective``, ``num_samples``,
            ``free_bits``, ``beta``, ``prior`` (``"normal"`` or
            ``"mixture"``), ``prior_components``, ``kl_estimate``,
            ``posterior``, ``seed``, ``validate_inputs``; and Keras's (``name``).

    Example:
        >>> vocabulary = tfvae.text.Vocabulary.build(sentences)
        >>> model = SentenceVAE(vocabulary.size, latent_dim=32, word_dropout=0.25)
        >>> model.compile(optimizer=keras.optimizers.Adam(1e-3))
        >>> model.fit(tfvae.text.make_text_pipeline(tfvae.text.encode_sentences(vocabulary, sentences)))
        >>> vocabulary.strings(model.sample(4, seed=0))
    """

    min_latent_dim = 0
    option_family = "text"
    likelihood_kind = "categorical"

    def __init__(
        self,
        vocab_size,
        latent_dim=32,
        embedding_dim=256,
        units=256,
        rnn="lstm",
        bidirectional=False,
        latent_injection="both",
        word_dropout=0.0,
        batch_norm_gamma=0.0,
        max_length=100,
        decoder_dropout=0.0,
        tie_embeddings=False,
        **core,
    ):
        if int(vocab_size) < 5:
            raise ValueError(f"vocab_size must count the 4 special tokens and at least one word, got {vocab_size}")
        own = self.row_arguments(locals())  # first: locals() is the arguments alone here
        self.check_arguments(own, {"latent_dim": latent_dim, **core})
        super().__init__(latent_dim=latent_dim, **core)
        self.store_arguments(own)  # self.embedding_dim, self.units, self.rnn, ..., self.tie_embeddings
        self.vocab_size = int(vocab_size)
        self.build_parts()

    @property
    def architecture(self):
        """The RNN's kind: what the image VAE's ``architecture`` names (run files and exports read it)."""
        return self.rnn

    def _make_likelihood(self):
        """The categorical likelihood of each position, masked at padding."""
        return CategoricalSequenceLikelihood(name="likelihood")

    def _make_networks(self, encoder, decoder):
        """The RNN encoder and decoder (a sentence VAE builds its own: ``encoder``/``decoder`` are None)."""
        encoder = SentenceEncoder(
            self.vocab_size,
            self.posterior.params_size(self.latent_dim),
            self.latent_dim,
            self.embedding_dim,
            self.units,
            self.rnn,
            self.bidirectional,
            self.batch_norm_gamma,
            name="encoder",
        )
        decoder = SentenceDecoder(
            self.vocab_size,
            self.latent_dim,
            self.embedding_dim,
            self.units,
            self.rnn,
            self.latent_injection,
            self.word_dropout,
            self.decoder_dropout,
            self.tie_embeddings,
            name="decoder",
        )
        # Build the weights now, so checkpoints restore before the first call.
        tokens = tf.constant([[4, EOS]])
        encoder(tokens)
        decoder((tf.zeros([1, self.latent_dim]), tokens))
        return encoder, decoder

    def _inputs(self):
        return TokenChecker(self.vocab_size, self.validate_inputs)

    def _teacher_forced(self, x, z):
        """Logits ``[..., B, T, V]`` (float32) and x as ``[..., B, T]``: the decoder reads x's prefix once per z."""
        z = tf.convert_to_tensor(z, tf.float32)
        leading = tf.shape(z)[:-1]  # [K, B] or [B]
        repeats = tf.reduce_prod(leading) // tf.maximum(tf.shape(x)[0], 1)  # an empty batch stays empty
        flat_z = tf.reshape(z, [-1, self.latent_dim])
        logits = tf.cast(self.decoder((flat_z, tf.tile(x, [repeats, 1]))), tf.float32)
        logits = tf.reshape(logits, tf.concat([leading, tf.shape(logits)[1:]], 0))
        return logits, tf.broadcast_to(x, tf.shape(logits)[:-1])

    def likelihood_of(self, x, z, condition=None):
        """p(x|z) by teacher forcing: the decoder reads x's prefix once per sample of z ``[..., B, d]``."""
        logits, x = self._teacher_forced(x, z)
        return self.likelihood.distribution(logits, x != PAD)

    def log_px_given_z(self, x, z, condition=None):
        """log p(x|z) ``[..., B]`` for scoring: ``CategoricalSequenceLikelihood.log_prob_of``, teacher-forced."""
        logits, x = self._teacher_forced(x, z)
        return CategoricalSequenceLikelihood.log_prob_of(logits, x, x != PAD)

    def decode(self, z, condition=None, greedy=True, seed=None, max_length=None, decoding=None):
        """Sentences (int ids ``[B, max_length]``, ``<pad>`` after ``<eos>``) generated from z ``[B, d]``.

        ``decoding`` (``tfvae.decoding.Decoding``) picks the strategy and its
        guards; without it, ``greedy`` picks greedy or sampled words.
        """
        if condition is not None:
            raise ValueError("a sentence VAE is unconditional")
        z = tf.convert_to_tensor(z, tf.float32)
        validation.check_latents_spec(z.shape, self.latent_dim)
        max_length = self.max_length if max_length is None else max_length
        return self.decoder.generate(z, max_length, greedy, seed, decoding)

    def sample(self, num_samples, seed=None, condition=None, greedy=True, decoding=None, max_length=None):
        """``num_samples`` sentences (ids) from z ~ p(z): greedy, sampled word by word (``greedy=False``), or
        decoded with ``decoding`` (``tfvae.decoding.Decoding``: top-p, beam search, ...)."""
        if isinstance(num_samples, int) and num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        seed = self._seed(seed)
        z = self.prior().sample(num_samples, seed=seed)
        decode_seed = tf.random.experimental.stateless_fold_in(seed, 1)
        return self.decode(z, condition, greedy, decode_seed, max_length, decoding)

    def reconstruct(self, x, condition=None):
        """The greedy sentence at the posterior mean of each sentence of ``x``."""
        return self.decode(self.encode(x, condition).mean())

    def homotopy(self, x_from, x_to, steps=5, decoding=None, seed=None, max_length=None):
        """Sentences at evenly spaced points between two sentences' posterior means (Bowman et al.): greedy, or
        decoded with ``decoding`` (each point with the stateless ``seed``).

        ``x_from`` and ``x_to`` are ids ``[1, T]``; returns ids ``[steps, max_length]``.
        """
        if self.latent_dim == 0:
            raise ValueError("a language model (latent_dim=0) has no latent space to interpolate in")
        for name, x in (("x_from", x_from), ("x_to", x_to)):
            if tf.TensorShape(x.shape).rank != 2 or x.shape[0] != 1:
                raise ValueError(f"{name}: expected the ids of one sentence, shape [1, length], got {list(x.shape)}")
            check_known_words(x, name)
        start, end = self.encode(x_from).mean(), self.encode(x_to).mean()
        t = tf.linspace(0.0, 1.0, steps)[:, None]
        return self.decode((1.0 - t) * start + t * end, seed=seed, max_length=max_length, decoding=decoding)

    def get_config(self):
        """The constructor's arguments; ``SentenceVAE.from_config`` rebuilds the model."""
        return {**super().get_config(), "vocab_size": self.vocab_size, **self.argument_config(self.row_names())}
