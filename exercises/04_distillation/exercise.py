"""Exercise 04: the distillation loss, with temperature and T², and its gradient.

Hinton et al. (2015) train a student on a teacher's softened outputs:

    L = alpha * T**2 * KL(p || q) + (1 - alpha) * CE(y, z_s)

    p = softmax(z_t / T)   the teacher's probabilities at temperature T
    q = softmax(z_s / T)   the student's
    KL(p || q) = sum_k p_k (log p_k - log q_k), summed over the K classes
                 and averaged over the N examples ("batchmean")
    CE(y, z_s) = -log softmax(z_s)[y], averaged over the N examples (T = 1)

Write two functions in plain NumPy (chapter 04, sections 2 and 3):

1. ``kd_loss(z_s, z_t, y, T, alpha)`` -> L, a float;
2. ``kd_grad(z_s, z_t, y, T, alpha)`` -> dL/dz_s, an array of z_s's shape
   (N, K). Derive it by hand; do not use finite differences.

``z_s`` and ``z_t`` are (N, K) float arrays of logits, ``y`` an (N,) integer
array of labels in 0..K-1. Logits may be large (1000 and more): compute
the softmaxes stably.

Run ``minicomp check exercises/04_distillation`` to run the public tests.
"""
import numpy as np


def kd_loss(z_s, z_t, y, T, alpha):
    """Hinton et al.'s distillation loss of student logits ``z_s`` against ``z_t``.

    Parameters
    ----------
    z_s, z_t : ndarray, shape (N, K)
        Student and teacher logits.
    y : ndarray of ints, shape (N,)
    T : float > 0
        Temperature of both softmaxes in the KL term.
    alpha : float in [0, 1]
        Weight of the KL term.

    Returns
    -------
    L : float
    """
    ### BEGIN SOLUTION
    z_s, z_t = np.asarray(z_s, np.float64), np.asarray(z_t, np.float64)
    N = len(z_s)
    log_q = log_softmax(z_s / T)                                # (N, K)
    log_p = log_softmax(z_t / T)                                # (N, K)
    kl = (np.exp(log_p) * (log_p - log_q)).sum() / N            # batchmean
    ce = -log_softmax(z_s)[np.arange(N), y].mean()
    return float(alpha * T * T * kl + (1 - alpha) * ce)
    ### END SOLUTION


def kd_grad(z_s, z_t, y, T, alpha):
    """Gradient of :func:`kd_loss` with respect to the student logits ``z_s``.

    Returns
    -------
    G : ndarray, shape (N, K)
    """
    ### BEGIN SOLUTION
    z_s, z_t = np.asarray(z_s, np.float64), np.asarray(z_t, np.float64)
    N = len(z_s)
    q = np.exp(log_softmax(z_s / T))                            # (N, K)
    p = np.exp(log_softmax(z_t / T))
    soft = T * (q - p) / N                                      # T**2 * (1/T) (q - p) / N
    P = np.exp(log_softmax(z_s))
    P[np.arange(N), y] -= 1.0                                   # softmax - one_hot(y)
    return alpha * soft + (1 - alpha) * P / N
    ### END SOLUTION


def log_softmax(Z):
    """Row-wise log-softmax of ``Z`` (N, K), stable for large logits (given)."""
    shifted = Z - np.max(Z, axis=1, keepdims=True)             # (N, K), row max 0
    return shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
