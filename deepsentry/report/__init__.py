"""A shareable report of one analysis: a self-contained HTML page and a PDF with the verdict, the
sampled frames with every face boxed, the heatmaps, the score timeline, provenance, the model version,
the media's SHA-256 and the time of analysis. Made by ``deepsentry report`` and ``POST /v1/report``
(the extension's "Export report") from the analysis result JSON (``explain`` adds the frames and
heatmaps a report shows; without them it still has every number)."""

from deepsentry.report.model import Report

__all__ = ["Report"]
