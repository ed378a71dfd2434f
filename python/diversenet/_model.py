"""``diversenet.Model``: a trained (or foreign) network f(x) = V relu(W x) with the input
scaling it was trained with, used as a scikit-learn estimator is (predict, predict_proba,
decision_function, score) and measured with the theory (analyze). Every computation is
the Rust library's; this class holds the arrays and says what they are."""

import numpy as _np

from . import _diversenet

_SCALINGS = ("raw", "sphere", "standardise")


class Model:
    """A network f(x) = V relu(W x), W (n x d), V (c x n), with:

    input_scaling
        How inputs are scaled before the network sees them ("raw", "sphere" or
        "standardise"); ``input_mean`` and ``input_scale`` are the statistics of
        standardised inputs (fitted on the training rows), else None. Every method takes
        inputs as the user has them and applies this scaling.
    loss
        "squared" or "cross-entropy" (None for foreign weights of unknown training).
    classes_
        A classifier's classes in the order of its outputs (output j predicts class
        ``classes_[j]``), as scikit-learn's LabelEncoder finds them; None for a model of
        real values.
    config
        The training configuration (None for foreign weights), with the record of the
        data trained on (``config["data"]``: shapes and SHA-256s of arrays in memory).
    metrics
        One dict per epoch (epoch 0 = the initial network); ``metrics_on`` says what the
        training and test metrics were computed on (no test metrics without a test set),
        ``test_indices`` which rows of X were held out (``test_fraction=``), else None.

    ``diversenet.train`` returns one, ``diversenet.load_model`` reads one, and
    ``Model.from_weights`` wraps weights trained elsewhere.
    """

    def __init__(self, W, V, *, input_scaling="raw", input_mean=None, input_scale=None,
                 loss=None, classes=None, config=None, metrics=None, metrics_on=None,
                 test_indices=None, zero_inputs=0, foreign=False):
        self.W = _np.array(W, dtype=_np.float64, copy=True)
        V = _np.array(V, dtype=_np.float64, copy=True)
        self.V = V.reshape(1, -1) if V.ndim == 1 else V
        if input_scaling not in _SCALINGS:
            raise ValueError(
                f"input_scaling={input_scaling!r}: expected one of {', '.join(_SCALINGS)}")
        self.input_scaling = input_scaling
        self.input_mean = None if input_mean is None else _np.asarray(input_mean, _np.float64)
        self.input_scale = None if input_scale is None else _np.asarray(input_scale, _np.float64)
        self.loss = loss
        self.classes_ = None if classes is None else _np.asarray(classes)
        self.config = config
        self.metrics = list(metrics or [])
        self.metrics_on = metrics_on
        self.test_indices = test_indices
        self.zero_inputs = zero_inputs
        self.foreign = foreign
        # The library checks the shapes and statistics once, here.
        _diversenet._predict("decision", self.W, self.V, _np.zeros((1, self.W.shape[1])),
                             **self._scaling())
        if self.classes_ is not None and len(self.classes_) != self.V.shape[0]:
            raise ValueError(
                f"classes: {len(self.classes_)} classes for a network of {self.V.shape[0]} "
                "outputs: one class per output")

    @classmethod
    def from_weights(cls, W, V, *, input_scaling="raw", input_mean=None, input_scale=None,
                     classes=None, loss=None):
        """Wraps weights trained elsewhere (W n x d, V c x n or n values). Inputs are
        used as given unless ``input_scaling`` is "sphere" (x / ||x||) or "standardise"
        (with ``input_mean`` and ``input_scale``, d values each: the statistics the
        weights were trained with). ``classes`` (one per output) makes it a classifier;
        ``loss="cross-entropy"`` lets ``predict_proba`` read its outputs as logits."""
        if loss not in (None, "squared", "cross-entropy"):
            raise ValueError(f"loss={loss!r}: expected None, 'squared' or 'cross-entropy'")
        if loss == "cross-entropy" and classes is None:
            classes = _np.arange(_np.atleast_2d(V).shape[0])
        if classes is not None:
            _diversenet._encode_labels(classes, _np.asarray(classes), len(classes), "classes")
        return cls(W, V, input_scaling=input_scaling, input_mean=input_mean,
                   input_scale=input_scale, classes=classes, loss=loss, foreign=True)

    @classmethod
    def _from_dict(cls, d):
        """A model from what the library's ``train`` and ``load_model`` return."""
        config = d.get("config")
        classes = d.get("classes")
        if classes is None and d.get("targets") == "classes":
            classes = _np.arange(_np.asarray(d["V"]).shape[0])
        return cls(d["W"], d["V"], input_scaling=d["input_scaling"],
                   input_mean=d.get("input_mean"), input_scale=d.get("input_scale"),
                   loss=None if config is None else config["loss"], classes=classes,
                   config=config, metrics=d.get("metrics"), metrics_on=d.get("metrics_on"),
                   test_indices=d.get("test_indices"), zero_inputs=d.get("zero_inputs", 0),
                   foreign=d.get("foreign", False))

    def _scaling(self):
        return {"input_scaling": self.input_scaling, "input_mean": self.input_mean,
                "input_scale": self.input_scale}

    @property
    def is_classifier(self):
        """Whether the model predicts classes (``classes_`` is set)."""
        return self.classes_ is not None

    @property
    def targets(self):
        """"classes" (a classifier) or "scalar" (real values): what ``save_model`` takes."""
        return "classes" if self.is_classifier else "scalar"

    @property
    def n_features_in_(self):
        """d, the number of inputs (scikit-learn's name)."""
        return self.W.shape[1]

    def decision_function(self, X):
        """The raw outputs f(x) = V relu(W x) (m x c) on the rows of X, scaled as in
        training."""
        return _diversenet._predict("decision", self.W, self.V, X, **self._scaling())

    def predict(self, X):
        """A classifier's class of each row of X (the class of the largest output); a model
        of real values' outputs (m values for one output, else m x c)."""
        if self.is_classifier:
            return self.classes_[_diversenet._predict("index", self.W, self.V, X,
                                                      **self._scaling())]
        f = self.decision_function(X)
        return f[:, 0] if f.shape[1] == 1 else f

    def predict_proba(self, X):
        """Class probabilities (m x c, columns in the order of ``classes_``): the softmax of
        the outputs of a model trained with the cross-entropy loss. Other models have no
        probabilities: ValueError."""
        if not self.is_classifier or self.loss != "cross-entropy":
            raise ValueError(
                f"predict_proba: the model's loss is {self.loss!r}; class probabilities are "
                "the softmax of a classifier trained with loss='cross-entropy' (use "
                "decision_function for the raw outputs)")
        return _diversenet._predict("proba", self.W, self.V, X, **self._scaling())

    def score(self, X, y):
        """scikit-learn's score: a classifier's accuracy on (X, y) (a label that is none of
        ``classes_`` counts as wrong), a model of real values' R^2 (averaged over its
        outputs)."""
        classes = None if self.classes_ is None else self.classes_.tolist()
        return _diversenet._score(self.W, self.V, X, y, classes=classes, **self._scaling())

    def analyze(self, X, y=None, **options):
        """``diversenet.analyze`` of the network on the rows of X scaled with the model's own
        scaling and statistics (never refitted on X), with a classifier's labels y read as
        its classes. Takes analyze's keywords (points, all_points, seed, monte_carlo)."""
        if "input_scaling" in options:
            raise ValueError(
                "input_scaling: a model applies its own input scaling "
                f"({self.input_scaling}); use diversenet.analyze(W, V, X, ...) to choose one")
        if y is not None and self.is_classifier:
            y = _diversenet._encode_labels(self.classes_.tolist(), y, _np.shape(X)[0], "y")
        scaling = self._scaling()
        if self.input_scaling != "standardise":
            scaling = {"input_scaling": self.input_scaling}
        return _diversenet.analyze(self.W, self.V, X, y, **scaling, **options)

    def save(self, path):
        """Writes the model to a safetensors file that ``diversenet.load_model`` and the
        command line (``diversenet eval``, ``predict``, ``analyze``) read. A trained model
        keeps its configuration, scaling, classes and the record of its data (arrays in
        memory: the command line asks for --data); foreign weights are written as W and V
        (raw inputs)."""
        if self.config is None:
            if self.input_scaling != "raw" or self.classes_ is not None:
                raise ValueError(
                    "save: foreign weights are written as W and V alone, which the command "
                    "line reads with raw inputs; this model has input_scaling="
                    f"{self.input_scaling!r} and classes {self.classes_}: no configuration "
                    "stores them")
            return _diversenet.save_model(path, self.W, self.V)
        classes = None if self.classes_ is None else self.classes_.tolist()
        return _diversenet.save_model(
            path, self.W, self.V, self.config,
            targets="classes" if self.is_classifier else "scalar",
            input_mean=self.input_mean, input_scale=self.input_scale, classes=classes)

    def __repr__(self):
        n, d = self.W.shape
        kind = (f"classifier of {len(self.classes_)} classes" if self.is_classifier
                else f"{self.V.shape[0]} real output(s)")
        return (f"Model(d={d}, n={n}, {kind}, input_scaling={self.input_scaling!r}, "
                f"loss={self.loss!r}, epochs={max(len(self.metrics) - 1, 0)})")


def load_model(path):
    """The model in ``path`` (a safetensors file written by ``Model.save``, ``diversenet
    train`` or ``save_model``; or foreign weights W and V, read with raw inputs) as a
    ``Model``."""
    return Model._from_dict(_diversenet.load_model(path))
