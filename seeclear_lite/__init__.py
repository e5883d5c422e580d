"""SeeClear-lite: a runnable, checked, teaching implementation of
*SeeClear: Semantic Distillation Enhances Pixel Condensation for Video Super-Resolution* (NeurIPS 2024).

The package is the single source of truth; the notebooks in ``notebooks/`` derive each piece and then
import it from here. Sub-packages follow the paper's architecture:
- ``diffusion``   Blurring ResShift: patch DCT blur + residual shifting (Sec. 3.1, App. A)
- ``degradation`` MATLAB-compatible bicubic resize, the BI x4 degradation
- ``data``        real-video corpus builder and clip datasets
- ``metrics``     PSNR / SSIM (RGB and Y), LPIPS, temporal consistency
- ``wavelet``     Haar DWT / IDWT (Eq. 7)
- ``blocks``      the Pixel Condenser's building blocks (App. C)
- ``models``      the Pixel Condenser U-Net and named configurations
- ``semantics``   Semantic Distiller and InCAM (Sec. 3.2)
- ``memory``      CaTeGory, the channel-wise texture memory (Sec. 3.3)
- ``training``    training / sampling / evaluation engine
"""

__version__ = "0.1.0"
