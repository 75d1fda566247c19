"""Exercise 01: backward passes by hand.

Write the backward pass of three functions as plain NumPy. Each function
gets the forward inputs and ``grad_out`` = dL/d(output) and returns
dL/d(input) for every input, with the input's shape. The grader checks
your answers against central finite differences, on small hand-worked
examples (public) and on random ones (hidden).

Run ``minicomp check exercises/01_autograd`` to run the public tests.
"""
import numpy as np


def relu_backward(x, grad_out):
    """Gradient of ``y = max(x, 0)`` with respect to ``x``.

    Parameters
    ----------
    x : ndarray, any shape
        The input of the forward pass.
    grad_out : ndarray, same shape as ``x``
        dL/dy.

    Returns
    -------
    ndarray, same shape as ``x``
        dL/dx. At ``x == 0`` use the subgradient 0 (as PyTorch does).
    """
    ### BEGIN SOLUTION
    return grad_out * (x > 0)
    ### END SOLUTION


def matmul_backward(A, B, grad_out):
    """Gradients of ``C = A @ B`` with respect to ``A`` and ``B``.

    Parameters
    ----------
    A : ndarray, shape (n, k)
    B : ndarray, shape (k, m)
    grad_out : ndarray, shape (n, m)
        dL/dC.

    Returns
    -------
    (grad_A, grad_B) : tuple of ndarrays, shapes (n, k) and (k, m)
    """
    ### BEGIN SOLUTION
    grad_A = grad_out @ B.T                  # (n, m) @ (m, k) -> (n, k)
    grad_B = A.T @ grad_out                  # (k, n) @ (n, m) -> (k, m)
    return grad_A, grad_B
    ### END SOLUTION


def softmax_cross_entropy_backward(Z, y):
    """Gradient of the mean cross-entropy with respect to the logits.

    The loss is ``L = -mean_i log softmax(Z[i])[y[i]]``.

    Parameters
    ----------
    Z : ndarray, shape (N, C)
        Logits (may be large: compute softmax stably).
    y : ndarray of int, shape (N,)
        Class labels in ``0 .. C-1``.

    Returns
    -------
    ndarray, shape (N, C)
        dL/dZ.
    """
    ### BEGIN SOLUTION
    N = Z.shape[0]
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)        # (N, C) softmax
    P[np.arange(N), y] -= 1.0                # softmax - onehot
    return P / N
    ### END SOLUTION
