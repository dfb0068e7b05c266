"""Face embedders: each turns an aligned face crop into an L2-normalised vector."""

from livematch.embed.base import Embedder
from livematch.embed.sface import SFaceEmbedder

__all__ = ["Embedder", "SFaceEmbedder"]
