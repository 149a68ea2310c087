from __future__ import annotations

from app.cli import main

# Guarded: worker processes (the exports' pool) load the parent's main module again as __mp_main__, and an
# unguarded call started a second server in each of them.
if __name__ == "__main__":
    raise SystemExit(main())
