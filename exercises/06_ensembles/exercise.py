"""Exercise 06: probability averaging and a confidence cascade.

An ensemble of M nets gives logits Z of shape (M, N, C) (M members, N
examples, C classes). Probability averaging is

    p_bar(x) = (1/M) sum_m softmax(z_m(x))

-- the mean of the members' *probabilities*, not the softmax of their mean
logits. Compute softmax stably: subtract each row's maximum first, so that
logits of 1000 do not overflow.

A cascade runs a small model on every example; the small model answers
when its top probability is at least tau, otherwise the large model does.
The small model has always run, so the average cost per example is

    macs_small + d * macs_large,     d = fraction of examples deferred.

Write in plain NumPy (chapter 05, sections 1 and 2):

1. ``softmax(Z)`` -> probabilities along the last axis (same shape, float64);
2. ``average_probabilities(Z)`` -> (N, C) float64, from logits (M, N, C);
3. ``cascade_decision(P_small, tau)`` -> (N,) bool, True where the small
   model answers (top probability >= tau);
4. ``cascade_predict(P_small, P_large, tau)`` -> (N,) int64 labels;
5. ``cascade_average_cost(P_small, tau, macs_small, macs_large)`` -> float,
   average multiply-accumulates per example.

Run ``minicomp check exercises/06_ensembles`` to run the public tests.
"""
import numpy as np


def softmax(Z):
    """exp(z - max) / sum exp(z - max) along the last axis, float64."""
    ### BEGIN SOLUTION
    Z = np.asarray(Z, dtype=np.float64)
    E = np.exp(Z - Z.max(axis=-1, keepdims=True))        # largest entry is exp(0) = 1
    return E / E.sum(axis=-1, keepdims=True)
    ### END SOLUTION


def average_probabilities(Z):
    """Mean over members of softmax(Z[m]): (M, N, C) logits -> (N, C) probabilities."""
    ### BEGIN SOLUTION
    return softmax(Z).mean(axis=0)                       # (M, N, C) -> (N, C)
    ### END SOLUTION


def cascade_decision(P_small, tau):
    """True where the small model answers: its top probability is >= tau. Shape (N,)."""
    ### BEGIN SOLUTION
    return np.asarray(P_small, dtype=np.float64).max(axis=1) >= tau
    ### END SOLUTION


def cascade_predict(P_small, P_large, tau):
    """The cascade's labels: the small model's argmax where it answers, else the large one's."""
    ### BEGIN SOLUTION
    small = cascade_decision(P_small, tau)               # (N,)
    y_s = np.asarray(P_small).argmax(axis=1)
    y_l = np.asarray(P_large).argmax(axis=1)
    return np.where(small, y_s, y_l).astype(np.int64)
    ### END SOLUTION


def cascade_average_cost(P_small, tau, macs_small, macs_large):
    """Average MACs per example: macs_small + (fraction deferred) * macs_large."""
    ### BEGIN SOLUTION
    deferred = ~cascade_decision(P_small, tau)           # (N,)
    return float(macs_small + deferred.mean() * macs_large)
    ### END SOLUTION
