"""What an alert condition measures: the signals of `tracedesk.signals` (this module is where the
alert engine used to keep them; the names stay importable from here).

`_BUILTINS` lists the signal types alert rule v1 shipped with, as (spec, reader) pairs.
"""
from __future__ import annotations

from ..signals import (SIGNAL_PROVIDERS, SIGNALS, V1_TYPES, SampleQuery, Signal, load_providers, query_samples,
                       register, register_signal, samples)
from ..store.samples import register_functions as _register_functions

_BUILTINS = [(SIGNALS[name].spec, SIGNALS[name].read) for name in V1_TYPES]

__all__ = ["SIGNAL_PROVIDERS", "SIGNALS", "SampleQuery", "Signal", "load_providers", "query_samples", "register",
           "register_signal", "samples", "_BUILTINS", "_register_functions"]
