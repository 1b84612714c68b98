"""Host semantics of shape GE ops (being written)."""
