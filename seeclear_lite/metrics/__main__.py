"""``python -m seeclear_lite.metrics``: fetch and convert the LPIPS weights once (see ``lpips_weights``)."""

from .lpips_weights import main

raise SystemExit(main())
