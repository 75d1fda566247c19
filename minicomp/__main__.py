"""``python -m minicomp`` is the ``minicomp`` command."""
import sys

from .cli import main

sys.exit(main())
