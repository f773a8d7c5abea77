"""Per-user call failure rates from the call log.

The public API is small; heavy modules (pandas, plotly, SQLAlchemy) load on first use, so that
``import user_failure_stats`` and ``user-failure-stats --help`` stay fast.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "analyze_failure_data": "seed_api",
    "FailureAnalyzer": "seed_api",
    "failure_rates": "analysis",
    "summary_statistics": "analysis",
    "top_users": "flags",
    "rate_distribution": "analysis",
    "load_settings": "settings",
    "load_parameters": "params",
    "resolve_window": "params",
    "Settings": "settings",
    "Parameters": "params",
    "Window": "window",
    "compute": "pipeline",
    "fetch_user_counts": "queries",
    "make_engine": "database",
    "distribution_figure": "plots",
    "UserFailureStatsError": "errors",
    "ConfigError": "errors",
    "DatabaseError": "errors",
    "NotebookError": "errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name):
    """Load a public name from its module on first use."""
    if name in _EXPORTS:
        return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
