"""``python -m lake_assets.cli``: the ``lake`` command without its console script."""

import sys

from lake_assets.cli.commands import main

sys.exit(main())
