"""Contrastive methods as Keras models, and the baselines of the early chapters.

Train any method with ``model.compile(optimizer=...)`` and ``model.fit(pairs)`` on a
``tf.data`` dataset of view pairs (see ``clr_lib.augment.two_views``).
"""

from clr_lib.methods.base import ContrastiveModel
from clr_lib.methods.baselines import (
    MarginContrastive, MarginLoss, make_pairs, margin_pair_loss, pair_distances, siamese_model,
    sigmoid_classifier, supervised_classifier,
)
from clr_lib.methods.moco import MoCo
from clr_lib.methods.nnclr import NNCLR
from clr_lib.methods.simclr import DCL, SimCLR

__all__ = [
    "ContrastiveModel", "SimCLR", "DCL", "MoCo", "NNCLR",
    "supervised_classifier", "make_pairs", "siamese_model", "MarginLoss",
    "sigmoid_classifier", "pair_distances", "margin_pair_loss", "MarginContrastive",
]
