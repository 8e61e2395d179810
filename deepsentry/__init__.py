"""deepsentry: local deepfake detection, consented generation and provenance."""

__version__ = "0.1.0"

__all__ = ["__version__"]
