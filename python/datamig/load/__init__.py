"""Load a validated run into CERT and undo it exactly.

- `load_run`: every PostgreSQL store in one transaction each, all PREPAREd, then Neo4j, then a
  durable decision record, then COMMIT PREPARED everywhere (two-phase commit with recovery).
- `rollback_run`: the same scheme in reverse, from the ledger each load leaves in CERT.
- `recover`: finishes or undoes whatever a killed load or rollback left prepared.
"""
from __future__ import annotations

from .recovery import recover
from .rollback import rollback_run
from .run import load_run

__all__ = ["load_run", "rollback_run", "recover"]
