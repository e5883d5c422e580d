"""Real-video data for the kit: image I/O, the corpus builder, clip datasets and the sample clips.

- :mod:`.io`        read/write 8-bit RGB PNG frames as float [3, H, W] in [0, 1]
- :mod:`.sources`   the catalogue of real footage shipped inside registry packages (with licences)
- :mod:`.motion`    synthetic camera motion that turns a photograph into a clip
- :mod:`.corpus`    ``python -m seeclear_lite data build``: HR clips + manifest in a cache folder
- :mod:`.pack`      the compact corpus (one ``.npz`` < 64 MiB) for a GPU machine without network
- :mod:`.datasets`  torch Datasets of 5-frame clips (BasicSR layout, corpus, pack)
- :mod:`.samples`   the small sample clips committed in ``data/samples``
"""

from .io import list_frames, quantize, read_image, write_image
from .samples import VALIDATION_CLIP, list_sample_clips, load_sample_clip, sample_root

__all__ = ["read_image", "write_image", "list_frames", "quantize", "sample_root", "list_sample_clips",
           "load_sample_clip", "VALIDATION_CLIP"]
