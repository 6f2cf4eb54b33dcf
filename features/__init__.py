"""Audio -> log-scattering feature tables: loading, dataset sources, the synthetic corpus, the cache."""
from .audio import AudioError, Waveform, load_audio
from .featureset import CacheError, FeatureSet
from .pipeline import SYNTHETIC_DEFAULTS, build_features, dataset_clips
from .scattering import FeatureConfig, Scatterer, valid_frames
from .sources import GTZAN_GENRES, Clip, DatasetError, gtzan_clips
from .synthetic import write_corpus

__all__ = ["AudioError", "Waveform", "load_audio", "CacheError", "FeatureSet", "SYNTHETIC_DEFAULTS",
           "build_features", "dataset_clips", "FeatureConfig", "Scatterer", "valid_frames",
           "GTZAN_GENRES", "Clip", "DatasetError", "gtzan_clips", "write_corpus"]
