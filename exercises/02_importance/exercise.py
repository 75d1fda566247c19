"""Exercise 02: which neurons can go, and how to really remove them.

A dense network is a list of layers k = 0, 1, ..., L-1, layer k holding
``W[k]`` of shape (out_k, in_k) (``W[k][i, j]`` is the weight from input j
to neuron i, as in ``minicomp.Dense``) and ``b[k]`` of shape (out_k,), with
in_{k+1} = out_k and an elementwise activation f between two layers (none
after the last one):

    h_{k+1} = f(W[k] h_k + b[k])

Write two functions in plain NumPy (chapter 02: the criteria, and
"Structured pruning: remove neurons, really"):

1. ``apoz(W, b, X)`` (warm-up) -> the Average Percentage of Zeros of every
   neuron of one ReLU layer over a batch ``X`` (N, in): the fraction of the
   N inputs on which the neuron's output ReLU(W x + b)_i is exactly 0
   (Hu et al., 2016, "Network Trimming"; a high APoZ marks a neuron to
   prune).
2. ``compact(weights, biases, layer, keep, activation="relu")`` ->
   ``(new_weights, new_biases)``: the network without the neurons of layer
   ``layer`` that ``keep`` marks False (or 0), as *smaller* arrays. Removing
   a neuron cuts its incoming weights; what is left of it is the constant
   f(b_i), which the next layer must absorb so that nothing else changes.
   When the removed neurons' incoming weights were already zero, the
   network computes exactly the same function as before.

Run ``minicomp check exercises/02_importance`` to run the public tests;
the README says what to think about.
"""
import numpy as np


def apoz(W, b, X):
    """Average Percentage of Zeros of each neuron of a ReLU layer.

    Parameters
    ----------
    W : ndarray, shape (out, in)
    b : ndarray, shape (out,)
    X : ndarray, shape (N, in)
        The layer's inputs on a calibration batch.

    Returns
    -------
    apoz : ndarray of floats, shape (out,), each in [0, 1]
        apoz[i] = (number of n with ReLU(W X[n] + b)_i == 0) / N.
    """
    ### BEGIN SOLUTION
    Z = X @ W.T + b                            # (N, out) pre-activations
    return (Z <= 0).mean(axis=0)               # ReLU(z) == 0 exactly when z <= 0
    ### END SOLUTION


def compact(weights, biases, layer, keep, activation="relu"):
    """Remove neurons of one hidden layer and fold their constant into the next bias.

    Parameters
    ----------
    weights : list of ndarrays, ``weights[k]`` of shape (out_k, in_k)
    biases : list of ndarrays, ``biases[k]`` of shape (out_k,)
    layer : int
        The layer whose neurons (outputs) are removed, 0 <= layer <= L - 2
        (the last layer's outputs are the network's outputs: they stay).
    keep : ndarray of bools (or of 0.0 / 1.0), shape (out_layer,)
        True (1) for the neurons that stay, in their original order.
    activation : {"relu", "sigmoid", "tanh"}
        The f applied to layer ``layer``'s outputs.

    Returns
    -------
    (new_weights, new_biases) : tuple of two lists of float ndarrays
        Same number of layers; ``new_weights[layer]`` has one row per kept
        neuron, ``new_weights[layer + 1]`` one column per kept neuron, and
        ``new_biases[layer + 1]`` has absorbed sum_i W[layer+1][:, i] f(b_i)
        over the removed neurons i. Every other array is unchanged.
    """
    ### BEGIN SOLUTION
    f = {"relu": lambda z: np.maximum(z, 0.0), "tanh": np.tanh,
         "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z))}[activation]
    keep = np.asarray(keep).astype(bool)                       # (n,)
    W = [np.array(w, dtype=np.float64) for w in weights]
    b = [np.array(v, dtype=np.float64) for v in biases]
    c = f(b[layer][~keep])                                     # (removed,) what is left
    b[layer + 1] = b[layer + 1] + W[layer + 1][:, ~keep] @ c   # (out_next,)
    W[layer], b[layer] = W[layer][keep], b[layer][keep]        # (kept, in), (kept,)
    W[layer + 1] = W[layer + 1][:, keep]                       # (out_next, kept)
    return W, b
    ### END SOLUTION
