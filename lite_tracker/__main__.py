"""``python -m lite_tracker`` runs the ``lite-tracker`` command."""

import sys

from .cli.main import main

sys.exit(main())
