"""Networks built from Centaurus blocks: the classifier backbone, the hourglass encoder–decoder (on the waveform, or
masking its spectrum), MiniCentaur."""
from .classifier import CentaurusClassifier, ClassifierConfig
from .hourglass import CentaurusHourglass, HourglassConfig
from .masking import MaskerConfig, SpectralMasker
from .mini import MiniCentaur

__all__ = ["CentaurusClassifier", "ClassifierConfig", "CentaurusHourglass", "HourglassConfig", "MaskerConfig",
           "MiniCentaur", "SpectralMasker"]
