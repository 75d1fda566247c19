r"""Hint (feature) distillation: a student's hidden layer learns a teacher's, through a projection.

.. math:: L_\text{hint} = \frac{1}{N\,d_t}\sum_n \big\| r\big(h_s(x_n)\big)
          - h_t(x_n) \big\|^2, \qquad r(h) = W_r h + b_r

:math:`h_t` is the output of a hidden layer of the teacher (its *hint*),
:math:`h_s` the output of a hidden layer of the student (the *guided*
layer), and :math:`r` a learned Dense layer from the student's width
:math:`d_s` to the teacher's :math:`d_t` (the widths differ, so the student
cannot copy the hint directly). Stage 1 trains the student's layers up to
the guided one together with :math:`r` on this loss; stage 2 trains the
whole student with the ordinary distillation loss
(:func:`~minicomp.distill.distill`). The projection is thrown away after
stage 1: it costs nothing at inference.

(FitNets used a convolutional regressor and thin, deep students; here both
nets are MLPs and :math:`r` is one Dense layer. The mean squared error is
averaged over the :math:`d_t` features as well, a constant factor of
FitNets' :math:`\frac12\|\cdot\|^2`.)

References
----------
Romero, A. et al. (2015). FitNets: Hints for Thin Deep Nets. ICLR.
arXiv:1412.6550.
"""
from __future__ import annotations

from .. import validate
from ..blocks import dense_blocks, numpy_forward
from ..nn import Dense, Sequential
from ..fit_checks import not_shared
from ..train import fit


def _upto(net, block) -> list:
    """The layers of ``net`` from its input up to ``block``'s activation (included)."""
    layers = list(net.layers)
    end = block.index + 1
    for i in range(block.index + 1, len(layers)):               # the activation may follow
        if layers[i] is block.act:                              # a Dropout; find it by identity
            end = i + 1
            break
    return layers[:end]


def _layer(value, name, blocks, where) -> int:
    """A hidden layer's index in ``blocks`` (the last block gives the logits)."""
    if len(blocks) < 2:
        raise ValueError(f"{where}: the {name.split('_')[0]} has one Dense layer and no hidden "
                         "layer; expected a net with at least one hidden layer")
    return validate.integer(value, name, low=0, high=len(blocks) - 2, where=where)


def hint_train(student, teacher, X, student_layer: int = 0, teacher_layer: int = 0,
               seed: int = 0, **fit_kwargs):
    """Stage 1 of FitNets: train ``student`` up to ``student_layer`` to predict the teacher's hint.

    Parameters
    ----------
    student, teacher : Sequential (MLPs; the student is trained in place)
    X : ndarray, shape (N, D)
    student_layer, teacher_layer : int
        Which hidden layer (0 = the first Dense layer's output, after its
        activation): the guided layer and the hint. The last layer (the
        logits) is not a hidden layer.
    seed : int
        Initialisation of the projection ``r`` (and the shuffling seed,
        unless ``fit_kwargs`` has its own).
    **fit_kwargs
        Passed on to :func:`minicomp.fit` (``epochs``, ``lr``,
        ``optimizer``, ``batch_size``, ``quiet``, ...).

    Returns
    -------
    regressor : Dense
        The projection ``r`` (d_s -> d_t), trained; not part of the student.
    history : History

    Raises
    ------
    TypeError, ValueError
        Nets the walker refuses, a layer index that is not a hidden layer,
        ``X`` not a finite (N, D) batch for both nets.
    """
    where = "hint_train"
    s_blocks, t_blocks = dense_blocks(student, where), dense_blocks(teacher, where)
    for net, name in ((student, "student"), (teacher, "teacher")):
        if not isinstance(net, Sequential):
            raise TypeError(f"{where}: {name} is a {type(net).__name__}; expected a Sequential "
                            "with a hidden layer (e.g. an MLP)")
    if "loss" in fit_kwargs:
        raise TypeError(f"{where}: loss= is set by hint_train itself (the mean squared error "
                        "to the teacher's hint)")
    not_shared(teacher, student, where)
    k = _layer(student_layer, "student_layer", s_blocks, where)
    j = _layer(teacher_layer, "teacher_layer", t_blocks, where)
    _, inputs = numpy_forward(teacher, X, inputs=True, where=where)
    H_t = inputs[j + 1]                                   # (N, d_t) the teacher's hint
    d_s, d_t = s_blocks[k].dense.out_features, H_t.shape[1]
    regressor = Dense(d_s, d_t, seed=seed)                # r: (d_s -> d_t)
    guided = Sequential(*_upto(student, s_blocks[k]), regressor)    # shares the student's layers
    fit_kwargs.setdefault("seed", seed)
    history = fit(guided, X, H_t, loss="mse", **fit_kwargs)
    return regressor, history
