"""Exercise 09: Deep Compression's relative indices, with filler entries, and their decoder.

A pruned layer, flattened row by row into ``w`` (n,), is stored as *entries*: for each
nonzero, its value and the **gap** to the previous entry -- the number of positions
skipped, ``g = position - previous_position - 1`` (the previous position starts at -1,
so a nonzero at position 0 has gap 0). A gap is stored in ``p = index_bits`` bits, so
at most ``G = 2^p - 1``. A larger skip ``z`` is split by **filler** entries: a filler
has gap ``G`` and value 0, moves ``G + 1`` positions and lands on a zero; after
``z // (G + 1)`` fillers the real entry has gap ``z - (z // (G + 1)) * (G + 1)``.
Zeros after the last nonzero are not stored (the decoder is told ``n``).

Example (p = 2, G = 3): w has 5 at position 1 and 7 at position 11, n = 12. The first
entry is (gap 1, value 5). Nine zeros follow: 9 // 4 = 2 fillers, at positions 5 and 9
(gap 3 each), then (gap 9 - 8 = 1, value 7) at position 11. So the gaps are
[1, 3, 3, 1] and the values [5, 0, 0, 7].

Write in plain NumPy (chapter 09, section 3):

1. ``relative_gaps(w, index_bits)`` -> int array (entries,): the stored gaps, fillers
   included, in order;
2. ``relative_values(w, index_bits)`` -> float array (entries,): the stored values,
   0 for the fillers;
3. ``relative_decode(gaps, values, n)`` -> float64 array (n,): the flat layer back.

A vector without nonzeros has no entries (arrays of shape (0,)).

Run ``minicomp check exercises/09_deep_compression`` to run the public tests.
"""
import numpy as np


def relative_gaps(w, index_bits):
    """Stored gaps of the nonzeros of w (1-D), with filler entries (gap 2^p - 1)."""
    ### BEGIN SOLUTION
    w = np.asarray(w).ravel()
    span = 2 ** int(index_bits)                               # G + 1: a filler's step
    pos = np.flatnonzero(w)                                   # (nnz,)
    z = np.diff(pos, prepend=-1) - 1                          # zeros skipped
    fill = z // span                                          # fillers before each
    gaps = [g for zk, f in zip(z, fill) for g in [span - 1] * int(f) + [int(zk - f * span)]]
    return np.array(gaps, dtype=np.int64)
    ### END SOLUTION


def relative_values(w, index_bits):
    """Stored values of the nonzeros of w (1-D), 0 for each filler entry."""
    ### BEGIN SOLUTION
    w = np.asarray(w, dtype=np.float64).ravel()
    span = 2 ** int(index_bits)
    pos = np.flatnonzero(w)
    z = np.diff(pos, prepend=-1) - 1
    values = [v for zk, p in zip(z, pos) for v in [0.0] * int(zk // span) + [w[p]]]
    return np.array(values, dtype=np.float64)
    ### END SOLUTION


def relative_decode(gaps, values, n):
    """The flat layer (n,) float64 of the entries (gaps, values)."""
    ### BEGIN SOLUTION
    layer = np.zeros(int(n), dtype=np.float64)                # (n,)
    at = np.cumsum(np.asarray(gaps, dtype=np.int64) + 1) - 1  # (entries,) positions
    layer[at] = np.asarray(values, dtype=np.float64)
    return layer
    ### END SOLUTION
