"""Exercise 02: which neurons matter? Activation importance and pruning masks.

Seed 000 ranks the neurons of a layer by

    R_i = sum_j |w_ij * y_j|

where ``W[i, j]`` = w_ij is the weight from input j to neuron i (``W`` has
shape (out, in), as in ``minicomp.Dense``) and y_j is input j of the layer.
Over a calibration batch ``X`` (N, in) the batch reduction is the mean:

    R_i = (1/N) sum_n sum_j |w_ij * X[n, j]|  =  sum_j |w_ij| * mean_n |X[n, j]|

Write three functions in plain NumPy (chapter 02, sections 3 and 4):

1. ``importance(W, X)`` -> R, shape (out,);
2. ``mask_from_scores(scores, amount)`` -> a 0/1 float mask of the scores'
   shape that removes the ``amount`` lowest scores (int: a count, float:
   a fraction of the entries, rounded with Python's ``round``); ties are
   broken by position: of equal scores, the one that comes first in
   row-major order is removed first;
3. ``prune_neurons(W, b, X, amount)`` -> ``(W_pruned, b_pruned)``: zero the
   rows of ``W`` and the entries of ``b`` of the ``amount`` least important
   neurons by R.

Run ``minicomp check exercises/02_importance`` to run the public tests.
"""
import numpy as np


def importance(W, X):
    """Importance R_i of every neuron of a layer.

    Parameters
    ----------
    W : ndarray, shape (out, in)
        ``W[i, j]`` is the weight from input j to neuron i.
    X : ndarray, shape (N, in)
        The layer's inputs on a calibration batch.

    Returns
    -------
    R : ndarray of floats, shape (out,)
    """
    ### BEGIN SOLUTION
    y = np.abs(X).mean(axis=0)                 # (in,)  mean_n |X[n, j]|
    return np.abs(W) @ y                       # (out, in) @ (in,) -> (out,)
    ### END SOLUTION


def mask_from_scores(scores, amount):
    """0/1 mask removing the ``amount`` lowest scores.

    Parameters
    ----------
    scores : ndarray, any shape
        May be negative: the lowest values go, not the smallest magnitudes.
        Ties go by position (the first in row-major order goes first).
    amount : int (how many entries to remove) or float in [0, 1] (fraction,
        rounded with Python's ``round``: half to even)

    Returns
    -------
    mask : ndarray of floats, same shape as ``scores``
        0.0 where removed, 1.0 where kept.
    """
    ### BEGIN SOLUTION
    scores = np.asarray(scores, dtype=np.float64)
    if isinstance(amount, float):
        k = round(amount * scores.size)
    else:
        k = int(amount)
    order = np.argsort(scores, axis=None, kind="stable")    # (n,) lowest first
    mask = np.ones(scores.size)
    mask[order[:k]] = 0.0
    return mask.reshape(scores.shape)
    ### END SOLUTION


def prune_neurons(W, b, X, amount):
    """Zero the ``amount`` least important neurons (rows of W, entries of b) by R.

    Returns
    -------
    (W_pruned, b_pruned) : new arrays, shapes (out, in) and (out,)
    """
    ### BEGIN SOLUTION
    keep = mask_from_scores(importance(W, X), amount)      # (out,)
    return W * keep[:, None], b * keep
    ### END SOLUTION
