"""Host semantics of creation GE ops (being written)."""
