"""Training the adapter: ``accelerate launch -m layerdecomp.train CONFIG`` (or ``python -m layerdecomp.train``).

Modules: :mod:`.config` (the checked config file), :mod:`.data` (triplets -> tensors, a resumable sample
order), :mod:`.stages` (the stages' losses), :mod:`.trainer` (the accelerate loop, checkpoints, export).
See docs/training.md.
"""

from .config import ConfigError, TrainConfig, load, parse

__all__ = ["ConfigError", "TrainConfig", "load", "parse", "train"]


def train(config, **kwargs):
    """Run the training described by ``config`` (a :class:`TrainConfig` or a path); returns the adapter path."""
    from .trainer import train as _train

    if not isinstance(config, TrainConfig):
        config = load(config)
    return _train(config, **kwargs)
