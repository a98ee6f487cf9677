"""Text data: sentences from plain-text files or TFDS, a vocabulary, and ``tf.data`` pipelines.

A text dataset is a directory of three files with one sentence a line:
``train.txt``, ``valid.txt``, ``test.txt`` (or Penn Treebank's names
``ptb.train.txt``, ``ptb.valid.txt``, ``ptb.test.txt``). Empty lines are
skipped.

A sentence becomes token ids ``w_1 .. w_n <eos>`` (the model prepends
``<bos>`` for its decoder itself), padded with ``<pad>`` = 0 at the end:

    ids 0..3:  <pad> <unk> <bos> <eos>,  then the training words, most frequent first

Tokenization runs in TensorFlow (so an export does it in its graph too):
``"whitespace"`` splits on spaces (PTB is tokenized already);
``"standardize"`` first lowercases and strips punctuation, the standardization
of Keras's ``TextVectorization`` (``lower_and_strip_punctuation``). The lookup
is a Keras ``StringLookup`` with ``<pad>`` as its mask token and ``<unk>`` as
its out-of-vocabulary token, so with ``"whitespace"`` PTB's own ``<unk>`` is
the unknown word (``"standardize"`` strips it to the word ``unk``). The other
markers written in the text (``<pad>``, ``<bos>``, ``<eos>``) are read as
``<unk>``: only the pipeline places them.
"""

import collections
import dataclasses
import re
import string
from pathlib import Path

import numpy as np

from tfvae.backend import keras, tf
from tfvae.options import TOKENIZERS  # defined once, with the options

SPECIAL_TOKENS = ("<pad>", "<unk>", "<bos>", "<eos>")
PAD, UNK, BOS, EOS = range(4)
# Keras TextVectorization's lower_and_strip_punctuation uses this pattern.
PUNCTUATION = f"[{re.escape(string.punctuation)}]"
SPLIT_FILES = {split: (f"{split}.txt", f"ptb.{split}.txt") for split in ("train", "valid", "test")}
VOCABULARY_FILE = "vocabulary.txt"


class TextDataError(ValueError):
    """A text directory, file or sentence list that cannot be read as a dataset."""


@dataclasses.dataclass
class TextDataset:
    """Train, validation and test sentences (lists of strings)."""

    name: str
    train: list
    valid: list
    test: list


def read_sentences(path: str | Path) -> list:
    """The non-empty lines of a UTF-8 text file, stripped.

    Raises:
        TextDataError: if the file is missing, not UTF-8 or holds no sentence.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise TextDataError(f"{path}: cannot read as UTF-8 text ({error})") from error
    sentences = [line.strip() for line in lines if line.strip()]
    if not sentences:
        raise TextDataError(f"{path}: holds no sentence (every line is empty)")
    return sentences


def load_text_dir(data_dir: str | Path) -> TextDataset:
    """Reads ``train``/``valid``/``test`` sentences from ``data_dir`` (see the module docstring)."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise TextDataError(f"{data_dir}: text directory does not exist")
    splits = {}
    for split, names in SPLIT_FILES.items():
        path = next((data_dir / n for n in names if (data_dir / n).exists()), None)
        if path is None:
            raise TextDataError(f"{data_dir}: no {' or '.join(names)} (one sentence a line)")
        splits[split] = read_sentences(path)
    return TextDataset(data_dir.name, **splits)


def load_text(settings, dataset=None):
    """The run's ``TextDataset``: given, from ``settings.data_dir`` or from TFDS (``settings.tfds_name``)."""
    if dataset is not None:
        return dataset
    if settings.data_dir:
        return load_text_dir(settings.data_dir)
    if settings.tfds_name:
        return load_tfds_text(settings.tfds_name)
    raise ValueError("text data needs --data-dir (a directory of train/valid/test sentences) or --tfds-name")


def load_tfds_text(name: str, feature: str | None = None) -> TextDataset:
    """A TFDS text dataset (e.g. ``"imdb_reviews"``) as sentences; needs a network the first time.

    Uses the splits ``train``, ``validation`` (or the last 5 % of train) and
    ``test``, and the dataset's only string feature unless ``feature`` names one.
    """
    import tensorflow_datasets as tfds

    builder = tfds.builder(name)
    builder.download_and_prepare()
    features = builder.info.features
    strings = [k for k, v in features.items() if getattr(v, "dtype", None) == tf.string]
    if feature is None:
        if len(strings) != 1:
            raise TextDataError(f"{name}: pick the text feature with feature=... among {strings}")
        feature = strings[0]

    def sentences(split):
        data = tfds.as_numpy(builder.as_dataset(split=split))
        return [line for example in data for line in example[feature].decode("utf-8").splitlines() if line.strip()]

    splits = builder.info.splits
    train = sentences("train")
    if "validation" in splits:
        valid = sentences("validation")
    else:
        cut = len(train) - max(1, len(train) // 20)
        train, valid = train[:cut], train[cut:]
    return TextDataset(name, train, valid, sentences("test") if "test" in splits else valid)


def split_words(sentences, tokenizer="whitespace"):
    """``[N]`` strings -> a ``tf.RaggedTensor`` of tokens ``[N, (words)]`` (graph-compatible)."""
    if tokenizer not in TOKENIZERS:
        raise ValueError(f"tokenizer must be one of {TOKENIZERS}, got {tokenizer!r}")
    sentences = tf.convert_to_tensor(sentences, tf.string)
    if tokenizer == "standardize":
        sentences = tf.strings.regex_replace(tf.strings.lower(sentences), PUNCTUATION, "")
    return tf.strings.split(sentences)


class Vocabulary:
    """Words <-> ids, with ``<pad>`` = 0, ``<unk>`` = 1, ``<bos>`` = 2, ``<eos>`` = 3.

    Args:
        words: the vocabulary after the four special tokens, in id order.
        tokenizer: ``"whitespace"`` or ``"standardize"`` (see ``split_words``).
        max_length: words kept per sentence; longer ones are cut (before ``<eos>``).
    """

    def __init__(self, words, tokenizer="whitespace", max_length=100):
        words = [str(w) for w in words]
        clash = sorted(set(words) & set(SPECIAL_TOKENS))
        if clash:
            raise ValueError(f"the words must not contain the special tokens {clash}")
        if len(set(words)) != len(words):
            raise ValueError("the vocabulary lists a word twice")
        if int(max_length) < 1:
            raise ValueError(f"max_length must be >= 1, got {max_length}")
        split_words([], tokenizer)  # checks the name
        self.words = words
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self._lookup = keras.layers.StringLookup(
            vocabulary=list(SPECIAL_TOKENS[2:]) + words, mask_token=SPECIAL_TOKENS[0], oov_token=SPECIAL_TOKENS[1]
        )
        self._invert = keras.layers.StringLookup(
            vocabulary=list(SPECIAL_TOKENS[2:]) + words,
            mask_token=SPECIAL_TOKENS[0],
            oov_token=SPECIAL_TOKENS[1],
            invert=True,
        )

    @property
    def lookup_layers(self):
        """The two ``StringLookup`` layers, words to ids and ids to words. A SavedModel whose signatures call
        ``ids`` or ``strings`` must track them, so that their tables are saved with the graph."""
        return self._lookup, self._invert

    @property
    def tokens(self):
        """Every token in id order, the special ones first."""
        return list(SPECIAL_TOKENS) + self.words

    @property
    def size(self):
        """Number of ids (the categorical likelihood's classes)."""
        return len(SPECIAL_TOKENS) + len(self.words)

    @classmethod
    def build(cls, sentences, max_vocab=None, min_count=1, tokenizer="whitespace", max_length=100):
        """The vocabulary of ``sentences``: words seen at least ``min_count`` times, the
        ``max_vocab`` most frequent (ties alphabetically), special tokens not counted."""
        if max_vocab is not None and int(max_vocab) < 1:
            raise ValueError(f"max_vocab must be >= 1, got {max_vocab}")
        if int(min_count) < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        counts = collections.Counter(split_words(sentences, tokenizer).flat_values.numpy().tolist())
        ranked = sorted(
            ((n, w.decode("utf-8")) for w, n in counts.items() if n >= min_count), key=lambda item: (-item[0], item[1])
        )
        words = [w for _, w in ranked if w not in SPECIAL_TOKENS]
        return cls(words[:max_vocab] if max_vocab else words, tokenizer, max_length)

    def ids(self, sentences):
        """``[N]`` strings -> ``(ids, lengths)``: int32 ``[N, T]`` (``w_1..w_n <eos>``, 0-padded; T the
        longest) and int32 ``[N]`` token counts with ``<eos>``. Sentences longer than ``max_length``
        words are cut. Runs in a graph too (an export's string signatures use it)."""
        words = split_words(sentences, self.tokenizer)[:, : self.max_length]
        markers = tf.constant([SPECIAL_TOKENS[0], *SPECIAL_TOKENS[2:]])
        written = tf.reduce_any(words.flat_values[:, None] == markers[None, :], axis=1)
        words = words.with_flat_values(tf.where(written, SPECIAL_TOKENS[1], words.flat_values))
        ids = tf.cast(self._lookup(words), tf.int32)
        eos = tf.fill([ids.nrows(), 1], EOS)
        ids = tf.concat([ids, tf.RaggedTensor.from_tensor(eos)], axis=1)
        return ids.to_tensor(PAD), tf.cast(ids.row_lengths(), tf.int32)

    def count_cut(self, sentences):
        """How many of ``sentences`` have more than ``max_length`` words."""
        lengths = split_words(sentences, self.tokenizer).row_lengths().numpy()
        return int(np.sum(lengths > self.max_length))

    def strings(self, ids):
        """int ``[N, T]`` ids -> ``[N]`` strings: the words up to the first ``<eos>`` (or ``<pad>``)."""
        ids = tf.convert_to_tensor(ids)
        ids = tf.cast(ids, tf.int64)
        ends = tf.cumsum(tf.cast((ids == EOS) | (ids == PAD), tf.int32), axis=1, exclusive=False)
        words = tf.ragged.boolean_mask(self._invert(ids), ends == 0)
        return tf.strings.reduce_join(words, axis=1, separator=" ")

    def save(self, path: str | Path) -> None:
        """Writes every token, one a line, in id order (the special tokens first)."""
        Path(path).write_text("\n".join(self.tokens) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path, tokenizer="whitespace", max_length=100):
        """Reads a file written by ``save``."""
        tokens = Path(path).read_text(encoding="utf-8").split("\n")[:-1]
        if tuple(tokens[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise TextDataError(f"{path}: not a tfvae vocabulary (the first lines must be {SPECIAL_TOKENS})")
        return cls(tokens[len(SPECIAL_TOKENS) :], tokenizer, max_length)

    def config(self):
        """What rebuilds the vocabulary beside its file: tokenizer and max_length."""
        return {"tokenizer": self.tokenizer, "max_length": self.max_length, "size": self.size}


def encode_sentences(vocabulary, sentences):
    """``sentences`` as a ``tf.RaggedTensor`` of ids ``[N, (tokens)]`` with ``<eos>`` (no padding)."""
    if len(sentences) == 0:
        raise TextDataError("no sentences to encode")
    ids, lengths = vocabulary.ids(list(sentences))
    return tf.RaggedTensor.from_tensor(ids, lengths=lengths)


def bucket_boundaries(max_tokens, width=10):
    """Length boundaries 10, 20, ... below ``max_tokens`` for ``bucket_by_sequence_length``."""
    return list(range(width, int(max_tokens), width)) or [int(max_tokens)]


def make_text_pipeline(ids, batch_size=32, shuffle=True, seed=0, bucket=True):
    """A ``tf.data`` pipeline of int32 ``[B, T]`` id batches, 0-padded to each batch's longest.

    Args:
        ids: a ``tf.RaggedTensor`` ``[N, (tokens)]`` (``encode_sentences``).
        batch_size: sentences per batch.
        shuffle: reshuffle every epoch (with ``seed``).
        bucket: batch sentences of similar length together (less padding);
            the order of sentences is then not kept, so evaluation uses
            ``bucket=False``. Each bucket ends an epoch with one part-full
            batch.
    """
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    count = int(ids.nrows())
    if count == 0:
        raise TextDataError("no sentences to build a pipeline from")
    # Dense rows cut to their lengths: padded_batch needs dense (not ragged) elements.
    dataset = tf.data.Dataset.from_tensor_slices((ids.to_tensor(PAD), ids.row_lengths()))
    dataset = dataset.map(lambda row, length: row[:length])
    if shuffle:
        dataset = dataset.shuffle(count, seed=seed, reshuffle_each_iteration=True)
    if bucket:
        boundaries = bucket_boundaries(int(tf.reduce_max(ids.row_lengths())) + 1)
        # Every sentence, every epoch: part-full batches stay (Keras then averages its running ``loss``
        # over batches; the ``elbo`` metric stays a per-sentence mean).
        dataset = dataset.bucket_by_sequence_length(
            lambda x: tf.shape(x)[0], boundaries, [batch_size] * (len(boundaries) + 1), padding_values=PAD
        )
    else:
        dataset = dataset.padded_batch(batch_size, padding_values=PAD)
    return dataset.prefetch(tf.data.AUTOTUNE)
