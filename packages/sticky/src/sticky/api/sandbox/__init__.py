"""The routing-logic sandbox: merchants' JavaScript, compiled once per live version, run per tap.

Isolation: one V8 isolate (a ``MiniRacer``) per (owner, version), all in a worker process apart
from the api. mini-racer cannot make a fresh realm (``ShadowRealm`` answers "Not supported"),
and an isolate costs about 0.7 MB and 5 ms once and nothing per run (a call into V8 costs
~200 µs around the logic's few µs, so runs of one version waiting together share one call), so
one per version is cheap, and keeps a merchant's "try it" drafts and flows apart too. The
worker is a process because V8 aborts its whole process on some allocations
(``"a".repeat(2 ** 28).split("")`` does): here that costs a restart, not the api.
"""

from __future__ import annotations

from sticky.api.sandbox.outcome import FailureKind, LogicFailure, LogicOutcome
from sticky.api.sandbox.supervisor import Sandbox

__all__ = ["FailureKind", "LogicFailure", "LogicOutcome", "Sandbox"]
