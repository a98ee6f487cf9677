"""Warm start: a new run begins from a trained model's weights (``tfvae train --init-from PATH``).

The source is a run directory or an export (``saved_models/NAME/N``). Its
learned variables are copied into the new model in the model's own order,
after checking that the two configs agree on everything but ``MAY_DIFFER``,
that every shape matches and, for a sentence VAE, that both read the same
vocabulary (each word under the same id). ``MAY_DIFFER`` is what fine-tuning
changes: the objective and its KL weight, dropout, the seed. The KL weight
(``kl_weight``, a schedule's state) and the optimizer start afresh.
"""

from pathlib import Path

from tfvae import text
from tfvae.backend import tf
from tfvae.served import is_export, rebuild
from tfvae.served import load_vocabulary as export_vocabulary

# Model settings a warm start may change: they add no variable and leave what a weight means as it was.
MAY_DIFFER = (
    "objective",
    "num_samples",
    "free_bits",
    "beta",
    "kl_estimate",
    "seed",
    "validate_inputs",
    "word_dropout",
    "decoder_dropout",
)


def source_model(path: str | Path):
    """The trained model at ``path`` (a run directory or an export) and its vocabulary (``None``: images).

    Raises:
        FileNotFoundError: ``path`` is neither a run directory nor an export.
    """
    from tfvae.runs import load_run, load_run_settings, load_vocabulary  # tfvae.runs imports the models

    path = Path(path)
    if is_export(path):
        return rebuild(path), export_vocabulary(path)
    if (path / "config.json").exists():
        text_run = load_run_settings(path).dataset == "text" and (path / text.VOCABULARY_FILE).exists()
        return load_run(path), (load_vocabulary(path) if text_run else None)
    raise FileNotFoundError(f"init_from: {path} is neither a run directory (config.json) nor an export")


def copy_weights(targets, sources, where: str, fix: str) -> None:
    """Assigns the variables ``sources`` to ``targets``, in order, each cast to its target's dtype.

    Checks everything before assigning anything, so a refused copy leaves the
    targets as they were.

    Args:
        targets, sources: lists of variables.
        where: the source, for the messages.
        fix: what the user should do, ending each message.

    Raises:
        ValueError: the lists differ in length or a shape differs (the message
            names the first such variable).
    """
    if len(sources) != len(targets):
        raise ValueError(f"{where} has {len(sources)} variables, the model {len(targets)}: {fix}")
    for variable, value in zip(targets, sources):
        if variable.shape != value.shape:
            raise ValueError(
                f"{where}: {value.name} has shape {value.shape}, the model's {variable.name} {variable.shape}: {fix}"
            )
    for variable, value in zip(targets, sources):
        variable.assign(tf.cast(value, variable.dtype))  # a float16 export's weights (sentence_export.float16_weights)


def _learned(model):
    """``model.variables`` without ``kl_weight``, which is the run's own (``beta``, or its annealing schedule's)."""
    return [v for v in model.variables if v is not model.kl_weight]


def warm_start(model, path: str | Path, vocabulary: text.Vocabulary | None = None) -> None:
    """Copies the weights of the trained model at ``path`` into ``model`` (built, e.g. just compiled).

    Args:
        model: the new model.
        path: a run directory or an export of the same architecture.
        vocabulary: the new run's vocabulary (a sentence VAE): it must equal
            the source's, or the embeddings would read other words.

    Raises:
        FileNotFoundError: ``path`` is neither a run directory nor an export.
        ValueError: the architectures or vocabularies differ (the message
            names the differing settings).
    """
    try:
        source, source_vocabulary = source_model(path)
    except ValueError as error:  # e.g. an export whose weights do not fit its own tfvae.json
        raise ValueError(f"init_from: {error}") from None
    if type(source) is not type(model):
        raise ValueError(
            f"init_from: {path} holds a {type(source).__name__}, the new model is a {type(model).__name__}"
        )
    from tfvae.runs import _normalised  # tuples as lists, as a stored config has them

    ours, theirs = _normalised(model.get_config()), _normalised(source.get_config())
    differing = sorted(k for k in ours.keys() | theirs.keys() if k not in MAY_DIFFER and ours.get(k) != theirs.get(k))
    if differing:
        shown = ", ".join(f"{k} {theirs.get(k)!r} (here {ours.get(k)!r})" for k in differing)
        raise ValueError(
            f"init_from: {path} was trained with {shown}: start from a model with the same architecture "
            f"(only {', '.join(MAY_DIFFER)} may differ)"
        )
    if vocabulary is not None:
        if source_vocabulary is None:
            raise ValueError(f"init_from: {path} holds no vocabulary: start from a text run or a text export")
        if source_vocabulary.words != vocabulary.words:
            raise ValueError(
                f"init_from: {path} was trained with another vocabulary ({len(source_vocabulary.words)} words "
                f"against {len(vocabulary.words)}, or the same words under other ids): train on the same data, "
                "with the same max_vocab, min_count and tokenizer"
            )
    copy_weights(
        _learned(model), _learned(source), f"init_from: {path}", "start from a model with the same architecture"
    )
