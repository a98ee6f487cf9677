"""The one table of ``tfvae train``'s options, importing no TensorFlow.

Each ``Option`` row names one setting: the argument it is in Python (a
``VAE``/``SentenceVAE`` constructor argument or a ``tfvae.runs.TrainSettings``
field), its flag (derived from the name unless the row renames it), type,
default, allowed values (choices, or a range), the families it belongs to and
its help text. From the rows come the ``tfvae train`` parser
(``add_arguments``), the ranges the command line checks (``flag_ranges``),
the value checks of the library (``check_value``), how a model stores its
arguments and configures them (``model_row``, ``python_value``: see
``tfvae.core.BaseVAE.store_arguments``), and which settings a warm start and a
resumed run may change (the ``fine_tuning`` and ``runtime`` columns).

The rules over several options (``RULES``: ``--free-bits`` needs ``--objective
free_bits``, image flags are refused on text, ...) are written once below, too:
``check_rules`` applies them to the command line's flags and to the
constructors' arguments alike.

The library's name tuples (likelihoods, priors, objectives, ...) are defined
here once; the modules that implement them import them.

Also here, because they are flags too: ``tfvae sample``'s text decoding
settings and flags (``Decoding``, ``add_decoding_arguments``, ``decoding_of``)
and ``tfvae train --config FILE.json`` (``expand_config``).

Families: ``"image"`` (a ``VAE`` argument), ``"text"`` (a ``SentenceVAE``
argument), ``"train"`` (a ``TrainSettings`` field) and ``"command"`` (a flag of
the command itself, such as ``--out``, that is no setting).
"""

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path
from typing import NamedTuple

# The variants each library module implements, by the name the user passes.
POSTERIORS = ("diagonal", "full")  # tfvae.distributions
LIKELIHOODS = ("bernoulli", "normal", "continuous_bernoulli", "discretized_logistic")  # tfvae.distributions
PRIORS = ("normal", "mixture", "vamp")  # tfvae.priors
OBJECTIVES = ("elbo", "iwae", "iwae_dreg", "free_bits")  # tfvae.objectives
KL_ESTIMATES = ("auto", "analytic", "sample")  # tfvae.objectives
INFERENCES = ("bottom_up", "ladder")  # tfvae.latents
ARCHITECTURES = ("mlp", "conv")  # tfvae.networks
RNNS = ("lstm", "gru")  # tfvae.sentence
LATENT_INJECTIONS = ("initial_state", "inputs", "both")  # tfvae.sentence
LR_SCHEDULES = ("constant", "exponential", "cosine", "burda")  # tfvae.optimization
BINARIZATIONS = ("dynamic", "fixed", "none")  # tfvae.data
TOKENIZERS = ("whitespace", "standardize")  # tfvae.text
STRATEGIES = ("default", "mirrored", "multiworker")  # tfvae.training
KL_WARMUP_SHAPES = ("linear", "logistic")  # tfvae.callbacks: LinearWarmup, LogisticWarmup
JIT_MODES = ("auto", "on", "off")  # --jit-compile: TrainSettings.jit_compile None, True, False
LEARNED_SCALES = ("global", "pixel")  # likelihood_scale: a learned Normal sigma
# --dataset values of a user's own data given by --data (tfvae.own_data reads them): what each is.
OWN_DATASETS = {
    "images": "a folder of PNG/JPEG images",
    "array": "a .npy/.npz file of examples",
    "table": "a CSV file of numeric features",
}
ARRAY_SUFFIXES = (".npy", ".npz")
TABLE_SUFFIXES = (".csv",)
TEXT_DATASET = "text"  # --dataset of a sentence VAE
TABLE = "table"  # real-valued features, standardised: any finite value, a Normal likelihood
# What a table's run takes instead of the image defaults, where the flags are left at those defaults.
TABLE_DEFAULTS = {"binarize": "none", "likelihood": "normal", "likelihood_scale": "global"}

# --- tfvae sample's text decoding settings (tfvae.decoding runs them; its docstring has the table) ---

DECODING_STRATEGIES = ("greedy", "temperature", "top_k", "top_p", "beam")


class Decoding(NamedTuple):
    """A decoding strategy and its settings; ``DEFAULT_DECODING`` is what ``tfvae sample`` uses unless told otherwise.

    Settings a strategy does not use are ignored (``temperature`` by greedy
    and beam, ``top_k`` outside top_k, ``top_p`` outside top_p,
    ``beam_width`` outside beam). Fields may be Python values or scalar
    tensors (a signature's inputs).
    """

    strategy: str = "greedy"
    temperature: float = 1.0
    top_k: int = 40
    top_p: float = 0.9
    beam_width: int = 4
    no_unk: bool = False
    no_repeat_ngram: int = 0

    def describe(self):
        """One line for a title, e.g. ``top_p (p=0.9, temperature 1), no <unk>, no repeated 3-gram``."""
        details = {
            "temperature": f"temperature {self.temperature:g}",
            "top_k": f"k={self.top_k}, temperature {self.temperature:g}",
            "top_p": f"p={self.top_p:g}, temperature {self.temperature:g}",
            "beam": f"width {self.beam_width}",
        }
        parts = [self.strategy + (f" ({details[self.strategy]})" if self.strategy in details else "")]
        if self.no_unk:
            parts.append("no <unk>")
        if self.no_repeat_ngram:
            parts.append(f"no repeated {self.no_repeat_ngram}-gram")
        return ", ".join(parts)


GREEDY = Decoding()  # what reconstruct, decode and homotopy use by default: the decoding of tfvae 0.x
SAMPLED = Decoding("temperature")  # ``greedy=False``: a draw from the model's own distribution
# Chosen by measurement on saved_models/ptb_sentence_vae/5 (scripts/text_sampling.py,
# scripts/results/text-sampling-2026-12-05.json): no sentence at the length limit, no <unk>, distinct-2 near
# the temperature-1 draws'.
DEFAULT_DECODING = Decoding("top_p", top_p=0.9, no_unk=True, no_repeat_ngram=3)


def check_decoding(decoding, vocab_size, max_length=None):
    """Raises ``ValueError`` (one line naming the setting) for settings that cannot decode; returns ``decoding``."""
    if decoding.strategy not in DECODING_STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(DECODING_STRATEGIES)}; got {decoding.strategy!r}")
    if decoding.strategy in ("temperature", "top_k", "top_p") and not decoding.temperature > 0:
        raise ValueError(
            f"temperature must be > 0 (1 samples the model's own distribution), got {decoding.temperature}"
        )
    if decoding.strategy == "top_k" and not 1 <= decoding.top_k <= vocab_size:
        raise ValueError(f"top_k must be in [1, {vocab_size}] (this model's vocabulary), got {decoding.top_k}")
    if decoding.strategy == "top_p" and not 0 < decoding.top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {decoding.top_p}")
    if decoding.strategy == "beam" and decoding.beam_width < 1:
        raise ValueError(f"beam_width must be >= 1, got {decoding.beam_width}")
    if decoding.no_repeat_ngram < 0:
        raise ValueError(f"no_repeat_ngram must be >= 0 (0: off), got {decoding.no_repeat_ngram}")
    if max_length is not None and max_length < 1:
        raise ValueError(f"max_length must be >= 1 (words generated at most), got {max_length}")
    return decoding


MAX_SEED = 2**31 - 1  # seeds become int32 stateless seeds
FAMILIES = ("image", "text", "train", "command")
TEXT_GROUP = "text (--dataset text)"  # the help section of the text flags


@dataclasses.dataclass(frozen=True)
class Option:
    """One setting: its Python name, its flag, what values it takes and where it applies.

    Attributes:
        name: the argument's name in Python (constructor argument or
            ``TrainSettings`` field).
        help: the help text of its flag.
        families: where it applies (``FAMILIES``).
        type: ``int``, ``float``, ``str``, ``bool`` (a switch) or a parse
            function of the flag's text.
        default: the flag's default (``None``: decided later, e.g. per family).
        choices: the allowed values, or ``None``.
        low, high: the allowed range (``None``: unbounded); numbers must also
            be finite.
        low_open, high_open: whether ``low``/``high`` themselves are refused.
        flag: the flag without ``--``, when it is not the name with dashes
            (``adam-beta1`` for ``beta_1``).
        renamed: ``(family, name)`` pairs where the argument has another name
            (``--arch`` is ``architecture`` of a ``VAE``, ``rnn`` of a
            ``SentenceVAE``).
        nargs: argparse's ``nargs`` (``"+"``: a list).
        metavar: argparse's ``metavar``.
        group: the help section the flag is listed in (``None``: the main one).
        required: the flag must be given.
        attribute: the model's attribute that holds a model argument, when it
            is not the argument's name (``posterior_kind``: ``posterior`` is the
            head); the model stores, and ``get_config`` reads, the arguments by
            their rows (``BaseVAE.store_arguments``).
        runtime: a ``TrainSettings`` field that may change between the
            invocations of one run: it changes where and how fast the run goes,
            not what it trains (``runtime_settings``).
        fine_tuning: a model argument that a warm start may change: it adds no
            variable and leaves what each weight means (``fine_tuning_arguments``).
    """

    name: str
    help: str
    families: tuple[str, ...]
    type: object = str
    default: object = None
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    flag: str | None = None
    renamed: tuple[tuple[str, str], ...] = ()
    nargs: str | None = None
    metavar: str | None = None
    group: str | None = None
    required: bool = False
    attribute: str | None = None
    runtime: bool = False
    fine_tuning: bool = False

    @property
    def flag_name(self) -> str:
        """The flag without ``--``, e.g. ``latent-dim``."""
        return self.flag or self.name.replace("_", "-")

    @property
    def dest(self) -> str:
        """The flag's attribute on argparse's namespace, e.g. ``latent_dim``."""
        return self.flag_name.replace("-", "_")

    def name_in(self, family: str) -> str:
        """The argument's name in ``family`` (``"image"``, ``"text"`` or ``"train"``)."""
        return dict(self.renamed).get(family, self.name)

    @property
    def flag_default(self):
        """The default as argparse gives it back (a list for ``nargs``)."""
        return list(self.default) if self.nargs and self.default is not None else self.default

    @property
    def bounded(self) -> bool:
        """Whether the row has a range."""
        return self.low is not None or self.high is not None


def positive_int(text: str) -> int:
    """An integer flag that argparse itself refuses below 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def nonnegative_int(text: str) -> int:
    """An integer flag that argparse itself refuses below 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text}")
    return value


def likelihood_scale(text: str):
    """``--likelihood-scale``: a positive number, ``global`` or ``pixel``."""
    if text in LEARNED_SCALES:
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, 'global' or 'pixel', got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"a fixed scale must be positive, got {text}")
    return value


# The Python type of a flag's parse function (the row's range says what the parse function refuses).
PYTHON_TYPES = {positive_int: int, nonnegative_int: int, likelihood_scale: float}
# The words a numeric parse function takes besides numbers.
_STRING_VALUES = {likelihood_scale: LEARNED_SCALES}


_POSITIVE = {"low": 1}
_NONNEGATIVE = {"low": 0}
_TRAIN, _IMAGE, _TEXT, _MODEL, _COMMAND = ("train",), ("image",), ("text",), ("image", "text"), ("command",)

# In the order of `tfvae train --help`.
OPTIONS = (
    Option(
        "config",
        'a JSON object of flags ({"latent-dim": 32, ...}); flags on the command line override it',
        _COMMAND,
        metavar="FILE.json",
    ),
    Option(
        "out",
        "run directory: the same command again resumes an interrupted run and leaves a finished one "
        "as it is; a larger --epochs continues it; other settings are refused",
        _COMMAND,
        required=True,
    ),
    Option("overwrite", "delete the run in --out first and start afresh", _COMMAND, type=bool, default=False),
    Option(
        "dataset",
        "dataset name (mnist, fashion_mnist, or any TFDS image dataset), or 'text': sentences "
        "from --data-dir (train.txt/valid.txt/test.txt or ptb.*.txt) or from --tfds-name",
        _TRAIN,
        default="mnist",
    ),
    Option(
        "data_dir",
        "directory of MNIST-format IDX files (default $TFVAE_DATA_DIR, then TFDS), or of sentences",
        _TRAIN,
        runtime=True,  # the same data, moved
    ),
    Option(
        "data",
        "your own data: a folder of PNG/JPEG images (flat, in class subfolders, or in train/ valid/ test/), a "
        ".npy/.npz array of examples, or a .csv of numeric features; sets --dataset to images, array or table "
        "(see README, 'Your own data')",
        _TRAIN,
        metavar="PATH",
        runtime=True,  # the same data, moved
    ),
    Option(
        "image_size",
        "--data folder: resize every image to S x S, H x W, or H x W with C channels (1: grey, 3: RGB)",
        _TRAIN,
        positive_int,
        None,
        nargs="+",
        metavar="N",
        **_POSITIVE,
    ),
    Option("epochs", "training epochs", _TRAIN, positive_int, 10, runtime=True, **_POSITIVE),
    Option("batch_size", "examples per batch and device", _TRAIN, positive_int, 128, **_POSITIVE),
    Option("learning_rate", "Adam learning rate (the schedule's first)", _TRAIN, float, 1e-3, low=0, low_open=True),
    Option(
        "lr_schedule",
        "learning-rate schedule (burda: 3^i epochs at lr*10^(-i/7), i=0..7)",
        _TRAIN,
        default="constant",
        choices=LR_SCHEDULES,
    ),
    Option(
        "lr_decay_rate",
        "exponential: lr factor per --lr-decay-epochs",
        _TRAIN,
        float,
        0.1,
        low=0,
        high=1,
        low_open=True,
    ),
    Option("lr_decay_epochs", "exponential: epochs per --lr-decay-rate", _TRAIN, float, 100.0, low=0, low_open=True),
    Option("lr_min_fraction", "cosine: final lr as a fraction of the first", _TRAIN, float, 0.0, low=0, high=1),
    Option("warmup_steps", "linear learning-rate warm-up over N steps", _TRAIN, int, 0, **_NONNEGATIVE),
    Option(
        "reduce_lr_on_plateau",
        "halve the lr after PATIENCE epochs without validation progress (constant schedule; 0: off)",
        _TRAIN,
        int,
        0,
        metavar="PATIENCE",
        **_NONNEGATIVE,
    ),
    Option(
        "early_stopping",
        "stop after PATIENCE epochs without a better validation objective (0: off); the best epoch's weights are kept",
        _TRAIN,
        int,
        0,
        metavar="PATIENCE",
        runtime=True,
        **_NONNEGATIVE,
    ),
    Option("beta_1", "Adam beta_1", _TRAIN, float, 0.9, flag="adam-beta1", low=0, high=1, high_open=True),
    Option("beta_2", "Adam beta_2", _TRAIN, float, 0.999, flag="adam-beta2", low=0, high=1, high_open=True),
    Option(
        "epsilon", "Adam epsilon (Burda et al.: 1e-4)", _TRAIN, float, 1e-7, flag="adam-epsilon", low=0, low_open=True
    ),
    Option(
        "validation_size",
        "training examples held out for validation and best-checkpoint selection",
        _TRAIN,
        int,
        5000,
        **_NONNEGATIVE,
    ),
    Option(
        "binarize",
        "training binarisation (test data is binarised once, seed 0, unless 'none')",
        _TRAIN,
        default="dynamic",
        choices=BINARIZATIONS,
    ),
    Option("seed", "seed of data order, binarisation and initial weights", _TRAIN, int, 0, low=0, high=MAX_SEED),
    Option(
        "latent_dim",
        "latent dimensions (default 16; text 32, and 0 gives the RNN language model)",
        _MODEL,
        nonnegative_int,
        None,
        **_NONNEGATIVE,
    ),
    Option(
        "latent_dims",
        "sizes of the stochastic layers, lowest first (e.g. 100 50: a two-layer hierarchical VAE)",
        _IMAGE,
        positive_int,
        None,
        nargs="+",
        **_POSITIVE,
    ),
    Option(
        "inference",
        "hierarchical inference: bottom-up q(z1|x) q(z2|z1) (Burda) or the ladder's top-down q",
        _IMAGE,
        default="bottom_up",
        choices=INFERENCES,
    ),
    Option(
        "latent_hidden_units",
        "widths of the MLPs between stochastic layers",
        _IMAGE,
        positive_int,
        (256, 256),
        nargs="+",
        **_POSITIVE,
    ),
    Option(
        "latent_batch_norm",
        "batch normalisation in the MLPs between stochastic layers (Sønderby et al. 2016)",
        _IMAGE,
        bool,
        False,
    ),
    Option(
        "architecture",
        "encoder/decoder architecture (default mlp; lstm or gru for text, default lstm)",
        _MODEL,
        flag="arch",
        renamed=(("text", "rnn"),),
        choices=ARCHITECTURES + RNNS,
    ),
    Option(
        "hidden_units",
        "MLP encoder widths (decoder mirrors them)",
        _IMAGE,
        positive_int,
        (512, 256),
        nargs="+",
        **_POSITIVE,
    ),
    Option(
        "filters", "conv encoder filters (decoder mirrors them)", _IMAGE, positive_int, (32, 64), nargs="+", **_POSITIVE
    ),
    Option("activation", "hidden activation (any Keras name)", _IMAGE, default="relu"),
    Option(
        "posterior", "q(z|x) covariance", _MODEL, default="diagonal", choices=POSTERIORS, attribute="posterior_kind"
    ),
    Option(
        "likelihood",
        "p(x|z); use --binarize none for the last two (grey/8-bit images)",
        _IMAGE,
        default="bernoulli",
        choices=LIKELIHOODS,
        attribute="likelihood_kind",
    ),
    Option(
        "likelihood_scale",
        "Normal likelihood sigma: a number, 'global' or 'pixel' (learned)",
        _IMAGE,
        likelihood_scale,
        1.0,
        low=0,
        low_open=True,
    ),
    Option(
        "prior",
        "p(z): standard Normal, learned Gaussian mixture, or VampPrior",
        _MODEL,
        default="normal",
        choices=PRIORS,
        attribute="prior_kind",
    ),
    Option(
        "prior_components",
        "mixture components / VampPrior pseudo-inputs (default 10 / 500)",
        _MODEL,
        positive_int,
        None,
        **_POSITIVE,
    ),
    Option(
        "objective",
        "training objective (the true ELBO is always logged as 'elbo')",
        _MODEL,
        default="elbo",
        choices=OBJECTIVES,
        attribute="objective_kind",
        fine_tuning=True,
    ),
    Option(
        "num_samples",
        "latent samples per example in training (K of the IWAE objective)",
        _MODEL,
        positive_int,
        1,
        fine_tuning=True,
        **_POSITIVE,
    ),
    Option(
        "free_bits",
        "KL floor per latent dimension (nats), free_bits only",
        _MODEL,
        float,
        0.5,
        fine_tuning=True,
        **_NONNEGATIVE,
    ),
    Option("beta", "weight of the KL term", _MODEL, float, 1.0, fine_tuning=True, **_NONNEGATIVE),
    Option("kl_warmup_steps", "KL warm-up from 0 to beta over N steps", _TRAIN, int, 0, **_NONNEGATIVE),
    Option(
        "kl_warmup_shape",
        "the warm-up's curve: a straight line, or Bowman et al.'s logistic centred at N/2",
        _TRAIN,
        default="linear",
        choices=KL_WARMUP_SHAPES,
    ),
    Option("kl_cycle_steps", "cyclical KL annealing with period N steps", _TRAIN, int, 0, **_NONNEGATIVE),
    Option("conditional", "conditional VAE: encoder and decoder also see the one-hot label", _TRAIN, bool, False),
    Option(
        "kl_estimate", "closed-form or Monte Carlo KL", _MODEL, default="auto", choices=KL_ESTIMATES, fine_tuning=True
    ),
    Option(
        "strategy",
        "tf.distribute strategy (multiworker reads TF_CONFIG)",
        _TRAIN,
        default="default",
        choices=STRATEGIES,
        runtime=True,
    ),
    Option(
        "jit_compile",
        "compile the training step with XLA (auto: on for mlp runs of 500 or more steps, "
        "off for conv and for shorter runs, as measured)",
        _TRAIN,
        default="auto",
        choices=JIT_MODES,
        runtime=True,
    ),
    Option("steps_per_execution", "batches per tf.function call", _TRAIN, positive_int, 20, runtime=True, **_POSITIVE),
    # A switch that turns the setting off: TrainSettings.backup is True unless --no-backup is given.
    Option(
        "backup", "do not keep BackupAndRestore state for resuming", _TRAIN, bool, False, flag="no-backup", runtime=True
    ),
    Option(
        "mixed_precision",
        "mixed_float16 compute (for GPUs); variables, distributions and loss stay float32",
        _TRAIN,
        bool,
        False,
    ),
    Option(
        "mixed_bfloat16",
        "mixed_bfloat16 compute (CPUs with AVX512-BF16 or AMX, TPUs); variables, distributions and loss stay float32",
        _TRAIN,
        bool,
        False,
    ),
    Option("deterministic", "enable TF op determinism (bit-identical reruns)", _TRAIN, bool, False),
    Option(
        "init_from",
        "warm start: copy the weights of this run directory or export (same architecture and vocabulary; "
        "dropout, learning rate and objective may differ) before the first epoch",
        _TRAIN,
        metavar="PATH",
    ),
    Option("tfds_name", "a TFDS text dataset instead of --data-dir (needs a network)", _TRAIN, group=TEXT_GROUP),
    Option(
        "max_vocab",
        "keep the N most frequent training words",
        _TRAIN,
        positive_int,
        None,
        group=TEXT_GROUP,
        **_POSITIVE,
    ),
    Option("min_count", "rarer training words become <unk>", _TRAIN, positive_int, 1, group=TEXT_GROUP, **_POSITIVE),
    Option(
        "max_length",
        "longer sentences are cut (and counted)",
        ("train", "text"),
        positive_int,
        100,
        group=TEXT_GROUP,
        **_POSITIVE,
    ),
    Option(
        "tokenizer",
        "split on spaces, or first lowercase and strip punctuation (TextVectorization's)",
        _TRAIN,
        default="whitespace",
        choices=TOKENIZERS,
        group=TEXT_GROUP,
    ),
    Option("embedding_dim", "word-embedding size", _TEXT, positive_int, 256, group=TEXT_GROUP, **_POSITIVE),
    Option("units", "LSTM/GRU state size", _TEXT, positive_int, 256, flag="rnn-units", group=TEXT_GROUP, **_POSITIVE),
    Option("bidirectional", "a bidirectional encoder", _TEXT, bool, False, group=TEXT_GROUP),
    Option(
        "latent_injection",
        "how z enters the decoder: its initial state, every input, or both",
        _TEXT,
        default="both",
        choices=LATENT_INJECTIONS,
        group=TEXT_GROUP,
    ),
    Option(
        "decoder_dropout",
        "dropout on the decoder's word embeddings and LSTM outputs in training (Texar's VAE-LSTM: 0.5)",
        _TEXT,
        float,
        0.0,
        low=0,
        high=1,
        high_open=True,
        group=TEXT_GROUP,
        fine_tuning=True,
    ),
    Option(
        "tie_embeddings",
        "the decoder's output layer reuses its word embeddings (Press & Wolf 2017); "
        "needs --embedding-dim = --rnn-units",
        _TEXT,
        bool,
        False,
        group=TEXT_GROUP,
    ),
    Option(
        "word_dropout",
        "rate at which training replaces decoder inputs by <unk> (Bowman et al.: 0.25 and up)",
        _TEXT,
        float,
        0.0,
        low=0,
        high=1,
        high_open=True,
        group=TEXT_GROUP,
        fine_tuning=True,
    ),
    Option(
        "batch_norm_gamma",
        "BN-VAE: batch-normalize the posterior means with this fixed gamma (0: off)",
        _TEXT,
        float,
        0.0,
        flag="bn-gamma",
        group=TEXT_GROUP,
        **_NONNEGATIVE,
    ),
    Option(
        "verbose",
        "0: quiet, 1: progress bar, 2: one line per epoch and TensorFlow's own start-up logging",
        _COMMAND,
        int,
        1,
        choices=(0, 1, 2),
    ),
)
BY_NAME = {option.name: option for option in OPTIONS}
BY_DEST = {option.dest: option for option in OPTIONS}


def options(family: str | tuple[str, ...]) -> tuple[Option, ...]:
    """The rows that belong to ``family`` (or to any of several), in table order."""
    families = (family,) if isinstance(family, str) else tuple(family)
    unknown = set(families) - set(FAMILIES)
    if unknown:
        raise ValueError(f"families must be among {FAMILIES}, got {sorted(unknown)}")
    return tuple(option for option in OPTIONS if set(option.families) & set(families))


# The model rows by their argument's name in ``VAE`` or ``SentenceVAE`` (``rnn`` is ``architecture``'s).
MODEL_ROWS = {option.name_in(family): option for family in ("image", "text") for option in options(family)}


def model_row(name: str) -> Option:
    """The row of a ``VAE`` or ``SentenceVAE`` argument (``MODEL_ROWS``).

    Raises:
        KeyError: no model row has that name.
    """
    if name not in MODEL_ROWS:
        raise KeyError(f"{name} is no model argument of the option table")
    return MODEL_ROWS[name]


def python_value(option: Option, value):
    """``value`` as a model holds the argument of ``option``: typed by the row, a list as a tuple; ``None`` and a
    word its parse function takes (``"global"``) as they are."""
    if value is None or (isinstance(value, str) and value in _STRING_VALUES.get(option.type, ())):
        return value
    if option.nargs:
        return tuple(python_value(dataclasses.replace(option, nargs=None), item) for item in value)
    cast = PYTHON_TYPES.get(option.type, option.type)
    return cast(value) if cast in (int, float, bool) else value


def runtime_settings() -> tuple[str, ...]:
    """The ``TrainSettings`` fields with a ``runtime`` row: they may change between invocations of one run."""
    return tuple(option.name_in("train") for option in options("train") if option.runtime)


def fine_tuning_arguments() -> tuple[str, ...]:
    """The model arguments with a ``fine_tuning`` row (either model's names): a warm start may change them."""
    return tuple(name for name, option in MODEL_ROWS.items() if option.fine_tuning)


def add_arguments(parser, family: str | tuple[str, ...] = FAMILIES) -> None:
    """Adds a flag to ``parser`` (an ``argparse`` parser or group) for every row of ``family``.

    Rows with a ``group`` go into an argument group of that title (made
    once). Ranges are not argparse's to check: ``check_flags`` of
    ``tfvae.cli`` checks them against ``flag_ranges()``, so that every
    refusal is one line.
    """
    groups = {}
    for option in options(family):
        target = parser
        if option.group:
            if option.group not in groups:
                groups[option.group] = parser.add_argument_group(option.group)
            target = groups[option.group]
        kwargs = {"help": option.help, "default": option.flag_default}
        if option.type is bool:
            kwargs["action"] = "store_true"
        else:
            if option.type is not str:
                kwargs["type"] = option.type
            if option.choices is not None:
                kwargs["choices"] = list(option.choices)
            if option.nargs:
                kwargs["nargs"] = option.nargs
            if option.metavar:
                kwargs["metavar"] = option.metavar
            if option.required:
                kwargs["required"] = True
                del kwargs["default"]
        target.add_argument("--" + option.flag_name, **kwargs)


# Flags whose value is not the setting's own: (flag value -> setting value).
_TO_SETTING = {
    "backup": lambda no_backup: not no_backup,  # --no-backup
    "jit_compile": {"auto": None, "on": True, "off": False}.get,
}


def settings_arguments(values: dict, family: str = "train") -> dict:
    """The keyword arguments of ``family`` (``"train"``: ``TrainSettings``) from parsed flags ``{dest: value}``."""
    return {
        option.name_in(family): _TO_SETTING.get(option.name, lambda value: value)(values[option.dest])
        for option in options(family)
    }


def image_model_config(args):
    """The ``VAE`` arguments of ``tfvae train`` on images: the image rows of ``tfvae.options``."""
    config = settings_arguments(vars(args), "image")
    # Resolved here (check_flags refused a disagreement), so a stored run's config compares equal.
    config["latent_dims"] = args.latent_dims or [16 if args.latent_dim is None else args.latent_dim]
    config["latent_dim"] = config["latent_dims"][0]
    config["architecture"] = args.arch or "mlp"
    return config


def text_model_config(args):
    """The ``SentenceVAE`` arguments of ``tfvae train --dataset text``: the text rows of ``tfvae.options``."""
    config = settings_arguments(vars(args), "text")
    del config["max_length"]  # a setting: training passes it to the model with the vocabulary's size
    config["latent_dim"] = 32 if args.latent_dim is None else args.latent_dim
    config["rnn"] = args.arch or "lstm"
    return config


def flag_ranges(family: str | tuple[str, ...] = FAMILIES) -> dict:
    """``{dest: (low, high, low_open, high_open)}`` of every row of ``family`` that has a range."""
    return {
        option.dest: (option.low, option.high, option.low_open, option.high_open)
        for option in options(family)
        if option.bounded
    }


def describe_range(low, high, low_open=False, high_open=False) -> str:
    """The allowed values in words: ``">= 1"``, ``"> 0"``, ``"in [0, 1)"``."""
    if high is None:
        return f"{'>' if low_open else '>='} {low}"
    if low is None:
        return f"{'<' if high_open else '<='} {high}"
    return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


def in_range(value, low, high, low_open=False, high_open=False) -> bool:
    """Whether the number ``value`` is finite and inside the range."""
    return (
        math.isfinite(value)
        and (low is None or (value > low if low_open else value >= low))
        and (high is None or (value < high if high_open else value <= high))
    )


def check_value(name: str, value) -> None:
    """Raises ``ValueError`` naming ``name`` if ``value`` is not one the option takes.

    ``name`` is the row's Python name (``"beta_1"``, ``"word_dropout"``). A
    list is checked item by item; ``None`` (decided later) and, for a range,
    strings (such as a learned likelihood scale) pass.
    """
    _check(BY_NAME[name], name, value)


def check_arguments(values: dict, family: str) -> None:
    """``check_value`` on every argument of ``family`` in ``values`` (``{name: value}``, e.g. a ``TrainSettings``
    as a dict), by its name there; rows whose flag value is not the setting's (``--no-backup``) are skipped."""
    for option in options(family):
        name = option.name_in(family)
        if name in values and option.name not in _TO_SETTING:
            _check(option, name, values[name])


def _check(option, name, value):
    """Raises ``ValueError`` naming ``name`` if ``value`` is outside ``option``'s choices or range."""
    if value is None:
        return
    if option.choices is not None and value not in option.choices:
        raise ValueError(f"{name} must be one of {option.choices}, got {value!r}")
    if not option.bounded or isinstance(value, bool):
        return
    words = _STRING_VALUES.get(option.type, ())
    if isinstance(value, str) and (not words or value in words):
        return  # a string the parse function takes (or, for a row without any, left to the library)
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    bounds = (option.low, option.high, option.low_open, option.high_open)
    if isinstance(value, str) or not all(in_range(float(item), *bounds) for item in items):
        got = list(value) if isinstance(value, (list, tuple)) else repr(value) if isinstance(value, str) else value
        verb = "must all be" if isinstance(value, (list, tuple)) else "must be"
        # ">= 0" alone would admit infinity; a range closed above says it already.
        finite = (
            "a finite number " if PYTHON_TYPES.get(option.type, option.type) is float and option.high is None else ""
        )
        also = ", " + " or ".join(map(repr, words)) if words else ""  # ", 'global' or 'pixel'"
        raise ValueError(f"{name} {verb} {finite}{describe_range(*bounds)}{also}, got {got}")


# --- rules over several options ---------------------------------------------------------------------

# The options that only one kind of data takes: given to the other kind, they are refused, not ignored.
TEXT_ONLY = tuple(option.name for option in OPTIONS if option.group == TEXT_GROUP)
_IMAGE_ONLY_SETTINGS = (
    "validation_size",
    "binarize",
    "conditional",
    "data",
    "image_size",
)  # TrainSettings fields a text run ignores
IMAGE_ONLY = tuple(
    option.name for option in OPTIONS if option.families == _IMAGE or option.name in _IMAGE_ONLY_SETTINGS
)
STYLES = ("argument", "flag")  # how a rule's message names the options: latent_dims=(4, 2) or --latent-dims 4 2


def _as_list(value):
    """``value`` with a tuple as a list (the command line gives lists, Python often tuples)."""
    return list(value) if isinstance(value, (list, tuple)) else value


class RuleValues:
    """The values a rule reads, and the words its message names them by.

    ``self["prior"]`` is the value of the option (by its row name) in
    ``values``, or its default when absent; ``name``/``show`` write an option
    as a flag (``--prior``, ``--prior vamp``) or as a Python argument
    (``prior``, ``prior='vamp'``), by ``style``.
    """

    def __init__(self, values: dict, family: str, style: str):
        if family not in ("image", "text", "train"):
            raise ValueError(f"family must be 'image', 'text' or 'train', got {family!r}")
        if style not in STYLES:
            raise ValueError(f"style must be one of {STYLES}, got {style!r}")
        # A SentenceVAE's arguments are text's without saying so.
        self.values = {"dataset": "text", **values} if family == "text" else dict(values)
        self.family, self.style = family, style
        self.kind = "text" if self["dataset"] == "text" else "image"  # the kind of data the values are for

    def __getitem__(self, name: str):
        option = BY_NAME[name]
        return self.values.get(option.name_in(self.family), option.default)

    def present(self, name: str) -> bool:
        """Whether ``values`` hold the option (not just its default)."""
        return BY_NAME[name].name_in(self.family) in self.values

    def given(self, name: str) -> bool:
        """Whether the option's value is not its default (a list and a tuple of the same items are the same)."""
        return _as_list(self[name]) != _as_list(BY_NAME[name].default)

    @property
    def layers(self) -> int:
        """The number of stochastic layers (``latent_dims``'s length; 1 when it is not given)."""
        return len(self["latent_dims"] or [0])

    def name(self, name: str) -> str:
        """The option as the caller knows it: ``--free-bits`` or ``free_bits``."""
        option = BY_NAME[name]
        return "--" + option.flag_name if self.style == "flag" else option.name_in(self.family)

    def show(self, name: str, *values) -> str:
        """The option with its value, or with ``values`` joined by "or": ``--prior mixture or vamp``,
        ``prior='mixture' or 'vamp'``; a switch that is on is its flag alone (``--conditional``)."""
        values = values or (self[name],)
        if self.style == "argument":
            return f"{self.name(name)}=" + " or ".join(repr(value) for value in values)
        if len(values) == 1 and values[0] is True:
            return self.name(name)
        words = (" ".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v) for v in values)
        return f"{self.name(name)} " + " or ".join(words)


@dataclasses.dataclass(frozen=True)
class Rule:
    """A rule over several options: which values break it and the one line that says why.

    Attributes:
        names: the options its message names (row names).
        kinds: the kinds of data it applies to (``"image"``, ``"text"``).
        broken: ``RuleValues -> bool``: whether the values break the rule.
        message: ``RuleValues -> str``: why, naming the options in the caller's style.
        example: option values that break it (besides ``--dataset text`` for a text-only rule); the
            tests try each from the command line and from Python.
    """

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    broken: object
    message: object
    example: dict


def _wrong_kind(v):
    """The options given that the other kind of data takes."""
    return [name for name in (IMAGE_ONLY if v.kind == "text" else TEXT_ONLY) if v.given(name)]


def _wrong_kind_message(v):
    """``--latent-dims: image flags, not for --dataset text``."""
    other = "image" if v.kind == "text" else "text"
    return f"{', '.join(v.name(name) for name in _wrong_kind(v))}: {other} {v.style}s, not for {v.show('dataset')}"


def _for_text(v):
    """Where a text-only value belongs: ``--dataset text`` on the command line, ``tfvae.SentenceVAE`` in Python."""
    if v.style == "flag":
        return v.show("dataset", "text")
    return f"{v.show('dataset', 'text')}: in Python, tfvae.SentenceVAE"


_BOTH, _IMAGES, _TEXTS = ("image", "text"), ("image",), ("text",)
_LATENT_OBJECTIVES = ("free_bits", "iwae", "iwae_dreg")  # objectives that act on a latent

# In the order they are checked (the first broken one is reported): the kind of data first.
RULES = (
    Rule(("dataset",), _TEXTS, _wrong_kind, _wrong_kind_message, {"latent_dims": [4, 2]}),
    Rule(("dataset",), _IMAGES, _wrong_kind, _wrong_kind_message, {"word_dropout": 0.3}),
    Rule(
        ("data_dir", "dataset"),
        _IMAGES,
        lambda v: v["dataset"] in OWN_DATASETS and v["data_dir"] is not None,
        lambda v: (
            f"{v.name('data_dir')} is the folder of a named dataset; {v.show('dataset')} is read from "
            f"{v.name('data')} alone: leave {v.name('data_dir')} out"
        ),
        {"dataset": "images", "data_dir": "folder"},
    ),
    Rule(
        ("dataset", "data"),
        _IMAGES,
        lambda v: (v["dataset"] in OWN_DATASETS) != bool(v["data"]),
        lambda v: (
            f"{v.show('dataset')} is read from {v.name('data')} ({OWN_DATASETS[v['dataset']]}): pass it"
            if v["dataset"] in OWN_DATASETS
            else f"{v.name('data')} is your own data, not {v.show('dataset')}: leave {v.name('dataset')} out"
        ),
        {"dataset": "images"},
    ),
    Rule(
        ("dataset", "binarize"),
        _IMAGES,
        lambda v: v["dataset"] == TABLE and v["binarize"] != "none",
        lambda v: (
            f"{v.show('dataset')} holds real-valued features (standardised): {v.show('binarize')} cannot "
            f"binarise them; use {v.show('binarize', 'none')}"
        ),
        {"dataset": TABLE, "data": "features.csv", "binarize": "fixed"},
    ),
    Rule(
        ("dataset", "likelihood"),
        _IMAGES,
        # Training settings alone do not hold the likelihood (the model's): checked where both are known.
        lambda v: v["dataset"] == TABLE and v.present("likelihood") and v["likelihood"] != "normal",
        lambda v: (
            f"{v.show('dataset')} holds real-valued features (standardised, any sign): {v.show('likelihood')} "
            f"models values in [0, 1]; use {v.show('likelihood', 'normal')}"
        ),
        {"dataset": TABLE, "data": "features.csv", "binarize": "none", "likelihood": "continuous_bernoulli"},
    ),
    Rule(
        ("image_size",),
        _IMAGES,
        lambda v: (
            v["image_size"] is not None
            and (len(v["image_size"]) > 3 or list(v["image_size"][2:]) not in ([], [1], [3]))
        ),
        lambda v: f"{v.show('image_size')}: give S, H W, or H W C with C 1 (grey) or 3 (RGB)",
        {"image_size": [8, 8, 2]},
    ),
    Rule(
        ("image_size", "dataset"),
        _IMAGES,
        lambda v: v["image_size"] is not None and v["dataset"] != "images",
        lambda v: (
            f"{v.name('image_size')} resizes a folder of images ({v.show('dataset', 'images')}), "
            f"not {v.show('dataset')}"
        ),
        {"image_size": [8, 8]},
    ),
    Rule(
        ("architecture",),
        _TEXTS,
        lambda v: v["architecture"] in ARCHITECTURES,
        lambda v: f"{v.show('architecture')} is for images; text takes {v.show('architecture', *RNNS)}",
        {"architecture": "mlp"},
    ),
    Rule(
        ("architecture", "dataset"),
        _IMAGES,
        lambda v: v["architecture"] in RNNS,
        lambda v: f"{v.show('architecture')} is for text ({_for_text(v)})",
        {"architecture": "lstm"},
    ),
    Rule(
        ("latent_dim", "dataset"),
        _IMAGES,
        lambda v: v["latent_dim"] == 0,
        lambda v: f"{v.show('latent_dim')} (a language model, no latent) is for text ({_for_text(v)})",
        {"latent_dim": 0},
    ),
    Rule(
        ("tie_embeddings", "embedding_dim", "units"),
        _TEXTS,
        lambda v: v["tie_embeddings"] and v["embedding_dim"] != v["units"],
        lambda v: (
            f"{v.name('tie_embeddings')} makes the output layer the word embeddings transposed, so it needs "
            f"{v.name('embedding_dim')} equal to {v.name('units')} (got {v['embedding_dim']} and {v['units']})"
        ),
        {"tie_embeddings": True, "embedding_dim": 128},
    ),
    Rule(
        ("prior",),
        _TEXTS,
        lambda v: v["prior"] == "vamp",
        lambda v: (
            f"{v.show('prior')} needs images (the VampPrior's pseudo-inputs are images); "
            f"use {v.show('prior', 'normal', 'mixture')} for text"
        ),
        {"prior": "vamp"},
    ),
    Rule(
        ("posterior",),
        _TEXTS,
        lambda v: v["posterior"] != "diagonal",
        lambda v: (
            f"{v.show('posterior')}: text takes {v.show('posterior', 'diagonal')} "
            "(its mutual information and free bits need it)"
        ),
        {"posterior": "full"},
    ),
    Rule(
        ("latent_dim", "objective"),
        _TEXTS,
        lambda v: v["latent_dim"] == 0 and v["objective"] in _LATENT_OBJECTIVES,
        lambda v: f"{v.show('latent_dim')} is the language model: {v.show('objective')} has no latent to act on",
        {"latent_dim": 0, "objective": "iwae"},
    ),
    Rule(
        ("latent_dim", "latent_dims"),
        _IMAGES,
        lambda v: v["latent_dim"] is not None and v["latent_dims"] and v["latent_dim"] != v["latent_dims"][0],
        lambda v: (
            f"{v.show('latent_dim')} disagrees with {v.show('latent_dims')} "
            f"({v.name('latent_dim')} is the lowest layer's size: pass one of them)"
        ),
        {"latent_dim": 8, "latent_dims": [16, 8]},
    ),
    Rule(
        ("objective", "latent_dims"),
        _IMAGES,
        lambda v: v.layers > 1 and v["objective"] == "iwae_dreg",
        lambda v: (
            f"{v.show('objective')} is for one latent layer; "
            f"use {v.show('objective', 'iwae')} with {v.name('latent_dims')}"
        ),
        {"latent_dims": [4, 2], "objective": "iwae_dreg"},
    ),
    Rule(
        ("latent_dims", "posterior"),
        _IMAGES,
        lambda v: v.layers > 1 and v["posterior"] != "diagonal",
        lambda v: f"{v.name('latent_dims')} with two or more layers needs {v.show('posterior', 'diagonal')}",
        {"latent_dims": [4, 2], "posterior": "full"},
    ),
    Rule(
        ("inference", "latent_dims"),
        _IMAGES,
        lambda v: v["inference"] != "bottom_up" and v.layers < 2,
        lambda v: (
            f"{v.show('inference')} needs two or more {v.name('latent_dims')} (e.g. {v.show('latent_dims', (64, 32))})"
        ),
        {"inference": "ladder"},
    ),
    Rule(
        ("latent_batch_norm", "latent_dims"),
        _IMAGES,
        lambda v: v["latent_batch_norm"] and v.layers < 2,
        lambda v: (
            f"{v.name('latent_batch_norm')} needs two or more {v.name('latent_dims')} "
            "(one layer has no networks between stochastic layers)"
        ),
        {"latent_batch_norm": True},
    ),
    Rule(
        ("latent_batch_norm", "prior"),
        _IMAGES,
        # The pseudo-inputs would pass the batch-normalised networks as a batch of their own in training.
        lambda v: v["latent_batch_norm"] and v["prior"] == "vamp",
        lambda v: (
            f"{v.name('latent_batch_norm')} does not go with {v.show('prior')}; "
            f"use {v.show('prior', 'normal', 'mixture')}"
        ),
        {"latent_dims": [4, 2], "latent_batch_norm": True, "prior": "vamp"},
    ),
    Rule(
        ("kl_warmup_shape", "kl_warmup_steps"),
        _BOTH,
        lambda v: v["kl_warmup_shape"] != "linear" and not v["kl_warmup_steps"],
        lambda v: f"{v.name('kl_warmup_shape')} needs {v.name('kl_warmup_steps')} (the warm-up's length)",
        {"kl_warmup_shape": "logistic"},
    ),
    Rule(
        ("mixed_precision", "mixed_bfloat16"),
        _BOTH,
        lambda v: v["mixed_precision"] and v["mixed_bfloat16"],
        lambda v: (
            f"{v.name('mixed_precision')} and {v.name('mixed_bfloat16')} cannot be combined: choose one compute type"
        ),
        {"mixed_precision": True, "mixed_bfloat16": True},
    ),
    Rule(
        ("kl_warmup_steps", "kl_cycle_steps"),
        _BOTH,
        lambda v: v["kl_warmup_steps"] and v["kl_cycle_steps"],
        lambda v: (
            f"{v.name('kl_warmup_steps')} and {v.name('kl_cycle_steps')} cannot be combined: choose one KL schedule"
        ),
        {"kl_warmup_steps": 5, "kl_cycle_steps": 10},
    ),
    Rule(
        ("objective", "posterior", "prior"),
        _BOTH,
        lambda v: v["objective"] == "free_bits" and (v["posterior"] != "diagonal" or v["prior"] != "normal"),
        lambda v: (
            f"{v.show('objective')} needs {v.show('posterior', 'diagonal')} and {v.show('prior', 'normal')} "
            "(per-dimension KLs)"
        ),
        {"objective": "free_bits", "prior": "mixture"},
    ),
    Rule(
        ("prior", "conditional"),
        _IMAGES,
        lambda v: v["prior"] == "vamp" and v["conditional"],
        lambda v: (
            f"{v.show('prior')} cannot be combined with {v.show('conditional', True)} "
            f"(the VampPrior is unconditional); use {v.show('prior', 'normal', 'mixture')}"
        ),
        {"prior": "vamp", "conditional": True},
    ),
    Rule(
        ("prior_components", "prior"),
        _BOTH,
        # A setting that the chosen option would ignore is refused, not dropped in silence (so are the next three).
        lambda v: v["prior_components"] is not None and v["prior"] == "normal",
        lambda v: f"{v.name('prior_components')} is for {v.show('prior', 'mixture', 'vamp')}, not {v.show('prior')}",
        {"prior_components": 5},
    ),
    Rule(
        ("likelihood_scale", "likelihood"),
        _IMAGES,
        lambda v: v.given("likelihood_scale") and v["likelihood"] != "normal",
        lambda v: f"{v.name('likelihood_scale')} is for {v.show('likelihood', 'normal')}, not {v.show('likelihood')}",
        {"likelihood_scale": 0.5},
    ),
    Rule(
        ("free_bits", "objective"),
        _BOTH,
        # "Given": not the row's default, which is the constructors' default too (tests/test_options.py).
        lambda v: v.given("free_bits") and v["objective"] != "free_bits",
        lambda v: f"{v.name('free_bits')} is for {v.show('objective', 'free_bits')}, not {v.show('objective')}",
        {"free_bits": 2.0},
    ),
    Rule(
        ("reduce_lr_on_plateau", "lr_schedule"),
        _BOTH,
        lambda v: v["reduce_lr_on_plateau"] and v["lr_schedule"] != "constant",
        lambda v: (
            f"{v.name('reduce_lr_on_plateau')} sets the learning rate itself: "
            f"use it with {v.show('lr_schedule', 'constant')}"
        ),
        {"reduce_lr_on_plateau": 3, "lr_schedule": "cosine"},
    ),
)


def check_rules(values: dict, family: str, style: str = "argument") -> None:
    """Raises ``ValueError`` (one line naming the options) if ``values`` break one of ``RULES``.

    Args:
        values: ``{name: value}``, by the options' names in ``family``
            (``rnn`` for a ``SentenceVAE``'s ``--arch``); an absent option
            has its default; names of no option are ignored.
        family: ``"image"`` (a ``VAE``'s arguments), ``"text"`` (a
            ``SentenceVAE``'s) or ``"train"`` (``tfvae train``'s options by
            their row names, ``dataset`` saying image or text).
        style: ``"argument"`` names the options as Python arguments
            (``free_bits is for objective='free_bits'``), ``"flag"`` as the
            command line's flags (``--free-bits is for --objective free_bits``).
    """
    v = RuleValues(values, family, style)
    for rule in RULES:
        if v.kind in rule.kinds and rule.broken(v):
            raise ValueError(rule.message(v))


def add_decoding_arguments(p):
    """The text decoding flags of ``tfvae sample`` (``tfvae.decoding``); None: the default's value."""
    STRATEGIES, DEFAULT = DECODING_STRATEGIES, DEFAULT_DECODING  # noqa: N806 (short names in the help texts)
    group = p.add_argument_group(
        "text decoding", f"how a text model picks its words (default: {DEFAULT.describe()}; see docs/sentences.md)"
    )
    group.add_argument("--strategy", choices=STRATEGIES, default=None, help=f"(default {DEFAULT.strategy})")
    group.add_argument(
        "--temperature",
        type=float,
        default=None,
        help=f"temperature, top_k, top_p: logits / T (default {DEFAULT.temperature:g})",
    )
    group.add_argument(
        "--top-k", type=int, default=None, help=f"top_k: draw among the k most probable words (default {DEFAULT.top_k})"
    )
    group.add_argument(
        "--top-p",
        type=float,
        default=None,
        help=f"top_p: draw within the nucleus of probability p (default {DEFAULT.top_p:g})",
    )
    group.add_argument(
        "--beam-width", type=int, default=None, help=f"beam: hypotheses kept (default {DEFAULT.beam_width})"
    )
    group.add_argument(
        "--no-unk", dest="no_unk", action="store_true", default=None, help="never generate <unk> (the default)"
    )
    group.add_argument("--allow-unk", dest="no_unk", action="store_false", help="let <unk> be generated")
    group.add_argument(
        "--no-repeat-ngram",
        type=int,
        default=None,
        help=f"never repeat an n-gram of this size within a sentence; 0: off (default {DEFAULT.no_repeat_ngram})",
    )
    group.add_argument(
        "--max-length", type=int, default=None, help="words generated at most (default: the model's max_length)"
    )


def add_generation_arguments(p):
    """``tfvae evaluate --generation``'s flags (``tfvae.generation``), with the decoding flags of ``tfvae sample``."""
    group = p.add_argument_group(
        "generation (text)", "measures of decoded sentences (docs/sentences.md#quality-of-generated-sentences)"
    )
    group.add_argument(
        "--generation",
        action="store_true",
        help="text: reconstruction BLEU, forward and reverse perplexity, distinct-1/2 and self-BLEU of the "
        "sentences decoded with the decoding flags (on the first 1000 sentences unless --limit says otherwise)",
    )
    group.add_argument(
        "--n", type=positive_int, default=None, help="with --generation: sentences drawn from the prior (default 500)"
    )
    group.add_argument(
        "--language-model",
        default=None,
        metavar="PATH",
        help="with --generation: a language model (run or export, latent dim 0) that scores the samples (forward "
        "perplexity; not measured without it)",
    )
    add_decoding_arguments(p)


GENERATION_ONLY = ("n", "language_model", *DEFAULT_DECODING._fields, "max_length")


def check_generation_flags(args):
    """Refuses ``tfvae evaluate``'s generation and decoding flags without ``--generation``, and with ``--gaps``."""
    if getattr(args, "command", None) != "evaluate":
        return
    given = [name for name in GENERATION_ONLY if getattr(args, name, None) is not None]
    if given and not args.generation:
        raise ValueError(f"--{given[0].replace('_', '-')} is for --generation")
    if args.generation and args.gaps:
        raise ValueError("--generation and --gaps are two measurements: run them one at a time")


def decoding_of(args):
    """The ``tfvae.decoding.Decoding`` of ``tfvae sample``'s flags: each flag not given takes ``DEFAULT``'s value."""
    given = {
        field: getattr(args, field) for field in DEFAULT_DECODING._fields if getattr(args, field, None) is not None
    }
    return DEFAULT_DECODING._replace(**given)


def expand_config(argv, parser):
    """``tfvae train --config FILE.json ...``: the file's flags inserted before the others.

    The file is a JSON object whose keys are ``train`` flags (``latent-dim`` or
    ``latent_dim``); ``true`` turns a switch on, ``null``/``false`` leave a
    flag out, a list gives several values. Flags typed on the command line come
    later, so they win; every value goes through the flag's own checks.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "train":
        return argv
    path, rest = None, []
    for i, token in enumerate(argv):
        if token == "--config" and i + 1 < len(argv):
            path = argv[i + 1]
        elif token.startswith("--config="):
            path = token.split("=", 1)[1]
    if path is None:
        return argv
    try:
        config = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        parser.error(f"--config {path}: cannot read a JSON object ({error})")
    if not isinstance(config, dict):
        parser.error(f"--config {path}: expected a JSON object of flags, got {type(config).__name__}")
    train_parser = parser._subparsers._group_actions[0].choices["train"]
    known = {option for action in train_parser._actions for option in action.option_strings}
    unknown = [key for key in config if "--" + key.replace("_", "-") not in known or key == "config"]
    if unknown:
        parser.error(f"--config {path}: unknown flags {', '.join(map(repr, unknown))}")
    for key, value in config.items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False:
            continue
        rest += [flag] if value is True else [flag, *map(str, value if isinstance(value, list) else [value])]
    return [argv[0], *rest, *argv[1:]]


def data_kind(path: str) -> str:
    """The ``--dataset`` of own data at ``path``: ``"images"`` for a folder, ``"array"`` for a ``.npy``/``.npz`` file.

    Raises:
        ValueError: one line, if ``path`` does not exist or is neither.
    """
    import os

    if os.path.isdir(path):
        return "images"
    if not os.path.exists(path):
        raise ValueError(f"--data {path}: no such file or folder")
    suffix = os.path.splitext(path)[1].lower()
    if suffix in ARRAY_SUFFIXES:
        return "array"
    if suffix in TABLE_SUFFIXES:
        return TABLE
    raise ValueError(
        f"--data {path}: expected a folder of PNG/JPEG images, a {'/'.join(ARRAY_SUFFIXES)} file or a "
        f"{'/'.join(TABLE_SUFFIXES)} file of numeric features"
    )


def table_defaults(values: dict) -> dict:
    """``values`` (``tfvae train``'s, by option name) with ``TABLE_DEFAULTS`` where a table's run left the image
    defaults: a CSV of features is real-valued (``--binarize none``, a Normal likelihood with a learned sigma).
    A value given otherwise is kept, and ``RULES`` refuse one that does not fit."""
    if values.get("dataset") != TABLE:
        return values
    changed = dict(values)
    for name, value in TABLE_DEFAULTS.items():
        if changed.get(name, BY_NAME[name].default) == BY_NAME[name].default:
            changed[name] = value
    return changed
