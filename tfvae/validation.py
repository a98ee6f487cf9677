"""Input validation: the checks where data enters a model.

A VAE fed data it was not built for still returns numbers: raw 8-bit pixels
give a Bernoulli "loss" of -300,000 nats, one NaN pixel turns every weight
into NaN, and a missing channel axis fails deep inside TFP. These checks turn
each of those into one clear error. They are kept apart from the model, so
that any model (or a data pipeline) can use them.

Two kinds:

* **Static** checks (dtype, rank and shape against the model's
  ``data_shape``; the condition's and latents' shapes) look only at shapes and
  dtypes, which are known when a function is traced. They raise ``ValueError``
  and cost nothing at run time.
* **Value** checks (no NaN or infinity; the likelihood's range, see
  ``VALUE_RANGES``) look at the data: a min, a max and a sum per batch
  (about 60 us for 128 MNIST images on CPU). Eagerly they raise
  ``ValueError``; inside a ``tf.function`` they are ``Assert`` ops, which
  raise ``tf.errors.InvalidArgumentError`` with the same text.

XLA drops ``Assert`` ops (TF's XLA bridge compiles them to nothing), so value
checks inside a ``jit_compile`` function never fire. ``InputChecker.check_source``
therefore checks what ``fit``/``evaluate``/``predict`` receive before the
compiled step: arrays at once, ``tf.data`` pipelines with a ``map`` in the
pipeline. ``tfvae.VAE`` holds one ``InputChecker`` for its inputs.
"""

import inspect
import math

import numpy as np

from tfvae.backend import check_keras_object, keras, tf
from tfvae.distributions import LIKELIHOOD_HEADS

# The values each likelihood is a distribution over (its documented support; the heads say it
# themselves, tfvae.distributions.*.value_range); None: any finite value.
VALUE_RANGES = {head.kind: head.value_range for head in LIKELIHOOD_HEADS}

PREPARE_HINT = (
    "scale 8-bit images to [0, 1] (x / 255) and, for a Bernoulli likelihood, binarise them: "
    "tfvae.data.binarize_fixed(images) does both for arrays, tfvae.data.make_pipeline(images) "
    "for training data"
)


def value_range(likelihood):
    """The ``(low, high)`` range data must lie in for ``likelihood``, or ``None`` (any finite value)."""
    return VALUE_RANGES.get(likelihood)


def format_shape(shape, batch="batch"):
    """``[batch, 28, 28, 1]``: a shape as the messages write it (unknown dimensions by name)."""
    dims = tf.TensorShape(shape).as_list() if tf.TensorShape(shape).rank is not None else None
    if dims is None:
        return "<unknown rank>"
    return (
        "["
        + ", ".join(batch if (i == 0 and d is None) else ("?" if d is None else str(d)) for i, d in enumerate(dims))
        + "]"
    )


def _shape_hint(given, data_shape, name):
    """How to turn a batch of shape ``given`` into one of ``[batch, *data_shape]``, if it is clear."""
    data_shape = list(data_shape)
    size = math.prod(data_shape)
    rest = given[1:]
    if rest == data_shape[:-1] and data_shape[-1] == 1:
        return f"add the channel axis: {name}[..., None] (np.expand_dims({name}, -1))"
    if given == data_shape:
        return f"this is one example: add the batch axis, {name}[None]"
    if len(given) == 2 and given[1] == size:
        return f"reshape the flat vectors: {name}.reshape(-1, {', '.join(map(str, data_shape))})"
    if len(rest) == len(data_shape) and rest[0] == data_shape[-1] and rest[1:] == data_shape[:-1]:
        return f"channels go last: np.moveaxis({name}, 1, -1)"
    return (
        f"this model was built for data_shape={tuple(data_shape)}; reshape the data or build the model "
        f"with VAE(data_shape={tuple(rest)})"
    )


def check_images_spec(dtype, shape, data_shape, name="x"):
    """Static check of a batch of images: a float dtype and shape ``[batch, *data_shape]``.

    ``dtype`` and ``shape`` may be partly unknown (``None`` dimensions pass).
    All problems go into one message, which names the expected and the given
    shape and says how to fix them.

    Raises:
        ValueError: on an integer, boolean or non-numeric dtype, or a shape
            incompatible with ``[batch, *data_shape]``.
    """
    problems, hints = [], []
    dtype = tf.as_dtype(dtype)
    if not dtype.is_floating:
        problems.append(f"dtype {dtype.name}")
        # Integer pixels are almost always raw 8-bit images.
        hints.append(PREPARE_HINT if (dtype.is_integer or dtype.is_bool) else f"convert {name} to float32")
    shape = tf.TensorShape(shape)
    expected = tf.TensorShape([None, *data_shape])
    if shape.rank is not None and not shape.is_compatible_with(expected):
        problems.append(f"shape {format_shape(shape, batch='?')}")
        hints.append(_shape_hint(shape.as_list(), data_shape, name))
    if problems:
        raise ValueError(
            f"{name}: expected float images of shape {format_shape(expected)} "
            f"(data_shape={tuple(data_shape)}), got {' and '.join(problems)}; {'; '.join(hints)}"
        )


def check_condition_spec(dtype, shape, condition_dim, batch_size=None, name="condition"):
    """Static check of a conditional model's condition: ``[batch, condition_dim]`` floats.

    Raises:
        ValueError: naming the expected and the given shape; integer labels
            get a hint to one-hot encode them.
    """
    dtype = tf.as_dtype(dtype)
    shape = tf.TensorShape(shape)
    expected = tf.TensorShape([batch_size, condition_dim])
    hint = f"one-hot encode the labels: tfvae.data.one_hot(labels, {condition_dim})"
    if shape.rank is not None and not shape.is_compatible_with(expected):
        raise ValueError(
            f"{name}: expected shape {format_shape(expected)} (one vector of size {condition_dim} "
            f"per example{'' if batch_size is None else ', as many as images'}), got "
            f"{format_shape(shape, batch='?')}" + (f"; {hint}" if shape.rank == 1 else "")
        )
    if not dtype.is_floating:
        raise ValueError(f"{name}: expected float vectors, got dtype {dtype.name}; {hint}")


def check_latents_spec(shape, latent_dim, name="z"):
    """Static check of latents for the decoder: ``[..., latent_dim]``.

    Raises:
        ValueError: if the last axis is not ``latent_dim``.
    """
    shape = tf.TensorShape(shape)
    if shape.rank is not None and (shape.rank == 0 or shape[-1] not in (None, latent_dim)):
        raise ValueError(
            f"{name}: expected latents of shape [..., {latent_dim}] (latent_dim={latent_dim}), "
            f"got {format_shape(shape, batch='?')}"
        )


def _range_message(name, low, high, likelihood):
    what = f" for the {likelihood} likelihood" if likelihood else ""
    return f"{name} must lie in [{low:g}, {high:g}]{what}"


def _range_hint(low, high, found_high):
    if high == 1.0 and 1.0 < found_high <= 255.0:
        return f"; if these are 8-bit pixel values (0..255): {PREPARE_HINT}"
    return ""


def _nonfinite_message(name, count=""):
    return f"{name} contains NaN or infinite values{count}; remove or replace them before they reach the model"


def check_array_values(x, value_range=None, name="x", likelihood=None):
    """Eager value check of an array or eager tensor: finite, and inside ``value_range``.

    Raises:
        ValueError: naming the problem (how many values are not finite, or
            the range found) and the fix.
    """
    if isinstance(x, np.ndarray):
        finite = np.isfinite(x)
        bad = int(x.size - np.count_nonzero(finite))
        low, high = (float(x.min()), float(x.max())) if (x.size and not bad) else (0.0, 0.0)
    else:
        x = tf.convert_to_tensor(x)
        bad = int(tf.size(x)) - int(tf.math.count_nonzero(tf.math.is_finite(x)))
        low, high = (float(tf.reduce_min(x)), float(tf.reduce_max(x))) if (int(tf.size(x)) and not bad) else (0, 0)
    if bad:
        raise ValueError(_nonfinite_message(name, f" ({bad} of {int(np.prod(x.shape))})"))
    if value_range is not None and (low < value_range[0] or high > value_range[1]):
        raise ValueError(
            f"{_range_message(name, *value_range, likelihood)}, found values in [{low:g}, {high:g}]"
            f"{_range_hint(*value_range, high)}"
        )


def check_values(x, value_range=None, name="x", likelihood=None):
    """Value check of a float tensor ``x``; returns ``x``.

    Eagerly it raises ``ValueError`` at once. In a graph it returns ``x``
    behind ``Assert`` ops (first "finite", then the range), which raise
    ``tf.errors.InvalidArgumentError`` with the same text when the graph
    runs. Cost: a min, a max and a sum of ``x`` per call. (A batch whose sum
    overflows float32, i.e. values near 1e33, is reported as not finite.)
    """
    if tf.executing_eagerly():
        check_array_values(x, value_range, name, likelihood)
        return x
    # Three plain reductions and two raw Assert ops: measured 57 us per 128 x 784 batch on CPU, against
    # 200 us for is_finite + reduce_all and tf.debugging.Assert (which wraps data-carrying asserts in a
    # cond). min and max propagate NaN on CPU; the sum makes sure of it (NaN or inf anywhere -> not finite).
    wide = x if x.dtype in (tf.float32, tf.float64) else tf.cast(x, tf.float32)  # a float16 sum overflows
    low, high, total = tf.reduce_min(x), tf.reduce_max(x), tf.reduce_sum(wide)
    finite = tf.math.is_finite(low) & tf.math.is_finite(high) & tf.math.is_finite(total)
    checks = [tf.raw_ops.Assert(condition=finite, data=[_nonfinite_message(name)])]
    if value_range is not None:
        # After the finiteness check, so a NaN is reported as a NaN, not as out of range.
        with tf.control_dependencies(checks):
            inside = tf.logical_and(low >= value_range[0], high <= value_range[1])
            hint = " (8-bit pixels must be scaled to [0, 1] first: x / 255)" if value_range[1] == 1.0 else ""
            checks.append(
                tf.raw_ops.Assert(
                    condition=inside,
                    data=[
                        _range_message(name, *value_range, likelihood) + hint + "; found values in [min, max] =",
                        low,
                        high,
                    ],
                )
            )
    with tf.control_dependencies(checks):
        return tf.identity(x)


class InputChecker:
    """The checks of one model's inputs: images ``[batch, *data_shape]`` and, for a
    conditional model, conditions ``[batch, condition_dim]``.

    Args:
        data_shape: shape of one example.
        condition_dim: size of a condition vector (0: an unconditional model,
            fed ``x`` alone; otherwise ``(x, condition)``).
        likelihood: the likelihood's name; sets the value range (``VALUE_RANGES``).
        check_values: run the value checks (NaN/inf, range); the static
            checks always run.
    """

    def __init__(self, data_shape, condition_dim=0, likelihood=None, check_values=True):
        self.data_shape = tuple(data_shape)
        self.condition_dim = int(condition_dim)
        self.likelihood = likelihood
        self.value_range = value_range(likelihood)
        self.values = bool(check_values)

    def check_tensors(self, x, condition=None):
        """``x`` as float32 and ``condition`` (tensors, arrays or lists), checked; returns both.

        Shapes and dtypes raise ``ValueError`` (when traced, in a graph);
        values are checked by ``check_values``.
        """
        if not tf.is_tensor(x):
            x = tf.convert_to_tensor(np.asarray(x))
        check_images_spec(x.dtype, x.shape, self.data_shape)
        x = tf.cast(x, tf.float32)
        if bool(self.condition_dim) != (condition is not None):
            raise ValueError(
                "this model is unconditional (condition_dim=0): pass no condition"
                if condition is not None
                else f"this model is conditional: pass a condition of size {self.condition_dim}"
            )
        if condition is not None:
            if not tf.is_tensor(condition):
                condition = tf.convert_to_tensor(np.asarray(condition))
            check_condition_spec(condition.dtype, condition.shape, self.condition_dim, _batch_dim(x.shape))
        if self.values:
            x = check_values(x, self.value_range, "x", self.likelihood)
            if condition is not None:
                condition = check_values(tf.cast(condition, tf.float32), None, "condition")
        return x, condition

    def check_arrays(self, inputs, specs_only=False):
        """Checks model inputs ``x`` or ``(x, condition)``: arrays or eager tensors, or (``specs_only``)
        anything with ``dtype`` and ``shape``, such as a pipeline's ``TensorSpec``.

        Raises:
            ValueError: naming the problem and the fix.
        """
        if self.condition_dim:
            if not isinstance(inputs, (tuple, list)) or len(inputs) != 2:
                wrap = " (a pipeline of (x, c) pairs needs one more tuple level: dataset.map(lambda x, c: ((x, c),)))"
                raise ValueError(
                    f"this model has condition_dim={self.condition_dim}: feed (x, condition)"
                    + (wrap if specs_only else "")
                )
            x, condition = inputs
        elif isinstance(inputs, (tuple, list)):
            raise ValueError("this model is unconditional (condition_dim=0): feed x alone, not a tuple")
        else:
            x, condition = inputs, None
        check_images_spec(x.dtype, x.shape, self.data_shape)
        if condition is not None:
            check_condition_spec(condition.dtype, condition.shape, self.condition_dim, _batch_dim(x.shape))
        if self.values and not specs_only:
            check_array_values(x, self.value_range, "x", self.likelihood)
            if condition is not None:
                check_array_values(condition, None, "condition")

    def check_source(self, data, element=False, compiled=False):
        """What ``fit``/``evaluate``/``predict`` receive, checked before Keras builds its step; returns it.

        Arrays and eager tensors are checked at once. A ``tf.data.Dataset``
        is checked by its element spec at once and, if ``compiled`` (XLA,
        which drops the model's own Assert ops), gains a ``map`` that checks
        each batch's values in the pipeline. Generators and
        ``keras.utils.Sequence`` pass unchecked here (the model's ``call``
        checks them, except under XLA).

        Args:
            data: the ``x`` argument, or (``element``) a Keras data tuple
                ``(x, y, sample_weight)`` such as ``validation_data``.
        """
        if data is None:
            return data
        if isinstance(data, tf.data.Dataset):
            spec = data.element_spec
            self.check_arrays(keras_inputs(spec), specs_only=True)
            if self.values and compiled:
                data = data.map(self._pipeline_check(isinstance(spec, tuple)), num_parallel_calls=tf.data.AUTOTUNE)
            return data
        inputs = keras_inputs(data) if element else data
        if _is_array(inputs) or (isinstance(inputs, (tuple, list)) and inputs and all(map(_is_array, inputs))):
            self.check_arrays(inputs)
        return data

    def _pipeline_check(self, is_tuple):
        """A ``Dataset.map`` function that checks the values of the model inputs of each element."""

        def check(*element):
            inputs = element[0]
            if isinstance(inputs, (tuple, list)):  # (x, condition)
                inputs = (
                    check_values(inputs[0], self.value_range, "x", self.likelihood),
                    check_values(inputs[1], None, "condition"),
                )
            else:
                inputs = check_values(inputs, self.value_range, "x", self.likelihood)
            return (inputs, *element[1:]) if is_tuple else inputs

        return check


def keras_inputs(element):
    """The model inputs of a Keras data element ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, w)``."""
    if isinstance(element, list):
        element = tuple(element)
    return element[0] if isinstance(element, tuple) and 1 <= len(element) <= 3 else element


def _is_array(value):
    return isinstance(value, np.ndarray) or (tf.is_tensor(value) and hasattr(value, "numpy"))


def _batch_dim(shape):
    shape = tf.TensorShape(shape)
    return None if shape.rank is None or shape.rank == 0 else shape[0]


class CheckedEntryPoints:
    """Keras's ``fit``/``evaluate``/``predict`` and ``*_on_batch``, with the data checked first.

    ``call`` checks every batch in the graph, but XLA drops Assert ops: with
    ``jit_compile`` those value checks never fire. So the data is also
    checked here, before Keras builds its compiled step: arrays and eager
    tensors at once (a ValueError before anything trains), tf.data pipelines
    by their element spec at once and, under XLA, by a ``map`` that checks
    each batch's values in the pipeline, outside the compiled step.

    A mixin for a ``keras.Model`` with ``data_shape``, ``condition_dim``,
    ``likelihood_kind`` and ``validate_inputs`` attributes.
    """

    def check_inputs(self, x, condition=None):
        """Checks model inputs eagerly: ``x`` (and ``condition``) as arrays or eager tensors.

        Raises:
            ValueError: naming the problem (dtype, shape, NaN or infinity, or
                values outside the likelihood's range) and the fix.
        """
        self._inputs().check_arrays(x if condition is None else (x, condition))

    def _inputs(self):
        """The checks of this model's inputs (built when called: ``validate_inputs`` may change)."""
        return InputChecker(self.data_shape, self.condition_dim, self.likelihood_kind, self.validate_inputs)

    def _checked_source(self, data, element):
        """``data`` of ``fit``/``evaluate``/``predict`` checked (see ``InputChecker.check_source``)."""
        return self._inputs().check_source(data, element=element, compiled=bool(self.jit_compile))

    def checked_inputs(self, x, condition=None):
        """``(x, condition)`` as float32 tensors, checked: dtype and shapes always, values if ``validate_inputs``.

        Every entry point that takes data runs this once; the methods below it
        (``encoder_posterior``, ``infer``) assume it ran.

        Raises:
            ValueError: naming the problem and the fix (see ``InputChecker``).
        """
        return self._inputs().check_tensors(x, condition)

    def fit(self, *args, **kwargs):
        """Keras's ``fit``, with ``x`` and ``validation_data`` checked first (see ``tfvae.validation``)."""
        arguments = _bind(keras.Model.fit, self, args, kwargs)
        for i, callback in enumerate(arguments.get("callbacks") or ()):
            check_keras_object(callback, f"callbacks[{i}]")
        if "shuffle" not in arguments and isinstance(arguments.get("x"), tf.data.Dataset):
            # Keras ignores shuffle for a dataset; Keras 3 also warns at every fit(dataset) of its default True.
            arguments["shuffle"] = False
        arguments["x"] = self._checked_source(arguments.get("x"), element=False)
        if arguments.get("validation_data") is not None:
            arguments["validation_data"] = self._checked_source(arguments["validation_data"], element=True)
        return super().fit(**_unbind(arguments))

    def evaluate(self, *args, **kwargs):
        """Keras's ``evaluate``, with ``x`` checked first."""
        arguments = _bind(keras.Model.evaluate, self, args, kwargs)
        # Inside ``fit``, Keras evaluates the validation data that ``fit`` checked already.
        if not arguments.get("kwargs", {}).get("_use_cached_eval_dataset"):
            arguments["x"] = self._checked_source(arguments.get("x"), element=False)
        return super().evaluate(**_unbind(arguments))

    def predict(self, *args, **kwargs):
        """Keras's ``predict``, with ``x`` checked first."""
        arguments = _bind(keras.Model.predict, self, args, kwargs)
        arguments["x"] = self._checked_source(arguments.get("x"), element=False)
        return super().predict(**_unbind(arguments))

    def train_on_batch(self, x, *args, **kwargs):
        """Keras's ``train_on_batch``, with ``x`` checked first."""
        return super().train_on_batch(self._checked_source(x, element=False), *args, **kwargs)

    def test_on_batch(self, x, *args, **kwargs):
        """Keras's ``test_on_batch``, with ``x`` checked first."""
        return super().test_on_batch(self._checked_source(x, element=False), *args, **kwargs)

    def predict_on_batch(self, x):
        """Keras's ``predict_on_batch``, with ``x`` checked first."""
        return super().predict_on_batch(self._checked_source(x, element=False))


def _bind(method, model, args, kwargs):
    """The arguments of a call of Keras's ``method`` by name (positional ones included)."""
    arguments = inspect.signature(method).bind(model, *args, **kwargs).arguments
    arguments.pop("self")
    return arguments


def _unbind(arguments):
    """``_bind``'s dict as keyword arguments (a method's ``**kwargs`` merged in)."""
    return {**{k: v for k, v in arguments.items() if k != "kwargs"}, **arguments.get("kwargs", {})}
