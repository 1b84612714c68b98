"""Host semantics of nn GE ops (being written)."""
