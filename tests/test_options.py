"""The option table (``tfvae.options``) against everything that should agree with it.

Every flag of ``tfvae train`` has a row, every hyperparameter of the
constructors and of ``TrainSettings`` has a row (the exceptions are listed with
their reasons), the defaults agree, and every refused value of a row is
refused alike from the command line (exit 2, one error line naming the flag,
before any TensorFlow work), from a ``--config`` file and from Python
(``ValueError`` naming the argument; ``TrainSettings`` by ``tfvae.runs.check_settings``, which
``tfvae.training.train`` runs first). The cases are generated from the table.
"""

import dataclasses
import inspect
import json
import subprocess
import sys
from types import SimpleNamespace

import pytest
from test_bad_inputs import _errors

from conftest import REPO
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
    ("image", "architecture"): "None: mlp for images, lstm for text (cli.image_model_config/text_model_config)",
    ("text", "architecture"): "the same flag, --arch",
    ("text", "latent_dim"): "None: 16 for images, 32 for text",
    ("train", "backup"): "the flag --no-backup turns the setting off",
    ("train", "jit_compile"): "auto/on/off on the command line, None/True/False in TrainSettings",
}


def _python_arguments():
    """``{family: {name: default}}`` of the ``VAE`` and ``SentenceVAE`` constructors and of ``TrainSettings``."""
    from tfvae.model import VAE
    from tfvae.runs import TrainSettings, constructor_defaults
    from tfvae.sentence import _IMAGE_ONLY, SentenceVAE

    def arguments(model_class):
        # tfvae's own classes: Keras's layer arguments (name, dtype, ...) are no hyperparameters.
        names = [
            name
            for cls in model_class.__mro__
            if "__init__" in vars(cls) and cls.__module__.startswith("tfvae")
            for name, p in inspect.signature(cls.__init__).parameters.items()
            if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        ]
        defaults = constructor_defaults(model_class)
        return {name: defaults.get(name, inspect.Parameter.empty) for name in names}

    text = {name: default for name, default in arguments(SentenceVAE).items() if name not in _IMAGE_ONLY}
    train = {field.name: field.default for field in dataclasses.fields(TrainSettings)}
    return {"image": arguments(VAE), "text": text, "train": train}


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


def test_the_table_imports_no_tensorflow():
    script = "import sys, tfvae.options, tfvae.cli\nassert 'tensorflow' not in sys.modules\n"
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


def _refused(argv, capsys):
    """The exit status and error lines of ``tfvae`` on ``argv``."""
    try:
        status = cli.main([str(a) for a in argv])
    except SystemExit as exit:  # argparse's own refusals (choices, unparsable values)
        status = exit.code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return status, _errors(SimpleNamespace(stderr=err))


@pytest.fixture
def no_training(monkeypatch):
    """A refusal must come before the run: reaching it fails the test at once (and costs no training)."""

    def refuse(args):
        raise AssertionError(f"tfvae train ran with {vars(args)}")

    monkeypatch.setattr(cli, "_run_train", refuse)


@pytest.mark.parametrize("option,value", CASES)
def test_a_refused_value_is_refused_everywhere(option, value, tmp_path, capsys, no_training):
    flag = "--" + option.flag_name
    status, errors = _refused(["train", "--out", tmp_path / "run", flag, value], capsys)
    assert status == 2 and len(errors) == 1 and flag in errors[0], errors

    config = tmp_path / "config.json"
    config.write_text(json.dumps({option.flag_name: value}))
    status, errors = _refused(["train", "--config", config, "--out", tmp_path / "run"], capsys)
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
