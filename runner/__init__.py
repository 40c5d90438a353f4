"""release-drills: rehearse release failures on Kubernetes (Helm + Argo CD) and measure them.

Internally modules import modules; the public surface is this list.
"""
from runner.engine import DrillRun, Engine
from runner.errors import DrillDefinitionError, DrillsError, Problem
from runner.kinds import InjectVia, Outcome, Phase, RestoreStatus
from runner.loader import drills_to_run, load_paths
from runner.model import Drill, Suite

__all__ = ["Drill", "DrillDefinitionError", "DrillRun", "DrillsError", "Engine", "InjectVia", "Outcome", "Phase",
           "Problem", "RestoreStatus", "Suite", "drills_to_run", "load_paths"]
