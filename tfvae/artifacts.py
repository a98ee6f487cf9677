"""What tfvae wrote, opened once: a run directory or an export, of an image model or a text model.

Every command that reads a trained model starts here::

    artifact = open_artifact("runs/mnist_mlp")        # or an export: "saved_models/mnist_mlp_vamp/1"
    artifact.kind          # "run" or "export"
    artifact.family        # "image" or "text"
    artifact.dataset       # what it was trained on: "mnist", "text", a TFDS name
    artifact.model()       # a run's best weights, or the model rebuilt from an export's variables
    artifact.vocabulary()  # a text model's vocabulary (None for images)

A run directory holds ``config.json`` (``tfvae.runs``); an export holds
``saved_model.pb`` and ``tfvae.json`` (``tfvae.export``,
``tfvae.sentence_export``), which records the dataset since tfvae 0.3. An
older export does not: an image export is then taken to be MNIST-trained
(``dataset_recorded`` is False, and the commands say so).
"""

import dataclasses
import json
from pathlib import Path

from tfvae.options import TEXT_DATASET

RUN, EXPORT = "run", "export"
IMAGE, TEXT = "image", "text"
UNRECORDED_IMAGE_DATASET = "mnist"  # what an image export of tfvae < 0.3 was trained on


@dataclasses.dataclass(frozen=True)
class Artifact:
    """A run directory or an export, as ``open_artifact`` found it.

    Attributes:
        path: where it is.
        kind: ``"run"`` or ``"export"``.
        family: ``"image"`` or ``"text"``.
        description: a run's ``config.json`` or an export's ``tfvae.json``.
        dataset: what the model was trained on.
        dataset_recorded: False for an export older than tfvae 0.3 (``dataset`` is then a guess, MNIST).
    """

    path: Path
    kind: str
    family: str
    description: dict
    dataset: str
    dataset_recorded: bool = True

    @property
    def is_export(self) -> bool:
        return self.kind == EXPORT

    @property
    def is_text(self) -> bool:
        return self.family == TEXT

    @property
    def model_config(self) -> dict:
        """The model's constructor arguments (``get_config``)."""
        return self.description["model"]

    def settings(self):
        """A run's ``TrainSettings`` (``tfvae.runs``); an export has none."""
        if self.is_export:
            raise ValueError(f"{self.path} is an export: it keeps no training settings (use its run directory)")
        from tfvae.runs import load_run_settings

        return load_run_settings(self.path)

    def data_settings(self):
        """The ``TrainSettings`` (``tfvae.runs``) that find the model's data again: a run's own settings; for an
        export, its ``tfvae.json``'s ``preprocessing.data`` (a user's own data, ``tfvae.own_data``) or its dataset."""
        if not self.is_export:
            return self.settings()
        from tfvae.runs import TrainSettings

        own = self.description.get("preprocessing", {}).get("data")
        return TrainSettings(**own) if own else TrainSettings(dataset=self.dataset)

    def features(self) -> dict | None:
        """A CSV-trained model's ``{"columns", "mean", "std"}`` (``tfvae.own_data``): a run's ``config.json``
        ``features``, an export's ``tfvae.json`` ``preprocessing.features``; ``None`` for other models."""
        if self.is_export:
            return self.description.get("preprocessing", {}).get("features")
        return self.description.get("features")

    def binarization(self) -> str:
        """How training images were binarised (``"dynamic"``, ``"fixed"``, ``"none"``): test images are prepared so."""
        if self.is_export:
            return self.description.get("preprocessing", {}).get("training_binarization", "dynamic")
        return self.settings().binarize

    def model(self):
        """The trained Keras model: a run's best weights, or the model rebuilt from an export's variables."""
        if self.is_export:
            from tfvae.served import rebuild

            return rebuild(self.path)
        from tfvae.runs import load_run

        return load_run(self.path)

    def vocabulary(self):
        """A text model's ``tfvae.text.Vocabulary`` (``None`` for an image model)."""
        if not self.is_text:
            return None
        if self.is_export:
            from tfvae.served import load_vocabulary

            return load_vocabulary(self.path)
        from tfvae.runs import load_vocabulary

        return load_vocabulary(self.path)


def open_artifact(path: str | Path) -> Artifact:
    """Opens what ``path`` holds: a run directory (``config.json``) or an export (``saved_model.pb``, ``tfvae.json``).

    Raises:
        FileNotFoundError: ``path`` is neither, with what was looked for.
    """
    path = Path(path)
    if (path / "saved_model.pb").exists():
        description_path = path / "tfvae.json"
        if not description_path.exists():
            raise FileNotFoundError(
                f"{path} is a SavedModel without tfvae.json: not written by tfvae export, so tfvae cannot read it"
            )
        description = json.loads(description_path.read_text())
        family = TEXT if description.get("class") == "SentenceVAE" else IMAGE
        recorded = "dataset" in description
        dataset = description.get("dataset") or (TEXT_DATASET if family == TEXT else UNRECORDED_IMAGE_DATASET)
        return Artifact(path, EXPORT, family, description, dataset, recorded)
    if (path / "config.json").exists():
        from tfvae.runs import read_run_config

        description = read_run_config(path)
        family = TEXT if description.get("class") == "SentenceVAE" else IMAGE
        return Artifact(path, RUN, family, description, description["train"]["dataset"])
    what = "no such directory" if not path.exists() else "neither config.json nor saved_model.pb in it"
    raise FileNotFoundError(
        f"{path}: not a tfvae run directory or export ({what}); give a directory written by 'tfvae train' "
        "or a version directory written by 'tfvae export' (saved_models/NAME/N)"
    )
