"""Networks built from Centaurus blocks: the classifier backbone, the hourglass encoder–decoder, MiniCentaur."""
from .classifier import CentaurusClassifier, ClassifierConfig
from .hourglass import CentaurusHourglass, HourglassConfig
from .mini import MiniCentaur

__all__ = ["CentaurusClassifier", "ClassifierConfig", "CentaurusHourglass", "HourglassConfig", "MiniCentaur"]
