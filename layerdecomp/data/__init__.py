"""Training and evaluation data: triplets (composite, mask, foreground RGBA, background), composed from
layered sources, written to and read lazily from tar shards.

Modules: :mod:`.triplet` (the record), :mod:`.compose` (layers -> triplet, imperfect masks),
:mod:`.procedural` (file-free scenes), :mod:`.sources` (MuLAn / RGBA / background folders),
:mod:`.build` (sources -> shards), :mod:`.shards` (tar writer and lazy reader). No torch here.
"""

from .build import Sources, build, make_triplet
from .compose import MASK_STYLES, Layer, compose
from .shards import ShardWriter, TripletShards
from .sources import BackgroundFolder, MuLAnFolder, RGBAFolder
from .triplet import Triplet

__all__ = [
    "Triplet", "Layer", "compose", "MASK_STYLES", "ShardWriter", "TripletShards", "Sources", "build",
    "make_triplet", "BackgroundFolder", "RGBAFolder", "MuLAnFolder",
]
