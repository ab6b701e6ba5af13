"""`newservice status`: template versions, drift and predicted update conflicts of a fleet."""

from .core import RepoStatus, default_jobs, fleet_status
from .fleet import find_repos
from .releases import release_tags

__all__ = ["RepoStatus", "default_jobs", "find_repos", "fleet_status", "release_tags"]
