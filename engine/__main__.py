"""``python -m engine`` runs the ``worldloom`` command line."""

import sys

from engine.cli.main import main

sys.exit(main())
