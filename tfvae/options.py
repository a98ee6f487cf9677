"""The one table of ``tfvae train``'s options, importing no TensorFlow.

Each ``Option`` row names one setting: the argument it is in Python (a
``VAE``/``SentenceVAE`` constructor argument or a ``tfvae.runs.TrainSettings``
field), its flag (derived from the name unless the row renames it), type,
default, allowed values (choices, or a range), the families it belongs to and
its help text. From the rows come the ``tfvae train`` parser
(``add_arguments``), the ranges the command line checks (``flag_ranges``) and
the value checks of the library (``check_value``).

The library's name tuples (likelihoods, priors, objectives, ...) are defined
here once; the modules that implement them import them.

Families: ``"image"`` (a ``VAE`` argument), ``"text"`` (a ``SentenceVAE``
argument), ``"train"`` (a ``TrainSettings`` field) and ``"command"`` (a flag of
the command itself, such as ``--out``, that is no setting).
"""

import argparse
import dataclasses
import math

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
        "data_dir", "directory of MNIST-format IDX files (default $TFVAE_DATA_DIR, then TFDS), or of sentences", _TRAIN
    ),
    Option("epochs", "training epochs", _TRAIN, positive_int, 10, **_POSITIVE),
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
    Option("posterior", "q(z|x) covariance", _MODEL, default="diagonal", choices=POSTERIORS),
    Option(
        "likelihood",
        "p(x|z); use --binarize none for the last two (grey/8-bit images)",
        _IMAGE,
        default="bernoulli",
        choices=LIKELIHOODS,
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
    ),
    Option(
        "num_samples",
        "latent samples per example in training (K of the IWAE objective)",
        _MODEL,
        positive_int,
        1,
        **_POSITIVE,
    ),
    Option("free_bits", "KL floor per latent dimension (nats), free_bits only", _MODEL, float, 0.5, **_NONNEGATIVE),
    Option("beta", "weight of the KL term", _MODEL, float, 1.0, **_NONNEGATIVE),
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
    Option("kl_estimate", "closed-form or Monte Carlo KL", _MODEL, default="auto", choices=KL_ESTIMATES),
    Option(
        "strategy",
        "tf.distribute strategy (multiworker reads TF_CONFIG)",
        _TRAIN,
        default="default",
        choices=STRATEGIES,
    ),
    Option(
        "jit_compile",
        "compile the training step with XLA (auto: on for mlp runs of 500 or more steps, "
        "off for conv and for shorter runs, as measured)",
        _TRAIN,
        default="auto",
        choices=JIT_MODES,
    ),
    Option("steps_per_execution", "batches per tf.function call", _TRAIN, positive_int, 20, **_POSITIVE),
    # A switch that turns the setting off: TrainSettings.backup is True unless --no-backup is given.
    Option("backup", "do not keep BackupAndRestore state for resuming", _TRAIN, bool, False, flag="no-backup"),
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
        "word_dropout",
        "rate at which training replaces decoder inputs by <unk> (Bowman et al.: 0.25 and up)",
        _TEXT,
        float,
        0.0,
        low=0,
        high=1,
        high_open=True,
        group=TEXT_GROUP,
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
    if not option.bounded or isinstance(value, (str, bool)):
        return
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    bounds = (option.low, option.high, option.low_open, option.high_open)
    if not all(in_range(float(item), *bounds) for item in items):
        got = list(value) if isinstance(value, (list, tuple)) else value
        verb = "must all be" if isinstance(value, (list, tuple)) else "must be"
        raise ValueError(f"{name} {verb} {describe_range(*bounds)}, got {got}")
