"""stance: sentence-level stance and claim-type labelling of trade coverage.

>>> import stance
>>> model = stance.load()                      # the shipped default model   # doctest: +SKIP
>>> model.predict(["Beijing vowed to retaliate against the new duties."])     # doctest: +SKIP
"""

from stance.api import StanceModel, default_model_path, default_workers, load
from stance.label import LabelSummary, label_corpus, label_documents
from stance.predict import TaskPrediction
from stance.scheme import Scheme, Task
from stance.segment import Unit, split_sentences

__version__ = "0.1.0"

__all__ = [
    "LabelSummary",
    "Scheme",
    "StanceModel",
    "Task",
    "TaskPrediction",
    "Unit",
    "__version__",
    "default_model_path",
    "default_workers",
    "label_corpus",
    "label_documents",
    "load",
    "split_sentences",
]
