"""Warm start: a new run begins from a trained model's weights (``tfvae train --init-from PATH``).

The source is a run directory or an export (``saved_models/NAME/N``). Its
variables are copied into the new model in the model's own order, after
checking that their number and every shape match and, for a sentence VAE,
that both read the same vocabulary (each word under the same id). What adds
no variable may differ from the source's settings, and is what fine-tuning
changes: dropout, the learning rate and its schedule, free bits, the
objective. The optimizer starts afresh.
"""

from pathlib import Path

from tfvae import text
from tfvae.backend import tf
from tfvae.served import is_export, rebuild


def source_model(path: str | Path):
    """The trained model at ``path`` (a run directory or an export) and its vocabulary's words (``None``: images).

    Raises:
        FileNotFoundError: ``path`` is neither a run directory nor an export.
    """
    from tfvae.runs import load_run  # tfvae.runs imports the models; only a warm start needs it here

    path = Path(path)
    if is_export(path):
        model, vocabulary_file = rebuild(path), path / "assets" / text.VOCABULARY_FILE
    elif (path / "config.json").exists():
        model, vocabulary_file = load_run(path), path / text.VOCABULARY_FILE
    else:
        raise FileNotFoundError(f"init_from: {path} is neither a run directory (config.json) nor an export")
    words = text.Vocabulary.load(vocabulary_file).words if vocabulary_file.exists() else None
    return model, words


def copy_weights(targets, sources, where: str) -> None:
    """Assigns the variables ``sources`` to ``targets``, in order, each cast to its target's dtype.

    Checks everything before assigning anything, so a refused copy leaves the
    targets as they were.

    Raises:
        ValueError: the lists differ in length or a shape differs (the message
            names the first such variable).
    """
    if len(sources) != len(targets):
        raise ValueError(
            f"{where} has {len(sources)} variables, the model {len(targets)}: "
            "use a model with the same architecture and sizes"
        )
    for variable, value in zip(targets, sources):
        if variable.shape != value.shape:
            raise ValueError(
                f"{where}: {value.name} has shape {value.shape}, the model's {variable.name} {variable.shape}: "
                "use a model with the same architecture and sizes"
            )
    for variable, value in zip(targets, sources):
        variable.assign(tf.cast(value, variable.dtype))  # a float16 export's weights (sentence_export.float16_weights)


def warm_start(model, path: str | Path, vocabulary: text.Vocabulary | None = None) -> None:
    """Copies the weights of the trained model at ``path`` into ``model`` (built, e.g. just compiled).

    Args:
        model: the new model.
        path: a run directory or an export of the same architecture.
        vocabulary: the new run's vocabulary (a sentence VAE): it must equal
            the source's, or the embeddings would read other words.

    Raises:
        FileNotFoundError: ``path`` is neither a run directory nor an export.
        ValueError: the architectures or vocabularies differ.
    """
    source, words = source_model(path)
    if type(source) is not type(model):
        raise ValueError(
            f"init_from: {path} holds a {type(source).__name__}, the new model is a {type(model).__name__}"
        )
    if vocabulary is not None and words != vocabulary.words:
        raise ValueError(
            f"init_from: {path} was trained with another vocabulary ({0 if words is None else len(words)} words "
            f"against {len(vocabulary.words)}, or the same words under other ids): train on the same data, "
            "with the same max_vocab, min_count and tokenizer"
        )
    copy_weights(model.variables, source.variables, f"init_from: {path}")
