"""Audio -> log-scattering feature tables: loading, dataset sources, the synthetic corpus, the cache."""
from .audio import AudioError, Waveform, load_audio
from .featureset import CacheError, FeatureSet
from .pipeline import SYNTHETIC_DEFAULTS, build_features, dataset_clips
from .frames import FrameWindow
from .scattering import FeatureConfig, Scatterer
from .sources import AUDIO_SUFFIXES, GTZAN_GENRES, Clip, DatasetError, folder_clips, gtzan_clips
from .synthetic import write_corpus

__all__ = ["AudioError", "Waveform", "load_audio", "CacheError", "FeatureSet", "SYNTHETIC_DEFAULTS",
           "build_features", "dataset_clips", "FeatureConfig", "Scatterer", "FrameWindow",
           "AUDIO_SUFFIXES", "GTZAN_GENRES", "Clip", "DatasetError",
           "folder_clips", "gtzan_clips", "write_corpus"]
