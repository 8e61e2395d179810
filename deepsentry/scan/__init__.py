"""Batch scanning: ``deepsentry scan`` over files, folders, URL lists, on this machine or a Ray cluster.

Each item gets the analysis ``POST /v1/analyze`` gives (media, faces, verdict, provenance) as one record;
a failure is a record with its stable error code, never an abort. The driver (:func:`run_scan`) expands
the inputs (:mod:`.items`), skips what a previous run already wrote (``resume``), hands the rest to an
executor (:mod:`.executors`: a local process pool, or Ray actors) whose workers each hold one loaded
detector (:class:`.worker.Scanner`), and appends every record to the results file the moment it arrives
(:mod:`.output`), so an interrupted run loses only the items in flight.
"""

from deepsentry.scan.driver import ScanOptions, ScanSummary, run_scan
from deepsentry.scan.items import Item, expand_inputs

__all__ = ["Item", "ScanOptions", "ScanSummary", "expand_inputs", "run_scan"]
