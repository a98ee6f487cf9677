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

from tfvae import options, text
from tfvae.artifacts import open_artifact
from tfvae.core import ARGUMENTS_WITHOUT_ROWS
from tfvae.served import copy_weights

# Model settings a warm start may change: they add no variable and leave what a weight means as it was. The rows
# marked ``fine_tuning`` in the option table, and the two model arguments without a row.
MAY_DIFFER = (*options.fine_tuning_arguments(), *ARGUMENTS_WITHOUT_ROWS)


def source_model(path: str | Path):
    """The trained model at ``path`` (a run directory or an export) and its vocabulary (``None``: images).

    Raises:
        FileNotFoundError: ``path`` is neither a run directory nor an export.
    """
    try:
        artifact = open_artifact(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"init_from: {path} is neither a run directory (config.json) nor an export") from None
    return artifact.model(), artifact.vocabulary()


def _learned(model):
    """``model.portable_variables`` without ``kl_weight``, which is the run's own (``beta``, or its annealing
    schedule's)."""
    return [v for v in model.portable_variables if v is not model.kl_weight]


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
