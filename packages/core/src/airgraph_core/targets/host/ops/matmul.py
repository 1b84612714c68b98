"""Host semantics of matmul GE ops (being written)."""
