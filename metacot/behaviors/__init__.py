"""Measure the four cognitive behaviours in traces and build priming datasets that show chosen ones."""

from metacot.behaviors.definitions import BEHAVIORS, DEFINITIONS
from metacot.behaviors.measure.base import BehaviorCounts, Tagger
from metacot.behaviors.measure.report import agreement

__all__ = ["BEHAVIORS", "DEFINITIONS", "BehaviorCounts", "Tagger", "agreement"]
