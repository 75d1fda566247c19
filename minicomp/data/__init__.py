"""Offline datasets, tiny synthetic problems and minibatches.

Nothing here downloads anything:

- :func:`load_digits` -- scikit-learn's bundled 8x8 digits (1,797 images);
- :func:`load_mnist1d` -- MNIST-1D, *generated* locally by the ``mnist1d`` package;
- :func:`load_mnist` -- MNIST / Fashion-MNIST from IDX files you already have;
- :func:`make_blobs`, :func:`make_spirals` -- 2-D toy problems for plots;
- :func:`batches` -- seeded minibatches for a training loop.

The loaders take ``validation``, a fraction of the training part carved
once (stratified, seeded) into ``Dataset.X_val`` / ``y_val``: choices are
made there, the test set gives the final number only.

Every function that uses randomness takes ``seed``: an ``int`` or a
``numpy.random.Generator``. The same seed always gives the same numbers.

Modules: :mod:`.dataset` (container, splits, the validation split, batches), :mod:`.embedded`
(digits, MNIST-1D), :mod:`.idx` (IDX files, MNIST), :mod:`.synthetic`
(blobs, spirals).
"""
from .augment import gaussian_noise, random_shift
from .dataset import Dataset, batches, num_batches, split_validation, train_test_split
from .embedded import load_digits, load_mnist1d
from .idx import load_mnist, read_idx, write_idx
from .synthetic import make_blobs, make_spirals

__all__ = [
    "Dataset", "batches", "gaussian_noise", "load_digits", "load_mnist", "load_mnist1d",
    "make_blobs", "make_spirals", "num_batches", "random_shift", "read_idx", "split_validation",
    "train_test_split", "write_idx",
]
