"""Model fusion and ensembles (seed 002, 模型融合与集成): one file per idea.

=========================  ======================================================
file                       what it does
=========================  ======================================================
``parallel.py``            members side by side: probability averaging, majority
                           vote (ties: lowest class), logit averaging (to show it
                           differs), accuracy vs number of members
``cascade.py``             sequential: a small net answers when its top probability
                           >= tau, else a large one; accuracy vs average MACs
``boosting.py``            sequential: SAMME (multi-class AdaBoost), each learner
                           trained on the examples the previous ones got wrong
``hybrid.py``              weights on the simplex fitted by log-loss, stacking with
                           a meta-model; ``sklearn_wrapper.py``: ``NetClassifier``
                           for scikit-learn (loaded on first use)
``merge.py``               one net from many: uniform / greedy model soups,
                           distilling the ensemble into one student
``align.py``               weight matching (Git Re-Basin): permute hidden neurons
                           so independently trained nets can be averaged
=========================  ======================================================

Every choice (tau, weights, soup ingredients, meta-model) is made on a
validation split; the test split gives the final numbers only.
"""
from .align import align, permute_hidden, weight_matching
from .boosting import Boosted, net_learner, samme, samme_predict, samme_scores
from .cascade import cascade_cost, cascade_curve, cascade_predict, choose_tau
from .hybrid import (
    fit_simplex_weights,
    fit_stacker,
    log_loss,
    simplex_log_loss,
    stack_features,
    stack_probabilities,
)
from .merge import average_weights, distill_ensemble, greedy_soup, uniform_soup
from .parallel import (
    accuracy_vs_members,
    average_logits,
    average_probabilities,
    check_members,
    majority_vote,
    member_logits,
    member_probabilities,
)

__all__ = [
    "accuracy_vs_members", "align", "average_logits", "average_probabilities",
    "average_weights", "Boosted", "cascade_cost", "cascade_curve", "cascade_predict",
    "check_members", "choose_tau", "distill_ensemble", "fit_simplex_weights", "fit_stacker",
    "greedy_soup", "log_loss", "majority_vote", "member_logits", "member_probabilities",
    "NetClassifier", "net_learner", "permute_hidden", "samme", "samme_predict", "samme_scores",
    "simplex_log_loss", "stack_features", "stack_probabilities", "uniform_soup", "weight_matching",
]


def __getattr__(name):
    """``NetClassifier`` on first use: only it needs scikit-learn (PEP 562)."""
    if name == "NetClassifier":
        from .sklearn_wrapper import NetClassifier
        return NetClassifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
