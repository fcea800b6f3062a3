"""Gu 2025's 1-D CNN deep features: a small network trained on the training rows only.

Gu et al. (Gland Surg. 2025, "DL feature extraction"): "a 1D convolutional
layer (Conv1D) comprising 64 filters with a kernel size of 2, utilizing the
ReLU activation ... flattened ... followed by a dense layer with 64 units and
ReLU activation ... a single unit with a sigmoid activation"; "Adam optimizer
with default parameters (learning rate = 0.001) and binary cross-entropy ...
trained on the training dataset for 10 epochs with a batch size of 32";
inputs "standardized using Z-score normalization"; the features are the
"feature vectors from the penultimate layer", i.e. the 64 Dense-layer
activations.

Because the network learns from the labels, :class:`CNN1DFeatures` is an
estimator: ``fit(X, y)`` trains it on the rows given (one training fold) and
``transform(X)`` returns the 64 penultimate activations (``cnn_00`` ...
``cnn_63``).  Torch runs on the CPU with a local ``torch.Generator`` (weight
initialisation, batch order, noise): no global seed is touched.

The fitted estimator holds only numpy arrays and plain types (``weights_``),
so a bundle can store it with skops; the torch module is rebuilt from those
arrays at each ``transform``.

Stated by the paper: the constants :data:`FILTERS` ... :data:`LEARNING_RATE`.
Keras defaults implied by "Keras Sequential API" and "default parameters":
Glorot-uniform weights and zero biases, Adam betas (0.9, 0.999) and
:data:`ADAM_EPSILON`.  The rest is *assumed* (see :data:`INPUT_VECTOR`,
:data:`NOISE_STD`, :data:`EARLY_STOPPING`).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from alnm_ray._validation import capped, check_range
from alnm_ray.exceptions import FallbackWarning, NotFittedError, SchemaMismatchError
from alnm_ray.select.base import as_frame, check_binary_y

#: Conv1D filters (stated).
FILTERS = 64
#: Conv1D kernel size (stated).
KERNEL_SIZE = 2
#: Units of the penultimate Dense layer, i.e. the number of features (stated).
UNITS = 64
#: Training epochs (stated).
EPOCHS = 10
#: Mini-batch size (stated).
BATCH_SIZE = 32
#: Adam learning rate (stated: Keras' default).
LEARNING_RATE = 1e-3
#: Keras' Adam epsilon (torch's default is 1e-8); "default parameters" means Keras'.
ADAM_EPSILON = 1e-7
#: Prefix of the output columns: ``cnn_00`` ... ``cnn_63``.
PREFIX = "cnn_"
#: *Assumed*: the 1-D input is one sequence's per-patient feature vector (e.g. the
#: radiomics or image-derived vector of DCE phase 1), z-scored with training
#: statistics; the paper says only "imaging data ... adjusted to fit the model's input".
INPUT_VECTOR = "z-scored per-patient feature vector of one sequence"
#: *Assumed*: no augmentation by default; the paper says "data augmentation" without
#: naming one, and image augmentations do not apply to a feature vector.  A
#: positive value adds Gaussian noise of this SD (in z units) to each training batch.
NOISE_STD = 0.0
#: *Assumed*: no early stopping; the paper also states a fixed 10 epochs and gives
#: no monitored quantity, patience or validation split, and a split would take
#: rows from a training fold of ~200 patients.
EARLY_STOPPING = False


def _network(n_inputs: int, filters: int, kernel_size: int, units: int) -> Any:
    """The untrained torch module (imports torch lazily)."""
    import torch

    class _CNN1D(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv1d(1, filters, kernel_size)
            self.dense = torch.nn.Linear(filters * (n_inputs - kernel_size + 1), units)
            self.out = torch.nn.Linear(units, 1)

        def embed(self, x: Any) -> Any:
            h = torch.relu(self.conv(x[:, None, :]))
            return torch.relu(self.dense(h.flatten(1)))

        def forward(self, x: Any) -> Any:
            return self.out(self.embed(x)).squeeze(1)  # logits; the sigmoid is in the loss

    return _CNN1D()


class CNN1DFeatures(TransformerMixin, BaseEstimator):
    """Train Gu 2025's 1-D CNN on the training rows; output its 64 penultimate activations.

    Args:
        filters, kernel_size, units: Conv1D filters, kernel size and Dense units.
        epochs, batch_size, learning_rate: Training schedule (Adam, binary cross-entropy).
        noise_std: SD of the Gaussian noise added to training batches (0 = none).
        seed: Seed of the local torch generator (initial weights, batch order, noise).

    Attributes:
        mean_, scale_: Training mean and SD per input column, shape (n_features,);
            columns constant in training (SD 0) are set to 0 after centring.
        weights_: Dict parameter name -> float32 array (the trained network).
        loss_curve_: Mean training loss per epoch.
        constant_features_: Input columns constant in the training rows.
        feature_names_in_, n_features_in_: Input columns seen in fit.
        fallback_: Note about constant columns, or None.

    Example:
        >>> rng = np.random.default_rng(0); y = np.r_[np.zeros(30), np.ones(30)].astype(int)
        >>> X = pd.DataFrame(rng.normal(size=(60, 12)) + y[:, None])
        >>> CNN1DFeatures(seed=0).fit(X, y).transform(X).shape
        (60, 64)
    """

    _step_name = "cnn1d"

    def __init__(self, filters: int = FILTERS, kernel_size: int = KERNEL_SIZE,
                 units: int = UNITS, epochs: int = EPOCHS, batch_size: int = BATCH_SIZE,
                 learning_rate: float = LEARNING_RATE, noise_std: float = NOISE_STD,
                 seed: int = 0) -> None:
        self.filters = filters
        self.kernel_size = kernel_size
        self.units = units
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.noise_std = noise_std
        self.seed = seed

    def _check_params(self) -> None:
        for name in ("filters", "kernel_size", "units", "epochs", "batch_size"):
            check_range(f"cnn1d: {name}", getattr(self, name), 1)
        check_range("cnn1d: learning_rate", self.learning_rate, 0.0, inclusive=False)
        check_range("cnn1d: noise_std", self.noise_std, 0.0)

    def _standardize(self, values: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (values - self.mean_) / self.scale_
        z[:, self.scale_ == 0] = 0.0
        return z.astype(np.float32)

    def fit(self, X: Any, y: Any) -> "CNN1DFeatures":
        """Train the network on the training rows.

        Args:
            X: Training features, shape (n_patients, n_features) with n_features
                >= kernel_size; a DataFrame keeps names and index.
            y: Binary labels (0/1), shape (n_patients,).

        Returns:
            self

        Raises:
            SchemaMismatchError: On non-numeric/non-finite values, bad labels or
                fewer columns than the kernel size.
        """
        import torch

        self._check_params()
        df = as_frame(X, step=self._step_name)
        yy = check_binary_y(y, df.shape[0], step=self._step_name)
        if df.shape[1] < self.kernel_size:
            raise SchemaMismatchError(
                f"cnn1d: X has {df.shape[1]} column(s); expected at least kernel_size="
                f"{self.kernel_size} for the Conv1D layer. Feed the whole feature vector of a "
                "sequence, not a few selected columns.")
        values = df.to_numpy(dtype=float)
        self._input_was_frame = isinstance(X, pd.DataFrame)
        self.feature_names_in_ = np.asarray(df.columns, dtype=object)
        self.n_features_in_ = df.shape[1]
        self.mean_ = values.mean(axis=0)
        self.scale_ = values.std(axis=0)
        constant = self.scale_ == 0
        self.constant_features_ = [str(c) for c in self.feature_names_in_[constant]]
        self.fallback_ = None
        if constant.any():
            self.fallback_ = (f"cnn1d: {int(constant.sum())} column(s) constant in the training "
                              f"rows enter the network as 0: {capped(self.constant_features_, 3)}")
            warnings.warn(self.fallback_, FallbackWarning, stacklevel=2)
        gen = torch.Generator().manual_seed(int(self.seed))
        net = _network(self.n_features_in_, self.filters, self.kernel_size, self.units)
        for name, param in net.named_parameters():
            if name.endswith("weight"):
                torch.nn.init.xavier_uniform_(param.data, generator=gen)
            else:
                torch.nn.init.zeros_(param.data)
        xt = torch.from_numpy(self._standardize(values))
        yt = torch.from_numpy(yy.astype(np.float32))
        opt = torch.optim.Adam(net.parameters(), lr=self.learning_rate, eps=ADAM_EPSILON)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        self.loss_curve_: list[float] = []
        net.train()
        for _ in range(int(self.epochs)):
            order = torch.randperm(len(xt), generator=gen)
            total = 0.0
            for start in range(0, len(xt), int(self.batch_size)):
                idx = order[start:start + int(self.batch_size)]
                xb = xt[idx]
                if self.noise_std > 0:
                    xb = xb + self.noise_std * torch.randn(xb.shape, generator=gen)
                opt.zero_grad()
                loss = loss_fn(net(xb), yt[idx])
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            self.loss_curve_.append(total / len(xt))
        self.weights_ = {name: t.detach().numpy().copy()
                         for name, t in net.state_dict().items()}
        return self

    def _module(self) -> Any:
        import torch

        net = _network(self.n_features_in_, self.filters, self.kernel_size, self.units)
        net.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in self.weights_.items()})
        return net.eval()

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "weights_")

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """``cnn_00`` ... (``units`` names, zero-padded to two digits or more)."""
        width = max(2, len(str(int(self.units) - 1)))
        return np.asarray([f"{PREFIX}{i:0{width}d}" for i in range(int(self.units))], dtype=object)

    def transform(self, X: Any) -> Any:
        """The penultimate (Dense, ReLU) activations of each row.

        Args:
            X: Rows with the columns seen in fit (a DataFrame may hold extra ones).

        Returns:
            Shape (n_rows, units): a DataFrame (same index) for DataFrame input, else an array.

        Raises:
            NotFittedError: Before fit.
            SchemaMismatchError: When columns seen in fit are missing.
        """
        import torch

        if not self.__sklearn_is_fitted__():
            raise NotFittedError(
                "CNN1DFeatures: this instance is not fitted yet; expected fit(X, y) on the "
                "training rows before transform(). Call fit first.")
        if isinstance(X, pd.DataFrame):
            missing = [c for c in self.feature_names_in_ if c not in X.columns]
            if missing:
                raise SchemaMismatchError(
                    f"cnn1d: X lacks {len(missing)} column(s) seen in fit: "
                    f"{capped(sorted(map(str, missing)))}; expected the same feature columns "
                    "as the training rows.")
            df = as_frame(X.loc[:, list(self.feature_names_in_)], step=self._step_name)
        else:
            df = as_frame(X, step=self._step_name)
            if df.shape[1] != self.n_features_in_:
                raise SchemaMismatchError(
                    f"cnn1d: X: expected {self.n_features_in_} columns as in fit; got "
                    f"{df.shape[1]}. Pass the same columns in the same order.")
        with torch.no_grad():
            out = self._module().embed(torch.from_numpy(self._standardize(
                df.to_numpy(dtype=float)))).numpy().astype(float)
        if isinstance(X, pd.DataFrame):
            return pd.DataFrame(out, index=X.index, columns=list(self.get_feature_names_out()))
        return out
