"""Face finding, tracking and real/fake scoring."""

# Lazy re-exports: importing deepsentry.detector stays light (no torch until one of these is used).
_LAZY = {
    "load_scorer": "deepsentry.detector.inference",
    "Scorer": "deepsentry.detector.inference",
    "TrackScore": "deepsentry.detector.inference",
    "create_detector": "deepsentry.detector.model",
    "list_detectors": "deepsentry.detector.model",
    "DetectorCfg": "deepsentry.detector.model",
    "preprocess": "deepsentry.detector.model",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'deepsentry.detector' has no attribute {name!r}")
