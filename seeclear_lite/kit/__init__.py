"""The kit around the model: notebook context and conventions, the notebook runner, the exercises and their
checks, and the experiments (``bench``, ``ablate``). Nothing here is part of SeeClear itself."""
