"""Exercise 05: low-rank factorization of a Dense layer by truncated SVD.

With the SVD W = U diag(S) V^T of a weight matrix W (out, in), singular
values S[0] >= S[1] >= ... >= 0, the best rank-r approximation is

    W_r = A @ B,    A = U[:, :r] * S[:r]   (out, r),    B = V^T[:r]   (r, in)

and it keeps the fraction E(r) = (S[0]^2 + ... + S[r-1]^2) / (S[0]^2 + ...)
of W's energy (squared Frobenius norm). A Dense layer (out, in) with a
bias becomes two layers, Dense(in, r, no bias) holding B and Dense(r, out)
holding A and the bias.

Write in plain NumPy (chapter 01, section 6):

1. ``choose_rank(S, energy)`` -> the smallest r (a Python int, 1 <= r <=
   len(S)) with E(r) >= energy, for energy in (0, 1];
2. ``factorize(W, energy)`` -> ``(A, B)``, two float arrays of shapes
   (out, r) and (r, in) with r = choose_rank(S, energy) and A @ B = W_r;
3. ``lowrank_params(out_features, in_features, rank)`` -> the number of
   parameters (an int) of the two layers that replace a Dense layer of
   that shape with a bias.

Run ``minicomp check exercises/05_lowrank`` to run the public tests.
"""
import numpy as np


def choose_rank(S, energy):
    """Smallest r with sum(S[:r]**2) >= energy * sum(S**2); a Python int."""
    ### BEGIN SOLUTION
    S = np.asarray(S, dtype=np.float64)
    E = np.cumsum(S**2) / np.sum(S**2)                  # (k,) E(1), E(2), ...
    return int(np.argmax(E >= energy * (1 - 1e-12)) + 1)
    ### END SOLUTION


def factorize(W, energy):
    """Factors (A, B) of the best approximation of W of rank choose_rank(S, energy)."""
    ### BEGIN SOLUTION
    U, S, Vt = np.linalg.svd(np.asarray(W, dtype=np.float64), full_matrices=False)
    rank = choose_rank(S, energy)
    return U[:, :rank] * S[:rank], Vt[:rank]            # (out, r), (r, in)
    ### END SOLUTION


def lowrank_params(out_features, in_features, rank):
    """Parameters of Dense(in, rank, no bias) followed by Dense(rank, out): an int."""
    ### BEGIN SOLUTION
    return int(rank * (in_features + out_features) + out_features)
    ### END SOLUTION
