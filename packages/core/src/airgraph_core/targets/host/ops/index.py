"""Host semantics of index GE ops (being written)."""
