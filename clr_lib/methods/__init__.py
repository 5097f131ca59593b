"""Contrastive methods as Keras models, and the classifiers and pair models of the first two chapters.

Train any method with ``model.compile(optimizer=...)`` and ``model.fit(pairs)`` on a
``tf.data`` dataset of view pairs (see ``clr_lib.augment.two_views``).

Adding a method. Subclass ``ContrastiveModel`` (``base.py``, the one training loop) and declare
only what differs; a method whose loss depends on the two views' projections alone subclasses
``PairLossModel`` and declares only ``pair_loss(z_a, z_b)`` (SimCLR, DCL, ``MarginContrastive``).
Otherwise:

* **heads** in ``__init__``, after ``super().__init__(encoder, **kwargs)``, which builds the
  projection head ``projector``: e.g. a predictor (``models.prediction_head``), passing
  ``self.head_batch_norm`` and ``self.sync_batch_norm`` on; build every head, so that all
  weights exist when ``__init__`` returns (saving and ``BackupAndRestore`` rely on it);
* **state** in ``__init__``: a ``FifoQueue`` (a queue of embeddings), a ``MomentumEncoder`` (an
  EMA copy of encoder and head; assign its ``encoder`` and ``head`` to attributes of the model,
  as ``MoCo`` does, so that Keras tracks and saves them), or any non-trainable weight created
  with ``add_weight(..., aggregation="only_first_replica")``;
* **loss** in ``contrastive_loss(view_a, view_b) -> (loss, memory)``: the scalar loss of this
  replica's slice, averaged over its own anchors (use ``gather_replicas`` for candidates from
  the whole global batch and ``replica_rows`` for the positives' columns among them), and the
  embeddings ``after_step`` needs, or ``None``;
* **after_step(memory)**, if there is state to update after each optimizer step (a momentum
  update, a queue push); nothing by default;
* ``get_config`` with every constructor argument, and the class registered with
  ``@keras.saving.register_keras_serializable(package="clr_lib")``.

Then add it to ``__all__`` below and to the registry ``clr_lib.runs.METHODS`` (the name that
runs, profiles and the command line use). That makes it one of ``tests/method_cases.NAMES``, the
one list the method tests share: it is trained, saved and reloaded (``tests/test_methods.py``),
takes a step on every profile (``tests/test_profiles.py``) and on two replicas against one device
(``tests/mirrored_step.py``, which names what is missing until the method's loss is written in
NumPy in its ``anchor_losses``). Test its loss and state updates against their formulas in NumPy
(``tests/reference_losses.py``) on the state before the step.
"""

from clr_lib.methods.base import ContrastiveModel, PairLossModel, UnsynchronizedBatchNormWarning
from clr_lib.methods.classifiers import sigmoid_classifier, supervised_classifier
from clr_lib.methods.margin import MarginContrastive, MarginLoss, make_pairs, siamese_model
from clr_lib.methods.moco import MoCo
from clr_lib.methods.momentum import MomentumEncoder
from clr_lib.methods.nnclr import NNCLR
from clr_lib.methods.simclr import DCL, SimCLR
from clr_lib.methods.supcon import SupCon

__all__ = [
    "ContrastiveModel", "PairLossModel", "SimCLR", "DCL", "MoCo", "NNCLR", "SupCon", "MomentumEncoder",
    "UnsynchronizedBatchNormWarning", "supervised_classifier", "sigmoid_classifier",
    "make_pairs", "siamese_model", "MarginLoss", "MarginContrastive",
]
