"""Host semantics of symbolic GE ops (being written)."""
