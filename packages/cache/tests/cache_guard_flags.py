"""Module-level flags a model in ``cache_models`` reads through this module (the stale matrix
changes them in the child process before the model is called)."""

import torch

FLAG = True
SCALE = 2
DTYPE = torch.float32
