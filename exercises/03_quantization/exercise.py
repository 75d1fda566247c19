"""Exercise 03: affine quantization, r = S (q - Z), and per-channel scales.

An affine b-bit quantizer stores a real value r as an unsigned integer
code q in [0, 2^b - 1]:

    S = (hi - lo) / (2^b - 1)          with lo = min(x_min, 0), hi = max(x_max, 0)
    Z = round(-lo / S)                 (an integer: the real 0 is code Z, exactly)
    q = clip(round(r / S) + Z, 0, 2^b - 1)
    r_hat = S (q - Z)

``round`` is NumPy's ``np.rint`` (half to even). If hi == lo (every value
is 0), use S = 1 and Z = 0: no division by zero.

Write in plain NumPy (chapter 03, section 3):

1. ``affine_qparams(x_min, x_max, bits)`` -> ``(S, Z)``, a float and an int;
2. ``quantize(x, S, Z, bits)`` -> integer codes (an int64 array);
3. ``dequantize(q, S, Z)`` -> floats ``S (q - Z)`` (a float64 array);
4. ``per_channel_qparams(W, bits)`` -> ``(S, Z)``, two arrays of shape
   (out,): the affine parameters of each row of ``W`` (out, in).

Run ``minicomp check 03_quantization`` in the folder of your released copy
(``minicomp release`` output) to run the public tests.
"""
import numpy as np


def affine_qparams(x_min, x_max, bits):
    """Scale S (float) and zero point Z (int) of the range [x_min, x_max]."""
    ### BEGIN SOLUTION
    lo, hi = min(float(x_min), 0.0), max(float(x_max), 0.0)
    q_max = 2**bits - 1
    S = (hi - lo) / q_max
    if S == 0.0:
        return 1.0, 0
    Z = int(np.clip(np.rint(-lo / S), 0, q_max))
    return S, Z
    ### END SOLUTION


def quantize(x, S, Z, bits):
    """Codes q = clip(round(x / S) + Z, 0, 2^bits - 1), int64 array."""
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=np.float64)
    q = np.rint(x / S) + Z
    return np.clip(q, 0, 2**bits - 1).astype(np.int64)
    ### END SOLUTION


def dequantize(q, S, Z):
    """Real values S (q - Z), float64 array."""
    ### BEGIN SOLUTION
    return S * (np.asarray(q, dtype=np.float64) - Z)
    ### END SOLUTION


def per_channel_qparams(W, bits):
    """Affine (S, Z) of every row of W (out, in): two arrays of shape (out,)."""
    ### BEGIN SOLUTION
    W = np.asarray(W, dtype=np.float64)
    pairs = [affine_qparams(row.min(), row.max(), bits) for row in W]   # one per row
    S = np.array([p[0] for p in pairs], dtype=np.float64)                 # (out,)
    Z = np.array([p[1] for p in pairs], dtype=np.int64)                   # (out,)
    return S, Z
    ### END SOLUTION
