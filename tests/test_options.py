"""The option table (``tfvae.options``) against everything that should agree with it.

Every flag of ``tfvae train`` has a row, every hyperparameter of the
constructors and of ``TrainSettings`` has a row (the exceptions are listed with
their reasons), the defaults agree, and every refused value of a row is
refused alike from the command line (exit 2, one error line naming the flag,
before any TensorFlow work), from a ``--config`` file and from Python
(``ValueError`` naming the argument; ``TrainSettings`` by ``tfvae.runs.check_settings``, which
``tfvae.training.train`` runs first). So is every combination that breaks one
of the rules over several options (``options.RULES``): from the command line,
from ``options.check_rules`` and, where all its options are a model's
arguments, from the ``VAE``/``SentenceVAE`` constructor. The cases are
generated from the table and the rules.
"""

import dataclasses
import inspect
import json
import subprocess
import sys

import numpy as np
import pytest
from test_bad_inputs import _errors

from conftest import REPO, tfvae_in_process
from tfvae import cli, options
from tfvae.options import OPTIONS

# Constructor arguments and settings that are deliberately not options, with the reason.
NOT_OPTIONS = {
    "image": {
        "data_shape": "taken from the data",
        "condition_dim": "taken from the data's labels when --conditional is given",
        "encoder": "a Keras network, not a value",
        "decoder": "a Keras network, not a value",
        "seed": "the model's sampling seed; a run seeds everything from TrainSettings.seed",
        "validate_inputs": "a run-time input check, not a hyperparameter",
    },
    "text": {
        "vocab_size": "taken from the vocabulary",
        "seed": "the model's sampling seed; a run seeds everything from TrainSettings.seed",
        "validate_inputs": "a run-time input check, not a hyperparameter",
    },
    "train": {
        "image_every": "TensorBoard's image cadence: a runtime setting the Python API sets, no flag",
    },
}
# Rows whose flag default is resolved later, so it differs from the Python default on purpose.
RESOLVED_LATER = {
    ("image", "architecture"): "None: mlp for images, lstm for text (options.image_model_config/text_model_config)",
    ("text", "architecture"): "the same flag, --arch",
    ("text", "latent_dim"): "None: 16 for images, 32 for text",
    ("train", "backup"): "the flag --no-backup turns the setting off",
    ("train", "jit_compile"): "auto/on/off on the command line, None/True/False in TrainSettings",
}


def _python_arguments():
    """``{family: {name: default}}`` of the ``VAE`` and ``SentenceVAE`` constructors and of ``TrainSettings``."""
    from tfvae.model import VAE
    from tfvae.runs import TrainSettings, constructor_defaults
    from tfvae.sentence import SentenceVAE

    def arguments(model_class):
        # The face's own arguments and the core's that it takes; Keras's (name, dtype, ...) are no hyperparameters.
        own = inspect.signature(model_class.__init__).parameters.items()
        names = [name for name, p in own if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        names += [name for name in model_class.core_arguments() if name not in names]
        defaults = constructor_defaults(model_class)
        return {name: defaults.get(name, inspect.Parameter.empty) for name in names}

    train = {field.name: field.default for field in dataclasses.fields(TrainSettings)}
    return {"image": arguments(VAE), "text": arguments(SentenceVAE), "train": train}


def test_every_train_flag_has_a_row_and_every_row_a_flag():
    train = cli.build_parser()._subparsers._group_actions[0].choices["train"]
    flags = {flag for action in train._actions for flag in action.option_strings} - {"-h", "--help"}
    assert flags == {"--" + option.flag_name for option in OPTIONS}


@pytest.mark.parametrize("family", ["image", "text", "train"])
def test_every_hyperparameter_has_a_row(family):
    python = _python_arguments()[family]
    rows = {option.name_in(family) for option in options.options(family)}
    missing = set(python) - rows - set(NOT_OPTIONS[family])
    assert not missing, f"{family} arguments without an option row: {sorted(missing)}"
    assert not rows - set(python), f"rows of family {family!r} that are no {family} argument"
    assert not set(NOT_OPTIONS[family]) & rows, "an exception that has a row after all"


@pytest.mark.parametrize("family", ["image", "text", "train"])
def test_the_defaults_agree(family):
    python = _python_arguments()[family]
    differ = {
        option.name_in(family): (option.default, python[option.name_in(family)])
        for option in options.options(family)
        if (family, option.name) not in RESOLVED_LATER
        and json.dumps(option.default) != json.dumps(python[option.name_in(family)])
    }
    assert not differ, differ


def test_the_library_tuples_are_the_tables():
    from tfvae import data, distributions, latents, networks, objectives, optimization, priors, sentence, text, training

    owners = {
        "POSTERIORS": distributions,
        "LIKELIHOODS": distributions,
        "PRIORS": priors,
        "OBJECTIVES": objectives,
        "KL_ESTIMATES": objectives,
        "INFERENCES": latents,
        "ARCHITECTURES": networks,
        "RNNS": sentence,
        "LATENT_INJECTIONS": sentence,
        "LR_SCHEDULES": optimization,
        "BINARIZATIONS": data,
        "TOKENIZERS": text,
        "STRATEGIES": training,
    }
    for name, module in owners.items():
        assert getattr(module, name) is getattr(options, name), name


def test_the_table_and_the_parser_import_no_tensorflow():
    # Building the parser too: a flag error must not wait 5 s for TensorFlow (the decoding flags once did).
    script = "import sys, tfvae.options, tfvae.cli\ntfvae.cli.build_parser()\nassert 'tensorflow' not in sys.modules\n"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr


def _bad_values(option):
    """Flag texts that ``option`` refuses: outside its choices, its range, or not finite."""
    if option.choices is not None:
        return ["7" if option.type is int else "no_such_choice"]
    python_type = options.PYTHON_TYPES.get(option.type, option.type)
    values = []
    step = 1 if python_type is int else 0.5
    if option.low is not None:
        values.append(option.low if option.low_open else option.low - step)
    if option.high is not None:
        values.append(option.high if option.high_open else option.high + step)
    if python_type is not int:
        values += ["nan", "inf"] if option.high is None else ["nan"]
    return [str(value) for value in values]


CASES = [
    pytest.param(option, value, id=f"{option.flag_name}={value}")
    for option in OPTIONS
    if option.choices is not None or option.bounded
    for value in _bad_values(option)
]


def _refused(argv):
    """The exit status and error lines of ``tfvae`` on ``argv`` (argparse's own refusals included)."""
    result = tfvae_in_process(*argv)
    assert "Traceback" not in result.stderr
    return result.returncode, _errors(result)


@pytest.fixture
def no_training(monkeypatch):
    """A refusal must come before the run: reaching it fails the test at once (and costs no training)."""

    def refuse(args):
        raise AssertionError(f"tfvae train ran with {vars(args)}")

    monkeypatch.setattr(cli, "_run_train", refuse)


@pytest.mark.parametrize("option,value", CASES)
def test_a_refused_value_is_refused_everywhere(option, value, tmp_path, no_training):
    flag = "--" + option.flag_name
    status, errors = _refused(["train", "--out", tmp_path / "run", flag, value])
    assert status == 2 and len(errors) == 1 and flag in errors[0], errors

    config = tmp_path / "config.json"
    config.write_text(json.dumps({option.flag_name: value}))
    status, errors = _refused(["train", "--config", config, "--out", tmp_path / "run"])
    assert status == 2 and len(errors) == 1 and flag in errors[0], errors

    python_value = value if option.choices is not None else options.PYTHON_TYPES.get(option.type, option.type)(value)
    with pytest.raises(ValueError, match=option.name):
        options.check_value(option.name, python_value)
    if "train" in option.families and option.name != "jit_compile":  # TrainSettings.jit_compile: None/True/False
        from tfvae.runs import TrainSettings, check_settings

        with pytest.raises(ValueError, match=option.name):
            check_settings(TrainSettings(**{option.name: python_value}))


@pytest.mark.parametrize(
    "option",
    [option for option in OPTIONS if option.choices is not None or option.bounded],
    ids=lambda option: option.name,
)
def test_the_defaults_are_allowed_values(option):
    options.check_value(option.name, option.default)


# --- the rules over several options (options.RULES) -------------------------------------------------

RULE_CASES = [
    pytest.param(rule, kind, id=f"{kind}:{'+'.join(rule.example)}") for rule in options.RULES for kind in rule.kinds
]


def _flags(example):
    """``tfvae train`` flags that give the options of ``example`` (``{row name: value}``)."""
    argv = []
    for name, value in example.items():
        flag = "--" + options.BY_NAME[name].flag_name
        argv += [flag] if value is True else [flag, *map(str, value if isinstance(value, list) else [value])]
    return argv


def _model_arguments(example, kind):
    """``example`` as the constructor's arguments, or ``None`` when one of its options is no model argument."""
    rows = {option.name: option for option in options.options(kind)}
    if not set(example) <= set(rows):
        return None
    return {rows[name].name_in(kind): value for name, value in example.items()}


@pytest.mark.parametrize("rule,kind", RULE_CASES)
def test_a_broken_rule_is_refused_everywhere(rule, kind, tmp_path, no_training):
    dataset = ["--dataset", "text"] if kind == "text" else []
    status, errors = _refused(["train", "--out", tmp_path / "run", *dataset, *_flags(rule.example)])
    flag_values = {**rule.example, **({"dataset": "text"} if kind == "text" else {})}
    with pytest.raises(ValueError) as expected:
        options.check_rules(flag_values, "train", style="flag")
    assert status == 2 and errors == [f"tfvae: error: {expected.value}"], errors  # this rule's line, alone
    for name in rule.names:
        assert "--" + options.BY_NAME[name].flag_name in errors[0]

    arguments = {options.BY_NAME[name].name_in(kind): value for name, value in rule.example.items()}
    with pytest.raises(ValueError) as refused:
        options.check_rules(arguments, kind)
    for name in rule.names:
        assert options.BY_NAME[name].name_in(kind) in str(refused.value) and "--" not in str(refused.value)

    model_arguments = _model_arguments(rule.example, kind)
    if model_arguments is not None:  # the rule is the constructor's too
        from tfvae.model import VAE
        from tfvae.sentence import SentenceVAE

        with pytest.raises(ValueError, match=options.BY_NAME[rule.names[0]].name_in(kind)):
            SentenceVAE(10, **model_arguments) if kind == "text" else VAE(**model_arguments)


def test_every_rule_holds_for_the_defaults_and_for_the_constructors_defaults():
    from tfvae.runs import TrainSettings

    for family in ("image", "text", "train"):
        options.check_rules({}, family)
    options.check_rules({option.name: option.default for option in OPTIONS}, "train", style="flag")
    options.check_rules(dataclasses.asdict(TrainSettings()), "train")
    python = _python_arguments()
    options.check_rules(python["image"], "image")
    options.check_rules(python["text"], "text")


def test_a_rule_about_a_given_value_takes_the_constructors_default_as_not_given():
    """``free_bits`` and ``likelihood_scale`` are "given" when not their default: the row's, the constructor's."""
    from tfvae.model import VAE

    model = VAE(latent_dim=2, hidden_units=(8,), free_bits=0.5, likelihood_scale=1.0)  # the defaults, said aloud
    assert model.free_bits == 0.5 and model.likelihood_scale == 1.0
    with pytest.raises(ValueError, match="free_bits is for objective='free_bits'"):
        options.check_rules({"free_bits": 0.25}, "image")
    options.check_rules({"free_bits": 0.25, "objective": "free_bits"}, "image")
    options.check_rules({"hidden_units": (512, 256)}, "text")  # an image option at its default is not given


def test_the_core_keeps_every_argument_and_each_face_takes_only_its_own():
    from tfvae.core import BaseVAE, _defaults
    from tfvae.model import VAE
    from tfvae.sentence import SentenceVAE

    core = set(_defaults(BaseVAE))
    image = VAE(latent_dim=2, hidden_units=(8,))
    sentence = SentenceVAE(10, latent_dim=2, embedding_dim=8, units=8)
    assert core <= set(image.get_config()), "the image face takes every core argument"
    assert set(sentence.get_config()) & core == set(SentenceVAE.core_arguments())
    assert VAE.from_config(image.get_config()).get_config() == image.get_config()
    assert SentenceVAE.from_config(sentence.get_config()).get_config() == sentence.get_config()
    with pytest.raises(TypeError, match="build a tfvae.VAE or a tfvae.SentenceVAE"):
        BaseVAE(latent_dim=2)
    with pytest.raises(ValueError, match="VAE does not take word_dropout: word_dropout is an argument of tfvae.Sent"):
        VAE(latent_dim=2, word_dropout=0.3)
    with pytest.raises(ValueError, match=r"does not take colour \(help\(tfvae.VAE\) lists its arguments\)"):
        VAE(latent_dim=2, colour="red")


def _tiny(family, **arguments):
    from tfvae.model import VAE
    from tfvae.sentence import SentenceVAE

    if family == "image":
        return VAE(**{"data_shape": (6,), "latent_dim": 2, "hidden_units": (8,), **arguments})
    return SentenceVAE(12, **{"latent_dim": 2, "embedding_dim": 8, "units": 8, **arguments})


@pytest.mark.parametrize("family", ["image", "text"])
def test_a_model_stores_and_configures_its_arguments_by_their_rows(family):
    """A new option is one row and one constructor argument: the model keeps every row argument under the row's
    ``attribute`` (or its name), typed by the row, and ``get_config`` gives each back; nothing else is listed."""
    model = _tiny(family)
    config = model.get_config()
    for option in options.options(family):
        name = option.name_in(family)
        stored = getattr(model, option.attribute or name)
        assert config[name] == (list(stored) if isinstance(stored, tuple) else stored), name
        if stored is not None and option.nargs is None:
            assert isinstance(stored, options.PYTHON_TYPES.get(option.type, option.type)), name
    without_rows = set(config) - {option.name_in(family) for option in options.options(family)}
    assert without_rows == set(NOT_OPTIONS[family]) - {"encoder", "decoder"}
    # A list from JSON is stored as the tuple a constructor gives, and configured as a list again.
    model = _tiny(family, **({"hidden_units": [4, 4]} if family == "image" else {"units": 8.0, "embedding_dim": 8.0}))
    assert model.get_config() == type(model).from_config(json.loads(json.dumps(model.get_config()))).get_config()


# For each row marked fine_tuning: a value other than the default (with what the rules ask beside it). A new row
# marked so needs its entry here, and the test shows that it adds or reshapes no variable.
FINE_TUNING_VALUES = {
    "objective": {"objective": "iwae", "num_samples": 2},
    "num_samples": {"objective": "iwae", "num_samples": 5},
    "free_bits": {"objective": "free_bits", "free_bits": 2.0},
    "beta": {"beta": 0.3},
    "kl_estimate": {"kl_estimate": "sample"},
    "word_dropout": {"word_dropout": 0.4},
    "decoder_dropout": {"decoder_dropout": 0.5},
}


def test_what_a_warm_start_may_change_are_the_rows_marked_fine_tuning_and_they_add_no_variable():
    from tfvae import warm_start
    from tfvae.core import ARGUMENTS_WITHOUT_ROWS

    marked = options.fine_tuning_arguments()
    assert set(warm_start.MAY_DIFFER) == set(marked) | set(ARGUMENTS_WITHOUT_ROWS)
    assert set(marked) == set(FINE_TUNING_VALUES), "give a row marked fine_tuning its value above"
    for name, arguments in FINE_TUNING_VALUES.items():
        family = "text" if options.model_row(name).families == ("text",) else "image"
        base, changed = _tiny(family), _tiny(family, **arguments)
        data = np.zeros((2, 6), np.float32) if family == "image" else np.array([[2, 5, 6, 3, 0], [2, 7, 3, 0, 0]])
        base(data), changed(data)
        shapes = [tuple(v.shape) for v in base.portable_variables]
        assert [tuple(v.shape) for v in changed.portable_variables] == shapes, name


def test_what_a_resumed_run_may_change_are_the_rows_marked_runtime():
    from tfvae import runs

    assert set(runs.RUNTIME_SETTINGS) == set(options.runtime_settings()) | set(NOT_OPTIONS["train"])
    assert all(option.families == ("train",) for option in OPTIONS if option.runtime)
    assert all(set(option.families) & {"image", "text"} for option in OPTIONS if option.fine_tuning or option.attribute)
