"""Host semantics of reduction GE ops (being written)."""
