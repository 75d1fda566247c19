"""Exercise 07: GPTQ's column loop on one layer.

For a Dense layer with weights W (out, in) and inputs X (N, in), GPTQ
quantizes W column by column and moves the columns not yet quantized so
that the layer's outputs X W^T change as little as possible, using the
Hessian H = 2 X^T X (chapter 06, section 2):

    lam = damp * mean(diag(H))
    U   = upper Cholesky factor of (H + lam I)^-1, i.e. U^T U = (H + lam I)^-1
    for j = 0, 1, ..., in - 1:
        q_j   = clip(round(W[:, j] / S), -(2^(b-1) - 1), 2^(b-1) - 1)   # symmetric codes
        w_hat = S * q_j                                                # column j, done
        e     = (W[:, j] - w_hat) / U[j, j]                            # (out,)
        W[:, j+1:] -= outer(e, U[j, j+1:])                             # push the error on

``round`` is ``np.rint``; S (out,) holds one scale per output channel
(row), fixed before the loop. With H = I nothing is pushed (U is
diagonal): GPTQ is round-to-nearest.

Write in plain NumPy:

1. ``inverse_hessian_cholesky(H, damp)`` -> U, float64 (in, in), upper
   triangular, with U^T U = (H + lam I)^-1;
2. ``gptq_quantize(W, H, S, bits, damp)`` -> W_hat, float64 (out, in):
   every column on its row's grid S * q (do not modify the caller's W).

Run ``minicomp check exercises/07_gptq`` to run the public tests.
"""
import numpy as np


def inverse_hessian_cholesky(H, damp):
    """Upper-triangular U with U^T U = (H + damp * mean(diag H) * I)^-1."""
    ### BEGIN SOLUTION
    H = np.asarray(H, dtype=np.float64)
    lam = damp * np.mean(np.diag(H))
    H_inv = np.linalg.inv(H + lam * np.eye(len(H)))
    return np.linalg.cholesky(H_inv).T                  # lower L, L L^T = H^-1 -> U = L^T
    ### END SOLUTION


def gptq_quantize(W, H, S, bits, damp):
    """W (out, in) quantized column by column on the grid S * q, errors pushed right."""
    ### BEGIN SOLUTION
    W = np.array(W, dtype=np.float64)                   # a copy: the caller's W is kept
    S = np.asarray(S, dtype=np.float64)                 # (out,)
    q_max = 2 ** (bits - 1) - 1
    U = inverse_hessian_cholesky(H, damp)
    W_hat = np.zeros_like(W)
    for j in range(W.shape[1]):
        q = np.clip(np.rint(W[:, j] / S), -q_max, q_max)
        W_hat[:, j] = S * q
        e = (W[:, j] - W_hat[:, j]) / U[j, j]           # (out,)
        W[:, j + 1:] -= np.outer(e, U[j, j + 1:])
    return W_hat
    ### END SOLUTION
